#!/usr/bin/env bash
# Soak: 500 users for 60 s against a standalone target (its own process) dropping 1 % of the
# WebSocket turns and failing 1 % of the API calls. Samples the generator's RSS every 5 s: after
# the warm-up it must stay flat (bounded memory: the timeline is bounded, failed users back off,
# finished journeys free their state).
# Usage: bench/soak.sh [SECONDS] [USERS]   (defaults 60 and 500)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
users=${2:-500}
cargo build --release --locked --quiet
out=$(mktemp -d)
trap 'kill $target 2>/dev/null || true; rm -rf "$out"' EXIT
./target/release/netra-load target --auth-addr 127.0.0.1:0 --backend-addr 127.0.0.1:0 \
  --burst 100000 --fault ws-drop=0.01 --fault error-rate=0.01 > "$out/target.log" &
target=$!
while [ "$(grep -c http:// "$out/target.log" 2>/dev/null || true)" -lt 2 ]; do sleep 0.1; done
auth=$(grep -o 'http://[0-9.:]*' "$out/target.log" | sed -n 1p)
backend=$(grep -o 'http://[0-9.:]*' "$out/target.log" | sed -n 2p)
./target/release/netra-load --profile bench/load.toml --users "$users" --run-time "${secs}s" \
  --auth-url "$auth" --backend-url "$backend" --no-progress --quiet --report-dir "$out/reports" &
gen=$!
echo "  t(s)  generator RSS (MiB)"
t=0
while kill -0 $gen 2>/dev/null; do
  rss=$(awk '/VmRSS/ {print int($2 / 1024)}' /proc/$gen/status 2>/dev/null || echo "-")
  [ -n "$rss" ] && printf "%6d  %s\n" "$t" "$rss"
  sleep 5
  t=$((t + 5))
done
wait $gen || true
python3 - "$out" <<'PY'
import json, glob, sys
r = json.load(open(glob.glob(sys.argv[1] + "/reports/*/report.json")[0]))
j = r["journeys"]["signup-chat"]
errors = ", ".join(f"{e['kind']} {e['count']}" for e in r["errors"])
print(f"{j['count']} journeys, {j['failures']} failed ({errors}); p50 {j['p50_us'] / 1000:.1f} ms, "
      f"p99 {j['p99_us'] / 1000:.1f} ms; windows {len(r['timeline']['windows'])}; ended by {r['run']['ended_by']}")
PY
