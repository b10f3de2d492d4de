//! A throwaway database per test, and real sessions held open in it by `psql` processes.
//!
//! `pg_stat_activity` is cluster-wide, so each test scopes its playbooks to its own database
//! (the built-in playbooks' `database` param) and its sessions live there. The sessions the
//! scenarios need (idle, idle in a transaction, holding a lock, waiting on one, sleeping) are
//! opened here, each waiting until the server shows it in that state.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The local server's socket directory.
pub const SOCKET: &str = "/var/run/postgresql";

/// How long a session may take to reach the state a test waits for.
pub const PATIENCE: Duration = Duration::from_secs(15);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name no other test (nor another run of the suite) uses at the same time.
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Runs SQL in the `postgres` database, ignoring failure (for clean-up in `Drop`).
fn admin_quietly(sql: &str) {
    let _ = Command::new("psql")
        .args(["-X", "-q", "-h", SOCKET, "-d", "postgres", "-c", sql])
        .output();
}

pub struct Database {
    pub name: String,
}

impl Database {
    pub fn new() -> Database {
        let name = unique("runbook_test");
        admin(&format!("CREATE DATABASE {name}"));
        Database { name }
    }

    /// A URL for `--database-url`.
    pub fn url(&self) -> String {
        format!("postgres:///{}?host={SOCKET}", self.name)
    }

    /// The same URL, connecting as `user`.
    pub fn url_as(&self, user: &str) -> String {
        format!("{}&user={user}", self.url())
    }

    /// A name for a playbook of this test's own, made of the database's (`prefix-<db>`):
    /// application names and advisory locks are cluster-wide, and tests run in parallel.
    pub fn playbook_name(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.name.replace('_', "-"))
    }

    /// Runs SQL in this database with psql; returns its unaligned output.
    pub fn psql(&self, sql: &str) -> String {
        psql(&self.name, sql)
    }

    /// Opens an idle session (a psql process) in this database.
    pub fn session(&self) -> Session {
        Session::open(&mut psql_command(&self.name))
    }

    /// Opens an idle session as another role.
    pub fn session_as(&self, role: &str) -> Session {
        Session::open(psql_command(&self.name).args(["-U", role]))
    }

    /// An idle session with the given application_name.
    pub fn session_named(&self, app: &str) -> Session {
        let mut session = self.session();
        assert_eq!(
            session.query(&format!("SET application_name = '{app}'; SELECT 'ready';")),
            "ready"
        );
        session
    }

    /// `count` sessions named `app`, once all of them show in `pg_stat_activity`.
    pub fn sessions_named(&self, app: &str, count: usize) -> Vec<Session> {
        let sessions: Vec<Session> = (0..count).map(|_| self.session_named(app)).collect();
        wait_for(&format!("{count} sessions named `{app}`"), PATIENCE, || {
            self.psql(&format!(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}' AND datname = current_database()"
                )) == count.to_string()
        });
        sessions
    }

    /// A session that sent `sql` and is now in `state` (`state|wait_event_type`).
    pub fn session_in(&self, sql: &str, state: &str) -> Session {
        let mut session = self.session();
        session.send(sql);
        self.wait_state(&session, state);
        session
    }

    /// `BEGIN; SELECT 1;`: idle in transaction.
    pub fn idle_in_transaction(&self) -> Session {
        self.session_in("BEGIN; SELECT 1;", "idle in transaction|Client")
    }

    /// `BEGIN; SELECT 1/0;`: idle in transaction (aborted).
    pub fn aborted_transaction(&self) -> Session {
        self.session_in("BEGIN; SELECT 1/0;", "idle in transaction (aborted)|Client")
    }

    /// `BEGIN; LOCK TABLE <table>;` (ACCESS EXCLUSIVE): idle in transaction, holding the lock.
    pub fn lock_holder(&self, table: &str) -> Session {
        self.session_in(
            &format!("BEGIN; LOCK TABLE {table};"),
            "idle in transaction|Client",
        )
    }

    /// `SELECT * FROM <table>`: active, waiting on a lock (see `lock_holder`).
    pub fn lock_waiter(&self, table: &str) -> Session {
        self.session_in(&format!("SELECT * FROM {table};"), "active|Lock")
    }

    /// `SELECT pg_sleep(60)`: active, a long query.
    pub fn sleeper(&self) -> Session {
        self.session_in("SELECT pg_sleep(60);", "active|Timeout")
    }

    /// The state of a session of this database as `state|wait_event_type`, empty when it is
    /// gone.
    pub fn activity(&self, pid: i32) -> String {
        admin(&format!(
            "SELECT coalesce(state, '') || '|' || coalesce(wait_event_type, '') FROM pg_stat_activity WHERE pid = {pid} AND datname = '{}'",
            self.name
        ))
    }

    /// Whether the session `pid` of this database is still there.
    pub fn alive(&self, pid: i32) -> bool {
        !self.activity(pid).is_empty()
    }

    pub fn wait_state(&self, session: &Session, expected: &str) {
        wait_for(
            &format!("session {} to be `{expected}`", session.pid),
            PATIENCE,
            || self.activity(session.pid) == expected,
        );
    }

    /// Waits until the session `pid` has ended.
    pub fn wait_gone(&self, pid: i32) {
        wait_for(&format!("session {pid} to end"), PATIENCE, || {
            !self.alive(pid)
        });
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        admin_quietly(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// A login role of the test's own (roles are cluster-wide), dropped at the end.
pub struct Role {
    pub name: String,
}

impl Role {
    pub fn new() -> Role {
        let name = unique("runbook_role");
        admin(&format!("CREATE ROLE {name} LOGIN"));
        Role { name }
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        admin_quietly(&format!("DROP ROLE IF EXISTS {}", self.name));
    }
}

/// Runs SQL in the `postgres` database.
pub fn admin(sql: &str) -> String {
    psql("postgres", sql)
}

pub fn psql(database: &str, sql: &str) -> String {
    let output = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            SOCKET,
            "-d",
            database,
            "-c",
            sql,
        ])
        .output()
        .expect("psql runs (is PostgreSQL installed?)");
    assert!(
        output.status.success(),
        "psql failed on `{sql}`: {} (is PostgreSQL running on {SOCKET}?)",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_owned()
}

/// `psql` reading SQL from its stdin, unaligned and tuples only, in `database`.
fn psql_command(database: &str) -> Command {
    let mut command = Command::new("psql");
    command.args(["-X", "-q", "-A", "-t", "-h", SOCKET, "-d", database]);
    command
}

/// A live session: a psql process reading SQL from its stdin.
pub struct Session {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pub pid: i32,
}

impl Session {
    /// Starts `psql` (a command reading SQL from its stdin, unaligned, tuples only) and waits
    /// until it has connected.
    pub fn open(command: &mut Command) -> Session {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("psql starts");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut session = Session {
            child,
            stdin,
            stdout,
            pid: 0,
        };
        session.pid = session
            .query("SELECT pg_backend_pid();")
            .parse()
            .expect("a pid");
        session
    }

    /// Sends SQL without waiting for it (for statements that block or sleep).
    pub fn send(&mut self, sql: &str) {
        writeln!(self.stdin, "{sql}").expect("the session's psql is alive");
        self.stdin.flush().expect("flush");
    }

    /// Sends SQL that prints one line, and returns it.
    pub fn query(&mut self, sql: &str) -> String {
        self.send(sql);
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("psql answers");
        line.trim_end().to_owned()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `condition` holds (polling), or panics after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The set of pids of some sessions.
pub fn pids<'a>(
    sessions: impl IntoIterator<Item = &'a Session>,
) -> std::collections::BTreeSet<i32> {
    sessions.into_iter().map(|s| s.pid).collect()
}
