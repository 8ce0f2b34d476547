"""The measurements of bench/peers.sh; prints one table."""
import glob, json, os, re, resource, subprocess, sys, tempfile, time

SECS, CONNS, OHA, LOCUST = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ALL = ["cohorts", "request", "journey", "memory", "accuracy", "startup"]
SECTIONS = ALL if sys.argv[5] == "all" else sys.argv[5].split(",")
if unknown := [x for x in SECTIONS if x not in ALL]:
    print(f"bench/peers.sh: no section {unknown[0]!r}; the sections are all or some of {','.join(ALL)}", file=sys.stderr)
    sys.exit(2)
BIN = "./target/release/netra-load"
rows = []


def cpu_of(cmd, **kw):
    """Runs cmd; returns (its output, the CPU seconds it used)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return out, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run(args, env=None):
    """A netra-load run; returns (report, CPU seconds)."""
    with tempfile.TemporaryDirectory() as d:
        out, cpu = cpu_of([BIN, *args, "--no-progress", "--quiet", "--report-dir", d], env=env)
        return report_in(d, args, out.stderr), cpu


def report_in(d, args, stderr):
    """The report a run with `args` wrote under `d`; or the harness stops with its stderr."""
    files = glob.glob(d + "/*/report.json")
    if not files:
        sys.exit(f"netra-load {' '.join(args)} wrote no report: {stderr.strip()}")
    return json.load(open(files[0]))


class Target:
    """A standalone `netra-load target` on loopback, port 0."""

    def __enter__(self):
        self.p = subprocess.Popen([BIN, "target", "--auth-addr", "127.0.0.1:0", "--backend-addr",
                                   "127.0.0.1:0", "--burst", "1000000"], stdout=subprocess.PIPE, text=True)
        urls = []
        while len(urls) < 2:
            urls += re.findall(r"http://[0-9.:]+", self.p.stdout.readline())
        self.auth, self.backend = urls[0], urls[1]
        return self

    def urls(self):
        return ["--auth-url", self.auth, "--backend-url", self.backend]

    def __exit__(self, *_):
        self.p.terminate()
        self.p.wait()


ms = lambda us: f"{us / 1000:.1f} ms"
# The box is shared and noisy: tools compared take turns, ROUNDS times, and their medians are
# compared.
ROUNDS = 3
median = lambda xs: sorted(xs)[len(xs) // 2]
spread = lambda xs: f"{min(xs):.{2 if max(xs) < 1 else 1}f}-{max(xs):.{2 if max(xs) < 1 else 1}f}, {len(xs)} runs"


def cohorts():
    r, _ = run(["--profile", "smoke"])
    rows.append(("cohort: 10 users through signup-chat", ms(r["cohorts"]["10"]["completed_us"]), "<= 50 ms"))
    # One journey each, as the smoke profile's 10 users: the users who are done do not compete
    # with the last ones still on their first journey.
    r, _ = run(["--profile", "bench/load.toml", "--users", "1000", "--iterations", "1"])
    c = r["cohorts"]["1000"]["completed_us"]
    rows.append(("cohort: 1000 users through signup-chat (one each)", ms(c) if c else "n/a", "<= 2 s"))
    r, _ = run(["--profile", "bench/load.toml", "--users", "1000", "--run-time", "5s"])
    c = r["cohorts"]["1000"]["completed_us"]
    rows.append(("cohort: 1000 users, all repeating journeys for 5 s", ms(c) if c else "n/a", ""))


def request():
    """CPU per GET /health against one standalone target, with the same number of runtime threads
    for both tools (tokio reads TOKIO_WORKER_THREADS; oha has --worker-threads)."""
    with Target() as t:
        for threads in (1, 2):
            env = dict(os.environ, TOKIO_WORKER_THREADS=str(threads))
            nl, oha = [], []
            for _ in range(ROUNDS):
                r, cpu = run(["--profile", "bench/health.toml", "--users", str(CONNS), "--run-time", f"{SECS}s", *t.urls()], env)
                n = r["journeys"]["health"]["count"]
                nl.append((cpu / n * 1e6, n / r["run"]["duration_s"]))
                out, cpu = cpu_of([OHA, "-z", f"{SECS}s", "-c", str(CONNS), "--worker-threads", str(threads), "--no-tui",
                                   "--output-format", "json", t.backend + "/health"])
                summary = json.loads(out.stdout)
                total = sum(summary["statusCodeDistribution"].values())
                oha.append((cpu / total * 1e6, summary["summary"]["requestsPerSec"]))
            for name, runs in ((f"netra-load: GET /health, {CONNS} users", nl), (f"oha: GET /health, {CONNS} connections", oha)):
                cpus = [r[0] for r in runs]
                rows.append((f"{name}, {threads} thread(s)",
                             f"{median([r[1] for r in runs]):.0f} req/s, {median(cpus):.1f} µs CPU/req ({spread(cpus)})", ""))
            ratio = median([r[0] for r in nl]) / median([r[0] for r in oha])
            rows.append((f"CPU per request, netra-load / oha, {threads} thread(s), medians", f"{ratio:.2f}x", "<= 1.05x"))


def locust(t):
    """One Locust run of bench/locustfile.py against t; returns (journeys, CPU seconds)."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, NETRA_BACKEND=t.backend, NETRA_LOCUST_OUT=d + "/counts.json")
        out, cpu = cpu_of([LOCUST, "-f", "bench/locustfile.py", "--headless", "--only-summary", "-u", str(CONNS),
                           "-r", str(CONNS), "-t", f"{SECS}s", "--host", t.auth], env=env, timeout=SECS + 60)
        try:
            counts = json.load(open(d + "/counts.json"))
        except OSError:
            sys.exit(f"locust wrote no counts: {out.stderr.strip()[-2000:]}")
        if counts["failures"] > counts["journeys"] / 100:
            sys.exit(f"locust: {counts['failures']} of {counts['journeys'] + counts['failures']} journeys failed: {out.stderr.strip()[-2000:]}")
        return counts["journeys"] + counts["failures"], cpu


def journey():
    """CPU per signup-chat journey (register, login, profile, thread, WebSocket and first reply,
    history, list), netra-load at its default runtime threads (one per core) and at one, beside
    Locust (one process, gevent) doing the same journey, against one standalone target."""
    with Target() as t:
        runs = {"default": [], "1": [], "locust": []}
        for _ in range(ROUNDS):
            for threads in ("default", "1"):
                env = dict(os.environ)
                if threads == "default":
                    env.pop("TOKIO_WORKER_THREADS", None)
                else:
                    env["TOKIO_WORKER_THREADS"] = threads
                r, cpu = run(["--profile", "bench/signup.toml", "--users", str(CONNS), "--run-time", f"{SECS}s", *t.urls()], env)
                j = r["journeys"]["signup-chat"]
                if j["failures"] > j["count"] / 100:
                    sys.exit(f"netra-load: {j['failures']} of {j['count']} signup-chat journeys failed")
                runs[threads].append((cpu / j["count"] * 1e3, j["count"] / r["run"]["duration_s"]))
            n, cpu = locust(t)
            runs["locust"].append((cpu / n * 1e3, n / SECS))
        names = {"default": f"netra-load: signup-chat, {CONNS} users, default threads",
                 "1": f"netra-load: signup-chat, {CONNS} users, 1 thread",
                 "locust": f"Locust: signup-chat, {CONNS} users, 1 process"}
        for key, name in names.items():
            cpus = [r[0] for r in runs[key]]
            rows.append((name, f"{median([r[1] for r in runs[key]]):.0f} journeys/s, {median(cpus):.2f} ms CPU/journey ({spread(cpus)})", ""))
        for key in ("default", "1"):
            share = median([r[0] for r in runs["locust"]]) / median([r[0] for r in runs[key]])
            rows.append((f"CPU per journey, Locust / netra-load ({names[key].split(', ')[-1]})", f"{share:.1f}x",
                         ">= 15x" if key == "default" else ""))


def held_run(args, at_s):
    """A netra-load run, and its resident KiB `at_s` seconds after it started."""
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.Popen([BIN, *args, "--no-progress", "--quiet", "--report-dir", d],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(at_s)
        try:
            rss = next(int(line.split()[1]) for line in open(f"/proc/{p.pid}/status") if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            rss = None
        try:
            _, err = p.communicate(timeout=at_s + 120)
        except subprocess.TimeoutExpired:
            p.kill()
            sys.exit(f"netra-load {' '.join(args)} did not end in time")
        return report_in(d, args, err), rss


def memory():
    """Peak RSS (the aim's measure: the ramp's connections included) and RSS while the users hold
    their WebSockets, once the ramp's idle HTTP connections are closed (the pool keeps them 4-4.5 s)."""
    base = None
    for users in (1000, 5000, 10000):
        with Target() as t:
            ramp = users / 1000
            args = ["--profile", "bench/idle.toml", "--users", str(users), "--run-time", f"{ramp + 10:.0f}s", *t.urls()]
            r, held = held_run(args, ramp + 8)
            j = r["journeys"]["idle-chat"]
            kib = r["run"]["peak_rss_kib"]
            note = f"{kib / 1024:.0f} MiB peak, {kib / users:.1f} KiB/user"
            aim = "<= 50 KiB/user"
            if base:
                note += f"; {(kib - base[1]) / (users - base[0]):.1f} KiB per user past {base[0]}"
                aim += ", <= 20 KiB past 1000"
            held_note = f"{held / 1024:.0f} MiB, {held / users:.1f} KiB/user" if held else "not read"
            if base and held and base[2]:
                held_note += f"; {(held - base[2]) / (users - base[0]):.1f} KiB per user past {base[0]}"
            base = base or (users, kib, held)
            rows.append((f"memory: {users} users holding a WebSocket ({j['count']} held, {j['failures']} failed)", note, aim))
            rows.append((f"memory: the same, held ({ramp + 8:.0f} s into the run)", held_note, ""))


def accuracy():
    """The reported p50 with 50 ms added, and what the tester added to the 50 ms beyond the same
    step's p50 without the fault (the server's own work)."""
    step = lambda r: r["journeys"]["signup-chat"]["steps"]["profile"]["p50_us"]
    slow, _ = run(["--profile", "smoke", "--iterations", "5", "--target-fault", "latency=50ms"])
    clean, _ = run(["--profile", "smoke", "--iterations", "5"])
    p50, base = step(slow), step(clean)
    rows.append(("accuracy: profile p50 with latency=50ms", f"{ms(p50)} ({(p50 / 50000 - 1) * 100:+.1f} %)", "within +5 %"))
    rows.append(("accuracy: the same minus its p50 without the fault", f"{ms(p50 - base)} ({((p50 - base) / 50000 - 1) * 100:+.1f} %)", "within +5 %"))


def startup():
    starts = sorted(run(["--profile", "smoke"])[0]["run"]["startup_ms"] for _ in range(5))
    rows.append(("start-up: process start to the load's start (median of 5)", f"{starts[2]:.0f} ms", "<= 200 ms"))


for section in ALL:
    if section in SECTIONS:
        globals()[section]()

width = max(len(r[0]) for r in rows)
vwidth = max(len(r[1]) for r in rows)
print(f"{'measure':<{width}}  {'result':<{vwidth}}  aim")
for name, value, aim in rows:
    print(f"{name:<{width}}  {value:<{vwidth}}  {aim}")
