#!/usr/bin/env bash
# CPU per request of two netra-load binaries, taking turns against one standalone target (the
# box is shared and noisy: single runs differ by 10 %; medians of alternating runs do not).
# Usage: bench/ab.sh BINARY_A BINARY_B [THREADS] [ROUNDS] [SECONDS]   (defaults 2, 5, 4)
# e.g. build main, copy target/release/netra-load to /tmp/a, build the change, copy to /tmp/b.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ] || [ ! -x "$1" ] || [ ! -x "$2" ]; then
  echo "usage: bench/ab.sh BINARY_A BINARY_B [THREADS] [ROUNDS] [SECONDS] (two netra-load executables)" >&2
  exit 2
fi
a=$1 b=$2 threads=${3:-2} rounds=${4:-5} secs=${5:-4}
python3 - "$a" "$b" "$threads" "$rounds" "$secs" <<'PY'
import glob, json, os, re, resource, shutil, subprocess, sys, tempfile

a, b, threads, rounds, secs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
target = subprocess.Popen([a, "target", "--auth-addr", "127.0.0.1:0", "--backend-addr", "127.0.0.1:0",
                           "--burst", "1000000"], stdout=subprocess.PIPE, text=True)
urls = []
while len(urls) < 2:
    urls += re.findall(r"http://[0-9.:]+", target.stdout.readline())
cpu = lambda: sum(getattr(resource.getrusage(resource.RUSAGE_CHILDREN), f) for f in ("ru_utime", "ru_stime"))
env = dict(os.environ, TOKIO_WORKER_THREADS=threads)
results = {a: [], b: []}
try:
    for _ in range(rounds):
        for binary in (a, b):
            with tempfile.TemporaryDirectory() as d:
                before = cpu()
                subprocess.run([binary, "--profile", "bench/health.toml", "--users", "50", "--run-time", f"{secs}s",
                                "--auth-url", urls[0], "--backend-url", urls[1], "--quiet", "--no-progress",
                                "--report-dir", d], env=env, check=True)
                used = cpu() - before
                r = json.load(open(glob.glob(d + "/*/report.json")[0]))
                results[binary].append(used / r["journeys"]["health"]["count"] * 1e6)
finally:
    target.terminate()
    target.wait()
for binary, runs in results.items():
    runs.sort()
    print(f"{binary}: median {runs[len(runs) // 2]:.2f} µs CPU per request ({', '.join(f'{x:.2f}' for x in runs)})")
PY
