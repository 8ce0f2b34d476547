#!/usr/bin/env bash
# netra-load measured against its aims and beside oha (docs/performance.md holds the results):
#   1. cohorts: 10 users through signup-chat (aim <= 50 ms) and 1000 users (aim <= 2 s),
#      embedded target;
#   2. cost per request: the generator's CPU seconds per GET /health of a standalone target,
#      netra-load (health journey) and oha on the same URL, same connections and duration
#      (aim: netra-load <= 1.5 x oha);
#   3. memory per user: peak RSS of the generator with 1000, 5000 and 10000 users each holding a
#      WebSocket to a standalone target (aim <= 50 KiB per user);
#   4. accuracy: with --target-fault latency=50ms, the reported p50 of a backend step (aim:
#      within +5 % of 50 ms);
#   5. start-up: process start to the load's start, embedded target (aim <= 200 ms).
# Usage: bench/peers.sh [SECONDS] [CONNECTIONS]   (defaults 10 and 50). Needs python3; installs
# oha with cargo into target/bench-tools when it is not on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-50}
cargo build --release --locked --quiet
oha=$(command -v oha || true)
if [ -z "$oha" ]; then
  cargo install oha --locked --quiet --root target/bench-tools
  oha=target/bench-tools/bin/oha
fi
# 10000 users hold about 20000 sockets in each process.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
python3 bench/peers.py "$secs" "$conns" "$oha"
