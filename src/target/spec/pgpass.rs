//! The password file (`passfile`, `PGPASSFILE`, else `~/.pgpass`) as libpq reads it, matched
//! against the resolved host, port, database and user.
//!
//! sqlx reads it too, but with the host, port and user it had before runbook set them (the
//! environment's), so a spec resolved here looks its password up here; sqlx is given the
//! options without its own look-up.
//!
//! As in libpq: `*` matches anything, `\` escapes `:` and `\`, the first match wins, a socket in
//! the default directory matches `localhost`, and a file that the group or others may read is
//! ignored with a warning.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// What a line is matched against.
pub(super) struct Lookup<'a> {
    pub host: &'a str,
    pub port: &'a str,
    pub dbname: &'a str,
    pub user: &'a str,
}

/// The password for `lookup` in `file`, and a warning when the file had to be ignored.
pub(super) fn password(file: &Path, lookup: &Lookup<'_>) -> (Option<String>, Option<String>) {
    let Ok(metadata) = fs::metadata(file) else {
        return (None, None);
    };
    if !metadata.is_file() {
        let warning = format!("password file `{}` is not a plain file", file.display());
        return (None, Some(warning));
    }
    if metadata.permissions().mode() & 0o077 != 0 {
        let warning = format!(
            "password file `{}` has group or world access; permissions should be u=rw (0600) \
             or less",
            file.display()
        );
        return (None, Some(warning));
    }
    let Ok(text) = fs::read_to_string(file) else {
        return (None, None);
    };
    (find(&text, lookup), None)
}

fn find(text: &str, lookup: &Lookup<'_>) -> Option<String> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .find_map(|line| {
            let rest = field(line, lookup.host)?;
            let rest = field(rest, lookup.port)?;
            let rest = field(rest, lookup.dbname)?;
            let rest = field(rest, lookup.user)?;
            Some(unescape(rest))
        })
}

/// The rest of `line` after its first field, when that field is `*` or equals `wanted`.
fn field<'a>(line: &'a str, wanted: &str) -> Option<&'a str> {
    if let Some(rest) = line.strip_prefix("*:") {
        return Some(rest);
    }
    let mut wanted = wanted.chars();
    let mut chars = line.char_indices();
    while let Some((i, c)) = chars.next() {
        let (c, escaped) = match c {
            '\\' => match chars.next() {
                Some((_, next)) => (next, true),
                None => return None,
            },
            c => (c, false),
        };
        if c == ':' && !escaped {
            return wanted.next().is_none().then(|| &line[i + 1..]);
        }
        if wanted.next() != Some(c) {
            return None;
        }
    }
    None
}

/// The password field: up to an unescaped `:` or the end, `\` taking the next character.
fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        match c {
            ':' => break,
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(host: &'a str, dbname: &'a str) -> Lookup<'a> {
        Lookup {
            host,
            port: "5432",
            dbname,
            user: "alice",
        }
    }

    #[test]
    fn lines_match_by_field_with_wildcards_and_escapes() {
        let text = "# a comment\n\
                    db\\:1:5432:app:alice:first\n\
                    db2:*:*:alice:it\\:s\\\\x:ignored\n\
                    *:5432:*:*:fallback\n";
        let cases = [
            (lookup("db:1", "app"), Some("first")),
            (lookup("db2", "other"), Some("it:s\\x")),
            (lookup("db3", "app"), Some("fallback")),
            (lookup("db:1", "other"), Some("fallback")),
        ];
        for (lookup, expected) in cases {
            assert_eq!(find(text, &lookup).as_deref(), expected, "{}", lookup.host);
        }
        let other_port = Lookup {
            port: "5433",
            ..lookup("db3", "app")
        };
        assert_eq!(find(text, &other_port), None);
    }

    #[test]
    fn a_file_others_may_read_is_ignored_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        fs::write(&file, "*:*:*:*:secret\n").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        let (password, warning) = password(&file, &lookup("h", "d"));
        assert_eq!(password, None);
        assert!(warning.unwrap().contains("has group or world access"));
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
        let (password, warning) = super::password(&file, &lookup("h", "d"));
        assert_eq!((password.as_deref(), warning), (Some("secret"), None));
    }
}
