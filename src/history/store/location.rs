//! Which store `--history` names: a `postgres://` (or `postgresql://`) URL is a shared
//! PostgreSQL store, anything else a path to an SQLite file; without it, this user's own file
//! under `$XDG_STATE_HOME/runbook/` (the XDG base directories' place for state that outlives a
//! run but is no document), else `~/.local/state/runbook/`.
//!
//! Only URLs are taken as PostgreSQL: a keyword string (`host=db1 dbname=ops`) could be a
//! file's name too, and a history written to a file named after a server is a surprise found
//! too late.

use std::path::PathBuf;

/// Where the runs are remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database, by its connection URL (the password, if any, never shown).
    Postgres(String),
}

impl Location {
    /// The store `--history` names, or the default one (`None`); an error when there is no
    /// default (neither `XDG_STATE_HOME` nor `HOME` is set).
    pub fn of(argument: Option<&str>) -> Result<Location, String> {
        match argument {
            Some(url) if is_url(url) => Ok(Location::Postgres(url.to_owned())),
            Some(path) => Ok(Location::Sqlite(PathBuf::from(path))),
            None => default_path().map(Location::Sqlite),
        }
    }
}

fn is_url(argument: &str) -> bool {
    ["postgres://", "postgresql://"]
        .iter()
        .any(|scheme| argument.starts_with(scheme))
}

/// `$XDG_STATE_HOME/runbook/history.sqlite`, else `~/.local/state/runbook/history.sqlite`. A
/// relative `XDG_STATE_HOME` is ignored, as the XDG specification asks.
pub fn default_path() -> Result<PathBuf, String> {
    let absolute = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    let state = match absolute("XDG_STATE_HOME") {
        Some(state) => state,
        None => absolute("HOME")
            .map(|home| home.join(".local").join("state"))
            .ok_or_else(|| {
                "no default history store: neither XDG_STATE_HOME nor HOME is set; give \
                 `--history PATH` or `--no-history`"
                    .to_owned()
            })?,
    };
    Ok(state.join("runbook").join("history.sqlite"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_postgres_and_everything_else_a_file() {
        assert_eq!(
            Location::of(Some("postgresql://ops@db/hist")),
            Ok(Location::Postgres("postgresql://ops@db/hist".to_owned()))
        );
        assert_eq!(
            Location::of(Some("host=db dbname=x")),
            Ok(Location::Sqlite(PathBuf::from("host=db dbname=x")))
        );
        assert_eq!(
            Location::of(Some("runs.sqlite")),
            Ok(Location::Sqlite(PathBuf::from("runs.sqlite")))
        );
    }
}
