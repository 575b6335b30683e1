#!/usr/bin/env bash
# A whole-CRM migration at scale (issue 11): `dataport migrate` from a SQLite instance to a
# PostgreSQL instance, beside its peer in the same run, `sqlite3 -csv … | psql \copy … from stdin`
# of the same tables into an equivalent schema (same keys, same foreign keys).
#
#   DATAPORT_BENCH_DATABASE_URL=postgres://user:pw@127.0.0.1:5432/db bench/migrate.sh [CUSTOMERS] [OTHERS]
#
# CUSTOMERS (default 10000000, a multiple of 1M) customers, OTHERS (default 1000000) contacts
# and as many opportunities. The source is loaded by `dataport import` (not timed). Needs about
# 6 GB of free disk. Stops only the servers it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CUSTOMERS=${1:-10000000}
OTHERS=${2:-1000000}
BASE=${DATAPORT_BENCH_DATABASE_URL:?set DATAPORT_BENCH_DATABASE_URL to a PostgreSQL database the benchmark may create schemas in}
command -v sqlite3 >/dev/null || { echo "bench/migrate.sh needs sqlite3" >&2; exit 1; }

echo "== building (release)" >&2
cargo build --release -j2 --quiet
BIN=$ROOT/target/release/dataport

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for s in bench_mig_dp bench_mig_peer; do psql -q "$BASE" -c "DROP SCHEMA IF EXISTS $s CASCADE" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
now() { date +%s.%N; }
elapsed() { echo "$(now) $1" | awk '{printf "%.1f", $1 - $2}'; }
in_schema() { local sep='?'; [[ "$BASE" == *\?* ]] && sep='&'; echo "$BASE${sep}options=-c%20search_path%3D$1"; }
serve() { # NAME PORT DATABASE_URL; prints the PID
  mkdir -p "$1"
  (cd "$1" && exec "$BIN" serve --listen "127.0.0.1:$2" --database-url "$3" >server.log 2>&1) &
  local pid=$!
  for _ in $(seq 1 100); do grep -q "listening" "$1/server.log" 2>/dev/null && break; sleep 0.1; done
  echo "$pid"
}
peak_mib() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

echo "== generating $CUSTOMERS customers, $OTHERS contacts and opportunities" >&2
"$BIN" gen --module customers --rows 1000000 c1M.csv --seed 1 2>/dev/null
{ head -n 1 c1M.csv
  for k in $(seq 0 $((CUSTOMERS / 1000000 - 1))); do tail -n +2 c1M.csv | sed "s/^CUST000/CUST00$k/"; done; } >customers.csv
rm c1M.csv
"$BIN" gen --module contacts --rows "$OTHERS" --customer-rows "$CUSTOMERS" contacts.csv --seed 2 2>/dev/null
"$BIN" gen --module opportunities --rows "$OTHERS" --customer-rows "$CUSTOMERS" opportunities.csv --seed 3 2>/dev/null

echo "== loading the SQLite source" >&2
SOURCE_PID=$(serve source 50301 "$WORK/source/dataport.db"); PIDS+=("$SOURCE_PID")
for m in customers contacts opportunities; do
  "$BIN" import "$m.csv" --module "$m" --server http://127.0.0.1:50301 --token-file source/dataport.token >/dev/null 2>&1 ||
    { echo "loading $m failed (see $WORK/source/server.log)" >&2; exit 1; }
done
rm customers.csv contacts.csv opportunities.csv
# A fresh source server for the migration itself, so its peak RSS is the export's, not the load's.
kill "$SOURCE_PID"
for _ in $(seq 1 300); do kill -0 "$SOURCE_PID" 2>/dev/null || break; sleep 0.1; done
SOURCE_PID=$(serve source 50301 "$WORK/source/dataport.db"); PIDS+=("$SOURCE_PID")

echo "== dataport migrate" >&2
psql -q "$BASE" -c "DROP SCHEMA IF EXISTS bench_mig_dp CASCADE; CREATE SCHEMA bench_mig_dp" >/dev/null
TARGET_PID=$(serve target 50302 "$(in_schema bench_mig_dp)"); PIDS+=("$TARGET_PID")
t=$(now)
"$BIN" migrate --from http://127.0.0.1:50301 --to http://127.0.0.1:50302 \
  --from-token-file source/dataport.token --to-token-file target/dataport.token >migrate.txt 2>migrate.err ||
  { cat migrate.err >&2; exit 1; }
dp_s=$(elapsed "$t")
rss_source=$(peak_mib "$SOURCE_PID"); rss_target=$(peak_mib "$TARGET_PID")

echo "== peer: sqlite3 -csv | psql \\copy" >&2
psql -q "$BASE" -c "DROP SCHEMA IF EXISTS bench_mig_peer CASCADE; CREATE SCHEMA bench_mig_peer" >/dev/null
# The target's own schema, empty: the peer loads into the same keys and foreign keys.
pg_dump --schema-only --schema=bench_mig_dp --table='bench_mig_dp.customers' --table='bench_mig_dp.contacts' \
  --table='bench_mig_dp.opportunities' "$BASE" | sed 's/bench_mig_dp\./bench_mig_peer./g' |
  grep -v '^SET \|^SELECT pg_catalog' | psql -q "$(in_schema bench_mig_peer)" >/dev/null
t=$(now)
for m in customers contacts opportunities; do
  cols=$(sqlite3 "source/dataport.db" "SELECT group_concat(name, ',') FROM pragma_table_info('$m') WHERE name <> 'id'")
  sqlite3 -csv "source/dataport.db" "SELECT $cols FROM $m ORDER BY code" |
    psql -q "$(in_schema bench_mig_peer)" -c "\\copy $m ($cols) FROM STDIN WITH (FORMAT csv)" >/dev/null
done
peer_s=$(elapsed "$t")
count() { psql -tA "$(in_schema "$1")" -c "SELECT (SELECT count(*) FROM customers) || '/' || (SELECT count(*) FROM contacts) || '/' || (SELECT count(*) FROM opportunities)"; }

cat <<EOF
| $CUSTOMERS customers + $OTHERS contacts + $OTHERS opportunities, SQLite → PostgreSQL | wall (s) | rows copied (customers/contacts/opportunities) | peak RSS source / target (MiB) |
|---|---|---|---|
| \`dataport migrate\` (two servers on loopback, upsert) | $dp_s | $(count bench_mig_dp) | $rss_source / $rss_target |
| peer: \`sqlite3 -csv … \| psql \\copy … from stdin\`, same keys | $peer_s | $(count bench_mig_peer) | |
| ratio | $(echo "$dp_s $peer_s" | awk '{printf "%.2f×", $1 / $2}') | | |

\`dataport migrate\` report:
\`\`\`
$(cat migrate.txt)
\`\`\`
EOF
