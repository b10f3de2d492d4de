//! Which server a run acts on, resolved exactly once and the way `psql` resolves it: a
//! connection string (URL or `keyword=value` pairs), then the service it names (or
//! `PGSERVICE`), then the PG* variables, then libpq's defaults — each level only filling what
//! the ones before left unset. The result is a [`ConnSpec`], with the password held apart in a
//! [`Password`] that never prints: the target's name is built from the fields, so no spelling of
//! the password can reach it.
//!
//! The environment is a value ([`Environment`]) so tests resolve specs without touching the
//! process's own.

mod conninfo;
mod error;
mod keywords;
mod pgpass;
pub(crate) mod service;

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

pub use error::SpecError;
pub use keywords::Source;
use keywords::{KEYWORDS, Settings, Support};

/// Where Debian's libpq looks for the server's socket when no host is given.
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// libpq's default port.
pub const DEFAULT_PORT: u16 = 5432;

/// The variables, home directory and operating system user a spec is resolved in.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: HashMap<String, String>,
    pub home: Option<PathBuf>,
    pub os_user: Option<String>,
}

impl Environment {
    /// The process's environment.
    pub fn current() -> Environment {
        Environment {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            home: std::env::home_dir(),
            os_user: whoami::username().ok(),
        }
    }

    /// An environment with only `vars`, for tests.
    #[cfg(test)]
    pub fn with<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Environment {
        Environment {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            ..Environment::default()
        }
    }

    /// An environment with `vars`, the OS user `osuser`, and no home or system service file
    /// unless `vars` give them (`PGSYSCONFDIR` points at an empty place by default), for tests.
    #[cfg(test)]
    pub fn isolated(vars: &[(&str, &str)]) -> Environment {
        let mut all = vec![("PGSYSCONFDIR", "/nonexistent-sysconfdir")];
        all.extend_from_slice(vars);
        Environment {
            os_user: Some("osuser".to_owned()),
            ..Environment::with(all)
        }
    }

    /// A variable's value; an empty one counts as unset.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// A password: it can be handed to the driver, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A host name or address, over TCP.
    Tcp(String),
    /// The directory of a Unix-domain socket.
    Socket(PathBuf),
}

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// A resolved connection: one server, one database, one role.
#[derive(Debug, Clone)]
pub struct ConnSpec {
    pub host: Host,
    /// `hostaddr`: the address connected to instead of resolving `host`.
    pub hostaddr: Option<IpAddr>,
    pub port: u16,
    pub dbname: String,
    pub user: String,
    pub password: Option<Password>,
    pub sslmode: SslMode,
    pub sslcert: Option<PathBuf>,
    pub sslkey: Option<PathBuf>,
    pub sslrootcert: Option<PathBuf>,
    /// Seconds; `None` when unset or 0 (libpq: wait indefinitely).
    pub connect_timeout: Option<u64>,
    /// The settings of `options` (`-c name=value`, `--name=value`), and where they came from.
    pub options: Option<(Vec<(String, String)>, Source)>,
    /// What libpq would warn about (a password file others may read).
    pub warnings: Vec<String>,
}

impl fmt::Display for ConnSpec {
    /// `user@host:port/dbname`, from the fields alone.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@", self.user)?;
        match (&self.hostaddr, &self.host) {
            (Some(IpAddr::V6(address)), _) => write!(f, "[{address}]")?,
            (Some(address), _) => write!(f, "{address}")?,
            (None, Host::Tcp(host)) if host.contains(':') => write!(f, "[{host}]")?,
            (None, Host::Tcp(host)) => write!(f, "{host}")?,
            (None, Host::Socket(dir)) => write!(f, "{}", dir.display())?,
        }
        write!(f, ":{}/{}", self.port, self.dbname)
    }
}

/// The service a connection string names when it names nothing else (`service=prod`,
/// `postgres:///?service=prod`): such a target is called by its service's name.
pub fn service_only(conninfo: &str) -> Option<String> {
    let settings = conninfo::parse(conninfo).ok()?;
    let mut all = settings.iter();
    match (all.next(), all.next()) {
        (Some(setting), None) if setting.keyword.name == "service" && !setting.value.is_empty() => {
            Some(setting.value.clone())
        }
        _ => None,
    }
}

/// The connection string naming service `name` alone: `service=NAME`, quoted as libpq reads
/// quotes when the name holds a blank, a quote or a backslash.
pub fn service_conninfo(name: &str) -> String {
    if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '\'' || c == '\\') {
        let quoted = name.replace('\\', "\\\\").replace('\'', "\\'");
        format!("service='{quoted}'")
    } else {
        format!("service={name}")
    }
}

/// Resolves `conninfo` (`--database-url`; `None` or empty: the environment alone) in `env`.
pub fn resolve(conninfo: Option<&str>, env: &Environment) -> Result<ConnSpec, SpecError> {
    let mut settings = conninfo::parse(conninfo.unwrap_or(""))?;
    let service = match settings.get("service") {
        Some(setting) => Some(setting.value.clone()),
        None => env.var("PGSERVICE").map(str::to_owned),
    };
    if let Some(name) = &service {
        service::apply(name, env, &mut settings)?;
    }
    for keyword in KEYWORDS {
        if let Some((name, value)) = keyword.env.and_then(|n| Some((n, env.var(n)?))) {
            settings.fill(keyword, value.to_owned(), Source::Env(name));
        }
    }
    for setting in settings.iter() {
        if let Support::Only(values) = setting.keyword.support
            && !values.contains(&setting.value.as_str())
        {
            return Err(SpecError::Unsupported {
                keyword: setting.keyword.name,
                origin: setting.source.clone(),
                values,
            });
        }
    }
    build(&settings, env)
}

fn build(settings: &Settings, env: &Environment) -> Result<ConnSpec, SpecError> {
    let text = |name: &str| settings.get(name).map(|s| s.value.as_str());
    let nonempty = |name: &str| text(name).filter(|v| !v.is_empty());
    for name in ["host", "hostaddr", "port"] {
        if let Some(setting) = settings.get(name)
            && setting.value.contains(',')
        {
            return Err(SpecError::MultipleHosts {
                keyword: setting.keyword.name,
                origin: setting.source.clone(),
            });
        }
    }
    let invalid = |name: &'static str, expected: &'static str| {
        let source = settings.get(name).map(|s| s.source.clone());
        SpecError::InvalidValue {
            keyword: name,
            origin: source.unwrap_or(Source::ConnString),
            expected,
        }
    };
    let host = match nonempty("host") {
        Some(dir) if dir.starts_with('/') => Host::Socket(PathBuf::from(dir)),
        Some(host) => Host::Tcp(host.to_owned()),
        None => Host::Socket(PathBuf::from(DEFAULT_SOCKET_DIR)),
    };
    let hostaddr = nonempty("hostaddr")
        .map(|a| a.parse::<IpAddr>())
        .transpose()
        .map_err(|_| invalid("hostaddr", "a numeric IP address"))?;
    let default_port = DEFAULT_PORT.to_string();
    let port_text = nonempty("port").unwrap_or(&default_port);
    let port = port_text
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| invalid("port", "a port number from 1 to 65535"))?;
    let user = match nonempty("user") {
        Some(user) => user.to_owned(),
        None => env.os_user.clone().ok_or(SpecError::NoUser)?,
    };
    let dbname = nonempty("dbname").unwrap_or(&user).to_owned();
    let sslmode = match nonempty("sslmode").unwrap_or("prefer") {
        "disable" => SslMode::Disable,
        "allow" => SslMode::Allow,
        "prefer" => SslMode::Prefer,
        "require" => SslMode::Require,
        "verify-ca" => SslMode::VerifyCa,
        "verify-full" => SslMode::VerifyFull,
        _ => {
            return Err(invalid(
                "sslmode",
                "disable, allow, prefer, require, verify-ca or verify-full",
            ));
        }
    };
    let connect_timeout = nonempty("connect_timeout")
        .map(|t| t.trim().parse::<i64>())
        .transpose()
        .map_err(|_| invalid("connect_timeout", "a whole number of seconds"))?
        .and_then(|t| u64::try_from(t).ok())
        .filter(|&t| t > 0);
    let path = |name: &str| nonempty(name).map(PathBuf::from);
    let mut spec = ConnSpec {
        host,
        hostaddr,
        port,
        dbname,
        user,
        password: nonempty("password").map(|p| Password(p.to_owned())),
        sslmode,
        sslcert: path("sslcert"),
        sslkey: path("sslkey"),
        sslrootcert: path("sslrootcert"),
        connect_timeout,
        options: match settings.get("options").filter(|s| !s.value.is_empty()) {
            Some(setting) => Some((
                server_settings(&setting.value)
                    .ok_or_else(|| invalid("options", "`-c name=value` settings"))?,
                setting.source.clone(),
            )),
            None => None,
        },
        warnings: Vec::new(),
    };
    if spec.password.is_none() {
        let file = path("passfile").or_else(|| env.home.as_ref().map(|h| h.join(".pgpass")));
        if let Some(file) = file {
            look_up_password(&mut spec, &file, port_text, nonempty("host"));
        }
    }
    Ok(spec)
}

/// The `name=value` settings of a server command line (`-c geqo=off --work_mem=64MB`): the
/// only options a client can pass that mean the same to every server. Words split at spaces; a
/// backslash takes the next character as it is.
fn server_settings(options: &str) -> Option<Vec<(String, String)>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.extend(chars.next()),
            c if c.is_whitespace() => {
                words.extend((!word.is_empty()).then(|| std::mem::take(&mut word)))
            }
            c => word.push(c),
        }
    }
    words.extend((!word.is_empty()).then_some(word));
    let mut settings = Vec::new();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        let setting = match word.as_str() {
            "-c" => words.next()?,
            _ => match word.strip_prefix("--").or_else(|| word.strip_prefix("-c")) {
                Some(setting) => setting.to_owned(),
                None => return None,
            },
        };
        let (name, value) = setting.split_once('=')?;
        if name.is_empty() {
            return None;
        }
        settings.push((name.replace('-', "_"), value.to_owned()));
    }
    Some(settings)
}

/// Fills `spec`'s password from the password file, matched as libpq matches it.
fn look_up_password(spec: &mut ConnSpec, file: &std::path::Path, port: &str, host: Option<&str>) {
    let hostaddr = spec.hostaddr.map(|a| a.to_string());
    let host = match host.or(hostaddr.as_deref()) {
        None | Some(DEFAULT_SOCKET_DIR) => "localhost",
        Some(host) => host,
    };
    let lookup = pgpass::Lookup {
        host,
        port: port.trim(),
        dbname: &spec.dbname,
        user: &spec.user,
    };
    let (password, warning) = pgpass::password(file, &lookup);
    spec.password = password.filter(|p| !p.is_empty()).map(Password);
    spec.warnings.extend(warning);
}

#[cfg(test)]
mod tests;
