#!/usr/bin/env bash
# The import and export benchmarks of BENCHMARKS.md, end to end: the release CLI talking to the
# release server over loopback, on SQLite, beside the sqlite3 command line on the same data.
#
#   bench/run.sh [RUNS]        (default 3 runs of each measurement; medians are reported)
#
# Needs sqlite3 (apt-get install sqlite3) and pip (XlsxWriter and openpyxl are installed into the
# work directory). Works in a temporary directory; prints two Markdown tables: dataport's own
# files (`dataport gen`), and files written by third-party tools (bench/thirdparty.py: Python's
# csv module, XlsxWriter inline and shared strings, openpyxl) beside their floors, sqlite3
# .import and a bare calamine read. Each dataport measurement starts a fresh server, whose peak
# RSS (VmHWM) is recorded.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
ROOT=$(pwd)
command -v sqlite3 >/dev/null || { echo "bench/run.sh needs sqlite3 (apt-get install sqlite3)" >&2; exit 1; }

echo "== building (release)" >&2
cargo build --release -j2 --quiet
cargo build --release -j2 --quiet -p dataport-format-xlsx --example bare_xlsx_write --example bare_calamine_read
BIN=$ROOT/target/release/dataport
BARE=$ROOT/target/release/examples/bare_xlsx_write
CALAMINE=$ROOT/target/release/examples/bare_calamine_read

WORK=$(mktemp -d)
SERVER_PID=
# Stops only the server this script started, by its PID.
trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
cd "$WORK"
PORT=50199
URL=http://127.0.0.1:$PORT

echo "== generating data in $WORK" >&2
"$BIN" gen --module customers --rows 1000000 c1m.csv --seed 1 2>/dev/null
"$BIN" gen --module customers --rows 100000 c100k.csv --seed 1 2>/dev/null
"$BIN" gen --module customers --rows 1000000 c1m.xlsx --seed 1 2>/dev/null
# sqlite3 reads the same CSV without the BOM and skips the header line.
tail -c +4 c1m.csv > c1m.sqlite.csv
tail -c +4 c100k.csv > c100k.sqlite.csv
echo "== writing the same 1M rows with third-party tools" >&2
python3 -m pip install --quiet --disable-pip-version-check --target "$WORK/py" xlsxwriter openpyxl >&2
mkdir tp
PYTHONPATH=$WORK/py python3 "$ROOT/bench/thirdparty.py" c1m.csv tp
THIRD_PARTY_XLSX="xlsxwriter-inline xlsxwriter-shared openpyxl"

SCHEMA="CREATE TABLE customers (code TEXT NOT NULL UNIQUE, name TEXT NOT NULL, industry TEXT,
  phone TEXT, owner TEXT NOT NULL, level TEXT, follow_up_status TEXT, address TEXT,
  contract_amount TEXT, follow_up_notes TEXT, remarks TEXT, created_at TEXT NOT NULL);"
QUERY="select code,name,industry,phone,owner,level,follow_up_status,address,contract_amount_cents,follow_up_notes,remarks,created_at from customers order by code"

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

# start_server [DB TOKEN]: a fresh server, on a copy of DB (with its token file) if given.
start_server() {
  rm -rf srv && mkdir srv
  if [ $# -eq 2 ]; then cp "$1" srv/dataport.db; cp "$2" srv/dataport.token; fi
  # The subshell execs the server, so $! is the server's own PID.
  (cd srv && exec "$BIN" serve --listen 127.0.0.1:$PORT >server.log 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 100); do grep -q "listening" srv/server.log 2>/dev/null && break; sleep 0.1; done
}
peak_mib() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$SERVER_PID/status"; }
client() { "$BIN" "$@" --server "$URL" --token-file srv/dataport.token >/dev/null; }

declare -A T
add() { T[$1]="${T[$1]:-} $2"; }

echo "== import" >&2
for run in $(seq 1 "$RUNS"); do
  for rows in 100k 1m; do
    rm -f base.db; sqlite3 base.db "$SCHEMA"
    t=$(now); sqlite3 base.db -cmd ".mode csv" ".import --skip 1 c$rows.sqlite.csv customers"; add "sqlite_import_$rows" "$(elapsed "$t")"
    start_server
    t=$(now); client import c$rows.csv --module customers; add "dp_import_csv_$rows" "$(elapsed "$t")"
    add "rss_import_csv_$rows" "$(peak_mib)"
    stop_server
  done
  start_server
  t=$(now); client import c1m.xlsx --module customers; add dp_import_xlsx_1m "$(elapsed "$t")"
  add rss_import_xlsx_1m "$(peak_mib)"
  stop_server
  echo "   run $run done" >&2
done

echo "== third-party files" >&2
for run in $(seq 1 "$RUNS"); do
  rm -f base.db; sqlite3 base.db "$SCHEMA"
  t=$(now); sqlite3 base.db -cmd ".mode csv" ".import --skip 1 tp/py.csv customers"; add sqlite_import_py "$(elapsed "$t")"
  start_server
  t=$(now); client import tp/py.csv --module customers; add dp_import_py "$(elapsed "$t")"
  add rss_import_py "$(peak_mib)"
  stop_server
  for f in $THIRD_PARTY_XLSX; do
    floor=$("$CALAMINE" "tp/$f.xlsx" | awk '{print $(NF-1)}'); add "calamine_$f" "$floor"
    start_server
    t=$(now); client import "tp/$f.xlsx" --module customers; add "dp_import_$f" "$(elapsed "$t")"
    add "rss_import_$f" "$(peak_mib)"
    stop_server
  done
  echo "   run $run done" >&2
done

echo "== export" >&2
# One database of 1M customers for every export run.
start_server; client import c1m.csv --module customers; stop_server
sqlite3 srv/dataport.db "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
cp srv/dataport.db export.db; cp srv/dataport.token export.token
for run in $(seq 1 "$RUNS"); do
  t=$(now); sqlite3 -csv -header export.db "$QUERY" > base.csv; add sqlite_export_csv "$(elapsed "$t")"
  start_server export.db export.token
  t=$(now); client export --module customers --all --all-fields --format csv -o dp.csv; add dp_export_csv "$(elapsed "$t")"
  add rss_export_csv "$(peak_mib)"
  stop_server; start_server export.db export.token
  t=$(now); client export --module customers --all --all-fields --format xlsx -o dp.xlsx; add dp_export_xlsx "$(elapsed "$t")"
  add rss_export_xlsx "$(peak_mib)"
  stop_server
  bare=$("$BARE" dp.csv bare.xlsx | awk '{print $(NF-1)}'); add bare_xlsx "$bare"
  echo "   run $run done" >&2
done

m() { echo "${T[$1]}" | median; }
ratio() { awk -v a="$(m "$1")" -v b="$(m "$2")" 'BEGIN {printf "%.2f×", a / b}'; }
rate() { awk -v s="$(m "$1")" -v n="$2" 'BEGIN {printf "%.0f", n / s}'; }
cat <<EOF

| measurement | median of $RUNS (s) | runs (s) | compared with | ratio | server peak RSS (MiB, median) |
|---|---|---|---|---|---|
| sqlite3 .import, 100k rows | $(m sqlite_import_100k) | ${T[sqlite_import_100k]} | | | |
| dataport import csv, 100k rows | $(m dp_import_csv_100k) | ${T[dp_import_csv_100k]} | sqlite3 .import 100k | $(ratio dp_import_csv_100k sqlite_import_100k) | $(m rss_import_csv_100k) |
| sqlite3 .import, 1M rows | $(m sqlite_import_1m) | ${T[sqlite_import_1m]} | | | |
| dataport import csv, 1M rows | $(m dp_import_csv_1m) | ${T[dp_import_csv_1m]} | sqlite3 .import 1M | $(ratio dp_import_csv_1m sqlite_import_1m) | $(m rss_import_csv_1m) |
| dataport import xlsx, 1M rows | $(m dp_import_xlsx_1m) | ${T[dp_import_xlsx_1m]} | | | $(m rss_import_xlsx_1m) |
| sqlite3 -csv -header select, 1M rows | $(m sqlite_export_csv) | ${T[sqlite_export_csv]} | | | |
| dataport export csv, 1M rows | $(m dp_export_csv) | ${T[dp_export_csv]} | sqlite3 -csv | $(ratio dp_export_csv sqlite_export_csv) | $(m rss_export_csv) |
| bare rust_xlsxwriter constant-memory write, 1M rows | $(m bare_xlsx) | ${T[bare_xlsx]} | | | |
| dataport export xlsx, 1M rows | $(m dp_export_xlsx) | ${T[dp_export_xlsx]} | bare rust_xlsxwriter | $(ratio dp_export_xlsx bare_xlsx) | $(m rss_export_xlsx) |

Import throughput (csv): $(rate dp_import_csv_100k 100000) rows/s at 100k rows, $(rate dp_import_csv_1m 1000000) rows/s at 1M rows.

Files written by third-party tools, 1M customer rows (bench/thirdparty.py), into SQLite:

| file | floor | floor median (s) | floor runs (s) | dataport import median (s) | dataport runs (s) | ratio (target ≤ 1.5×) | server peak RSS (MiB, median; target < 100) |
|---|---|---|---|---|---|---|---|
| Python csv module | sqlite3 .import | $(m sqlite_import_py) | ${T[sqlite_import_py]} | $(m dp_import_py) | ${T[dp_import_py]} | $(ratio dp_import_py sqlite_import_py) | $(m rss_import_py) |
EOF
for f in $THIRD_PARTY_XLSX; do
  echo "| $f.xlsx | bare calamine read | $(m "calamine_$f") | ${T[calamine_$f]} | $(m "dp_import_$f") | ${T[dp_import_$f]} | $(ratio "dp_import_$f" "calamine_$f") | $(m "rss_import_$f") |"
done
