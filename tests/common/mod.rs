//! A strict fluent helper that runs the real `runbook` binary, in the spirit of just's test
//! builder:
//!
//! ```ignore
//! Test::new()
//!     .playbook("x.yaml", YAML)
//!     .args(["run", "x.yaml"])
//!     .database(&db)
//!     .json_report()
//!     .status(1)
//!     .stderr("x: WARNING — [..] — 1 step, 1 warning — report: report.json\n")
//!     .run();
//! ```
//!
//! Strict by default: the run must exit 0 and print nothing on stdout or stderr unless the test
//! says otherwise (`status`, `stdout`, `stderr`, `stdout_contains`, or `*_any` with the reason the
//! output cannot be predicted). In `stdout` and `stderr`, `[..]` stands for any text within
//! its line, for what changes from run to run (a duration, a timestamp). `run` checks all of it before it returns the outcome, so a
//! forgotten expectation fails instead of passing silently.
//!
//! Each test gets its own temporary working directory, so `./playbooks` lookups and reports
//! never collide between tests running in parallel. Its path reads `[TMP]` in the output that
//! is compared.

pub mod cluster;
pub mod db;
pub mod plugin;
pub mod pty;

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

use db::Database;

/// The built-in playbooks (`playbooks/*.yaml`), by name.
pub const BUILT_INS: &[&str] = &[
    "connection-cleanup",
    "daily-monitoring",
    "emergency",
    "pool-optimization",
    "troubleshooting",
    "tview-connections",
];

/// What the run reads to find its server: none may leak in from the outer environment.
const CONNECTION_VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGDATABASE",
    "PGPASSFILE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGSYSCONFDIR",
    "PGSSLMODE",
    "PGSSLROOTCERT",
    "PGSSLCERT",
    "PGSSLKEY",
    "PGAPPNAME",
    "PGOPTIONS",
    "PGCONNECT_TIMEOUT",
];

/// Makes a directory unwritable, even for root (`chattr +i`), until dropped.
pub struct Unwritable(PathBuf);

impl Unwritable {
    pub fn new(directory: &Path) -> Unwritable {
        fs::set_permissions(directory, fs::Permissions::from_mode(0o555)).unwrap();
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            let status = Command::new("chattr").arg("+i").arg(directory).status();
            assert!(
                status.is_ok_and(|s| s.success()),
                "chattr +i {}: root needs it to be refused a write",
                directory.display()
            );
        }
        Unwritable(directory.to_owned())
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
        let _ = fs::set_permissions(&self.0, fs::Permissions::from_mode(0o755));
    }
}

/// The `runbook` binary, with the history store of its runs in `dir` (`XDG_STATE_HOME`):
/// every test's runs are remembered apart, and never in the machine's `~/.local/state`.
pub fn runbook_in(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runbook"));
    command.env("XDG_STATE_HOME", state_home(dir));
    command
}

/// Where the runs started by [`runbook_in`]`(dir)` keep their default history store.
pub fn state_home(dir: &Path) -> PathBuf {
    dir.join(".state")
}

/// The default history store of the runs started in `dir`.
pub fn history_store(dir: &Path) -> PathBuf {
    state_home(dir).join("runbook").join("history.sqlite")
}

/// What a stream must show.
#[derive(Debug)]
enum Expected {
    Exact(String),
    Contains(Vec<String>),
    /// Not checked, for the reason given.
    Any(String),
}

impl Expected {
    fn contains(&mut self, text: &str) {
        match self {
            Expected::Contains(parts) => parts.push(text.to_owned()),
            _ => *self = Expected::Contains(vec![text.to_owned()]),
        }
    }

    /// Why a stream is not checked, for failure messages.
    fn note(&self) -> String {
        match self {
            Expected::Any(reason) => format!(" (not checked: {reason})"),
            _ => String::new(),
        }
    }

    fn check(&self, stream: &str, actual: &str, context: &str) {
        match self {
            Expected::Exact(expected) => assert!(
                matches(expected, actual),
                "unexpected {stream}\n--- expected {stream}\n{expected}\n--- actual {stream}\n{actual}\n{context}"
            ),
            Expected::Contains(parts) => {
                for part in parts {
                    assert!(
                        actual.contains(part.as_str()),
                        "{stream} lacks {part:?}\n--- actual {stream}\n{actual}\n{context}"
                    );
                }
            }
            Expected::Any(_) => {}
        }
    }
}

/// Whether `actual` is `expected`, where `[..]` in a line of `expected` stands for any text
/// within that line (a duration, a timestamp).
fn matches(expected: &str, actual: &str) -> bool {
    if !expected.contains("[..]") {
        return expected == actual;
    }
    let expected_lines: Vec<&str> = expected.split('\n').collect();
    let actual_lines: Vec<&str> = actual.split('\n').collect();
    expected_lines.len() == actual_lines.len()
        && expected_lines
            .iter()
            .zip(&actual_lines)
            .all(|(expected, actual)| line_matches(expected, actual))
}

fn line_matches(expected: &str, actual: &str) -> bool {
    let mut parts = expected.split("[..]");
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = actual.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// Where the report goes, when the test asks for one.
#[derive(Debug, Clone, Copy)]
enum Report {
    Json,
    Markdown,
}

pub struct Test {
    dir: tempfile::TempDir,
    current_dir: Option<PathBuf>,
    args: Vec<String>,
    database_url: Option<String>,
    report: Option<Report>,
    env: Vec<(String, String)>,
    env_remove: Vec<String>,
    /// `None`: any status, for the reason given.
    status: Result<i32, String>,
    stdout: Expected,
    stderr: Expected,
}

/// What a run did. The working directory lives as long as the outcome.
pub struct Outcome {
    pub status: i32,
    /// Standard output, with the working directory's path as `[TMP]`.
    pub stdout: String,
    /// Standard error, with the working directory's path as `[TMP]`.
    pub stderr: String,
    /// Peak resident set size of the run, in kB.
    pub peak_rss_kb: i64,
    dir: tempfile::TempDir,
    report: Option<Report>,
}

/// A run in progress (`Test::spawn`), for tests that act while it runs.
pub struct Running {
    peak: JoinHandle<i64>,
    test: Test,
    child: Child,
    stdout: JoinHandle<Vec<u8>>,
    stderr: JoinHandle<Vec<u8>>,
}

impl Test {
    pub fn new() -> Test {
        Test {
            dir: tempfile::tempdir().expect("a temporary directory"),
            current_dir: None,
            args: Vec::new(),
            database_url: None,
            report: None,
            env: Vec::new(),
            env_remove: Vec::new(),
            status: Ok(0),
            stdout: Expected::Exact(String::new()),
            stderr: Expected::Exact(String::new()),
        }
    }

    /// The test's working directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs in the crate root (where `playbooks/` and `tests/invalid/` are) instead.
    pub fn in_root(mut self) -> Test {
        self.current_dir = Some(root());
        self
    }

    /// Writes a file relative to the test's working directory.
    pub fn file(self, name: &str, contents: impl AsRef<[u8]>) -> Test {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create the file's directory");
        }
        fs::write(path, contents).expect("write the file");
        self
    }

    pub fn playbook(self, name: &str, text: &str) -> Test {
        self.file(name, text)
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Test {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Test
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// `--var NAME=VALUE`.
    pub fn var(self, name: &str, value: &str) -> Test {
        self.arg("--var").arg(format!("{name}={value}"))
    }

    /// `--database-url` of the test's database.
    pub fn database(self, db: &Database) -> Test {
        self.database_url(&db.url())
    }

    /// `--database-url URL`, for any server (or a URL that is wrong on purpose).
    pub fn database_url(mut self, url: &str) -> Test {
        self.database_url = Some(url.to_owned());
        self
    }

    /// `--report report.json --format json`; the outcome gives it back parsed (`json`).
    pub fn json_report(mut self) -> Test {
        self.report = Some(Report::Json);
        self
    }

    /// `--report report.md`; the outcome gives it back (`markdown`).
    pub fn markdown_report(mut self) -> Test {
        self.report = Some(Report::Markdown);
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Test {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Removes an inherited environment variable (one set with `env` still applies).
    pub fn env_remove(mut self, name: &str) -> Test {
        self.env_remove.push(name.to_owned());
        self
    }

    /// No libpq variable from the outer environment, HOME in the test's directory (so no
    /// ~/.pgpass is found) and a 2 s connect timeout.
    pub fn clean_connection_env(mut self) -> Test {
        for name in CONNECTION_VARIABLES {
            self = self.env_remove(name);
        }
        let home = self.dir().display().to_string();
        self.env("HOME", &home).env("PGCONNECT_TIMEOUT", "2")
    }

    /// The exit status expected (default 0); a run killed by signal N reads as 128 + N.
    pub fn status(mut self, status: i32) -> Test {
        self.status = Ok(status);
        self
    }

    /// The exit status is not checked, for the reason given (the test checks it itself).
    pub fn status_any(mut self, reason: &str) -> Test {
        assert!(!reason.is_empty(), "say why the status is not checked");
        self.status = Err(reason.to_owned());
        self
    }

    /// Exactly what stdout must be (default: empty); `[..]` matches any text within a line.
    pub fn stdout(mut self, expected: &str) -> Test {
        self.stdout = Expected::Exact(expected.to_owned());
        self
    }

    /// Exactly what stderr must be (default: empty); `[..]` matches any text within a line.
    pub fn stderr(mut self, expected: &str) -> Test {
        self.stderr = Expected::Exact(expected.to_owned());
        self
    }

    /// Stdout must contain `text` (and whatever else `stdout_contains` asks for), instead of
    /// an exact match.
    pub fn stdout_contains(mut self, text: &str) -> Test {
        self.stdout.contains(text);
        self
    }

    /// Stdout is not checked, for the reason given (say why it cannot be predicted).
    pub fn stdout_any(mut self, reason: &str) -> Test {
        assert!(!reason.is_empty(), "say why stdout is not checked");
        self.stdout = Expected::Any(reason.to_owned());
        self
    }

    /// Stderr is not checked, for the reason given (say why it cannot be predicted).
    pub fn stderr_any(mut self, reason: &str) -> Test {
        assert!(!reason.is_empty(), "say why stderr is not checked");
        self.stderr = Expected::Any(reason.to_owned());
        self
    }

    /// Runs the binary to its end and checks status, stdout and stderr.
    pub fn run(self) -> Outcome {
        self.spawn().wait()
    }

    /// Starts the binary; `Running::wait` (or `kill`) checks it like `run`.
    pub fn spawn(self) -> Running {
        let mut command = runbook_in(self.dir.path());
        command.args(&self.args);
        if let Some(url) = &self.database_url {
            command.args(["--database-url", url]);
        }
        match self.report {
            Some(Report::Json) => command.args(["--report", "report.json", "--format", "json"]),
            Some(Report::Markdown) => command.args(["--report", "report.md"]),
            None => &mut command,
        };
        command
            .current_dir(self.current_dir.as_deref().unwrap_or(self.dir.path()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for name in &self.env_remove {
            command.env_remove(name);
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let mut child = command.spawn().expect("run the runbook binary");
        let stdout = drain(child.stdout.take().expect("piped stdout"));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        let peak = watch_peak(child.id());
        Running {
            peak,
            test: self,
            child,
            stdout,
            stderr,
        }
    }
}

/// The child's peak resident set size (kB), read from `/proc/<pid>/status` (`VmHWM`) until it
/// exits. Not `wait4`'s `ru_maxrss`: Linux carries the parent's high-water mark over into a
/// child across fork and exec, so a child of this (large, many-threaded) test process would
/// report this process's peak. Readings count only once the child is the runbook binary
/// (its `comm`), and the watch ends when it is a zombie, before it is reaped (so its pid
/// cannot have been reused).
fn watch_peak(pid: u32) -> JoinHandle<i64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        loop {
            let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix(name))
                    .map(str::trim)
                    .unwrap_or_default()
                    .to_owned()
            };
            if status.is_empty() || field("State:").starts_with('Z') {
                return peak;
            }
            if field("Name:") == "runbook" {
                let kb = field("VmHWM:")
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .unwrap_or(0);
                peak = peak.max(kb);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    })
}

/// Reads a pipe to its end on a thread of its own, so neither pipe can fill up and block.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        pipe.read_to_end(&mut bytes)
            .expect("read the child's output");
        bytes
    })
}

impl Running {
    /// Waits for the run to end and checks it.
    pub fn wait(self) -> Outcome {
        let pid = self.child.id() as libc::pid_t;
        // Until the child is a zombie: it is not reaped yet, so its pid is still its own.
        let peak_rss_kb = self
            .peak
            .join()
            .expect("the watch of the child's memory ends");
        let mut status = 0;
        // SAFETY: waitpid writes only the status it is given, a local that outlives the call.
        let reaped = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(reaped, pid, "wait for the runbook binary");
        let status = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            128 + libc::WTERMSIG(status)
        };
        let text = |handle: JoinHandle<Vec<u8>>| {
            let bytes = handle.join().expect("the pipe reader ends");
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let dir = self.test.dir.path().display().to_string();
            text.replace(&dir, "[TMP]")
        };
        let outcome = Outcome {
            status,
            stdout: text(self.stdout),
            stderr: text(self.stderr),
            peak_rss_kb,
            dir: self.test.dir,
            report: self.test.report,
        };
        let status = format!("--- status {}", outcome.status);
        assert_eq!(
            Ok(outcome.status),
            self.test
                .status
                .clone()
                .or(Ok::<i32, String>(outcome.status)),
            "unexpected exit status\n--- stdout{}\n{}\n--- stderr{}\n{}",
            self.test.stdout.note(),
            outcome.stdout,
            self.test.stderr.note(),
            outcome.stderr
        );
        let stderr = format!("--- stderr{}\n{}", self.test.stderr.note(), outcome.stderr);
        let stdout = format!("--- stdout{}\n{}", self.test.stdout.note(), outcome.stdout);
        self.test
            .stdout
            .check("stdout", &outcome.stdout, &format!("{status}\n{stderr}"));
        self.test
            .stderr
            .check("stderr", &outcome.stderr, &format!("{status}\n{stdout}"));
        outcome
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the run, as a supervisor or `kill` does.
    pub fn signal(&self, signal: i32) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill has no memory effects; the pid is our child's, not yet reaped.
        assert_eq!(
            unsafe { libc::kill(pid, signal) },
            0,
            "signal the runbook binary"
        );
    }

    /// Kills the run (SIGKILL: no clean-up, no report) and checks it; it exits 137.
    pub fn kill(mut self) -> Outcome {
        self.child.kill().expect("kill the runbook binary");
        self.wait()
    }
}

impl Outcome {
    /// A new run in this run's working directory, where its reports and journals stay (a
    /// fresh `Test` otherwise: arguments and expectations are the new run's own).
    pub fn again(self) -> Test {
        Test {
            dir: self.dir,
            ..Test::new()
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A file the run wrote.
    pub fn read(&self, name: &str) -> String {
        let path = self.path(name);
        fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}\n--- stderr\n{}", path.display(), self.stderr))
    }

    /// The report asked for with `json_report`, parsed.
    pub fn json(&self) -> serde_json::Value {
        assert!(
            matches!(self.report, Some(Report::Json)),
            "the test asked for no JSON report (`json_report`)"
        );
        read_json(&self.path("report.json"))
    }

    /// The report asked for with `markdown_report`.
    pub fn markdown(&self) -> String {
        assert!(
            matches!(self.report, Some(Report::Markdown)),
            "the test asked for no Markdown report (`markdown_report`)"
        );
        self.read("report.md")
    }

    /// The audit journal beside the report, each line parsed.
    pub fn journal(&self) -> Vec<serde_json::Value> {
        let name = match self.report {
            Some(_) => "report.journal.jsonl",
            None => panic!("the test asked for no report, so there is no journal beside it"),
        };
        read_journal(&self.path(name))
    }
}

/// The crate's root directory (where `playbooks/` and `schema/` live).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A built-in playbook's source text.
pub fn built_in(name: &str) -> String {
    let path = root().join(format!("playbooks/{name}.yaml"));
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A JSON file (a report), parsed.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read the report {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the report {} is JSON: {e}", path.display()))
}

/// A journal (JSON lines), each line parsed.
pub fn read_journal(path: &Path) -> Vec<serde_json::Value> {
    let text = fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read the journal {}: {e}", path.display()));
    text.lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}
