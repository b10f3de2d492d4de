//! What names in a playbook may look like.
//!
//! Ids and param names become template paths (`steps.x`, `params.y`) and playbook names become
//! file names and advisory-lock keys, so they are held to a plain, portable spelling instead of
//! whatever YAML accepts.

/// `a_b`: lower-case letters, digits and `_`, starting with a letter.
pub(super) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

/// `daily-monitoring`: lower-case letters, digits, `-` and `_`.
pub(super) fn is_slug(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && name.len() <= 63
}

/// A file stem made into a name: `My Checks` becomes `my-checks`.
pub(super) fn slugify(stem: &str) -> String {
    let slug: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        "playbook".to_owned()
    } else {
        slug.chars().take(63).collect()
    }
}

/// `name` or `schema.name`, unquoted identifiers (what `to_regclass` reads without error).
pub(super) fn is_relation_name(name: &str) -> bool {
    let part = |p: &str| {
        let mut chars = p.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    let parts: Vec<&str> = name.split('.').collect();
    (1..=2).contains(&parts.len()) && parts.iter().all(|p| part(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_slugs() {
        assert!(is_identifier("idle_candidates"));
        assert!(!is_identifier("Idle"));
        assert!(!is_identifier("idle-candidates"));
        assert!(!is_identifier("1abc"));
        assert!(is_slug("daily-monitoring"));
        assert_eq!(slugify("My Checks.v2"), "my-checks-v2");
        assert_eq!(slugify("!!!"), "playbook");
    }

    #[test]
    fn relation_names() {
        assert!(is_relation_name("pg_tviews_queue"));
        assert!(is_relation_name("public.t$1"));
        assert!(!is_relation_name("a.b.c"));
        assert!(!is_relation_name("1t"));
        assert!(!is_relation_name(""));
    }
}
