#!/usr/bin/env bash
# A distributed run on one machine: N `--segment I/N` processes with one `--start-at`, against
# one standalone target (its own process), merged. Prints each segment's start, the spread of
# the starts the merge measured, and whether the merged counts are the segments' sums.
# Usage: bench/segments.sh [SEGMENTS] [USERS] [SECONDS] [PROFILE]   (defaults 4, 40, 10, smoke)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-4}
users=${2:-40}
secs=${3:-10}
profile=${4:-smoke}
cargo build --release --locked --quiet
bin=./target/release/netra-load
out=$(mktemp -d)
trap 'kill $target 2>/dev/null || true; rm -rf "$out"' EXIT
$bin target --auth-addr 127.0.0.1:0 --backend-addr 127.0.0.1:0 --burst 100000 > "$out/target.log" &
target=$!
while [ "$(grep -c http:// "$out/target.log" 2>/dev/null || true)" -lt 2 ]; do sleep 0.1; done
auth=$(grep -o 'http://[0-9.:]*' "$out/target.log" | sed -n 1p)
backend=$(grep -o 'http://[0-9.:]*' "$out/target.log" | sed -n 2p)
# Time for every process to start and check the target first.
start=$(( $(date +%s) + 3 ))
pids=()
for i in $(seq 0 $((n - 1))); do
  $bin --profile "$profile" --users "$users" --run-time "${secs}s" --segment "$i/$n" --start-at "$start" \
    --auth-url "$auth" --backend-url "$backend" --no-progress --quiet --report-dir "$out/seg$i" &
  pids+=($!)
done
for pid in "${pids[@]}"; do
  wait "$pid" || [ $? -ne 2 ]
done
$bin merge "$out"/seg*/*/report.json -o "$out/merged" --quiet || [ $? -ne 2 ]
python3 - "$out" "$n" <<'PY'
import glob, json, sys
out, n = sys.argv[1], int(sys.argv[2])
parts = [json.load(open(p)) for p in sorted(glob.glob(out + "/seg*/*/report.json"))]
merged = json.load(open(out + "/merged/report.json"))
first = min(p["run"]["started_at_ms"] for p in parts)
for p in parts:
    print(f"segment {p['run']['segment']}: {p['run']['users']} users, started {p['run']['started_at_ms'] - first} ms after the first")
def journeys(r):
    return sum(j["count"] + j["failures"] for j in r["journeys"].values())
def begun(r):
    return sum(w.get("begun", 0) for w in r["timeline"]["windows"])
print(f"merge: start spread {merged['run']['start_spread_ms']} ms; users {merged['run']['users']} "
      f"(sum {sum(p['run']['users'] for p in parts)}); journeys ended {journeys(merged)} "
      f"(sum {sum(journeys(p) for p in parts)}); begun in windows {begun(merged)} (sum {sum(begun(p) for p in parts)}); "
      f"verdict {merged['verdict']['outcome']}")
PY
