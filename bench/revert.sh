#!/usr/bin/env bash
# Issue 14's revert figures, on SQLite and PostgreSQL: what keeping before-images costs a
# 1M-row upsert (every value of 1M existing records changes), beside the same upsert by a
# dataport binary that keeps none (an older build, given as DATAPORT_BENCH_BEFORE), in the same
# run; and how long RevertImport takes to undo that upsert and then the 1M-row insert before it.
#
#   DATAPORT_BENCH_BEFORE=/path/to/older/dataport \
#   [DATAPORT_BENCH_DATABASE_URL=postgres://user:pw@127.0.0.1:5432/db] bench/revert.sh [RUNS]
#
# Without DATAPORT_BENCH_DATABASE_URL only SQLite is measured. Each measurement starts a fresh
# server on a fresh database (PostgreSQL: a fresh schema, dropped at the end); default 3 runs,
# medians reported. Stops only the servers it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
ROOT=$(pwd)
BEFORE=${DATAPORT_BENCH_BEFORE:?set DATAPORT_BENCH_BEFORE to a dataport binary without before-images}
PG=${DATAPORT_BENCH_DATABASE_URL:-}

echo "== building (release)" >&2
cargo build --release -j2 --quiet
BIN=$ROOT/target/release/dataport

WORK=$(mktemp -d)
SERVER_PID=
SCHEMAS=()
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  for s in "${SCHEMAS[@]}"; do psql -q "$PG" -c "DROP SCHEMA IF EXISTS $s CASCADE" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
PORT=50198
URL=http://127.0.0.1:$PORT

echo "== generating data in $WORK" >&2
"$BIN" gen --module customers --rows 1000000 c1m.csv --seed 1 2>/dev/null
# The same codes (gen numbers them), every other value drawn anew.
"$BIN" gen --module customers --rows 1000000 u1m.csv --seed 2 2>/dev/null

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
in_schema() { local sep='?'; [[ "$PG" == *\?* ]] && sep='&'; echo "$PG${sep}options=-c%20search_path%3D$1"; }
start_server() { # BINARY DIR [DATABASE_URL]
  rm -rf "$2"; mkdir -p "$2"
  local db=()
  [ -n "${3:-}" ] && db=(--database-url "$3")
  (cd "$2" && exec "$1" serve --listen 127.0.0.1:$PORT "${db[@]}" >server.log 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 100); do grep -q "listening" "$2/server.log" 2>/dev/null && break; sleep 0.1; done
}
client() { local bin=$1 dir=$2; shift 2; "$bin" "$@" --server "$URL" --token-file "$dir/dataport.token" >/dev/null; }

declare -A T
add() { T[$1]="${T[$1]:-} $2"; }

BACKENDS=(sqlite)
[ -n "$PG" ] && BACKENDS+=(postgres)
for run in $(seq 1 "$RUNS"); do
  for backend in "${BACKENDS[@]}"; do
    for build in before after; do
      bin=$BIN; [ "$build" = before ] && bin=$BEFORE
      url=
      if [ "$backend" = postgres ]; then
        schema=bench_revert_${build}_$run
        psql -q "$PG" -c "DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema" >/dev/null
        SCHEMAS+=("$schema")
        url=$(in_schema "$schema")
      fi
      dir=srv-$backend-$build
      start_server "$bin" "$dir" "$url"
      t=$(now); client "$bin" "$dir" import c1m.csv --module customers; add "$backend-$build-insert" "$(elapsed "$t")"
      t=$(now); client "$bin" "$dir" import u1m.csv --module customers --mode upsert; add "$backend-$build-upsert" "$(elapsed "$t")"
      if [ "$build" = after ]; then
        # Jobs 1 (insert) and 2 (upsert): undo the upsert, then the insert.
        t=$(now); client "$bin" "$dir" jobs revert 2; add "$backend-revert-upsert" "$(elapsed "$t")"
        t=$(now); client "$bin" "$dir" jobs revert 1; add "$backend-revert-insert" "$(elapsed "$t")"
      fi
      stop_server
    done
  done
  echo "== run $run done" >&2
done

echo "| backend | 1M insert, no before-images | 1M insert, logged | ratio | 1M upsert, no before-images | 1M upsert, with before-images | ratio | revert of the upsert (1M restored) | revert of the insert (1M deleted) |"
echo "|---|---|---|---|---|---|---|---|---|"
for backend in "${BACKENDS[@]}"; do
  bi=$(echo "${T[$backend-before-insert]}" | median); ai=$(echo "${T[$backend-after-insert]}" | median)
  bu=$(echo "${T[$backend-before-upsert]}" | median); au=$(echo "${T[$backend-after-upsert]}" | median)
  ru=$(echo "${T[$backend-revert-upsert]}" | median); ri=$(echo "${T[$backend-revert-insert]}" | median)
  echo "| $backend | $bi s | $ai s | $(echo "$ai $bi" | awk '{printf "%.2f×", $1/$2}') | $bu s | $au s | $(echo "$au $bu" | awk '{printf "%.2f×", $1/$2}') | $ru s | $ri s |"
done
echo
echo "runs: $RUNS; every figure a median; times include the CLI's upload over loopback"
