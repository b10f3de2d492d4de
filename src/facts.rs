//! The names of the facts the engine gathers once per run, in scope as `facts.<name>`.
//!
//! Validation checks `facts.x` against this list, `show` documents it, and the engine fills
//! exactly these names, so the three cannot drift apart.

/// Every fact: name and meaning.
pub const FACTS: &[(&str, &str)] = &[
    ("server_version", "major version of the server, e.g. 15"),
    ("server_version_num", "full version number, e.g. 150019"),
    ("current_user", "the role the engine is connected as"),
    ("superuser", "whether that role is a superuser"),
    ("database", "the database the engine is connected to"),
    ("max_connections", "the `max_connections` setting"),
    (
        "superuser_reserved_connections",
        "the `superuser_reserved_connections` setting",
    ),
    (
        "reserved_connections",
        "the `reserved_connections` setting (PostgreSQL 16+; 0 before)",
    ),
    (
        "usable_connections",
        "connection slots open to ordinary roles: `max_connections` minus the reserved ones",
    ),
    (
        "extensions",
        "names of the extensions installed in the database",
    ),
    ("in_recovery", "whether the server is a standby in recovery"),
    (
        "backend_pid",
        "the engine's own backend pid (never signalled)",
    ),
    (
        "backend_start",
        "when the engine's own session started (with `backend_pid`, it names the session)",
    ),
    (
        "server_started",
        "when the server last started (`pg_postmaster_start_time()`)",
    ),
    (
        "can_read_all_stats",
        "whether the role sees other roles' sessions' state and query (the privileges of `pg_read_all_stats`, or superuser)",
    ),
    (
        "can_signal_backend",
        "whether the role may signal other roles' sessions (the privileges of `pg_signal_backend`, or superuser)",
    ),
];

pub fn is_fact(name: &str) -> bool {
    FACTS.iter().any(|(fact, _)| *fact == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    FACTS.iter().map(|(name, _)| *name)
}
