//! Which functions a check may call: an allow-list, not a deny-list.
//!
//! A deny-list can only name what its authors thought of; every extension (`pg_cron`'s
//! `cron.schedule`, `dblink`, a team's own `kill_idle()`) adds functions it has never heard of,
//! and a check that calls one runs it with the engine's privileges. So a check may call the
//! built-in functions PostgreSQL marks IMMUTABLE or STABLE, and a reviewed handful of VOLATILE
//! ones that only read (`clock_timestamp`, `pg_is_in_recovery`, `pg_sleep`...), listed in
//! `allowed_functions.txt`, which `scripts/allowed-functions` generates from `pg_proc`. Anything
//! else must be opted in by the step (`functions: [monitoring.bloat]`), so a reviewer sees it
//! in the playbook. The deny-list (`policy`) still wins over both, and names the reason.
//!
//! Names are matched as PostgreSQL resolves them: `pg_catalog.now` is `now`; an unqualified
//! name is a built-in (pg_catalog comes first on the search path); `public.now` is not.

use std::collections::HashSet;
use std::sync::OnceLock;

use super::policy::{Concern, denied_function};

/// The generated list: one name a line, `information_schema.` names qualified.
const ALLOWED: &str = include_str!("allowed_functions.txt");

/// The functions a step opted in to, as parsed names (`schema.name`, lower case unless quoted).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct OptIn<'a>(pub &'a [String]);

/// The name PostgreSQL would resolve for an opt-in entry written in a playbook: unquoted
/// parts are folded to lower case, `pg_catalog.` is dropped. `None` when it is not a plain
/// `name` or `schema.name` of identifiers.
pub(crate) fn opt_in_name(written: &str) -> Option<String> {
    let parts: Vec<&str> = written.split('.').collect();
    let plain = |part: &&str| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    if parts.len() > 2 || !parts.iter().all(plain) {
        return None;
    }
    let name = written.to_ascii_lowercase();
    Some(match name.strip_prefix("pg_catalog.") {
        Some(bare) => bare.to_owned(),
        None => name,
    })
}

/// The finding for a call of the function named `parts` (parsed, case-folded), if any.
pub(super) fn judge_call(parts: &[&str], opt_in: OptIn<'_>) -> Option<Concern> {
    let (last, schema) = parts.split_last()?;
    if let Some(concern) = denied_function(last) {
        return Some(concern);
    }
    let name = match schema {
        [] | ["pg_catalog"] => (*last).to_owned(),
        _ => parts.join("."),
    };
    if allowed().contains(name.as_str()) || opt_in.0.contains(&name) {
        return None;
    }
    Some(Concern::UnknownFunction { name })
}

/// The finding for a field selection `x.name`, which PostgreSQL may read as the call
/// `name(x)`: only denied names are findings, since most fields are columns.
pub(super) fn judge_field(name: &str) -> Option<Concern> {
    denied_function(name)
}

fn allowed() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| ALLOWED.lines().map(str::trim).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::policy::denied_names;

    #[test]
    fn no_function_is_both_allowed_and_denied() {
        let both: Vec<&str> = denied_names().filter(|n| allowed().contains(n)).collect();
        assert_eq!(both, Vec::<&str>::new());
    }

    /// The list is PostgreSQL's own names: each one exists in the local server's `pg_proc`.
    #[test]
    fn allowed_functions_exist_in_pg_proc() {
        let output = std::process::Command::new("psql")
            .args(["-X", "-A", "-t", "-h", "/var/run/postgresql", "-d", "postgres"])
            .args(["-c", "SELECT CASE n.nspname WHEN 'pg_catalog' THEN proname ELSE n.nspname || '.' || proname END FROM pg_proc p JOIN pg_namespace n ON n.oid = pronamespace"])
            .output()
            .expect("psql runs (CI has a PostgreSQL server)");
        assert!(output.status.success(), "psql failed: {output:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        let known: HashSet<&str> = text.lines().collect();
        let missing: Vec<&&str> = allowed().iter().filter(|n| !known.contains(**n)).collect();
        assert!(missing.is_empty(), "not in pg_proc: {missing:?}");
    }

    #[test]
    fn calls_are_judged_by_their_resolved_name() {
        let none = OptIn(&[]);
        assert_eq!(judge_call(&["now"], none), None);
        assert_eq!(judge_call(&["pg_catalog", "now"], none), None);
        let unknown = |name: &str| {
            Some(Concern::UnknownFunction {
                name: name.to_owned(),
            })
        };
        assert_eq!(judge_call(&["public", "now"], none), unknown("public.now"));
        assert_eq!(judge_call(&["bloat"], none), unknown("bloat"));
        let opted = ["monitoring.bloat".to_owned()];
        assert_eq!(judge_call(&["monitoring", "bloat"], OptIn(&opted)), None);
        assert_eq!(judge_call(&["bloat"], OptIn(&opted)), unknown("bloat"));
        let kill = ["pg_terminate_backend".to_owned()];
        assert!(matches!(
            judge_call(&["pg_terminate_backend"], OptIn(&kill)),
            Some(Concern::Function { .. })
        ));
    }

    #[test]
    fn opt_in_names_are_folded_like_postgres() {
        assert_eq!(
            opt_in_name("Monitoring.Bloat").as_deref(),
            Some("monitoring.bloat")
        );
        assert_eq!(opt_in_name("pg_catalog.now").as_deref(), Some("now"));
        assert_eq!(opt_in_name("my_fn").as_deref(), Some("my_fn"));
        for bad in ["", "a.b.c", "\"Quoted\"", "f()", "1abc", "a..b"] {
            assert_eq!(opt_in_name(bad), None, "{bad:?}");
        }
    }
}
