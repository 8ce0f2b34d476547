#!/usr/bin/env bash
# netra-load measured against its aims and beside oha (docs/performance.md holds the results):
#   1. cohorts: 10 users through signup-chat (aim <= 50 ms) and 1000 users (aim <= 2 s),
#      embedded target;
#   2. request: the generator's CPU seconds per GET /health of a standalone target, netra-load
#      (health journey) and oha on the same URL, same connections and duration, at one and two
#      runtime threads (aim: netra-load <= 1.05 x oha);
#   3. journey: CPU per signup-chat journey, netra-load (bench/signup.toml) and Locust doing the
#      same journey (bench/locustfile.py), same users and duration, against one standalone target
#      (aim: netra-load <= 1/15 of Locust's at its default threads);
#   4. memory: peak RSS of the generator with 1000, 5000 and 10000 users each holding a
#      WebSocket to a standalone target (aim <= 50 KiB per user, <= 20 KiB past the first 1000),
#      and its RSS while they hold them, once the ramp's idle HTTP connections are closed;
#   5. accuracy: with --target-fault latency=50ms, the reported p50 of a backend step (aim:
#      within +5 % of 50 ms);
#   6. startup: process start to the load's start, embedded target (aim <= 200 ms).
# Usage: bench/peers.sh [SECONDS] [CONNECTIONS] [SECTIONS]   (defaults 10, 50 and all; SECTIONS
# is some of cohorts,request,journey,memory,accuracy,startup, comma-separated). Needs python3;
# installs oha with cargo, and Locust and websocket-client from PyPI in a venv, into
# target/bench-tools when they are not there.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-50}
sections=${3:-all}
for n in "$secs" "$conns"; do
  case $n in
    '' | *[!0-9]* | 0) echo "bench/peers.sh: SECONDS and CONNECTIONS are whole numbers above 0, not '$n' (e.g. bench/peers.sh 5 50)" >&2; exit 2 ;;
  esac
done
cargo build --release --locked --quiet
oha=$(command -v oha || true)
if [ -z "$oha" ]; then
  cargo install oha --locked --quiet --root target/bench-tools
  oha=target/bench-tools/bin/oha
fi
locust=target/bench-tools/locust/bin/locust
if [ ! -x "$locust" ]; then
  python3 -m venv target/bench-tools/locust
  target/bench-tools/locust/bin/pip install --quiet locust==2.47.0 websocket-client==1.9.2
fi
# 10000 users hold about 20000 sockets in each process.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
python3 bench/peers.py "$secs" "$conns" "$oha" "$locust" "$sections"
