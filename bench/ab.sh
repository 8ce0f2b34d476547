#!/usr/bin/env bash
# CPU per request (or per journey) of two netra-load binaries, taking turns against one
# standalone target (the box is shared and noisy: single runs differ by 10 %; medians of
# alternating runs do not).
# Usage: bench/ab.sh BINARY_A BINARY_B [THREADS] [ROUNDS] [SECONDS]   (defaults 2, 5, 4)
# e.g. build main, copy target/release/netra-load to /tmp/a, build the change, copy to /tmp/b.
# With PROFILE=bench/signup.toml, CPU per signup-chat journey instead (any profile: per journey
# of its personas). With MEMORY_USERS=N (e.g. 5000), each round also measures the generator's
# peak RSS per user with N users holding a WebSocket (bench/idle.toml) against a fresh
# standalone target.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ] || [ ! -x "$1" ] || [ ! -x "$2" ]; then
  echo "usage: bench/ab.sh BINARY_A BINARY_B [THREADS] [ROUNDS] [SECONDS] (two netra-load executables)" >&2
  exit 2
fi
a=$1 b=$2 threads=${3:-2} rounds=${4:-5} secs=${5:-4}
for n in "$threads" "$rounds" "$secs"; do
  case $n in
    '' | *[!0-9]* | 0) echo "bench/ab.sh: THREADS, ROUNDS and SECONDS are whole numbers above 0, not '$n'" >&2; exit 2 ;;
  esac
done
profile=${PROFILE:-bench/health.toml}
[ -f "$profile" ] || { echo "bench/ab.sh: PROFILE is a profile file (e.g. bench/signup.toml), not '$profile'" >&2; exit 2; }
case ${MEMORY_USERS:-0} in
  *[!0-9]*) echo "bench/ab.sh: MEMORY_USERS is a number of users (0: no memory measurement), not '$MEMORY_USERS'" >&2; exit 2 ;;
esac
# N users hold about 2N sockets in each process.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
python3 - "$a" "$b" "$threads" "$rounds" "$secs" "${MEMORY_USERS:-0}" "$profile" <<'PY'
import glob, json, os, re, resource, shutil, subprocess, sys, tempfile

a, b, threads, rounds, secs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
memory_users, profile = int(sys.argv[6]), sys.argv[7]
unit = "request" if profile.endswith("health.toml") else "journey"


def standalone(binary):
    """A standalone target on port 0; returns the process and its two URLs."""
    p = subprocess.Popen([binary, "target", "--auth-addr", "127.0.0.1:0", "--backend-addr", "127.0.0.1:0",
                          "--burst", "1000000"], stdout=subprocess.PIPE, text=True)
    found = []
    while len(found) < 2:
        found += re.findall(r"http://[0-9.:]+", p.stdout.readline())
    return p, found


def peak_kib_per_user(binary):
    """Peak RSS per user of `binary` with memory_users users holding a WebSocket."""
    t, (auth, backend) = standalone(a)
    try:
        with tempfile.TemporaryDirectory() as d:
            run_time = f"{memory_users / 1000 + 5:.0f}s"
            subprocess.run([binary, "--profile", "bench/idle.toml", "--users", str(memory_users), "--run-time", run_time,
                            "--auth-url", auth, "--backend-url", backend, "--quiet", "--no-progress",
                            "--report-dir", d], check=True)
            r = json.load(open(glob.glob(d + "/*/report.json")[0]))
            held = r["journeys"]["idle-chat"]["count"]
            if held < memory_users:
                sys.exit(f"{binary}: only {held} of {memory_users} users held their WebSocket")
            return r["run"]["peak_rss_kib"] / memory_users
    finally:
        t.terminate()
        t.wait()


memory = {a: [], b: []}
target, urls = standalone(a)
cpu = lambda: sum(getattr(resource.getrusage(resource.RUSAGE_CHILDREN), f) for f in ("ru_utime", "ru_stime"))
env = dict(os.environ, TOKIO_WORKER_THREADS=threads)
results = {a: [], b: []}
try:
    for _ in range(rounds):
        for binary in (a, b):
            with tempfile.TemporaryDirectory() as d:
                before = cpu()
                subprocess.run([binary, "--profile", profile, "--users", "50", "--run-time", f"{secs}s",
                                "--auth-url", urls[0], "--backend-url", urls[1], "--quiet", "--no-progress",
                                "--report-dir", d], env=env, check=True)
                used = cpu() - before
                r = json.load(open(glob.glob(d + "/*/report.json")[0]))
                done = sum(j["count"] for j in r["journeys"].values())
                if done == 0:
                    print(f"bench/ab.sh: {binary} completed no journey of {profile} in {secs}s: give a profile whose "
                          "journeys end (e.g. bench/signup.toml), or more SECONDS", file=sys.stderr)
                    sys.exit(2)
                results[binary].append(used / done * 1e6)
finally:
    target.terminate()
    target.wait()
for _ in range(rounds if memory_users else 0):
    for binary in (a, b):
        memory[binary].append(peak_kib_per_user(binary))
median = lambda xs: sorted(xs)[len(xs) // 2]
for binary, runs in results.items():
    print(f"{binary}: median {median(runs):.2f} µs CPU per {unit} ({', '.join(f'{x:.2f}' for x in sorted(runs))})")
for binary, runs in memory.items():
    if runs:
        print(f"{binary}: median {median(runs):.1f} KiB peak RSS per user, {memory_users} users holding a WebSocket "
              f"({', '.join(f'{x:.1f}' for x in sorted(runs))})")
PY
