//! libpq's connection keywords, each with its environment variable, and the set of values a
//! connection string, a service file or the environment gave them.
//!
//! Every keyword libpq knows is listed, so a keyword runbook cannot honour is refused by name
//! (`connection option "target_session_attrs" is not supported`) instead of being reported as
//! unknown or, worse, silently dropped: a dropped `target_session_attrs=read-write` could mean
//! acting on a standby's neighbour.

use std::fmt;
use std::path::PathBuf;

/// What runbook does with a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Support {
    /// Read into [`super::ConnSpec`].
    Used,
    /// Accepted, without effect: runbook sets it itself (`application_name`).
    Replaced,
    /// Refused, except for these values (libpq's defaults, which change nothing).
    Only(&'static [&'static str]),
}

/// One libpq keyword.
#[derive(Debug)]
pub(super) struct Keyword {
    pub name: &'static str,
    pub env: Option<&'static str>,
    pub support: Support,
}

const fn used(name: &'static str, env: &'static str) -> Keyword {
    Keyword {
        name,
        env: Some(env),
        support: Support::Used,
    }
}

const fn only(
    name: &'static str,
    env: Option<&'static str>,
    values: &'static [&'static str],
) -> Keyword {
    Keyword {
        name,
        env,
        support: Support::Only(values),
    }
}

/// libpq's keywords (PostgreSQL 17 documentation, "Parameter Key Words").
pub(super) const KEYWORDS: &[Keyword] = &[
    used("service", "PGSERVICE"),
    used("host", "PGHOST"),
    used("hostaddr", "PGHOSTADDR"),
    used("port", "PGPORT"),
    used("dbname", "PGDATABASE"),
    used("user", "PGUSER"),
    used("password", "PGPASSWORD"),
    used("passfile", "PGPASSFILE"),
    used("connect_timeout", "PGCONNECT_TIMEOUT"),
    used("options", "PGOPTIONS"),
    used("sslmode", "PGSSLMODE"),
    used("sslcert", "PGSSLCERT"),
    used("sslkey", "PGSSLKEY"),
    used("sslrootcert", "PGSSLROOTCERT"),
    Keyword {
        name: "application_name",
        env: Some("PGAPPNAME"),
        support: Support::Replaced,
    },
    Keyword {
        name: "fallback_application_name",
        env: None,
        support: Support::Replaced,
    },
    only(
        "client_encoding",
        Some("PGCLIENTENCODING"),
        &["UTF8", "utf8", "UTF-8", "utf-8", "auto"],
    ),
    only("require_auth", Some("PGREQUIREAUTH"), &[]),
    only("channel_binding", Some("PGCHANNELBINDING"), &["prefer"]),
    only("keepalives", None, &["1"]),
    only("keepalives_idle", None, &[]),
    only("keepalives_interval", None, &[]),
    only("keepalives_count", None, &[]),
    only("tcp_user_timeout", None, &[]),
    only("replication", None, &[]),
    only("gssencmode", Some("PGGSSENCMODE"), &["disable", "prefer"]),
    only("requiressl", Some("PGREQUIRESSL"), &["0"]),
    only("sslnegotiation", Some("PGSSLNEGOTIATION"), &["postgres"]),
    only("sslcompression", Some("PGSSLCOMPRESSION"), &["0"]),
    only("sslpassword", None, &[]),
    only("sslcertmode", Some("PGSSLCERTMODE"), &["allow"]),
    only("sslcrl", Some("PGSSLCRL"), &[]),
    only("sslcrldir", Some("PGSSLCRLDIR"), &[]),
    only("sslsni", Some("PGSSLSNI"), &["1"]),
    only("requirepeer", Some("PGREQUIREPEER"), &[]),
    only(
        "ssl_min_protocol_version",
        Some("PGSSLMINPROTOCOLVERSION"),
        &[],
    ),
    only(
        "ssl_max_protocol_version",
        Some("PGSSLMAXPROTOCOLVERSION"),
        &[],
    ),
    only("krbsrvname", Some("PGKRBSRVNAME"), &[]),
    only("gsslib", Some("PGGSSLIB"), &[]),
    only("gssdelegation", Some("PGGSSDELEGATION"), &["0"]),
    only(
        "target_session_attrs",
        Some("PGTARGETSESSIONATTRS"),
        &["any"],
    ),
    only(
        "load_balance_hosts",
        Some("PGLOADBALANCEHOSTS"),
        &["disable"],
    ),
];

/// The keyword named `name`, if libpq knows it.
pub(super) fn keyword(name: &str) -> Option<&'static Keyword> {
    KEYWORDS.iter().find(|k| k.name == name)
}

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    ConnString,
    Service { file: PathBuf, line: usize },
    Env(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::ConnString => write!(f, "the connection string"),
            Source::Service { file, line } => {
                write!(f, "service file `{}` line {line}", file.display())
            }
            Source::Env(name) => write!(f, "`{name}`"),
        }
    }
}

/// One keyword's value and where it came from.
pub(super) struct Setting {
    pub keyword: &'static Keyword,
    pub value: String,
    pub source: Source,
}

/// The keywords set so far; a later setting of a keyword replaces the earlier one, as in libpq.
/// No `Debug`: a password is among the values.
#[derive(Default)]
pub(super) struct Settings {
    settings: Vec<Setting>,
}

impl Settings {
    pub fn set(&mut self, keyword: &'static Keyword, value: String, source: Source) {
        self.settings.retain(|s| s.keyword.name != keyword.name);
        self.settings.push(Setting {
            keyword,
            value,
            source,
        });
    }

    /// Sets `keyword` unless it is set already: a service file's and the environment's values
    /// only fill what the connection string left unset.
    pub fn fill(&mut self, keyword: &'static Keyword, value: String, source: Source) {
        if self.get(keyword.name).is_none() {
            self.set(keyword, value, source);
        }
    }

    pub fn get(&self, name: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.keyword.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Setting> {
        self.settings.iter()
    }
}
