#!/usr/bin/env python3
"""runbook vs psql benchmark; run through `benches/run`, which builds the release binary first.

Every measured command is started with posix_spawn (no shell) with stdin and stdout on
/dev/null, and reaped with wait4: wall time from just before the spawn to just after the reap,
peak RSS from that child's own rusage (ru_maxrss). runbook and its anchor alternate run by run
so drift in the server or the machine hits both alike. Figures: median ± MAD (median absolute
deviation) over n runs, after warm-up runs that are not counted.

BENCH_CASES picks cases by name (`ABCDEF`, `F F2`): F (rows F1) is the fleet of 100 targets,
F2 the fleet of 1,000 databases, which takes minutes and runs only when named.
"""
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import fleet

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
BIN = os.environ.get("BENCH_RUNBOOK_BIN") or os.path.join(ROOT, "target", "release", "runbook")
QUICK = os.environ.get("BENCH_QUICK") == "1"
DEFAULT_CASES = {"A", "B", "C", "D", "E", "F", "H"}
# "ABCDEF" or "F F2": a letter, optionally with a number ("F1" is F); RESULTS.md is rewritten
# only when every default case runs.
CASES = {c if c != "F1" else "F" for c in re.findall(r"[A-Z][0-9]*", os.environ.get("BENCH_CASES", "ABCDEFH").upper())}
RUNBOOK_OK = {0, 1, 2}  # OK / WARNING / CRITICAL are normal outcomes; 3+ is a failure
PSQL = shutil.which("psql")
PSQL_ARGS = [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1"]

WORK = tempfile.mkdtemp(prefix="runbook-bench-")
os.chdir(WORK)  # playbook names resolve to ./playbooks/NAME.yaml first: here, only built-ins
ERR = os.path.join(WORK, "stderr.txt")
# Every run remembers itself in the default history store: the benchmark's own, not the home's.
os.environ["XDG_STATE_HOME"] = os.path.join(WORK, "state")
RUNNING = [None]  # the measured command being waited for, stopped with the benchmark


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


def spawn(argv, ok_codes, stdout="/dev/null", with_code=False):
    """One run: (wall seconds, peak RSS in KiB, CPU seconds user+sys[, exit code])."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, ERR, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    t0 = time.perf_counter()
    pid = RUNNING[0] = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status, ru = os.wait4(pid, 0)
    RUNNING[0] = None
    t1 = time.perf_counter()
    code = os.waitstatus_to_exitcode(status)
    if code not in ok_codes:
        fail(f"exit code {code} from: {' '.join(argv)}")
    figures = (t1 - t0, ru.ru_maxrss, ru.ru_utime + ru.ru_stime)
    return figures + (code,) if with_code else figures


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


F_TARGETS, F_CLUSTERS = 100, 3  # the rest of the 100 are databases on the local server
F2_TARGETS, F2_CREATORS = 1000, 2  # F2_CREATORS psql sessions create the databases side by side
# The loops a fleet run replaces: bash -c LOOP bash RUNBOOK_OR_PSQL ARG URL...; runbook's 0–2
# are normal outcomes, anything else makes the loop exit 3 (after trying every target).
F_LOOP = """bin=$1 dir=$2; shift 2; mkdir -p "$dir"; i=0; rc=0
for url in "$@"; do
  i=$((i + 1))
  "$bin" run daily-monitoring --database-url "$url" --quiet --report "$dir/$i.md"
  [ $? -le 2 ] || rc=3
done
exit $rc"""
F_PSQL = """bin=$1 sql=$2; shift 2; rc=0
for url in "$@"; do "$bin" -X -q -v ON_ERROR_STOP=1 -d "$url" -f "$sql" || rc=3; done
exit $rc"""


def fleet_run(inventory, report_dir):
    return [BIN, "run", "daily-monitoring", "--targets", inventory, "--quiet", "--report-dir", report_dir]


def fleet_check(summary, targets):
    """Reads a combined JSON report: (the fleet's names it lacks, how many targets did not end
    OK, WARNING or CRITICAL). A report that cannot be read lacks every name."""
    try:
        with open(summary) as f:
            listed = {t["name"]: t["status"] for t in json.load(f)["targets"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"benches/run: the combined report {summary} cannot be read: {e}", file=sys.stderr)
        listed = {}
    missing = [name for name, _ in targets.targets if name not in listed]
    return missing, sum(1 for status in listed.values() if status in ("UNKNOWN", "NOT_RUN", "STOPPED"))


def checked_fleet(inventory, targets, report_dir):
    """One fleet run with a JSON combined report: exit 0–2, every target in it, none UNKNOWN."""
    summary = os.path.join(WORK, "fleet-check.json")
    spawn(fleet_run(inventory, report_dir) + ["--format", "json", "--report", summary], RUNBOOK_OK)
    missing, unknown = fleet_check(summary, targets)
    if missing or unknown:
        fail(f"fleet run: {len(missing)} targets missing from the combined report "
             f"({', '.join(missing[:5])}), {unknown} UNKNOWN or not run")


def f2_run(targets, inventory, name):
    """One fleet run of case F2, judged by its exit code, its combined JSON report and its
    stderr: (wall, peak RSS, CPU, exit code, names missing, how many UNKNOWN, EMFILE seen)."""
    summary = os.path.join(WORK, f"{name}-summary.json")
    argv = fleet_run(inventory, os.path.join(WORK, f"{name}-reports")) + ["--format", "json", "--report", summary]
    t, rss, cpu_s, code = spawn(argv, range(256), with_code=True)
    missing, unknown = fleet_check(summary, targets)
    with open(ERR) as f:
        emfile = "Too many open files" in f.read()
    return t, rss, cpu_s, code, missing, unknown, emfile


H_RUNS = 100_000


def fill_history(path, runs):
    """Fills the store at `path` (its schema made by runbook's first run, whose steps and
    metrics every copy repeats) with `runs` runs, one a minute up to now, in SQL directly."""
    import sqlite3
    now_ms = int(time.time() * 1000)
    db = sqlite3.connect(path)
    with db:
        db.execute("""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO runs (playbook, target, fleet_name, started_ms, duration_ms, mode, status,
                              exit_code, why)
            SELECT r.playbook, r.target, r.fleet_name, ? - n.i * 60000, r.duration_ms, r.mode,
                   CASE WHEN n.i % 7 = 0 THEN 'WARNING' ELSE r.status END, r.exit_code, r.why
              FROM n, (SELECT * FROM runs ORDER BY id LIMIT 1) r""", (runs - 1, now_ms))
        db.execute("""
            INSERT INTO steps (run_id, position, step, status, message, duration_ms)
            SELECT r.id, s.position, s.step, s.status, s.message, s.duration_ms
              FROM runs r, steps s WHERE s.run_id = 1 AND r.id > 1""")
        db.execute("""
            INSERT INTO metrics (run_id, step, name, unit, labels, value)
            SELECT r.id, m.step, m.name, m.unit, m.labels, m.value + r.id % 13
              FROM runs r, metrics m WHERE m.run_id = 1 AND r.id > 1""")
    count = db.execute("SELECT count(*) FROM runs").fetchone()[0]
    db.close()
    if count != runs:
        fail(f"case H: the store holds {count} runs, not {runs}")


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

    # --- H: the history: what remembering a run costs, and reading 100,000 of them
    if "H" in CASES:
        print("==> case H: daily-monitoring with and without the history; history over 100,000 runs",
              file=sys.stderr)
        plain = runbook_run("daily-monitoring", rep)
        (ht, _, hcpu), (nt, _, ncpu) = bench(
            [(plain, RUNBOOK_OK), (plain + ["--no-history"], RUNBOOK_OK)], r(40, 10), 3)
        added = (med(ht) - med(nt)) * 1000
        row("H", "daily-monitoring, default history store", fmt_t(ht), fmt_t(nt) + " (`--no-history`)",
            f"+{added:.1f} ms", cpu(hcpu, ncpu), "≤ 5 ms added", added <= 5)
        store = os.path.join(WORK, "h-100k.sqlite")
        spawn(plain + ["--history", store], RUNBOOK_OK)
        fill_history(store, H_RUNS)
        listing = [BIN, "history", "--history", store]
        series = [BIN, "history", "daily-monitoring", "--metric", "overview.total_connections",
                  "--since", "7d", "--history", store]
        (lt, _, lcpu), (st, _, scpu) = bench([(listing, {0}), (series, {0})], r(20, 5), 2)
        row("H", f"`runbook history` over {H_RUNS:,} runs (last 50)", fmt_t(lt), "—", "", cpu(lcpu),
            "< 200 ms", med(lt) < 0.200)
        row("H", "`history --metric … --since 7d` (10,080 values)", fmt_t(st), "—", "", cpu(scpu),
            "< 200 ms", med(st) < 0.200)

    # --- F: daily-monitoring on a fleet of 100 targets, one process against a shell loop
    fleet_notes = []
    if "F" in CASES:
        print(f"==> case F: daily-monitoring on {F_TARGETS} targets", file=sys.stderr)
        c_sql = [s["sql"] for s in run_json("daily-monitoring")["steps"] if s.get("sql")]
        write("f.sql", psql_file(c_sql))
        with fleet.Fleet(F_TARGETS, F_CLUSTERS) as targets:
            inv = targets.inventory(os.path.join(WORK, "f.yaml"))
            checked_fleet(inv, targets, os.path.join(WORK, "f-check"))
            # Each run replaces the last one's reports in its directory, as the loop's do.
            (ft, frss, fcpu), (lt, lrss, lcpu), (qt, _, qcpu) = bench(
                [(fleet_run(inv, os.path.join(WORK, "f-reports")), RUNBOOK_OK),
                 (["/bin/bash", "-c", F_LOOP, "bash", BIN, os.path.join(WORK, "f-loop")] + targets.urls(), {0}),
                 (["/bin/bash", "-c", F_PSQL, "bash", PSQL, "f.sql"] + targets.urls(), {0})], r(5, 2), 1)
            made = (f"{len(targets.databases)} databases + {len(targets.clusters)} clusters, "
                    f"set up in {targets.setup_s:.1f} s")
            if targets.note:
                fleet_notes.append(f"- F1: **{targets.note}**.")
        ratio = med(ft) / med(lt)
        row("F1", f"daily-monitoring on {F_TARGETS} targets ({made}), one fleet run", fmt_t(ft),
            fmt_t(lt) + " (shell loop of single runs)", f"1/{1 / ratio:.1f}", cpu(fcpu, lcpu),
            "≤ 1/3 of the loop", ratio <= 1 / 3)
        rows.append(("F1′", "same; against a shell loop of psql", fmt_t(ft), fmt_t(qt) + " (psql loop)",
                     f"{med(ft) / med(qt):.2f}×", cpu(fcpu, qcpu), "(information)", "—"))
        f_rss = mb(max(frss))
        row("F1", "peak RSS (fleet: max over runs / loop: its largest child)", f"{f_rss:.1f} MB",
            f"{mb(max(lrss)):.1f} MB", "", "", "≤ 64 MB", f_rss <= 64)

    # --- F2: 1,000 databases in one fleet run (minutes: only when BENCH_CASES names it)
    if "F2" in CASES:
        print(f"==> case F2: daily-monitoring on {F2_TARGETS} databases (one run each way)", file=sys.stderr)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        with fleet.Fleet(F2_TARGETS, 0, creators=F2_CREATORS) as targets:
            # Judged: each target scoped to its database, as an inventory of one server's
            # databases sets it; then, for information, every target looking at all of them.
            scoped = f2_run(targets, targets.inventory(os.path.join(WORK, "f2.yaml"), scoped=True), "f2")
            every = f2_run(targets, targets.inventory(os.path.join(WORK, "f2-all.yaml")), "f2-all")
            setup_s = targets.setup_s
        t, rss, cpu_s, code, missing, unknown, emfile = scoped
        ok = code in RUNBOOK_OK and not missing and not emfile
        row("F2", f"daily-monitoring on {F2_TARGETS:,} databases (`vars: database` each), one fleet run "
            f"(default --parallel); setup {setup_s:.0f} s", f"{t:.1f} s (once)", "—", "", cpu([cpu_s]),
            "exit 0–2, every target reported, no EMFILE", ok)
        row("F2", "peak RSS of that run", f"{mb(rss):.1f} MB", "—", "", "", "≤ 64 MB", mb(rss) <= 64)
        rows.append(("F2′", "same targets without `vars`: each lists every database of the server "
                     "(`horizon`)", f"{every[0]:.1f} s (once), peak RSS {mb(every[1]):.0f} MB", "—", "",
                     cpu([every[2]]), "(information)", "—"))
        for what, (_, _, _, code, missing, unknown, emfile) in (("F2", scoped), ("F2′", every)):
            fleet_notes.append(
                f"- {what}: exit {code}; {F2_TARGETS - len(missing)}/{F2_TARGETS} targets in the combined "
                f"JSON report ({unknown} UNKNOWN or not run); \"Too many open files\" "
                f"{'**seen**' if emfile else 'not seen'}.")
        fleet_notes.append(
            f"- F2: `ulimit -n` {soft} (hard {hard}); creating the {F2_TARGETS:,} databases and the "
            f"checkpoint that writes them took {setup_s:.0f} s ({F2_CREATORS} psql at once); dropping "
            "them is not timed.")

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
        f"({'quick mode' if QUICK else 'A 20, B 5, C 30, D 50, E 30, F 5 runs'}, after warm-up); runbook "
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
        "- H: daily-monitoring with the default history store (SQLite in the benchmark's own "
        "`XDG_STATE_HOME`) against the same run with `--no-history`, alternated; then a store "
        f"filled to {H_RUNS:,} runs (one a minute, each with the first run's steps and metrics, "
        "written in SQL by the benchmark) read by `runbook history` (the last 50 runs) and by "
        "`runbook history daily-monitoring --metric overview.total_connections --since 7d`.",
        "- E: the anchor is runbook itself, the same daily-monitoring run without the "
        "monitoring outputs; the measured run adds `--nagios` (plugin answer on stdout, "
        "/dev/null here) and `--metrics FILE` (the Prometheus text, written atomically). Its CPU "
        "column reads monitored / plain.",
        f"- F1 (case F): `runbook run daily-monitoring --targets inv.yaml --quiet --report-dir DIR` on {F_TARGETS} "
        f"targets — {F_TARGETS - F_CLUSTERS} databases `bench_fleet_N` of the local server (over its "
        f"socket) and {F_CLUSTERS} private clusters (`initdb` as `postgres`, trust, 127.0.0.1), "
        "created for the case and removed after it — one process at the default `--parallel 8`, "
        "against `bash -c 'for url …; do runbook run daily-monitoring --database-url \"$url\" "
        "--quiet --report DIR/N.md; done'` and against the same loop of `psql -X -q -d \"$url\" -f` "
        "the queries of case C (F1′). No `vars`: every target runs the same SQL, psql's too, so each lists the server's ~100 databases in `horizon`. Ratio = fleet / loop. RSS and CPU of a loop are bash's with "
        "its waited-for children (wait4): the RSS is its largest child's, the CPU all of theirs.",
        f"- F2 (only with `BENCH_CASES=F2`): {F2_TARGETS:,} databases of the local server in one fleet "
        "run, once, each target's `vars` setting `database` to its own; its JSON combined report "
        "(`--format json --report`) must list every target. F2′ runs the same targets without "
        "`vars`: each then also lists every database of the server in `horizon` (two metrics a "
        "database), which a fleet keeps for its `--nagios`/`--metrics` — n targets × n databases.",
        *fleet_notes,
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
    if not QUICK and DEFAULT_CASES <= CASES:
        write(os.path.join(ROOT, "benches", "RESULTS.md"), md)
        print(f"(written to {os.path.join(ROOT, 'benches', 'RESULTS.md')})")
    else:
        print("(BENCH_QUICK=1 or BENCH_CASES: benches/RESULTS.md not rewritten)")
    shutil.rmtree(WORK, ignore_errors=True)
    sys.exit(1 if misses else 0)


def stopped(signum, _frame):
    """SIGTERM or SIGHUP stops the measured command, then ends the run through the cleanups
    (case F's databases and clusters)."""
    if RUNNING[0]:
        try:
            os.kill(RUNNING[0], signal.SIGTERM)
            os.waitpid(RUNNING[0], 0)
        except OSError:
            pass
    sys.exit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stopped)
    signal.signal(signal.SIGHUP, stopped)
    try:
        main()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
