//! The read-only policy: which statements, functions and clauses a check may not use, and the
//! phrase that says why.
//!
//! Kept apart from the walks that apply it (`judge` over the AST, `lex` over tokens) so the
//! policy reads as one list a reviewer can audit, and both judgements agree on it.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use sqlparser::ast::{CopyTarget, Statement};

/// What a statement or a listed function does that a check must not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Signals,
    ServerState,
    SessionSettings,
    SessionState,
    Writes,
    Files,
    AdvisoryLock,
    Lock,
    Xid,
    Remote,
    EscapesTransaction,
    Unchecked,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Effect::Signals => "signals another session",
            Effect::ServerState => "changes server state",
            Effect::SessionSettings => "changes session settings",
            Effect::SessionState => "changes session state",
            Effect::Writes => "writes to the database",
            Effect::Files => "writes files on the server",
            Effect::AdvisoryLock => "takes or releases an advisory lock",
            Effect::Lock => "takes a lock",
            Effect::Xid => "assigns a transaction id",
            Effect::Remote => "runs SQL on another server",
            Effect::EscapesTransaction => "would escape the check's read-only transaction",
            Effect::Unchecked => "runs code that cannot be checked",
        })
    }
}

/// Why SQL is not read-only: what a finding says, in lower case with names in backticks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Concern {
    /// A statement other than a query, `SHOW` or `EXPLAIN`: "`DELETE` writes to the database".
    #[error("`{name}` {effect}")]
    Statement { name: String, effect: Effect },
    /// A listed function: "`pg_terminate_backend` signals another session".
    #[error("`{name}` {effect}")]
    Function { name: &'static str, effect: Effect },
    #[error("a function name chosen by the template cannot be checked")]
    TemplatedFunction,
    /// A row-locking clause, `FOR UPDATE` and the like.
    #[error("`FOR {lock}` locks rows")]
    LocksRows { lock: String },
    #[error("`SELECT INTO` creates a table")]
    SelectInto,
    /// What the token fallback found in SQL sqlparser could not parse.
    #[error("check SQL could not be fully parsed and mentions `{name}`")]
    Unparsed { name: String },
}

/// Functions a check may not call, matched on the last part of the name,
/// grouped by what they do. Each string holds space-separated names.
const FUNCTIONS: &[(Effect, &str)] = &[
    // Send a signal to another backend.
    (
        Effect::Signals,
        "pg_terminate_backend pg_cancel_backend pg_log_backend_memory_contexts",
    ),
    // Administer the server: configuration, logs, WAL and recovery; create,
    // drop or advance replication slots (reading a logical slot consumes it);
    // throw away statistics other tools rely on.
    (
        Effect::ServerState,
        "pg_reload_conf pg_rotate_logfile pg_switch_wal pg_create_restore_point pg_promote \
         pg_wal_replay_pause pg_wal_replay_resume \
         pg_create_physical_replication_slot pg_create_logical_replication_slot \
         pg_drop_replication_slot pg_replication_slot_advance \
         pg_copy_physical_replication_slot pg_copy_logical_replication_slot \
         pg_logical_slot_get_changes pg_logical_slot_get_binary_changes \
         pg_stat_reset pg_stat_reset_shared pg_stat_reset_slru \
         pg_stat_reset_single_table_counters pg_stat_reset_single_function_counters \
         pg_stat_reset_replication_slot pg_stat_reset_subscription_stats \
         pg_stat_statements_reset",
    ),
    // Change settings of the session (and so of the engine's transaction).
    (Effect::SessionSettings, "set_config"),
    // Write data even from a SELECT: sequences, large objects, WAL, catalogs.
    (
        Effect::Writes,
        "nextval setval lo_import lo_unlink lo_create lo_creat lo_from_bytea lo_put \
         pg_logical_emit_message pg_import_system_collations",
    ),
    // Write the server's file system (large-object export, adminpack).
    (
        Effect::Files,
        "lo_export pg_file_write pg_file_rename pg_file_unlink",
    ),
    // Advisory locks live outside the data but still block other sessions.
    (
        Effect::AdvisoryLock,
        "pg_advisory_lock pg_advisory_lock_shared pg_advisory_xact_lock \
         pg_advisory_xact_lock_shared pg_try_advisory_lock pg_try_advisory_lock_shared \
         pg_try_advisory_xact_lock pg_try_advisory_xact_lock_shared \
         pg_advisory_unlock pg_advisory_unlock_shared pg_advisory_unlock_all",
    ),
    // Make the transaction take an xid, which a read-only check never needs.
    (Effect::Xid, "txid_current pg_current_xact_id"),
    // Remote side effects cannot be seen from here.
    (Effect::Remote, "dblink dblink_exec dblink_send_query"),
];

/// The listed function `name` refers to, as a finding; quoted names match case-sensitively,
/// as in PostgreSQL.
pub(super) fn listed_function(name: &str, quoted: bool) -> Option<Concern> {
    static BY_NAME: OnceLock<HashMap<&'static str, Effect>> = OnceLock::new();
    let by_name = BY_NAME.get_or_init(|| {
        FUNCTIONS
            .iter()
            .flat_map(|(effect, names)| names.split_whitespace().map(|name| (name, *effect)))
            .collect()
    });
    let lookup = |key: &str| {
        by_name
            .get_key_value(key)
            .map(|(name, effect)| Concern::Function {
                name,
                effect: *effect,
            })
    };
    if quoted || !name.bytes().any(|b| b.is_ascii_uppercase()) {
        lookup(name)
    } else {
        lookup(&name.to_ascii_lowercase())
    }
}

/// Words that start or mark a statement a check must not run, space-separated (for the
/// token fallback, which cannot tell statements apart).
const WRITE_KEYWORDS: &str = "INSERT UPDATE DELETE MERGE TRUNCATE COPY CREATE ALTER DROP GRANT \
    REVOKE COMMENT VACUUM ANALYZE CLUSTER REINDEX REFRESH LOCK CALL DO NOTIFY LISTEN CHECKPOINT \
    LOAD PREPARE EXECUTE DISCARD RESET BEGIN COMMIT ROLLBACK SAVEPOINT SECURITY IMPORT";

/// Whether `upper` (an unquoted word in upper case) is a write keyword.
pub(super) fn is_write_keyword(upper: &str) -> bool {
    WRITE_KEYWORDS.split_whitespace().any(|w| w == upper)
}

/// How a statement is judged.
pub(super) enum Verdict {
    Allowed,
    /// Allowed, and its inner statements are not run either (plain `EXPLAIN`).
    Opaque,
    Denied(Effect),
}

pub(super) fn verdict(statement: &Statement) -> Verdict {
    use Statement as S;
    match statement {
        // PostgreSQL's only SHOW; sqlparser's other SHOW forms are rejected by the server anyway.
        S::Query(_) | S::ShowVariable { .. } => Verdict::Allowed,
        S::Copy {
            to: true,
            target: CopyTarget::Stdout,
            ..
        } => Verdict::Allowed,
        S::Explain { .. } if explain_runs(statement) => Verdict::Allowed,
        S::Explain { .. } => Verdict::Opaque,
        S::StartTransaction { .. }
        | S::Commit { .. }
        | S::Rollback { .. }
        | S::Savepoint { .. }
        | S::ReleaseSavepoint { .. } => Verdict::Denied(Effect::EscapesTransaction),
        S::Set(_)
        | S::Reset(_)
        | S::Discard { .. }
        | S::Prepare { .. }
        | S::Deallocate { .. }
        | S::LISTEN { .. }
        | S::UNLISTEN { .. }
        | S::Declare { .. }
        | S::Fetch { .. }
        | S::Close { .. } => Verdict::Denied(Effect::SessionState),
        S::NOTIFY { .. } | S::Kill { .. } => Verdict::Denied(Effect::Signals),
        S::Lock(_) | S::LockTables { .. } => Verdict::Denied(Effect::Lock),
        S::Call(_) | S::Execute { .. } => Verdict::Denied(Effect::Unchecked),
        S::Copy { to: true, .. } => Verdict::Denied(Effect::Files),
        _ => Verdict::Denied(Effect::Writes),
    }
}

/// Whether an `EXPLAIN` runs its statement (`ANALYZE`, or the `analyze` option not set off),
/// which is then judged like any other.
fn explain_runs(statement: &Statement) -> bool {
    let Statement::Explain {
        analyze, options, ..
    } = statement
    else {
        return false;
    };
    let analyze_option = options.iter().flatten().any(|o| {
        o.name.value.eq_ignore_ascii_case("analyze")
            && !o.arg.as_ref().is_some_and(|a| {
                matches!(
                    a.to_string().to_ascii_lowercase().as_str(),
                    "false" | "off" | "0"
                )
            })
    });
    *analyze || analyze_option
}

/// The statement's kind in upper case, as written (`DELETE`, `CREATE`, `START TRANSACTION`).
pub(super) fn statement_name(statement: &Statement) -> String {
    if let Statement::StartTransaction { begin: false, .. } = statement {
        return "START TRANSACTION".to_owned();
    }
    let text = statement.to_string();
    text.split_whitespace()
        .next()
        .unwrap_or("statement")
        .to_ascii_uppercase()
}
