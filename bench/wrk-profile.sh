#!/usr/bin/env bash
# Requests/s the embedded target serves for GET /api/users/profile, measured by wrk (an external
# load generator, Debian package `wrk`) against `netra-load target` in release mode on loopback.
# Usage: bench/wrk-profile.sh [SECONDS] [CONNECTIONS]   (defaults 5 and 100)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
conns=${2:-100}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
cargo build --release --locked --quiet
out=$(mktemp)
./target/release/netra-load target --auth-addr 127.0.0.1:0 --backend-addr 127.0.0.1:0 \
  --burst 2000000000 --rate-limit 1000000000/s >"$out" 2>&1 &
pid=$!
trap 'kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 100); do grep -q "serving until" "$out" && break; sleep 0.05; done
auth=$(awk '/^auth service:/ {print $3}' "$out")
backend=$(awk '/^backend:/ {print $2}' "$out")
token=$(curl -s --noproxy '*' -X POST "$auth/auth/register" -H 'content-type: application/json' \
  -d '{"email":"wrk@example.com","password":"wrk-password"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
echo "wrk: $conns connections, 1 thread, ${secs}s, GET $backend/api/users/profile (one user)"
wrk -t1 -c"$conns" -d"${secs}s" -H "Authorization: Bearer $token" "$backend/api/users/profile" |
  grep -E "Requests/sec|Latency|Non-2xx"
