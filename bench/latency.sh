#!/usr/bin/env bash
# Issue 12's fixed-stall figures, over loopback against a release server on SQLite:
# - unary latency: ListFormats and CountRecords from one Python grpcio channel (2 000 calls
#   each after 100 warm-up calls; p50 and p99), the client any user would have;
# - a 10-row csv import through the CLI against the running server, wall time of the whole
#   `dataport import` process, median of 5 (each run imports new codes).
#
#   [DATAPORT_BENCH_BEFORE=/path/to/older/dataport] bench/latency.sh
#
# With DATAPORT_BENCH_BEFORE, the same figures for that binary follow, measured in the same run
# (the peer of a fix). Needs python3 with grpcio (python3 -m pip install grpcio).
#
# Stops only the server it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
python3 -c "import grpc" 2>/dev/null || { echo "bench/latency.sh needs python3 -m pip install grpcio" >&2; exit 1; }

echo "== building (release)" >&2
cargo build --release -j2 --quiet
WORK=$(mktemp -d)
SERVER_PID=
trap stop_server_and_remove_work EXIT

measure() { # BINARY
BIN=$1
rm -rf "$WORK/srv" && mkdir "$WORK/srv" && cd "$WORK/srv"
echo "### $BIN"
PORT=50199
"$BIN" serve --listen 127.0.0.1:$PORT >server.log 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do grep -q "listening" server.log 2>/dev/null && break; sleep 0.1; done
TOKEN=$(cat dataport.token)

python3 - "127.0.0.1:$PORT" "$TOKEN" <<'PY'
import sys, time, grpc
addr, token = sys.argv[1], sys.argv[2]
channel = grpc.insecure_channel(addr)
meta = (("authorization", "Bearer " + token),)
calls = {
    # ListFormatsRequest is empty; CountRecordsRequest{module: MODULE_CUSTOMERS} is field 1 = 1.
    "ListFormats": ("/dataport.v1.DataPort/ListFormats", b""),
    "CountRecords": ("/dataport.v1.DataPort/CountRecords", b"\x08\x01"),
}
for name, (method, body) in calls.items():
    call = channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    for _ in range(100):
        call(body, metadata=meta, timeout=10)
    samples = []
    for _ in range(2000):
        t = time.perf_counter()
        call(body, metadata=meta, timeout=10)
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    print(f"| {name} (Python grpcio, one channel, 2000 calls) | p50 {samples[1000]:.2f} ms | p99 {samples[1980]:.2f} ms |")
PY

header=$("$BIN" template customers --format csv -o t.csv --server http://127.0.0.1:$PORT >/dev/null && head -1 t.csv)
times=()
for run in 1 2 3 4 5; do
  { echo "$header"; for i in $(seq 1 10); do echo "L${run}X$i,公司$i,互联网,13812345678,张伟,VIP,待跟进,北京,1000.00,,,2023-10-01"; done; } > ten-$run.csv
  t=$(date +%s.%N)
  "$BIN" import ten-$run.csv --module customers --server http://127.0.0.1:$PORT >/dev/null
  times+=("$(echo "$(date +%s.%N) $t" | awk '{printf "%.0f", ($1 - $2) * 1000}')")
done
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
echo "| 10-row csv import, whole CLI process (runs: ${times[*]} ms) | median $median ms | |"
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
}

measure "$ROOT/target/release/dataport"
[ -n "${DATAPORT_BENCH_BEFORE:-}" ] && measure "$DATAPORT_BENCH_BEFORE"
true
