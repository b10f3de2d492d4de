//! The two spellings of a libpq connection string — `postgres://` URLs and `keyword=value`
//! pairs — read into keyword settings exactly as libpq's `conninfo_uri_parse_options` and
//! `conninfo_parse` read them (quoting, backslash escapes, percent-decoding, query parameters).
//!
//! Two deliberate differences, both to keep a misread password out of the target's name:
//! a text that is neither a URL nor has an `=` is an error (libpq would take `localhost:5432`
//! as a database name), and a URL whose host or database name holds an `@` is an error (libpq
//! would read `postgres://u:pa/ss@host/db` as host `u`, port `pa`, database `ss@host/db`).

use std::iter::Peekable;
use std::str::Chars;

use super::SpecError;
use super::keywords::{Settings, Source, keyword};

/// Reads a connection string: a URL, keyword/value pairs, or nothing (all defaults).
pub(super) fn parse(text: &str) -> Result<Settings, SpecError> {
    if let Some(rest) = ["postgresql://", "postgres://"]
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix))
    {
        url(rest)
    } else if text.contains('=') {
        pairs(text)
    } else if text.trim().is_empty() {
        Ok(Settings::default())
    } else {
        Err(SpecError::NotAConnString)
    }
}

fn syntax(message: &str) -> SpecError {
    SpecError::Syntax {
        message: message.to_owned(),
    }
}

/// Keywords that are not libpq's, collected to be named all at once.
#[derive(Default)]
struct Unknown {
    names: Vec<String>,
    hidden: bool,
}

impl Unknown {
    /// Sets `name` to `value`, or notes it as unknown. A word right after a password is not
    /// named: it is likely the rest of a password with a space in it.
    fn set(&mut self, settings: &mut Settings, name: &str, value: String, after_password: bool) {
        match keyword(name) {
            Some(keyword) => settings.set(keyword, value, Source::ConnString),
            None if after_password => self.hidden = true,
            None => self.names.push(name.to_owned()),
        }
    }

    fn check(self) -> Result<(), SpecError> {
        if self.names.is_empty() && !self.hidden {
            Ok(())
        } else {
            Err(SpecError::UnknownKeywords {
                names: self.names,
                hidden: self.hidden,
            })
        }
    }
}

/// `host=db1 port = 5432 dbname='my db' password='it\'s'`.
fn pairs(text: &str) -> Result<Settings, SpecError> {
    let mut settings = Settings::default();
    let mut unknown = Unknown::default();
    let mut chars = text.chars().peekable();
    let mut after_password = false;
    loop {
        skip_spaces(&mut chars);
        if chars.peek().is_none() {
            break;
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            name.push(c);
            chars.next();
        }
        skip_spaces(&mut chars);
        if chars.next() != Some('=') {
            // Only a keyword libpq knows is named: the word may be part of a password.
            return Err(match keyword(&name) {
                Some(keyword) => syntax(&format!("missing `=` after `{}`", keyword.name)),
                None => syntax("a word without `=` (not shown)"),
            });
        }
        skip_spaces(&mut chars);
        let value = value(&mut chars)?;
        unknown.set(&mut settings, &name, value, after_password);
        after_password = name == "password";
    }
    unknown.check()?;
    Ok(settings)
}

fn skip_spaces(chars: &mut Peekable<Chars<'_>>) {
    while chars.next_if(|c| c.is_whitespace()).is_some() {}
}

/// A value: up to the next space, or between single quotes; a backslash takes the next
/// character as it is.
fn value(chars: &mut Peekable<Chars<'_>>) -> Result<String, SpecError> {
    let mut value = String::new();
    if chars.next_if_eq(&'\'').is_some() {
        loop {
            match chars.next() {
                None => return Err(syntax("unterminated quoted string")),
                Some('\\') => match chars.next() {
                    Some(c) => value.push(c),
                    None => return Err(syntax("unterminated quoted string")),
                },
                Some('\'') => return Ok(value),
                Some(c) => value.push(c),
            }
        }
    }
    while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
        if c == '\\' {
            value.extend(chars.next());
        } else {
            value.push(c);
        }
    }
    Ok(value)
}

/// The rest of a URL after `postgres://`: `[user[:password]@][host][:port][,...][/dbname][?k=v&...]`.
fn url(rest: &str) -> Result<Settings, SpecError> {
    let mut settings = Settings::default();
    let set = |settings: &mut Settings, name: &str, raw: &str| -> Result<(), SpecError> {
        if let Some(keyword) = keyword(name) {
            settings.set(keyword, decode(raw)?, Source::ConnString);
        }
        Ok(())
    };
    // libpq looks for the user info up to the first `/`, not the first `?`.
    let rest = match rest.find(['@', '/']) {
        Some(at) if rest[at..].starts_with('@') => {
            let (user, password) = match rest[..at].split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (&rest[..at], None),
            };
            if !user.is_empty() {
                set(&mut settings, "user", user)?;
            }
            if let Some(password) = password.filter(|p| !p.is_empty()) {
                set(&mut settings, "password", password)?;
            }
            &rest[at + 1..]
        }
        _ => rest,
    };
    let (hosts, ports, rest) = hosts(rest)?;
    if !hosts.is_empty() {
        set(&mut settings, "host", &hosts)?;
    }
    if !ports.is_empty() {
        set(&mut settings, "port", &ports)?;
    }
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    if let Some(dbname) = path.strip_prefix('/').filter(|d| !d.is_empty()) {
        set(&mut settings, "dbname", dbname)?;
    }
    for name in ["host", "dbname"] {
        if settings.get(name).is_some_and(|s| s.value.contains('@')) {
            return Err(syntax(
                "an `@` after the host: a `/`, `@` or `?` in the user name or password must be \
                 percent-encoded (`%2F`, `%40`, `%3F`)",
            ));
        }
    }
    if let Some(query) = query {
        parameters(query, &mut settings)?;
    }
    Ok(settings)
}

/// The host list and the port list (`h1,h2` and `p1,p2`, as libpq joins them), and what
/// follows them (`/dbname?…`).
fn hosts(mut rest: &str) -> Result<(String, String, &str), SpecError> {
    let (mut hosts, mut ports) = (String::new(), String::new());
    loop {
        let end = if let Some(inner) = rest.strip_prefix('[') {
            let close = inner
                .find(']')
                .ok_or_else(|| syntax("an IPv6 address without its closing `]`"))?;
            if close == 0 {
                return Err(syntax("an empty IPv6 address `[]`"));
            }
            hosts.push_str(&inner[..close]);
            rest = &inner[close + 1..];
            if !rest.is_empty() && !rest.starts_with([':', '/', '?', ',']) {
                return Err(syntax(
                    "an unexpected character after an IPv6 address (expected `:` or `/`)",
                ));
            }
            0
        } else {
            rest.find([':', '/', '?', ',']).unwrap_or(rest.len())
        };
        hosts.push_str(&rest[..end]);
        rest = &rest[end..];
        if let Some(after) = rest.strip_prefix(':') {
            let end = after.find(['/', '?', ',']).unwrap_or(after.len());
            ports.push_str(&after[..end]);
            rest = &after[end..];
        }
        match rest.strip_prefix(',') {
            Some(after) => {
                rest = after;
                hosts.push(',');
                ports.push(',');
            }
            None => return Ok((hosts, ports, rest)),
        }
    }
}

/// `?key=value&…`: each key a keyword (`ssl=true` is `sslmode=require`, as in libpq).
fn parameters(query: &str, settings: &mut Settings) -> Result<(), SpecError> {
    let mut unknown = Unknown::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(syntax("a URL query parameter without `=` (not shown)"));
        };
        if value.contains('=') {
            return Err(syntax(
                "a URL query parameter with a second `=` (percent-encode it as `%3D`)",
            ));
        }
        let (name, value) = (decode(name)?, decode(value)?);
        let (name, value) = match (name.as_str(), value.as_str()) {
            ("ssl", "true") => ("sslmode".to_owned(), "require".to_owned()),
            _ => (name, value),
        };
        unknown.set(settings, &name, value, false);
    }
    unknown.check()
}

/// Percent-decoding as libpq does it: `%` takes exactly two hex digits, `%00` is refused; the
/// text must be UTF-8. Never quotes the text.
fn decode(text: &str) -> Result<String, SpecError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = text
                .get(i + 1..i + 3)
                .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| syntax("an invalid percent-encoded token in the URL (not shown)"))?;
            if byte == 0 {
                return Err(syntax("a forbidden `%00` in the URL"));
            }
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| syntax("a percent-encoded value that is not UTF-8"))
}
