#!/usr/bin/env bash
# Every shipped profile at its own settings against the clean embedded target, ROUNDS times each
# (default 3): the false-alarm check. Prints one line a run (its exit code and verdict) and exits
# 1 if any run did not PASS. Each run is bounded by its profile's run time (at most 20 s) and a
# 120 s timeout. Usage: bench/shipped.sh [BINARY] [ROUNDS]
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/netra-load}
rounds=${2:-3}
if [ ! -x "$bin" ]; then
  echo "usage: bench/shipped.sh [BINARY] [ROUNDS] (build first: cargo build --release)" >&2
  exit 2
fi
reports=$(mktemp -d)
failed=0
for profile in profiles/*.toml; do
  name=$(basename "$profile" .toml)
  for round in $(seq 1 "$rounds"); do
    out=$(timeout 120 "$bin" --profile "$name" --no-progress --report-dir "$reports" 2>/dev/null)
    code=$?
    echo "$name run $round: exit $code, $(echo "$out" | grep '^verdict')"
    [ "$code" -eq 0 ] || failed=1
  done
done
rm -rf "$reports"
exit "$failed"
