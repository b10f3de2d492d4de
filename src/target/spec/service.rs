//! Service files (`pg_service.conf`) as libpq reads them: `PGSERVICEFILE`, else
//! `~/.pg_service.conf`, then `$PGSYSCONFDIR/pg_service.conf`; the first file that has the
//! service gives its settings, which fill only what the connection string left unset.
//!
//! The syntax is libpq's, strictly: lines are trimmed, `#` starts a comment line, `[name]`
//! opens a service, `key=value` sets a keyword — with no spaces around `=` (libpq reads
//! `host = db1` as the keyword `host `, an error) and no quoting. A service that is named and
//! found nowhere is an error listing the files: never a fall-back to the defaults.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::keywords::{Settings, Source, keyword};
use super::{Environment, SpecError};

/// Where Debian's libpq looks when `PGSYSCONFDIR` is not set (`pg_config --sysconfdir`).
pub(super) const DEFAULT_SYSCONFDIR: &str = "/etc/postgresql-common";

/// The files looked at for a service, in libpq's order.
fn files(env: &Environment) -> Vec<PathBuf> {
    let mut files = Vec::new();
    match env.var("PGSERVICEFILE") {
        Some(file) => files.push(PathBuf::from(file)),
        None => files.extend(env.home.as_ref().map(|h| h.join(".pg_service.conf"))),
    }
    let sysconfdir = env.var("PGSYSCONFDIR").unwrap_or(DEFAULT_SYSCONFDIR);
    files.push(Path::new(sysconfdir).join("pg_service.conf"));
    files
}

/// Every service the files define, in file order; a name defined again in a later file is the
/// earlier one (libpq reads the first), so it is listed once, and `[]` names none (no
/// `service=` can name it). A `--service GLOB` fleet is cut from these.
pub(crate) fn names(env: &Environment) -> Result<Vec<String>, SpecError> {
    let mut names: Vec<String> = Vec::new();
    for file in files(env) {
        let text = match fs::read_to_string(&file) {
            Ok(text) => text,
            Err(error) if error.kind() == ErrorKind::NotFound => continue,
            Err(error) => return Err(SpecError::ServiceUnreadable { file, error }),
        };
        for line in text.lines() {
            let line = line.trim();
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']'))
                && !name.is_empty()
                && !names.iter().any(|known| known == name)
            {
                names.push(name.to_owned());
            }
        }
    }
    Ok(names)
}

/// The files a service is looked for in, each with whether it exists: for an error that says
/// where nothing was found.
pub(crate) fn looked(env: &Environment) -> Vec<(PathBuf, bool)> {
    files(env)
        .into_iter()
        .map(|file| {
            let exists = file.exists();
            (file, exists)
        })
        .collect()
}

/// Fills `settings` with service `name`'s entries from the first file that defines it.
pub(super) fn apply(
    name: &str,
    env: &Environment,
    settings: &mut Settings,
) -> Result<(), SpecError> {
    let mut looked = Vec::new();
    for file in files(env) {
        let text = match fs::read_to_string(&file) {
            Ok(text) => text,
            Err(error) if error.kind() == ErrorKind::NotFound => {
                looked.push((file, false));
                continue;
            }
            Err(error) => return Err(SpecError::ServiceUnreadable { file, error }),
        };
        if let Some(entries) = entries(&text, name, &file)? {
            for (line, keyword, value) in entries {
                let source = Source::Service {
                    file: file.clone(),
                    line,
                };
                settings.fill(keyword, value, source);
            }
            return Ok(());
        }
        looked.push((file, true));
    }
    Err(SpecError::ServiceNotFound {
        name: name.to_owned(),
        looked,
    })
}

type Entry = (usize, &'static super::keywords::Keyword, String);

/// The entries of service `name` in `text` (with their line numbers), if `text` defines it.
fn entries(text: &str, name: &str, file: &Path) -> Result<Option<Vec<Entry>>, SpecError> {
    let error = |line: usize, message: &str| SpecError::ServiceSyntax {
        file: file.to_owned(),
        line,
        message: message.to_owned(),
    };
    let mut found: Option<Vec<Entry>> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(group) = line.strip_prefix('[') {
            if found.is_some() {
                // The service's section ends at the next one.
                break;
            }
            if group.strip_suffix(']') == Some(name) {
                found = Some(Vec::new());
            }
            continue;
        }
        let Some(entries) = found.as_mut() else {
            continue;
        };
        let Some((key, value)) = line.split_once('=') else {
            return Err(error(number, "expected `keyword=value`"));
        };
        if key == "service" {
            return Err(error(
                number,
                "nested service specifications are not supported",
            ));
        }
        let Some(keyword) = keyword(key) else {
            let message = if key.trim() != key {
                "no spaces around `=` (libpq reads them as part of the keyword)".to_owned()
            } else {
                format!("invalid connection option \"{key}\"")
            };
            return Err(error(number, &message));
        };
        entries.push((number, keyword, value.to_owned()));
    }
    Ok(found)
}
