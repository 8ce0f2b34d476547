#!/usr/bin/env bash
# Does scanning move the signup-chat p50? The chat journey at 1000 users for SECONDS (default 10),
# with passive scanning on and off (`[isolation] scan`), alternating twice; prints p50 and
# journeys/s of each run. Active probes are off in both, so only the scanner differs.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
cargo build --release --locked --quiet
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for scan in true false true false; do
  cat >"$out/p.toml" <<TOML
[run]
users = 1000
[isolation]
scan = $scan
probes = false
[probes]
jwt = false
[[persona]]
name = "chatter"
journey = "signup-chat"
plan_tier = "enterprise"
TOML
  rm -rf "$out/r"
  ./target/release/netra-load --profile "$out/p.toml" --run-time "${secs}s" --quiet --report-dir "$out/r" || true
  python3 - "$out/r" "$scan" <<'PY'
import glob, json, sys
r = json.load(open(glob.glob(sys.argv[1] + "/*/report.json")[0]))
j = r["journeys"]["signup-chat"]
print(f"scan={sys.argv[2]:<5} p50 {j['p50_us'] / 1000:7.1f} ms  p99 {j['p99_us'] / 1000:7.1f} ms  "
      f"{j['count'] / r['run']['duration_s']:6.0f} journeys/s  scanned {r['isolation']['responses_scanned']}")
PY
done
