#!/usr/bin/env bash
# Server memory at scale (issue 11, "bounded memory"): peak RSS (VmHWM) of a fresh release
# server during a 1M-row and a 10M-row csv import and the export after it, on SQLite and (when
# DATAPORT_BENCH_DATABASE_URL is set) on PostgreSQL; then 8 imports + 8 exports at once. Rows/s
# of each import, so the 10M rate can be compared with the 1M rate of the same run.
#
#   [DATAPORT_BENCH_DATABASE_URL=postgres://user:pw@127.0.0.1:5432/db] \
#   [DATAPORT_BENCH_BEFORE=/path/to/older/dataport] bench/memory.sh [ROWS... | concurrent]
#
# ROWS defaults to "1000000 10000000"; `concurrent` measures only the 8 + 8. With
# DATAPORT_BENCH_BEFORE, every measurement is also made with that binary, in the same run. Needs
# about 4 GB of free disk for the 10M files. Stops only the servers it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000000 10000000)
[ "${SIZES[0]}" = concurrent ] && SIZES=()
BASE=${DATAPORT_BENCH_DATABASE_URL:-}
BEFORE=${DATAPORT_BENCH_BEFORE:-}

echo "== building (release)" >&2
cargo build --release -j2 --quiet
BIN=$ROOT/target/release/dataport

WORK=$(mktemp -d)
SERVER_PID=
SCHEMAS=()
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  for s in "${SCHEMAS[@]}"; do psql -q "$BASE" -c "DROP SCHEMA IF EXISTS $s CASCADE" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
PORT=50198
URL=http://127.0.0.1:$PORT

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
in_schema() { local sep='?'; [[ "$BASE" == *\?* ]] && sep='&'; echo "$BASE${sep}options=-c%20search_path%3D$1"; }
start_server() { # NAME DATABASE_URL [BINARY]
  mkdir -p "srv-$1"
  (cd "srv-$1" && exec "${3:-$BIN}" serve --listen 127.0.0.1:$PORT --database-url "$2" >server.log 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 100); do grep -q "listening" "srv-$1/server.log" 2>/dev/null && break; sleep 0.1; done
}
peak_mib() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$SERVER_PID/status"; }
client() { local s=$1; shift; "$BIN" "$@" --server "$URL" --token-file "srv-$s/dataport.token" >/dev/null 2>&1; }
database_url() { # BACKEND NAME
  if [ "$1" = sqlite ]; then echo "$WORK/srv-$2/dataport.db"; else
    psql -q "$BASE" -c "DROP SCHEMA IF EXISTS $2 CASCADE; CREATE SCHEMA $2" >/dev/null
    SCHEMAS+=("$2")
    in_schema "$2"
  fi
}
backends=(sqlite)
[ -n "$BASE" ] && backends+=(postgres)

# `dataport gen` writes ~10k rows/s; larger files repeat its 1M rows with a digit of the code
# changed per copy (CUST000… → CUST001…), so every code stays distinct and valid.
echo "== generating 1000000 rows" >&2
"$BIN" gen --module customers --rows 1000000 c1M.csv --seed 1 2>/dev/null
sized() { # ROWS: a file of ROWS rows (a multiple of 1M, at most 10M, or fewer than 1M)
  local rows=$1 out="c$1.csv"
  [ -f "$out" ] && return
  if [ "$rows" -eq 1000000 ]; then cp c1M.csv "$out"; return; fi
  if [ "$rows" -lt 1000000 ]; then head -n $((rows + 1)) c1M.csv >"$out"; return; fi
  { head -n 1 c1M.csv
    for k in $(seq 0 $((rows / 1000000 - 1))); do tail -n +2 c1M.csv | sed "s/^CUST000/CUST00$k/"; done; } >"$out"
}

builds=("this build=$BIN")
[ -n "$BEFORE" ] && builds=("before=$BEFORE" "${builds[@]}")
rows_table=""
for rows in "${SIZES[@]}"; do
  sized "$rows"
  for backend in "${backends[@]}"; do
   for build in "${builds[@]}"; do
    label=${build%%=*} bin=${build#*=}
    name="m_${backend}_${rows}_${label// /_}"
    mkdir -p "srv-$name"
    start_server "$name" "$(database_url "$backend" "$name")" "$bin"
    t=$(now); client "$name" import "c$rows.csv" --module customers; import_s=$(elapsed "$t")
    rss_import=$(peak_mib)
    t=$(now); client "$name" export --module customers --format csv -o "out-$name.csv"; export_s=$(elapsed "$t")
    rss_export=$(peak_mib)
    stop_server
    rate=$(echo "$rows $import_s" | awk '{printf "%.0f", $1 / $2}')
    rows_table+="| $backend | $label | $rows | $import_s | $rate | $rss_import | $export_s | $rss_export |"$'\n'
    rm -f "out-$name.csv"
   done
  done
done

echo "== 8 imports + 8 exports at once" >&2
# A 1M-row base and eight 100k-row parts with codes of their own (CUSTP1…, CUSTP2…).
cp c1M.csv base.csv
for k in $(seq 1 8); do
  { head -n 1 c1M.csv; sed -n "2,100001p" c1M.csv | sed "s/^CUST000/CUSTP${k}0/"; } >"part$k.csv"
done
concurrent_table=""
for backend in "${backends[@]}"; do
 for build in "${builds[@]}"; do
  label=${build%%=*} bin=${build#*=}
  name="c_${backend}_${label// /_}"
  mkdir -p "srv-$name"
  start_server "$name" "$(database_url "$backend" "$name")" "$bin"
  client "$name" import base.csv --module customers
  t=$(now)
  pids=()
  for k in $(seq 1 8); do client "$name" import "part$k.csv" --module customers & pids+=($!); done
  for k in $(seq 1 8); do client "$name" export --module customers --format csv -o "x$k.csv" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || echo "a client failed (pid $p)" >&2; done
  concurrent_table+="| $backend | $label | $(elapsed "$t") | $(peak_mib) |"$'\n'
  stop_server
  rm -f x*.csv
 done
done

cat <<EOF
| backend | build | rows | import (s) | rows/s | peak RSS import (MiB) | export (s) | peak RSS after export (MiB) |
|---|---|---|---|---|---|---|---|
$rows_table
| backend | build | 8 imports of 100k rows + 8 exports (1M rows and more), wall (s) | server peak RSS (MiB) |
|---|---|---|---|
$concurrent_table
EOF
