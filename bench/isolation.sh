#!/usr/bin/env bash
# Issue 16's isolation figure: the same plugin, the guide's C example (examples/c/psv_plugin.c,
# built with -O2), importing the same 1M-customer psv file into SQLite in-process and in a worker
# process (`--plugin-isolation process`), median of 3 wall-clock runs each, server peak RSS.
#
#   [ROWS=1000000] [RUNS=3] bench/isolation.sh
#
# The file is `dataport gen` output converted to psv by Python's csv module. Each run imports
# into a fresh database. Stops only the servers it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
. bench/lib.sh
ROWS=${ROWS:-1000000}
RUNS=${RUNS:-3}

echo "== building (release)" >&2
cargo build --release -j2 --quiet
BIN=$ROOT/target/release/dataport
WORK=$(mktemp -d)
SERVER_PID=
trap stop_server_and_remove_work EXIT

mkdir -p "$WORK/plugins"
cc -shared -fPIC -O2 -I"$("$BIN" plugin-sdk-path)" -o "$WORK/plugins/libdataport_plugin_psv.so" examples/c/psv_plugin.c
echo "== generating $ROWS customers" >&2
"$BIN" gen --module customers --rows "$ROWS" "$WORK/customers.csv" >/dev/null
python3 - "$WORK/customers.csv" "$WORK/customers.psv" <<'PY'
import csv, sys
def esc(v):
    return v.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "\\n").replace("\r", "\\r")
with open(sys.argv[1], newline="", encoding="utf-8-sig") as src, open(sys.argv[2], "w", encoding="utf-8") as out:
    for row in csv.reader(src):
        out.write("|".join(esc(v) for v in row) + "\n")
PY

run() { # MODE -> prints "seconds peak_rss_mib"
  rm -rf "$WORK/srv" && mkdir "$WORK/srv" && cd "$WORK/srv"
  "$BIN" serve --listen 127.0.0.1:50198 --plugin-dir "$WORK/plugins" --plugin-isolation "$1" >server.log 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do grep -q "listening" server.log 2>/dev/null && break; sleep 0.1; done
  local start peak=0 rss
  start=$(now)
  DATAPORT_SERVER=http://127.0.0.1:50198 "$BIN" import --module customers "$WORK/customers.psv" >import.log 2>&1 &
  local cli=$!
  while kill -0 "$cli" 2>/dev/null; do
    # The server and its workers: an isolated job's memory is the sum.
    rss=$(ps -o rss= --ppid "$SERVER_PID" -p "$SERVER_PID" | awk '{s+=$1} END {print s+0}')
    [ "$rss" -gt "$peak" ] && peak=$rss
    sleep 0.2
  done
  wait "$cli"
  local secs; secs=$(elapsed "$start")
  grep -q "1000000 created\|$ROWS created" import.log || { cat import.log >&2; exit 1; }
  stop_server
  cd "$ROOT"
  echo "$secs $((peak / 1024))"
}

for mode in in-process process; do
  times=""; peaks=""
  for _ in $(seq 1 "$RUNS"); do
    read -r t p < <(run "$mode")
    times="$times $t"; peaks="$peaks $p"
  done
  echo "| psv plugin, $ROWS-row import, $mode | $(echo "$times" | median) s (runs:$times) | peak RSS $(echo "$peaks" | median) MiB |"
done
