"""The targets of benchmark case F: databases on the local server and private clusters.

A fleet benchmark needs many servers and databases, and must leave none behind: `Fleet` creates
them on entry and removes them on exit, a failure or an interruption included (bench.py turns
SIGTERM and SIGHUP into an exit so that this runs). Databases are `bench_fleet_N` on the local
server (one left by a killed run is dropped first). A private cluster is what
tests/common/cluster.rs starts, with trust authentication: `initdb` as the `postgres` OS user
(it refuses root) in a directory of /tmp, a socket in that directory and a free port of
127.0.0.1, stopped with `pg_ctl stop -m immediate` and removed at the end. Clusters need root
(for `runuser`); without it the fleet is local databases only, and `note` says so.
"""
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

PREFIX = "bench_fleet_"
OS_USER = "postgres"
START_ATTEMPTS = 5  # a port picked free may be taken before the server binds it
DROPPERS = 8


class SetupError(Exception):
    """A target could not be created; the message says which and why."""


def psql_argv(check=True):
    """psql on the local server as `psql` with no arguments reaches it, SQL on stdin: each
    statement its own transaction (CREATE DATABASE cannot share one)."""
    return ["psql", "-X", "-q", "-At", "-f", "-"] + (["-v", "ON_ERROR_STOP=1"] if check else [])


def psql(sql, check=True):
    """Runs SQL on the local server; its output, or SetupError (unless `check` is False)."""
    done = subprocess.run(psql_argv(check), input=sql, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise SetupError(f"psql failed on {sql[:80]!r}…: {done.stderr.strip()[-1000:]}")
    return done.stdout.strip()


def bin_dir():
    """The newest installed server's bin directory, else `pg_config --bindir`."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return os.path.dirname(found[-1])
    try:
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
    except OSError:
        bindir = ""
    if not os.path.isfile(os.path.join(bindir, "initdb")):
        raise SetupError("cannot find initdb (looked in /usr/lib/postgresql/*/bin and `pg_config --bindir`)")
    return bindir


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A throwaway cluster with trust authentication, started on creation."""

    def __init__(self, bindir):
        self.bindir = bindir
        self.port = 0
        self.dir = tempfile.mkdtemp(prefix="runbook-bench-pg-")  # in /tmp: postgres can reach it
        shutil.chown(self.dir, OS_USER, OS_USER)
        self.data = os.path.join(self.dir, "data")
        self._as_postgres("initdb", "-D", self.data, "--auth=trust", "-U", OS_USER, "--no-sync",
                          "--no-locale", "--encoding=UTF8")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n# runbook benchmark\nfsync = off\n")
        log = os.path.join(self.dir, "server.log")
        for _ in range(START_ATTEMPTS):
            port = free_port()
            done = self._as_postgres("pg_ctl", "-D", self.data, "-l", log, "-o",
                                     f"-p {port} -k {self.dir} -c listen_addresses=127.0.0.1",
                                     "-w", "-t", "60", "start", check=False)
            if done.returncode == 0:
                self.port = port
                return
            server_log = open(log).read() if os.path.exists(log) else ""
            if "could not bind" not in server_log and "already in use" not in server_log:
                raise SetupError(f"pg_ctl start failed in {self.dir}: {done.stderr.strip()}\n{server_log[-1000:]}")
            os.remove(log)
        raise SetupError(f"pg_ctl start found no free port in {START_ATTEMPTS} attempts")

    def url(self):
        return f"postgresql://{OS_USER}@127.0.0.1:{self.port}/postgres"

    def remove(self):
        if self.port:
            self._as_postgres("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _as_postgres(self, program, *args, check=True):
        argv = ["runuser", "-u", OS_USER, "--", os.path.join(self.bindir, program), *args]
        env = {k: v for k, v in os.environ.items() if k not in ("PGDATA", "PGPORT", "PGHOST")}
        done = subprocess.run(argv, cwd=self.dir, env=env, capture_output=True, text=True)
        if check and done.returncode != 0:
            raise SetupError(f"{program} failed in {self.dir}: {done.stdout.strip()}\n{done.stderr.strip()}")
        return done


class Fleet:
    """`size` targets: `clusters` private clusters (when root) and local databases for the rest.

    `targets` lists (name, url); `setup_s` is how long creating them took (the checkpoint that
    writes the new databases to disk included); `note` is why there are no clusters, if so.
    """

    def __init__(self, size, clusters, creators=2):
        self.size, self.wanted, self.creators = size, clusters, creators
        self.clusters, self.databases, self.targets, self.database_of = [], [], [], {}
        self.setup_s, self.note = 0.0, ""

    def __enter__(self):
        t0 = time.perf_counter()
        try:
            self._create()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.setup_s = time.perf_counter() - t0
        return self

    def __exit__(self, *_):
        for cluster in self.clusters:
            cluster.remove()
        self.clusters = []
        if self.databases:
            # Every statement is tried, whatever the others do. Each DROP DATABASE waits for a
            # checkpoint, which concurrent drops share: DROPPERS sessions at once.
            self._each(self.databases, 'DROP DATABASE IF EXISTS "{}" WITH (FORCE);', DROPPERS, check=False)
            self.databases = []
        return False

    def _create(self):
        clusters = self.wanted
        if clusters and os.geteuid() != 0:
            self.note = (f"not root: no private clusters (initdb runs as `{OS_USER}` through runuser), "
                         f"{self.size} local databases instead")
            print(f"benches/run: NOTE — {self.note}", file=sys.stderr)
            clusters = 0
        socket_dir = psql("SHOW unix_socket_directories").split(",")[0].strip()
        leftovers = psql(f"SELECT datname FROM pg_database WHERE datname ~ '^{PREFIX}[0-9]+$'").split()
        if leftovers:
            self.databases = leftovers
            self.__exit__(None, None, None)
        names = [f"{PREFIX}{i}" for i in range(self.size - clusters)]
        self.databases = names
        self._each(names, 'CREATE DATABASE "{}";', self.creators)
        # Each new database is a copy of template1 (7.5 MB) still dirty in memory: flushed
        # now, it is setup; left to the next timed checkpoint, it would slow a measured run.
        psql("CHECKPOINT")
        host = socket_dir.replace("/", "%2F")
        self.targets = [(f"local-{i:04d}", f"postgresql://{host}/{name}") for i, name in enumerate(names)]
        self.database_of = {f"local-{i:04d}": name for i, name in enumerate(names)}
        if clusters:
            bindir = bin_dir()
            for i in range(clusters):
                self.clusters.append(Cluster(bindir))
                self.targets.append((f"cluster-{i}", self.clusters[-1].url()))

    @staticmethod
    def _each(names, statement, sessions, check=True):
        """`statement` for every name, from `sessions` psql sessions side by side, each given a
        slice of the names on its stdin (no file: a failing benchmark may have removed its
        working directory already)."""
        running = []
        for part in (names[i::sessions] for i in range(sessions)):
            p = subprocess.Popen(psql_argv(check), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
            p.stdin.write("".join(statement.format(name) + "\n" for name in part))
            p.stdin.close()
            running.append(p)
        errors = [p.stderr.read().strip() for p in running]
        for p in running:
            p.wait()
        if check and any(p.returncode for p in running):
            raise SetupError(f"`{statement}` failed: " + " / ".join(e for e in errors if e)[-1000:])

    def inventory(self, path, scoped=False):
        """Writes the targets as a runbook inventory (YAML; JSON strings are YAML scalars).
        `scoped`: each local database's target sets the playbook's `database` param to it, as
        an inventory of the databases of one server would (else each target looks at them all)."""
        with open(path, "w") as f:
            for name, url in self.targets:
                f.write(f"- name: {name}\n  url: {json.dumps(url)}\n")
                if scoped and name in self.database_of:
                    f.write(f"  vars:\n    database: {self.database_of[name]}\n")
        return path

    def urls(self):
        return [url for _, url in self.targets]
