#!/usr/bin/env bash
# The load engine against the embedded target (both in one release process, 2 cores): prints the
# 10-user cohort, the time until the first 100/1000 users completed signup-chat, journeys/s,
# CPU seconds and peak RSS, at 100 and at 1000 users.
# Usage: bench/load.sh [SECONDS]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
cargo build --release --locked --quiet
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for users in 100 1000; do
  python3 - "$users" "$secs" "$out/$users" <<'PY'
import json, glob, resource, subprocess, sys
users, secs, out = sys.argv[1], sys.argv[2], sys.argv[3]
cmd = ["./target/release/netra-load", "--profile", "bench/load.toml", "--users", users,
       "--run-time", f"{secs}s", "--no-progress", "--quiet", "--report-dir", out]
code = subprocess.run(cmd).returncode
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
report = json.load(open(glob.glob(out + "/*/report.json")[0]))
j = report["journeys"]["signup-chat"]
ms = lambda us: "n/a" if us is None else f"{us / 1000:.1f} ms"
c = report["cohorts"]
print(f"{users:>5} users, {secs}s (exit {code}): cohort.10 {ms(c['10']['completed_us'])}, "
      f"cohort.100 {ms(c['100']['completed_us'])}, cohort.1000 {ms(c['1000']['completed_us'])}; "
      f"{j['count'] / report['run']['duration_s']:.0f} journeys/s ({j['count']} done, {j['failures']} failed), "
      f"p50 {ms(j['p50_us'])}, p99 {ms(j['p99_us'])}; "
      f"CPU {ru.ru_utime + ru.ru_stime:.1f} s; peak RSS {ru.ru_maxrss / 1024:.0f} MiB")
PY
done
