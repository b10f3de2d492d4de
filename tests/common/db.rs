//! A throwaway database per test, and real sessions held open in it by `psql` processes.
//!
//! `pg_stat_activity` is cluster-wide, so each test scopes its playbooks to its own database
//! (the built-in playbooks' `database` param) and its sessions live there.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The local server's socket directory.
pub const SOCKET: &str = "/var/run/postgresql";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub struct Database {
    pub name: String,
}

impl Database {
    pub fn new() -> Database {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "runbook_test_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        admin(&format!("CREATE DATABASE {name}"));
        Database { name }
    }

    /// A URL for `--database-url`.
    pub fn url(&self) -> String {
        format!("postgres:///{}?host={SOCKET}", self.name)
    }

    /// Runs SQL in this database with psql; returns its unaligned output.
    pub fn psql(&self, sql: &str) -> String {
        psql(&self.name, sql)
    }

    /// Opens a session (a psql process) in this database.
    pub fn session(&self) -> Session {
        Session::open(&self.name, &[])
    }

    /// Opens a session as another role.
    pub fn session_as(&self, role: &str) -> Session {
        Session::open(&self.name, &["-U", role])
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-X", "-q", "-h", SOCKET, "-d", "postgres", "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
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

/// A live session: a psql process reading SQL from its stdin.
pub struct Session {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pub pid: i32,
}

impl Session {
    fn open(database: &str, extra: &[&str]) -> Session {
        let mut child = Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-h", SOCKET, "-d", database])
            .args(extra)
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
