#!/usr/bin/env bash
# Before/after: the 1M-row csv import and export of BENCHMARKS.md with the release binary of
# BASE_REV and of the working tree, interleaved in one run on the same data, so a change can be
# checked for regressions against noise.
#
#   bench/regression.sh BASE_REV [RUNS]     (default 3 runs of each; medians are compared)
#
# BASE_REV is built in a temporary git worktree with its own target directory
# (target/bench-base). Stops only the servers it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_REV=${1:?usage: bench/regression.sh BASE_REV [RUNS]}
RUNS=${2:-3}
ROOT=$(pwd)

echo "== building HEAD (release)" >&2
cargo build --release -j2 --quiet
WT=$(mktemp -d)
git worktree add --quiet --detach "$WT" "$BASE_REV"
WORK=$(mktemp -d)
SERVER_PID=
trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; cd "$ROOT"; rm -rf "$WORK"; git worktree remove --force "$WT"' EXIT
echo "== building $BASE_REV (release)" >&2
(cd "$WT" && CARGO_TARGET_DIR=$ROOT/target/bench-base cargo build --release -j2 --quiet)
declare -A BIN=([base]=$ROOT/target/bench-base/release/dataport [head]=$ROOT/target/release/dataport)

cd "$WORK"
PORT=50198
URL=http://127.0.0.1:$PORT
"${BIN[head]}" gen --module customers --rows 1000000 c1m.csv --seed 1 2>/dev/null

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
start_server() { # VERSION
  rm -rf "srv-$1" && mkdir "srv-$1"
  (cd "srv-$1" && exec "${BIN[$1]}" serve --listen 127.0.0.1:$PORT >server.log 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 100); do grep -q "listening" "srv-$1/server.log" 2>/dev/null && break; sleep 0.1; done
}
client() { local v=$1; shift; "${BIN[$v]}" "$@" --server "$URL" --token-file "srv-$v/dataport.token" >/dev/null; }

declare -A T
add() { T[$1]="${T[$1]:-} $2"; }
for run in $(seq 1 "$RUNS"); do
  for v in base head; do
    start_server "$v"
    t=$(now); client "$v" import c1m.csv --module customers; add "import_$v" "$(elapsed "$t")"
    t=$(now); client "$v" export --module customers --all --all-fields --format csv -o "dp-$v.csv"; add "export_$v" "$(elapsed "$t")"
    stop_server
  done
  cmp -s dp-base.csv dp-head.csv || echo "   note: the two exports differ" >&2
  echo "   run $run done" >&2
done
m() { echo "${T[$1]}" | median; }
ratio() { awk -v a="$(m "$1")" -v b="$(m "$2")" 'BEGIN {printf "%+.1f%%", (a / b - 1) * 100}'; }
cat <<TABLE

| 1M-row csv, SQLite | $BASE_REV median (s) | runs | HEAD median (s) | runs | change |
|---|---|---|---|---|---|
| import | $(m import_base) | ${T[import_base]} | $(m import_head) | ${T[import_head]} | $(ratio import_head import_base) |
| export | $(m export_base) | ${T[export_base]} | $(m export_head) | ${T[export_head]} | $(ratio export_head export_base) |
TABLE
