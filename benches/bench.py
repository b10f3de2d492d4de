#!/usr/bin/env python3
"""runbook vs psql benchmark; run through `benches/run`, which builds the release binary first.

Every measured command is started with posix_spawn (no shell) with stdin and stdout on
/dev/null, and reaped with wait4: wall time from just before the spawn to just after the reap,
peak RSS from that child's own rusage (ru_maxrss). runbook and its anchor alternate run by run
so drift in the server or the machine hits both alike. Figures: median ± MAD (median absolute
deviation) over n runs, after warm-up runs that are not counted.
"""
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
BIN = os.environ.get("BENCH_RUNBOOK_BIN") or os.path.join(ROOT, "target", "release", "runbook")
QUICK = os.environ.get("BENCH_QUICK") == "1"
CASES = set(os.environ.get("BENCH_CASES", "ABCDE").upper())  # a subset implies no RESULTS.md
RUNBOOK_OK = {0, 1, 2}  # OK / WARNING / CRITICAL are normal outcomes; 3+ is a failure
PSQL = shutil.which("psql")
PSQL_ARGS = [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1"]

WORK = tempfile.mkdtemp(prefix="runbook-bench-")
os.chdir(WORK)  # playbook names resolve to ./playbooks/NAME.yaml first: here, only built-ins
ERR = os.path.join(WORK, "stderr.txt")


def fail(msg):
    print(f"benches/run: {msg}", file=sys.stderr)
    try:
        with open(ERR) as f:
            tail = f.read()[-2000:]
        if tail.strip():
            print("--- stderr of the failing command ---\n" + tail, file=sys.stderr)
    except OSError:
        pass
    shutil.rmtree(WORK, ignore_errors=True)
    sys.exit(3)


def spawn(argv, ok_codes, stdout="/dev/null"):
    """One run: (wall seconds, peak RSS in KiB, CPU seconds user+sys)."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, ERR, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status, ru = os.wait4(pid, 0)
    t1 = time.perf_counter()
    code = os.waitstatus_to_exitcode(status)
    if code not in ok_codes:
        fail(f"exit code {code} from: {' '.join(argv)}")
    return t1 - t0, ru.ru_maxrss, ru.ru_utime + ru.ru_stime


def bench(commands, runs, warmup):
    """commands: list of (argv, ok_codes); alternated. Returns per command (times, rss, cpu)."""
    for _ in range(warmup):
        for argv, ok in commands:
            spawn(argv, ok)
    out = [([], [], []) for _ in commands]
    for _ in range(runs):
        for i, (argv, ok) in enumerate(commands):
            for series, x in zip(out[i], spawn(argv, ok)):
                series.append(x)
    return out


def med(xs):
    return statistics.median(xs)


def mad(xs):
    m = med(xs)
    return med([abs(x - m) for x in xs])


def fmt_t(xs):
    m, d = med(xs), mad(xs)
    if m >= 1:
        return f"{m:.3f} s ± {d:.3f}"
    return f"{m * 1000:.1f} ms ± {d * 1000:.1f}"


def mb(kib):
    return kib * 1024 / 1e6  # MB = 10^6 bytes


def runbook_run(playbook, report, fmt="markdown"):
    return [BIN, "run", playbook, "--quiet", "--format", fmt, "--report", report]


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def run_json(playbook):
    """One checked run with a JSON report; returns the parsed report."""
    path = os.path.join(WORK, "check.json")
    spawn(runbook_run(playbook, path, "json"), RUNBOOK_OK)
    with open(path) as f:
        rec = json.load(f)
    bad = [s["id"] for s in rec["steps"] if s["status"] in ("UNKNOWN", "NOT_RUN", "STOPPED")]
    if bad or rec.get("error"):
        fail(f"{playbook}: steps failed: {bad} {rec.get('error') or ''}")
    return rec


# ---------------------------------------------------------------- fixtures

A_VARIANTS = [
    "SELECT count(*) AS n FROM pg_stat_activity WHERE state = 'idle'",
    "SELECT count(*) AS n FROM pg_stat_activity WHERE state = 'active'",
    "SELECT count(*) FILTER (WHERE state LIKE 'idle in transaction%') AS n FROM pg_stat_activity",
    "SELECT usename, count(*) AS n FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY usename",
    "SELECT datname, count(*) AS n FROM pg_stat_activity GROUP BY datname",
    "SELECT max(now() - backend_start) AS oldest FROM pg_stat_activity WHERE backend_type = 'client backend'",
    "SELECT pid, state, wait_event_type FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
    "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
    "SELECT backend_type, count(*) AS n FROM pg_stat_activity GROUP BY backend_type ORDER BY n DESC",
    "SELECT coalesce(max(now() - query_start), interval '0') AS longest FROM pg_stat_activity WHERE state = 'active'",
]
A_STEPS = 200
A_SQL = [f"{A_VARIANTS[i % len(A_VARIANTS)]} LIMIT {100 + i}" for i in range(A_STEPS)]

B_ROWS = 2_000_000
B_SQL = (f"SELECT g AS id, g * 2 AS doubled, 'row ' || g AS label, now() AS ts "
         f"FROM generate_series(1, {B_ROWS}) AS g")


def playbook(name, steps, timeout=None):
    lines = ["version: 1", f"name: {name}"]
    if timeout:
        lines.append(f"timeout: {timeout}")
    lines.append("steps:")
    for sid, sql in steps:
        lines += [f"  - id: {sid}", "    check: |", f"      {sql}"]
    return "\n".join(lines) + "\n"


def psql_file(stmts, wrapped=False):
    out = []
    for s in stmts:
        if wrapped:
            # What runbook sends for a check: the transaction, the check, the proof that the
            # transaction is intact, the rollback.
            out.append(f"BEGIN READ ONLY; SET LOCAL statement_timeout = '30s'; "
                       f"SET LOCAL lock_timeout = '10s'; {s}; "
                       "SELECT current_setting('transaction_read_only') = 'on' "
                       "AND now() < statement_timestamp(); ROLLBACK;")
        else:
            out.append(s.rstrip().rstrip(";") + ";")
    return "\n".join(out) + "\n"


def main():
    if not os.access(BIN, os.X_OK):
        fail(f"{BIN} not built")
    r = lambda n, q: q if QUICK else n  # noqa: E731
    rep = os.path.join(WORK, "report.md")
    rows, misses = [], []
    load_before = os.getloadavg()[0]

    def cpu(xs, ys=None):
        f = lambda v: f"{med(v) * 1000:.0f} ms" if med(v) < 1 else f"{med(v):.2f} s"  # noqa: E731
        return f(xs) + (f" / {f(ys)}" if ys else "")

    def row(case, what, rb, anchor, ratio, cpu_time, target, ok):
        rows.append((case, what, rb, anchor, ratio, cpu_time, target, "pass" if ok else "**FAIL**"))
        if not ok:
            misses.append(f"{case}: {target}")

    # harness cost: spawning /bin/true the same way
    true_t = bench([(["/bin/true"], {0})], r(50, 10), 5)[0][0]

    # --- A: 200 small checks
    if "A" in CASES:
        print("==> case A: 200-step playbook of pg_stat_activity checks", file=sys.stderr)
        write("bench-a.yaml", playbook("bench-a", [(f"s{i:03d}", s) for i, s in enumerate(A_SQL)]))
        write("a.sql", psql_file(A_SQL))
        write("a-wrapped.sql", psql_file(A_SQL, wrapped=True))
        rec = run_json("./bench-a.yaml")
        if sum(1 for s in rec["steps"] if s["status"] == "OK") != A_STEPS:
            fail("case A: not every step ran OK")
        (at, _, acpu), (pt, _, pcpu), (wt, _, _) = bench(
            [(runbook_run("./bench-a.yaml", rep), RUNBOOK_OK),
             (PSQL_ARGS + ["-f", "a.sql"], {0}),
             (PSQL_ARGS + ["-f", "a-wrapped.sql"], {0})], r(20, 5), 2)
        ratio = med(at) / med(wt)
        row("A", "200 checks, 1 run", fmt_t(at), fmt_t(wt) + " (same statements)", f"{ratio:.2f}×",
            cpu(acpu, pcpu), "≤ 1.2× psql", ratio <= 1.2)
        rows.append(("A′", "same; psql with the bare checks only", fmt_t(at),
                     fmt_t(pt) + " (plain)", f"{med(at) / med(pt):.2f}×", "", "(information)", "—"))

    # --- B: 2,000,000 rows of 4 columns
    if "B" in CASES:
        print("==> case B: one check returning 2,000,000 rows", file=sys.stderr)
        write("bench-b.yaml", playbook("bench-b", [("big", B_SQL)], timeout="10m"))
        rec = run_json("./bench-b.yaml")
        if rec["steps"][0].get("row_count") != B_ROWS:
            fail(f"case B: row_count {rec['steps'][0].get('row_count')} != {B_ROWS}")
        (bt, brss, bcpu), (qt, qrss, qcpu) = bench(
            [(runbook_run("./bench-b.yaml", rep), RUNBOOK_OK),
             (PSQL_ARGS + ["-c", B_SQL], {0})], r(5, 2), 1)
        ratio = med(bt) / med(qt)
        rb_rss, ps_rss = mb(max(brss)), mb(med(qrss))
        row("B", "2,000,000 rows × 4 cols", fmt_t(bt), fmt_t(qt), f"{ratio:.2f}×", cpu(bcpu, qcpu),
            "≤ 1.2× psql", ratio <= 1.2)
        row("B", "peak RSS (max over runs / psql median)", f"{rb_rss:.1f} MB", f"{ps_rss:.1f} MB",
            f"1/{ps_rss / rb_rss:.1f}", "",
            "≤ 40 MB and ≤ 1/5 of psql", rb_rss <= 40 and rb_rss * 5 <= ps_rss)

    # --- C: daily-monitoring end to end
    if "C" in CASES:
        print("==> case C: daily-monitoring", file=sys.stderr)
        rec = run_json("daily-monitoring")
        c_sql = [s["sql"] for s in rec["steps"] if s.get("sql")]
        write("c.sql", psql_file(c_sql))
        (ct, _, ccpu), (cpt, _, cpcpu) = bench(
            [(runbook_run("daily-monitoring", rep), RUNBOOK_OK),
             (PSQL_ARGS + ["-f", "c.sql"], {0})], r(30, 8), 3)
        ratio = med(ct) / med(cpt)
        row("C", f"daily-monitoring ({len(c_sql)} queries)", fmt_t(ct), fmt_t(cpt), f"{ratio:.2f}×", cpu(ccpu, cpcpu),
            "≤ 1.2× psql", ratio <= 1.2)

    # --- D: start-up
    if "D" in CASES:
        print("==> case D: validate, --version", file=sys.stderr)
        names = sorted(f[:-5] for f in os.listdir(os.path.join(ROOT, "playbooks")) if f.endswith(".yaml"))
        (vt, _, vcpu), (nt, _, ncpu) = bench([([BIN, "validate"] + names, {0}), ([BIN, "--version"], {0})],
                                 r(50, 10), 5)
        row("D", f"validate all {len(names)} built-in playbooks (one call)", fmt_t(vt), "—", "", cpu(vcpu),
            "≤ 20 ms", med(vt) <= 0.020)
        row("D", "--version", fmt_t(nt), "—", "", cpu(ncpu), "≤ 5 ms", med(nt) <= 0.005)

    # --- E: daily-monitoring with the monitoring outputs
    if "E" in CASES:
        print("==> case E: daily-monitoring with --nagios --metrics FILE", file=sys.stderr)
        prom = os.path.join(WORK, "runbook.prom")
        plain = runbook_run("daily-monitoring", rep)
        monitored = plain + ["--nagios", "--metrics", prom]
        (et, _, ecpu), (mt, _, mcpu) = bench(
            [(plain, RUNBOOK_OK), (monitored, {0, 1, 2, 3})], r(30, 8), 3)
        if not os.path.getsize(prom):
            fail("case E: no metrics were written")
        ratio = med(mt) / med(et)
        row("E", "daily-monitoring + `--nagios --metrics FILE`", fmt_t(mt), fmt_t(et) + " (runbook plain)",
            f"{ratio:.2f}×", cpu(mcpu, ecpu), "≤ 1.10× plain", ratio <= 1.10)

    # --- report
    header = ["case", "what", "runbook", "psql anchor", "ratio", "CPU runbook / psql", "target", "result"]
    table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    table += ["| " + " | ".join(x) + " |" for x in rows]

    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-") or platform.processor()
    pg_version = sh('psql -X -At -c "SHOW server_version"')
    pg_socket = sh('psql -X -At -c "SHOW unix_socket_directories"')
    psql_version = (sh("psql --version").split() + ["?"] * 3)[2]
    machine = [
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- CPU: {cpu}, nproc {os.cpu_count()} ({sh('nproc')} available)",
        f"- memory (`free -h`): {' '.join(sh('free -h | grep Mem:').split()[1:3])} total/used",
        f"- kernel: {platform.system()} {platform.release()}",
        f"- PostgreSQL: {pg_version} over the Unix socket ({pg_socket}); psql {psql_version}",
        f"- runbook: {sh(BIN + ' --version')}, `cargo build --release`; {sh('rustc --version')}",
        f"- load average (1 min) at start / end: {load_before:.2f} / {os.getloadavg()[0]:.2f} on "
        f"{os.cpu_count()} CPUs" + (" — **the machine was busy: wall times are inflated; the CPU "
        "column (user+sys of the process itself) is the load-independent figure**"
        if max(load_before, os.getloadavg()[0]) > 0.5 * os.cpu_count() else ""),
        f"- harness: spawning `/bin/true` costs {med(true_t) * 1000:.2f} ms (included in every figure)",
    ]
    notes = [
        "- Times are wall clock from spawn to reap, median ± MAD over the counted runs "
        f"({'quick mode' if QUICK else 'A 20, B 5, C 30, D 50, E 30 runs'}, after warm-up); runbook "
        "and its anchor alternate run by run. Ratio = runbook median / psql median.",
        "- psql runs `psql -X -q -v ON_ERROR_STOP=1` with stdout on /dev/null. Its anchor for A is "
        "the statements runbook sends for each check (BEGIN READ ONLY and SET LOCAL, the check, "
        "the proof that the transaction is intact, ROLLBACK): a check is sent alone in its own "
        "message, so the wrapper is server work no client can skip. A′ shows the bare checks for "
        "information; C's anchor is the plain statements. runbook writes its Markdown report to a "
        "file (`--report FILE --quiet`); its time includes gathering facts and rendering.",
        "- B: psql buffers the whole result and prints it aligned (`psql -X -c '…' > /dev/null`); "
        "runbook keeps 10,000 rows and streams the rest. RSS is the child's own `ru_maxrss` "
        "(MB = 10^6 bytes): runbook's is the worst run, psql's the median.",
        "- CPU: user + sys time of the measured process alone (its `rusage`), median; the "
        "server's work is not in it. Targets are judged on wall time.",
        "- D: one `runbook validate` call with every built-in playbook name (resolved to the "
        "embedded ones); no database involved.",
        "- E: the anchor is runbook itself, the same daily-monitoring run without the "
        "monitoring outputs; the measured run adds `--nagios` (plugin answer on stdout, "
        "/dev/null here) and `--metrics FILE` (the Prometheus text, written atomically). Its CPU "
        "column reads monitored / plain.",
    ]
    verdict = "all targets met" if not misses else "missed: " + "; ".join(misses)
    md = "\n".join([
        "# Benchmark results", "",
        "Produced by `benches/run` (one command; it rebuilds the release binary and rewrites "
        "this file). Each case runs runbook and psql side by side against the local PostgreSQL.",
        "", *table, "", f"**Result: {verdict}.**", "", "## Machine", "", *machine, "",
        "## Method", "", *notes, "",
    ])
    print("\n".join(table))
    print(f"\n{verdict}")
    if not QUICK and CASES == set("ABCDE"):
        write(os.path.join(ROOT, "benches", "RESULTS.md"), md)
        print(f"(written to {os.path.join(ROOT, 'benches', 'RESULTS.md')})")
    else:
        print("(BENCH_QUICK=1 or BENCH_CASES: benches/RESULTS.md not rewritten)")
    shutil.rmtree(WORK, ignore_errors=True)
    sys.exit(1 if misses else 0)


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
