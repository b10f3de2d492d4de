//! The real binary in a pseudo-terminal, for tests of its prompts (expectrl).

use std::fs;
use std::io::ErrorKind;
use std::process::Command;
use std::time::{Duration, Instant};

use expectrl::Expect;
use expectrl::process::unix::WaitStatus;

use super::db::Database;

/// How long any expectation waits.
pub const TIMEOUT: Duration = Duration::from_secs(20);
pub const UP: &str = "\x1b[A";
pub const DOWN: &str = "\x1b[B";
pub const ENTER: &str = "\r";
/// The width of the PTY, in columns.
pub const COLUMNS: u16 = 80;
pub const ESC: &str = "\x1b";

/// The binary running in a PTY, in its own working directory, with everything it wrote to
/// the terminal kept as a transcript (escape sequences and carriage returns stripped).
pub struct Pty {
    session: expectrl::session::OsSession,
    dir: tempfile::TempDir,
    raw: Vec<u8>,
    /// How far into the (stripped) transcript expectations have matched.
    cursor: usize,
    eof: bool,
}

impl Pty {
    /// Runs `runbook run <playbook> --database-url .. --report r.json --format json <extra>`.
    /// The playbook's name is made the database's own (`name: x` → `x-<db>`, as
    /// `Database::playbook_name`): a responder's lock is server-wide, and tests run in parallel.
    pub fn run(db: &Database, playbook: &str, extra: &[&str]) -> Pty {
        Pty::run_with(db, playbook, extra, &[])
    }

    /// The same with extra environment variables (`NO_COLOR`).
    pub fn run_with(db: &Database, playbook: &str, extra: &[&str], env: &[(&str, &str)]) -> Pty {
        Pty::run_sized(db, playbook, extra, env, COLUMNS)
    }

    fn run_sized(
        db: &Database,
        playbook: &str,
        extra: &[&str],
        env: &[(&str, &str)],
        columns: u16,
    ) -> Pty {
        let playbook: String = playbook
            .lines()
            .map(|line| match line.strip_prefix("name: ") {
                Some(name) if !name.ends_with(&db.playbook_name("")) => {
                    format!("name: {}\n", db.playbook_name(name.trim()))
                }
                _ => format!("{line}\n"),
            })
            .collect();
        Pty::run_url_at(&db.url(), &playbook, extra, env, columns)
    }

    /// The same at a terminal `columns` wide.
    pub fn run_at(db: &Database, playbook: &str, extra: &[&str], columns: u16) -> Pty {
        Pty::run_sized(db, playbook, extra, &[], columns)
    }

    /// The same against any server, with extra environment variables.
    pub fn run_url(url: &str, playbook: &str, extra: &[&str], env: &[(&str, &str)]) -> Pty {
        Pty::run_url_at(url, playbook, extra, env, COLUMNS)
    }

    fn run_url_at(
        url: &str,
        playbook: &str,
        extra: &[&str],
        env: &[(&str, &str)],
        columns: u16,
    ) -> Pty {
        let dir = tempfile::tempdir().expect("a temporary directory");
        fs::write(dir.path().join("playbook.yaml"), playbook).expect("write the playbook");
        let mut command = super::runbook_in(dir.path());
        command
            .args(["run", "playbook.yaml", "--database-url", url])
            .args(["--report", "r.json", "--format", "json"])
            .args(["--operator", "tester"])
            .args(extra)
            .current_dir(dir.path())
            .env("TERM", "xterm")
            .envs(env.iter().copied());
        Pty::spawn(command, dir, columns)
    }

    /// Runs `runbook ARGS` in a new working directory holding `files` (name, contents).
    pub fn command(args: &[&str], files: &[(&str, &str)]) -> Pty {
        Pty::command_at(args, files, COLUMNS)
    }

    /// The same at a terminal `columns` wide.
    pub fn command_at(args: &[&str], files: &[(&str, &str)], columns: u16) -> Pty {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for (name, contents) in files {
            fs::write(dir.path().join(name), contents).expect("write a file of the test");
        }
        let mut command = super::runbook_in(dir.path());
        command
            .args(args)
            .current_dir(dir.path())
            .env("TERM", "xterm");
        Pty::spawn(command, dir, columns)
    }

    /// Starts `command` in a PTY `columns` wide; `dir` is its working directory, kept as long
    /// as the `Pty`.
    fn spawn(command: Command, dir: tempfile::TempDir, columns: u16) -> Pty {
        let mut session = expectrl::Session::spawn(command).expect("spawn the binary in a PTY");
        // An on-call laptop's terminal (80 columns, 24 rows): what the screen is fitted to.
        session
            .get_process_mut()
            .set_window_size(columns, 24)
            .expect("set the PTY's size");
        Pty {
            session,
            dir,
            raw: Vec::new(),
            cursor: 0,
            eof: false,
        }
    }

    /// Reads whatever the child has written so far; false when nothing was there.
    pub fn pump(&mut self) -> bool {
        if self.eof {
            return false;
        }
        let mut buf = [0u8; 4096];
        match self.session.try_read(&mut buf) {
            Ok(0) => {
                self.eof = true;
                false
            }
            Ok(n) => {
                self.raw.extend_from_slice(&buf[..n]);
                true
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => false,
            Err(error) if error.raw_os_error() == Some(libc::EIO) => {
                self.eof = true;
                false
            }
            Err(error) => panic!("reading the PTY failed: {error}"),
        }
    }

    /// Everything the binary wrote to the terminal so far, byte for byte.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Everything shown so far, without escape sequences or carriage returns.
    pub fn screen(&self) -> String {
        strip(&String::from_utf8_lossy(&self.raw))
    }

    /// The lines as the terminal leaves them: a carriage return starts its line over, so a
    /// spinner's frames are gone and what replaced them stays.
    pub fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.raw)
            .split('\n')
            .map(|line| {
                line.rsplit('\r')
                    .map(strip)
                    .find(|shown| !shown.is_empty())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Waits until `text` appears after the previous match; panics with the screen if it
    /// does not within `TIMEOUT`.
    pub fn expect(&mut self, text: &str) {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if let Some(at) = screen[self.cursor..].find(text) {
                self.cursor += at + text.len();
                return;
            }
            if self.eof || start.elapsed() > TIMEOUT {
                panic!(
                    "expected {text:?} on the terminal ({}); after the last match it shows:\n{}",
                    if self.eof {
                        "the program ended"
                    } else {
                        "timed out"
                    },
                    &screen[self.cursor..]
                );
            }
            if !self.pump() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Sends SIGINT to the binary, as `kill -INT` (or a supervisor) does: not a key read by a
    /// prompt.
    pub fn interrupt(&mut self) {
        self.signal(libc::SIGINT);
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the binary.
    pub fn signal(&mut self, signal: i32) {
        let pid = self.session.get_process().pid().as_raw();
        // SAFETY: kill has no memory effects; the pid is our child's.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "signal the child");
    }

    /// Sends keys as typed.
    pub fn send(&mut self, keys: &str) {
        self.session.send(keys).expect("write to the PTY");
    }

    /// Chooses the highlighted item after pressing `moves`, and waits for the prompt to
    /// report `chosen` as the answer (`prompt: chosen`, or `prompt? chosen` for a question).
    pub fn choose(&mut self, prompt: &str, moves: &[&str], chosen: &str) {
        for key in moves {
            self.send(key);
        }
        self.send(ENTER);
        self.expect(&answered(prompt, chosen));
    }

    /// Sets the terminal's size, as a window resized to `columns`×`rows` would.
    pub fn resize(&mut self, columns: u16, rows: u16) {
        self.session
            .get_process_mut()
            .set_window_size(columns, rows)
            .expect("set the PTY's window size");
    }

    /// The screen as a `columns`×`rows` terminal shows it once everything written so far is
    /// drawn (escape sequences obeyed), and whether its cursor is visible.
    pub fn emulated(&self, columns: u16, rows: u16) -> (Vec<String>, bool) {
        let size = |n: u16| std::num::NonZeroU16::new(n).expect("a size of at least 1");
        let mut parser = vt100::Parser::new(size(rows), size(columns), 0);
        parser.process(&self.raw);
        let screen = parser.screen();
        let lines = screen.rows(0, columns).collect();
        (lines, !screen.hide_cursor())
    }

    /// Types a line at an `Input` prompt.
    pub fn type_line(&mut self, text: &str) {
        self.send(text);
        self.send(ENTER);
    }

    /// Reads until the child closes the terminal, then returns its exit code.
    pub fn finish(&mut self) -> i32 {
        let start = Instant::now();
        while !self.eof {
            assert!(
                start.elapsed() < TIMEOUT,
                "the program did not end; the screen shows:\n{}",
                &self.screen()[self.cursor..]
            );
            if !self.pump() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        loop {
            match self.session.get_process().status() {
                Ok(WaitStatus::Exited(_, code)) => return code,
                Ok(WaitStatus::StillAlive) => {
                    assert!(
                        start.elapsed() < TIMEOUT,
                        "the program closed its terminal but did not exit"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => panic!(
                    "the program did not exit normally: {other:?}; the screen shows:\n{}",
                    self.screen()
                ),
            }
        }
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    pub fn report(&self) -> serde_json::Value {
        super::read_json(&self.path("r.json"))
    }

    /// The journal's lines, each parsed.
    pub fn journal(&self) -> Vec<serde_json::Value> {
        super::read_journal(&self.path("r.journal.jsonl"))
    }
}

/// What a menu shows once answered: `prompt: answer`, or `prompt? answer` for a question.
pub fn answered(prompt: &str, answer: &str) -> String {
    if prompt.ends_with('?') {
        format!("{prompt} {answer}")
    } else {
        format!("{prompt}: {answer}")
    }
}

/// Drops CSI (`ESC [ ... final`), OSC (`ESC ] ... BEL`) and two-byte escape sequences, and
/// carriage returns, leaving the text as a reader sees it line by line.
fn strip(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    for c in chars.by_ref() {
                        if c == '\x07' {
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}
