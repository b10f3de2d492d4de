//! A fluent helper that runs the real `runbook` binary, in the spirit of just's test builder:
//! `Test::new().playbook("x.yaml", YAML).args(["validate", "x.yaml"]).run()`.
//!
//! Each test gets its own temporary working directory, so `./playbooks` lookups and reports
//! never collide between tests running in parallel.

#![allow(dead_code)]

pub mod cluster;
pub mod db;
pub mod pty;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Test {
    dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    env_remove: Vec<String>,
    stdin: Option<String>,
}

pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub dir: PathBuf,
}

impl Test {
    pub fn new() -> Test {
        Test {
            dir: tempfile::tempdir().expect("a temporary directory"),
            args: Vec::new(),
            env: Vec::new(),
            env_remove: Vec::new(),
            stdin: None,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (a playbook, usually) relative to the test's working directory.
    pub fn file(self, name: &str, text: &str) -> Test {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create the file's directory");
        }
        fs::write(path, text).expect("write the file");
        self
    }

    pub fn playbook(self, name: &str, text: &str) -> Test {
        self.file(name, text)
    }

    pub fn args<I, S>(mut self, args: I) -> Test
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
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

    pub fn run(self) -> Outcome {
        let mut command = Command::new(env!("CARGO_BIN_EXE_runbook"));
        command
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        for name in &self.env_remove {
            command.env_remove(name);
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let output: Output = command.output().expect("run the runbook binary");
        Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            dir: self.dir.keep(),
        }
    }
}

impl Outcome {
    /// Asserts the exit code, showing the output when it differs.
    pub fn code(self, expected: i32) -> Outcome {
        assert_eq!(
            self.code, expected,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// A JSON report the run wrote in its working directory (`--report NAME --format json`).
    pub fn json(&self, name: &str) -> serde_json::Value {
        let path = self.dir.join(name);
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read the report {}: {e}", path.display()));
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("the report {} is JSON: {e}", path.display()))
    }

    pub fn stdout(self, expected: &str) -> Outcome {
        assert_eq!(self.stdout, expected);
        self
    }

    pub fn stderr(self, expected: &str) -> Outcome {
        assert_eq!(self.stderr, expected);
        self
    }
}

impl Drop for Outcome {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The crate's root directory (where `playbooks/` and `schema/` live).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary in the crate root with the given arguments.
pub fn runbook_in_root<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_runbook"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .expect("run the runbook binary")
}
