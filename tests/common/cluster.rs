//! A private, throwaway PostgreSQL cluster with password (SCRAM) authentication.
//!
//! The shared server trusts every local connection, so a wrong password cannot be tested
//! against it. `Cluster::start()` runs `initdb --auth=scram-sha-256` in a temporary directory
//! (as the `postgres` OS user: `initdb` refuses to run as root), starts it on a free port of
//! 127.0.0.1 with its socket in that directory, and stops it (`pg_ctl stop -m immediate`) and
//! removes the directory when dropped. Extra settings (e.g. `max_connections = 10`) are given
//! through the builder:
//!
//! ```ignore
//! let cluster = Cluster::builder().setting("max_connections", "10").start();
//! let url = cluster.url("postgres", cluster.password());
//! ```

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::db::Session;

/// The OS user the cluster runs as (and its superuser role).
pub const OS_USER: &str = "postgres";

/// The superuser's password in every cluster this module starts.
pub const PASSWORD: &str = "Right-Pa55-for-the-test-cluster";

/// How many times a start is retried when the port picked was taken in the meantime.
const START_ATTEMPTS: usize = 5;

pub struct Builder {
    settings: Vec<(String, String)>,
}

pub struct Cluster {
    /// `None` once dropped; owned by root, its contents by `postgres`.
    dir: Option<tempfile::TempDir>,
    bin: PathBuf,
    port: u16,
}

impl Builder {
    /// Adds a `postgresql.conf` setting; the value is written quoted, which PostgreSQL accepts
    /// for every type (`max_connections = '10'`).
    pub fn setting(mut self, name: &str, value: &str) -> Builder {
        self.settings.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Creates and starts the cluster; panics with pg_ctl's log when it cannot.
    pub fn start(self) -> Cluster {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("runbook-pg-")
            .tempdir()
            .expect("a temporary directory for the cluster");
        let (uid, gid) = postgres_ids();
        chown(dir.path(), Some(uid), Some(gid)).expect("chown the cluster directory to postgres");
        let pwfile = dir.path().join("pwfile");
        fs::write(&pwfile, format!("{PASSWORD}\n")).expect("write the password file");
        fs::set_permissions(&pwfile, fs::Permissions::from_mode(0o600)).expect("chmod pwfile");
        chown(&pwfile, Some(uid), Some(gid)).expect("chown the password file");

        let data = dir.path().join("data");
        let output = as_postgres(dir.path(), &bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["--auth=scram-sha-256", "-U", OS_USER, "--no-sync"])
            .args(["--no-locale", "--encoding=UTF8"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("run initdb through runuser");
        assert!(
            output.status.success(),
            "initdb failed in {}:\n{}",
            data.display(),
            both(&output)
        );
        let _ = fs::remove_file(&pwfile);

        let mut conf = String::from("\n# runbook tests\nfsync = off\n");
        for (name, value) in &self.settings {
            conf.push_str(&format!("{name} = '{}'\n", value.replace('\'', "''")));
        }
        let conf_path = data.join("postgresql.conf");
        let mut text = fs::read_to_string(&conf_path).expect("read postgresql.conf");
        text.push_str(&conf);
        fs::write(&conf_path, text).expect("append to postgresql.conf");

        let mut cluster = Cluster {
            dir: Some(dir),
            bin,
            port: 0,
        };
        let log = cluster.dir().join("server.log");
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let output = as_postgres(cluster.dir(), &cluster.bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .arg("-o")
                .arg(format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1",
                    cluster.dir().display()
                ))
                .args(["-w", "-t", "60", "start"])
                .output()
                .expect("run pg_ctl through runuser");
            if output.status.success() {
                cluster.port = port;
                return cluster;
            }
            let server_log = fs::read_to_string(&log).unwrap_or_default();
            let port_taken = server_log.contains("Address already in use")
                || server_log.contains("could not bind");
            failures.push(format!(
                "pg_ctl start on port {port} failed:\n{}\n--- server log ({})\n{server_log}",
                both(&output),
                log.display()
            ));
            if !port_taken {
                break;
            }
            // Start the next attempt with a fresh log.
            let _ = fs::remove_file(&log);
        }
        panic!(
            "cannot start the test cluster in {}:\n{}",
            data.display(),
            failures.join("\n")
        );
    }
}

impl Cluster {
    pub fn builder() -> Builder {
        Builder {
            settings: Vec::new(),
        }
    }

    /// A cluster with the default settings.
    pub fn start() -> Cluster {
        Cluster::builder().start()
    }

    /// The TCP port it listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding its data, its Unix socket and its log.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("the cluster is alive").path()
    }

    /// The superuser's (`postgres`) password.
    pub fn password(&self) -> &'static str {
        PASSWORD
    }

    /// `postgres://user:password@127.0.0.1:port/database`; the password is used as given (so
    /// percent-encode it if needed).
    pub fn url(&self, user: &str, password: &str, database: &str) -> String {
        format!(
            "postgres://{user}:{password}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// Runs SQL as the superuser through the socket (psql from the same installation);
    /// returns its unaligned output.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .arg("-h")
            .arg(self.dir())
            .args(["-p", &self.port.to_string(), "-U", OS_USER, "-d", database])
            .args(["-c", sql])
            .env("PGPASSWORD", PASSWORD)
            .env_remove("PGPASSFILE")
            .env_remove("PGSERVICE")
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "psql failed on `{sql}` against the test cluster: {}",
            both(&output)
        );
        String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_owned()
    }

    /// An idle session of `user` over TCP with `password` (psql kept open on its stdin).
    pub fn session(&self, user: &str, password: &str) -> Session {
        Session::open(
            Command::new(self.bin.join("psql"))
                .args(["-X", "-q", "-A", "-t", "-h", "127.0.0.1", "-U", user])
                .args(["-p", &self.port.to_string(), "-d", "postgres"])
                .env("PGPASSWORD", password)
                .env_remove("PGPASSFILE")
                .env_remove("PGSERVICE"),
        )
    }

    /// Restarts the server (`pg_ctl restart -m fast`), on the same port; panics if it fails.
    pub fn restart(&self) {
        let data = self.dir().join("data");
        let output = as_postgres(self.dir(), &self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(self.dir().join("server.log"))
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1",
                self.port,
                self.dir().display()
            ))
            .args(["-m", "fast", "-w", "-t", "60", "restart"])
            .output()
            .expect("run pg_ctl through runuser");
        assert!(
            output.status.success(),
            "pg_ctl restart failed:\n{}\n--- server log\n{}",
            both(&output),
            self.log()
        );
    }

    /// Stops the server (`pg_ctl stop -m fast`): from now on nothing listens on its port, as
    /// for a server that is down. Panics if it cannot.
    pub fn stop(&self) {
        let output = as_postgres(self.dir(), &self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir().join("data"))
            .args(["-m", "fast", "-w", "-t", "60", "stop"])
            .output()
            .expect("run pg_ctl through runuser");
        assert!(
            output.status.success(),
            "pg_ctl stop failed:\n{}",
            both(&output)
        );
    }

    /// The server's log so far (for assertion messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else {
            return;
        };
        if self.port != 0 {
            let _ = as_postgres(dir.path(), &self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(dir.path().join("data"))
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
        // Root removes the files postgres created.
        let _ = dir.close();
    }
}

/// `runuser -u postgres -- program`, run from `cwd` (the caller's directory may be closed to
/// the postgres user).
fn as_postgres(cwd: &Path, program: &Path) -> Command {
    let mut command = Command::new("runuser");
    command
        .args(["-u", OS_USER, "--"])
        .arg(program)
        .current_dir(cwd)
        .env_remove("PGDATA")
        .env_remove("PGPORT")
        .env_remove("PGHOST");
    command
}

/// The newest installed server's bin directory (`/usr/lib/postgresql/<version>/bin`), else
/// `pg_config --bindir`.
fn bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return bin;
    }
    let output = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .expect("no /usr/lib/postgresql/*/bin/initdb, and pg_config does not run");
    let bin = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    assert!(
        bin.join("initdb").is_file(),
        "cannot find initdb (looked in /usr/lib/postgresql/*/bin and `pg_config --bindir`)"
    );
    bin
}

/// The uid and gid of the `postgres` OS user.
fn postgres_ids() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let output = Command::new("id")
            .args([flag, OS_USER])
            .output()
            .expect("run id");
        assert!(
            output.status.success(),
            "no `{OS_USER}` OS user: {}",
            both(&output)
        );
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .expect("a numeric id")
    };
    (id("-u"), id("-g"))
}

/// A port that was free a moment ago (the start retries if it is taken since).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("a local address").port()
}

fn both(output: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
