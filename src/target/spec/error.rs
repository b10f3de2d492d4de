//! Why a connection spec did not resolve. No message quotes a value from a connection string
//! except keyword names and the name of a service: a value may be (part of) a password.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

use super::keywords::Source;

#[derive(Debug, Error)]
pub enum SpecError {
    #[error(
        "expected a URL (`postgres://user@host:port/dbname`) or `keyword=value` pairs \
         (`host=… port=… dbname=…`); to name a database alone, write `dbname=NAME`"
    )]
    NotAConnString,
    #[error("invalid connection string: {message}")]
    Syntax { message: String },
    #[error("{}", unknown_keywords(names, *hidden))]
    UnknownKeywords { names: Vec<String>, hidden: bool },
    #[error(
        "multiple hosts are not supported (`{keyword}` from {origin} lists several): name one \
         server"
    )]
    MultipleHosts {
        keyword: &'static str,
        origin: Source,
    },
    #[error("invalid value for connection option `{keyword}` (from {origin}): expected {expected}")]
    InvalidValue {
        keyword: &'static str,
        origin: Source,
        expected: &'static str,
    },
    #[error(
        "connection option `{keyword}` (from {origin}) is not supported by runbook{}",
        allowed(values)
    )]
    Unsupported {
        keyword: &'static str,
        origin: Source,
        values: &'static [&'static str],
    },
    #[error("syntax error in service file `{}`, line {line}: {message}", file.display())]
    ServiceSyntax {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("cannot read service file `{}`: {error}", file.display())]
    ServiceUnreadable {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "definition of service \"{name}\" not found; looked in {}",
        Looked(looked)
    )]
    ServiceNotFound {
        name: String,
        looked: Vec<(PathBuf, bool)>,
    },
    #[error(
        "no service matches `{glob}`{}; looked in {}",
        Found(found),
        Looked(looked)
    )]
    NoServiceMatches {
        glob: String,
        /// The services the files define, none of them matching.
        found: Vec<String>,
        looked: Vec<(PathBuf, bool)>,
    },
    #[error(
        "the operating system user is unknown, so is the default user name: set `user=` or \
         `PGUSER`"
    )]
    NoUser,
}

impl SpecError {
    /// What the failed spec named, for `cannot connect to `…``: never the string itself.
    pub fn target(&self) -> String {
        match self {
            SpecError::ServiceNotFound { name, .. } => format!("service={name}"),
            SpecError::NotAConnString
            | SpecError::Syntax { .. }
            | SpecError::UnknownKeywords { .. } => {
                "the connection string (not shown: it could not be parsed)".to_owned()
            }
            _ => "the server named by the connection settings".to_owned(),
        }
    }
}

fn unknown_keywords(names: &[String], hidden: bool) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    let mut message = match quoted.len() {
        0 => String::new(),
        1 => format!("invalid connection option {}", quoted[0]),
        _ => format!("invalid connection options {}", quoted.join(", ")),
    };
    if hidden {
        if !message.is_empty() {
            message.push_str("; ");
        }
        message.push_str(
            "a word after `password=` is no connection option (not shown: a password with \
             spaces must be quoted, password='…')",
        );
    }
    message
}

fn allowed(values: &[&str]) -> String {
    match values {
        [] => String::new(),
        _ => format!(" except as {}", values.join(" or ")),
    }
}

/// The services that did not match, a few of them: enough to see a misspelt glob.
struct Found<'a>(&'a [String]);

impl fmt::Display for Found<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 10;
        if self.0.is_empty() {
            return write!(f, " (no service is defined)");
        }
        let names: Vec<String> = self
            .0
            .iter()
            .take(SHOWN)
            .map(|n| format!("`{n}`"))
            .collect();
        write!(f, " (services: {}", names.join(", "))?;
        if self.0.len() > SHOWN {
            write!(f, " and {} more", self.0.len() - SHOWN)?;
        }
        write!(f, ")")
    }
}

/// The service files looked at, each with whether it exists.
struct Looked<'a>(&'a [(PathBuf, bool)]);

impl fmt::Display for Looked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (file, exists)) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "`{}`", file.display())?;
            if !exists {
                write!(f, " (does not exist)")?;
            }
        }
        if self.0.is_empty() {
            write!(f, "no file (no home directory)")?;
        }
        Ok(())
    }
}
