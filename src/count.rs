//! `N thing(s)`: how every count a person reads is written — reports, messages, and the
//! playbooks' own text through the `plural` template filter — so that no output says
//! "1 sessions" or "2 query".
//!
//! English plurals are regular enough for the nouns a runbook counts (session, query,
//! refresh, transaction, row, step); the rare exception is given in full.

/// `1 session`, `3 sessions`, `0 queries`, `2 refreshes`.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {}", singular(noun))
    } else {
        format!("{n} {}", plural(noun))
    }
}

/// `1 row`/`2 rows`, when the caller's number is a `usize`.
pub fn count_usize(n: usize, noun: &str) -> String {
    count(u64::try_from(n).unwrap_or(u64::MAX), noun)
}

/// The plural of `noun`: `queries`, `refreshes`, `sessions`; a noun already plural or given
/// as `singular|plural` (`person|people`) is taken as written.
pub fn plural(noun: &str) -> String {
    if let Some((_, plural)) = noun.split_once('|') {
        return plural.to_owned();
    }
    let consonant_y = noun.strip_suffix('y').is_some_and(|stem| {
        stem.chars()
            .last()
            .is_some_and(|c| c.is_alphabetic() && !"aeiouAEIOU".contains(c))
    });
    if consonant_y {
        format!("{}ies", &noun[..noun.len() - 1])
    } else if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|end| noun.ends_with(end))
    {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    }
}

/// The singular of a `singular|plural` pair, or the noun as written.
pub fn singular(noun: &str) -> &str {
    noun.split_once('|').map_or(noun, |(one, _)| one)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agree_with_their_number() {
        for (n, noun, text) in [
            (0, "session", "0 sessions"),
            (1, "session", "1 session"),
            (2, "session", "2 sessions"),
            (1, "query", "1 query"),
            (3, "query", "3 queries"),
            (2, "refresh", "2 refreshes"),
            (2, "day", "2 days"),
            (2, "box", "2 boxes"),
            (2, "person|people", "2 people"),
        ] {
            assert_eq!(count(n as u64, noun), text);
        }
        assert_eq!(count(1_u64, "person|people"), "1 person");
    }
}
