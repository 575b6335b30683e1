#!/usr/bin/env bash
# The PostgreSQL figures of BENCHMARKS.md: a 1M-row csv import (insert), an upsert of the same
# 1M existing rows, and a 1M-row csv export, through the release CLI and server over loopback,
# each beside its peer in the same run: `psql \copy` of the same file into an equivalent table
# with the same unique key, and `psql \copy (select …) to` of the same columns.
#
#   DATAPORT_BENCH_DATABASE_URL=postgres://user:pw@127.0.0.1:5432/db \
#   [DATAPORT_BENCH_BEFORE=/path/to/older/dataport] bench/postgres.sh [RUNS]
#
# With DATAPORT_BENCH_BEFORE, each run also imports the file and exports it with that binary, in
# the same run (and checks that both exports are the same bytes).
# Each run uses fresh schemas in that database (dropped at the end); default 3 runs, medians
# reported. Each dataport measurement starts a fresh server, whose peak RSS (VmHWM) is recorded.
# Stops only the servers it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
ROOT=$(pwd)
BASE=${DATAPORT_BENCH_DATABASE_URL:?set DATAPORT_BENCH_DATABASE_URL to a PostgreSQL database the benchmark may create schemas in}
command -v psql >/dev/null || { echo "bench/postgres.sh needs psql" >&2; exit 1; }

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
PORT=50197
URL=http://127.0.0.1:$PORT

echo "== generating data in $WORK" >&2
"$BIN" gen --module customers --rows 1000000 c1m.csv --seed 1 2>/dev/null
# psql reads the same csv without the BOM; HEADER skips the header line.
tail -c +4 c1m.csv > c1m.psql.csv
# A CRM of 20k customers updated from a file of all of them (a mid-sized table, where a
# misplanned join once took 25-34 s per 5,000-row batch).
head -n 20001 c1m.csv > c20k.csv
tail -c +4 c20k.csv > c20k.psql.csv

# The peer's table: the same columns as the file and the same keys as dataport's table (a
# bigserial id primary key, code UNIQUE).
PEER_TABLE="(id bigserial PRIMARY KEY, code text NOT NULL UNIQUE, name text NOT NULL, industry text, phone text, owner text NOT NULL,
  level text, follow_up_status text, address text, contract_amount numeric, follow_up_notes text,
  remarks text, created_at date NOT NULL)"
COLUMNS="code,name,industry,phone,owner,level,follow_up_status,address,contract_amount_cents,follow_up_notes,remarks,created_at"

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
fresh_schema() { # NAME
  psql -q "$BASE" -c "DROP SCHEMA IF EXISTS $1 CASCADE; CREATE SCHEMA $1" >/dev/null
  SCHEMAS+=("$1")
}
in_schema() { local sep='?'; [[ "$BASE" == *\?* ]] && sep='&'; echo "$BASE${sep}options=-c%20search_path%3D$1"; }
start_server() { # SCHEMA [BINARY]
  mkdir -p "srv-$1"
  # A fresh log per start: the wait below looks for this start's "listening" line.
  (cd "srv-$1" && exec "${2:-$BIN}" serve --listen 127.0.0.1:$PORT --database-url "$(in_schema "$1")" >server.log 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 100); do grep -q "listening" "srv-$1/server.log" 2>/dev/null && break; sleep 0.1; done
}
peak_mib() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$SERVER_PID/status"; }
client() { local s=$1; shift; "$BIN" "$@" --server "$URL" --token-file "srv-$s/dataport.token" >/dev/null; }

declare -A T
add() { T[$1]="${T[$1]:-} $2"; }

for run in $(seq 1 "$RUNS"); do
  peer=bench_peer_$run
  fresh_schema "$peer"
  psql -q "$(in_schema "$peer")" -c "CREATE TABLE customers $PEER_TABLE" >/dev/null
  t=$(now); psql -q "$(in_schema "$peer")" -c "\\copy customers (code, name, industry, phone, owner, level, follow_up_status, address, contract_amount, follow_up_notes, remarks, created_at) FROM 'c1m.psql.csv' WITH (FORMAT csv, HEADER true)" >/dev/null
  add peer_import "$(elapsed "$t")"

  if [ -n "${DATAPORT_BENCH_BEFORE:-}" ]; then
    before=bench_before_$run
    fresh_schema "$before"
    start_server "$before" "$DATAPORT_BENCH_BEFORE"
    t=$(now); client "$before" import c1m.csv --module customers; add before_import "$(elapsed "$t")"
    add rss_before "$(peak_mib)"
    stop_server
  fi

  # upsert20k BINARY KEY: 20k rows imported, then the same 20k upserted (timed).
  upsert20k() {
    local schema=bench_small_${2}_$run
    fresh_schema "$schema"
    start_server "$schema" "$1"
    client "$schema" import c20k.csv --module customers
    t=$(now); client "$schema" import c20k.csv --module customers --mode upsert; add "$2" "$(elapsed "$t")"
    stop_server
  }
  upsert20k "$BIN" dp_upsert_20k
  [ -n "${DATAPORT_BENCH_BEFORE:-}" ] && upsert20k "$DATAPORT_BENCH_BEFORE" before_upsert_20k
  psql -q "$(in_schema "$peer")" -c "CREATE TABLE customers20k $PEER_TABLE" >/dev/null
  t=$(now); psql -q "$(in_schema "$peer")" -c "\\copy customers20k (code, name, industry, phone, owner, level, follow_up_status, address, contract_amount, follow_up_notes, remarks, created_at) FROM 'c20k.psql.csv' WITH (FORMAT csv, HEADER true)" >/dev/null
  add peer_import_20k "$(elapsed "$t")"

  dp=bench_dp_$run
  fresh_schema "$dp"
  start_server "$dp"
  t=$(now); client "$dp" import c1m.csv --module customers; add dp_import "$(elapsed "$t")"
  add rss_import "$(peak_mib)"
  stop_server
  start_server "$dp"
  t=$(now); client "$dp" import c1m.csv --module customers --mode upsert; add dp_upsert "$(elapsed "$t")"
  add rss_upsert "$(peak_mib)"
  stop_server

  t=$(now); psql -q "$(in_schema "$dp")" -c "\\copy (SELECT $COLUMNS FROM customers ORDER BY code) TO 'peer-export.csv' WITH (FORMAT csv, HEADER true)" >/dev/null
  add peer_export "$(elapsed "$t")"
  start_server "$dp"
  t=$(now); client "$dp" export --module customers --all --all-fields --format csv -o dp-export.csv; add dp_export "$(elapsed "$t")"
  add rss_export "$(peak_mib)"
  stop_server
  if [ -n "${DATAPORT_BENCH_BEFORE:-}" ]; then
    start_server "$dp" "$DATAPORT_BENCH_BEFORE"
    t=$(now); client "$dp" export --module customers --all --all-fields --format csv -o before-export.csv; add before_export "$(elapsed "$t")"
    add rss_before_export "$(peak_mib)"
    stop_server
    # Same records, same request: the files must not differ.
    cmp -s dp-export.csv before-export.csv || { echo "the export differs from DATAPORT_BENCH_BEFORE's" >&2; exit 1; }
  fi
  echo "   run $run done" >&2
done

m() { echo "${T[$1]}" | median; }
ratio() { awk -v a="$(m "$1")" -v b="$(m "$2")" 'BEGIN {printf "%.2f×", a / b}'; }
cat <<TABLE

| 1M-row csv, PostgreSQL | dataport median (s) | runs | server peak RSS (MiB) | peer | peer median (s) | runs | ratio |
|---|---|---|---|---|---|---|---|
| import (insert) | $(m dp_import) | ${T[dp_import]} | $(m rss_import) | psql \\copy into a table with an id primary key and code UNIQUE | $(m peer_import) | ${T[peer_import]} | $(ratio dp_import peer_import) |
| upsert of the same 1M rows | $(m dp_upsert) | ${T[dp_upsert]} | $(m rss_upsert) | (same peer) | $(m peer_import) | | $(ratio dp_upsert peer_import) |
| upsert of 20k stored rows (a 20k-row table) | $(m dp_upsert_20k) | ${T[dp_upsert_20k]} | | psql \\copy of the 20k rows | $(m peer_import_20k) | ${T[peer_import_20k]} | $(ratio dp_upsert_20k peer_import_20k) |
| export | $(m dp_export) | ${T[dp_export]} | $(m rss_export) | psql \\copy (select … order by code) to | $(m peer_export) | ${T[peer_export]} | $(ratio dp_export peer_export) |
TABLE
if [ -n "${DATAPORT_BENCH_BEFORE:-}" ]; then
  echo "| import (insert), DATAPORT_BENCH_BEFORE | $(m before_import) | ${T[before_import]} | $(m rss_before) | (same peer) | $(m peer_import) | | $(ratio before_import peer_import) |"
  echo "| upsert of 20k stored rows, DATAPORT_BENCH_BEFORE | $(m before_upsert_20k) | ${T[before_upsert_20k]} | | (same peer) | $(m peer_import_20k) | | $(ratio before_upsert_20k peer_import_20k) |"
  echo "| export, DATAPORT_BENCH_BEFORE | $(m before_export) | ${T[before_export]} | $(m rss_before_export) | (same peer) | $(m peer_export) | | $(ratio before_export peer_export) |"
fi
