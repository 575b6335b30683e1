#!/usr/bin/env bash
# The xlsx import beside its floors, for BENCHMARKS.md (issue 12 item 1): for each 1M-row
# workbook, a bare calamine read (the floor), the xlsx plugin's reader alone (examples/plugin_read:
# every check and conversion, no host), and the import into SQLite through a fresh release
# server (its peak RSS), and the same import by a previous build when one is given.
#
#   bench/xlsx.sh [RUNS]                     (default 3; medians are reported)
#   DATAPORT_BENCH_BEFORE=/path/to/dataport  a previous build's binary (its plugins beside it or
#                                            in its own target dir), measured in the same runs
#   DATAPORT_BENCH_FILES=DIR                 reuse the workbooks of an earlier run (c1m.xlsx and
#                                            tp/*.xlsx); otherwise they are written here: dataport
#                                            gen, and bench/thirdparty.py (pip installs XlsxWriter
#                                            and openpyxl into the work directory; some 10 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
ROOT=$(pwd)
BEFORE=${DATAPORT_BENCH_BEFORE:-}

echo "== building (release)" >&2
cargo build --release -j2 --quiet
cargo build --release -j2 --quiet -p dataport-format-xlsx --example bare_calamine_read --example plugin_read
BIN=$ROOT/target/release/dataport
CALAMINE=$ROOT/target/release/examples/bare_calamine_read
PLUGIN_READ=$ROOT/target/release/examples/plugin_read

WORK=$(mktemp -d)
SERVER_PID=
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
trap stop_server_and_remove_work EXIT
cd "$WORK"
PORT=50198

FILES=${DATAPORT_BENCH_FILES:-}
if [ -z "$FILES" ]; then
  echo "== writing the workbooks in $WORK" >&2
  FILES=$WORK/files; mkdir -p "$FILES/tp"
  "$BIN" gen --module customers --rows 1000000 "$FILES/c1m.csv" --seed 1 2>/dev/null
  "$BIN" gen --module customers --rows 1000000 "$FILES/c1m.xlsx" --seed 1 2>/dev/null
  python3 -m pip install --quiet --disable-pip-version-check --target "$WORK/py" xlsxwriter openpyxl >&2
  PYTHONPATH=$WORK/py python3 "$ROOT/bench/thirdparty.py" "$FILES/c1m.csv" "$FILES/tp"
fi
CASES="c1m.xlsx tp/xlsxwriter-inline.xlsx tp/xlsxwriter-shared.xlsx tp/openpyxl.xlsx"

# import BIN FILE: a fresh server of BIN, one import of FILE; prints seconds and peak RSS (MiB).
import() {
  rm -rf srv && mkdir srv
  # The subshell execs the server, so $! is the server's own PID.
  (cd srv && exec "$1" serve --listen 127.0.0.1:$PORT >server.log 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 100); do grep -q "listening" srv/server.log 2>/dev/null && break; sleep 0.1; done
  local t; t=$(now)
  "$1" import "$FILES/$2" --module customers --server http://127.0.0.1:$PORT --token-file srv/dataport.token >/dev/null
  local took; took=$(elapsed "$t")
  echo "$took $(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$SERVER_PID/status")"
  stop_server
}

declare -A T
add() { T[$1]="${T[$1]:-} $2"; }
for run in $(seq 1 "$RUNS"); do
  for f in $CASES; do
    add "calamine $f" "$("$CALAMINE" "$FILES/$f" | awk '{print $(NF-1)}')"
    add "plugin $f" "$("$PLUGIN_READ" "$FILES/$f" 2>/dev/null | awk '{print $(NF-1)}')"
    read -r s rss < <(import "$BIN" "$f"); add "import $f" "$s"; add "rss $f" "$rss"
    if [ -n "$BEFORE" ]; then
      read -r s rss < <(import "$BEFORE" "$f"); add "before $f" "$s"; add "before-rss $f" "$rss"
    fi
  done
  echo "   run $run done" >&2
done

m() { echo "${T[$1]}" | median; }
ratio() { awk -v a="$(m "$1")" -v b="$(m "$2")" 'BEGIN {printf "%.2f×", a / b}'; }
echo
echo "| file | bare calamine read (s) | plugin reader alone (s) | import (s) | import / calamine (target ≤ 1.5×) | peak RSS (MiB; target < 100) |$([ -n "$BEFORE" ] && echo " previous build: import (s) | its ratio | its peak RSS (MiB) |")"
echo "|---|---|---|---|---|---|$([ -n "$BEFORE" ] && echo "---|---|---|")"
for f in $CASES; do
  row="| $f | $(m "calamine $f") (${T[calamine $f]# }) | $(m "plugin $f") | $(m "import $f") (${T[import $f]# }) | $(ratio "import $f" "calamine $f") | $(m "rss $f") |"
  if [ -n "$BEFORE" ]; then
    row="$row $(m "before $f") (${T[before $f]# }) | $(ratio "before $f" "calamine $f") | $(m "before-rss $f") |"
  fi
  echo "$row"
done
