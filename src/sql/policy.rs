//! The read-only policy: which statements and functions a check may not use, and the phrase
//! that says why.
//!
//! Kept apart from the walk that applies it (`judge`) so the policy reads as lists a reviewer
//! can audit. Functions are judged against an allow-list (`functions`); the deny-list here
//! names the built-ins (and well-known extension functions) that must never run in a check,
//! whatever the step opts in to, and gives each a reason.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use pg_query::NodeEnum;
use pg_query::protobuf::TransactionStmtKind;

/// What a statement or a denied function does that a check must not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Signals,
    ServerState,
    SessionSettings,
    SessionState,
    Writes,
    Files,
    ReadsFiles,
    AdvisoryLock,
    Lock,
    Xid,
    Remote,
    RunsSqlText,
    CopyProtocol,
    EscapesTransaction,
    EndsTransaction,
    RunsProgram,
    ChangesHowSqlReads,
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
            Effect::ReadsFiles => "reads files on the server",
            Effect::AdvisoryLock => "takes or releases an advisory lock",
            Effect::Lock => "takes a lock",
            Effect::Xid => "assigns a transaction id",
            Effect::Remote => "runs SQL on another server",
            Effect::RunsSqlText => "runs SQL text that cannot be checked",
            Effect::CopyProtocol => "switches the connection to the COPY protocol",
            Effect::EscapesTransaction => "would escape the check's read-only transaction",
            Effect::EndsTransaction => "would end the transaction the engine runs the action in",
            Effect::RunsProgram => "runs a program on the server",
            Effect::ChangesHowSqlReads => {
                "changes how the server reads the SQL sent after it (`SET LOCAL search_path` is allowed)"
            }
            Effect::Unchecked => "runs code that cannot be checked",
        })
    }
}

/// Why SQL may not be sent as a check: what a finding says, in lower case with names in
/// backticks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Concern {
    /// A statement other than a query, `SHOW` or plain `EXPLAIN`: "`DELETE` writes to the database".
    #[error("`{name}` {effect}")]
    Statement { name: String, effect: Effect },
    /// A denied function: "`pg_terminate_backend` signals another session".
    #[error("`{name}` {effect}")]
    Function { name: &'static str, effect: Effect },
    /// A function neither built in and read-only nor opted in by the step.
    #[error(
        "`{name}` is not a built-in read-only function; if it only reads, list it in the step's `functions`"
    )]
    UnknownFunction { name: String },
    #[error("a function name chosen by the template cannot be checked")]
    TemplatedFunction,
    /// A row-locking clause, `FOR UPDATE` and the like.
    #[error("`FOR {lock}` locks rows")]
    LocksRows { lock: &'static str },
    #[error("`SELECT INTO` creates a table")]
    SelectInto,
    #[error("`EXPLAIN ANALYZE` runs the statement it explains")]
    ExplainAnalyze,
    #[error("there is no SQL statement")]
    NoStatement,
    /// Statements after the first: "a check is exactly one statement, this is statement 2 of 3".
    #[error("a check is exactly one statement; this is statement {index} of {count}")]
    SeveralStatements { index: usize, count: usize },
    /// Statements after the first of an action run outside a transaction block.
    #[error(
        "`transaction: false` runs exactly one statement, alone; this is statement {index} of {count}"
    )]
    SeveralOutsideTransaction { index: usize, count: usize },
    /// PostgreSQL's parser rejected the SQL; its message.
    #[error("the SQL does not parse: {message}")]
    Syntax { message: String },
    #[error("the SQL is nested too deeply to be judged (more than about {levels} levels)")]
    TooDeep { levels: usize },
    #[error("the SQL is {len} bytes long; the engine judges at most {max} bytes")]
    TooLong { len: usize, max: usize },
    #[error("a template tag splits the word `{word}`; rendering would join its parts")]
    TagSplitsWord { word: String },
}

impl Concern {
    /// Whether it is a call that signals another session.
    pub fn signals(&self) -> bool {
        matches!(
            self,
            Concern::Function {
                effect: Effect::Signals,
                ..
            }
        )
    }
}

/// Functions a check may not call, whatever the step opts in to, matched on the last part of
/// the name, grouped by what they do. Each string holds space-separated names.
const DENIED: &[(Effect, &str)] = &[
    (
        Effect::Signals,
        "pg_terminate_backend pg_cancel_backend pg_signal_backend pg_log_backend_memory_contexts \
         pg_notify",
    ),
    // Configuration, logs, WAL and recovery; replication slots and origins (reading a
    // logical slot consumes it); statistics other tools rely on.
    (
        Effect::ServerState,
        "pg_reload_conf pg_rotate_logfile pg_rotate_logfile_old pg_switch_wal \
         pg_create_restore_point pg_promote pg_wal_replay_pause pg_wal_replay_resume \
         pg_backup_start pg_backup_stop pg_start_backup pg_stop_backup \
         pg_create_physical_replication_slot pg_create_logical_replication_slot \
         pg_drop_replication_slot pg_replication_slot_advance \
         pg_copy_physical_replication_slot pg_copy_logical_replication_slot \
         pg_logical_slot_get_changes pg_logical_slot_get_binary_changes \
         pg_replication_origin_create pg_replication_origin_drop pg_replication_origin_advance \
         pg_replication_origin_session_setup pg_replication_origin_session_reset \
         pg_replication_origin_xact_setup pg_replication_origin_xact_reset \
         pg_stat_reset pg_stat_reset_shared pg_stat_reset_slru \
         pg_stat_reset_single_table_counters pg_stat_reset_single_function_counters \
         pg_stat_reset_replication_slot pg_stat_reset_subscription_stats \
         pg_stat_statements_reset pg_stat_force_next_flush pg_nextoid",
    ),
    (Effect::SessionSettings, "set_config"),
    (
        Effect::SessionState,
        "setseed pg_stat_clear_snapshot pg_export_snapshot",
    ),
    // Write data even from a SELECT: sequences, large objects, WAL, catalogs.
    (
        Effect::Writes,
        "nextval setval lo_import lo_unlink lo_create lo_creat lo_from_bytea lo_put lowrite \
         lo_truncate lo_truncate64 pg_logical_emit_message pg_import_system_collations \
         brin_summarize_range brin_summarize_new_values brin_desummarize_range \
         gin_clean_pending_list",
    ),
    // Write the server's file system (large-object export, adminpack).
    (
        Effect::Files,
        "lo_export pg_file_write pg_file_rename pg_file_unlink pg_file_sync pg_logdir_ls",
    ),
    (
        Effect::ReadsFiles,
        "pg_read_file pg_read_file_old pg_read_binary_file pg_stat_file pg_ls_dir pg_ls_logdir \
         pg_ls_waldir pg_ls_tmpdir pg_ls_archive_statusdir pg_ls_logicalmapdir \
         pg_ls_logicalsnapdir pg_ls_replslotdir",
    ),
    // Advisory locks live outside the data but still block other sessions.
    (
        Effect::AdvisoryLock,
        "pg_advisory_lock pg_advisory_lock_shared pg_advisory_xact_lock \
         pg_advisory_xact_lock_shared pg_try_advisory_lock pg_try_advisory_lock_shared \
         pg_try_advisory_xact_lock pg_try_advisory_xact_lock_shared \
         pg_advisory_unlock pg_advisory_unlock_shared pg_advisory_unlock_all",
    ),
    // A read-only check never needs an xid; taking one is a write to the xact log.
    (Effect::Xid, "txid_current pg_current_xact_id"),
    (
        Effect::Remote,
        "dblink dblink_exec dblink_send_query dblink_open dblink_fetch dblink_close \
         dblink_connect dblink_connect_u dblink_disconnect dblink_get_result dblink_cancel_query",
    ),
    // They run a query given as text, which the judge never sees.
    (
        Effect::RunsSqlText,
        "query_to_xml query_to_xmlschema query_to_xml_and_xmlschema cursor_to_xml \
         cursor_to_xmlschema table_to_xml table_to_xmlschema table_to_xml_and_xmlschema \
         schema_to_xml schema_to_xmlschema schema_to_xml_and_xmlschema database_to_xml \
         database_to_xmlschema database_to_xml_and_xmlschema ts_stat ts_rewrite",
    ),
];

/// The denied function `name` (a parsed name, already case-folded) refers to, as a finding.
pub(super) fn denied_function(name: &str) -> Option<Concern> {
    static BY_NAME: OnceLock<HashMap<&'static str, Effect>> = OnceLock::new();
    let by_name = BY_NAME.get_or_init(|| {
        let lists = DENIED.iter();
        lists
            .flat_map(|(effect, names)| names.split_whitespace().map(|name| (name, *effect)))
            .collect()
    });
    by_name
        .get_key_value(name)
        .map(|(name, effect)| Concern::Function {
            name,
            effect: *effect,
        })
}

/// The finding for an action calling `name` (a parsed name, case-folded), if any: an action
/// may change the server, but it may not signal sessions (`terminate:` and `cancel:` do that,
/// on the sessions the operator saw), nor run SQL text or remote SQL the judge cannot read.
pub(super) fn action_concern(name: &str) -> Option<Concern> {
    let concern = denied_function(name)?;
    let Concern::Function { name, effect } = concern else {
        return None;
    };
    let refused = match effect {
        Effect::Signals => matches!(
            name,
            "pg_terminate_backend" | "pg_cancel_backend" | "pg_signal_backend"
        ),
        Effect::RunsSqlText | Effect::Remote => true,
        // Any setting, `standard_conforming_strings` and `client_encoding` included, for the
        // rest of the session.
        Effect::SessionSettings => true,
        _ => false,
    };
    refused.then_some(concern)
}

/// How a top-level statement of an action is judged: its tree is walked for calls, except a
/// statement that ends the engine's transaction or runs code the judge cannot read.
pub(super) fn action_verdict(node: &NodeEnum) -> Verdict {
    use NodeEnum as N;
    let effect = match node {
        N::TransactionStmt(_) => Effect::EndsTransaction,
        N::DoStmt(_) => Effect::Unchecked,
        N::CopyStmt(copy) if copy.is_program => Effect::RunsProgram,
        N::VariableSetStmt(set) if changes_how_sql_reads(set) => Effect::ChangesHowSqlReads,
        _ => return Verdict::Query,
    };
    let name = match node {
        N::CopyStmt(_) => Some("COPY ... PROGRAM"),
        _ => statement_name(node),
    };
    Verdict::Denied { name, effect }
}

/// Whether a `SET`/`RESET` of an action changes, for the rest of the session, how the server
/// reads the SQL the engine sends next (which the judge reads as PostgreSQL does with
/// `standard_conforming_strings` on, in UTF-8, with `pg_catalog` first): `SET LOCAL
/// search_path` ends with the action's transaction and is allowed.
fn changes_how_sql_reads(set: &pg_query::protobuf::VariableSetStmt) -> bool {
    use pg_query::protobuf::VariableSetKind;
    if set.kind == VariableSetKind::VarResetAll as i32 {
        return true;
    }
    match set.name.to_ascii_lowercase().as_str() {
        "standard_conforming_strings"
        | "client_encoding"
        | "names"
        | "escape_string_warning"
        | "backslash_quote" => true,
        "search_path" => !set.is_local,
        _ => false,
    }
}

/// Every denied name, for the allow-list's consistency test.
#[cfg(test)]
pub(super) fn denied_names() -> impl Iterator<Item = &'static str> {
    DENIED
        .iter()
        .flat_map(|(_, names)| names.split_whitespace())
}

/// How a top-level statement is judged.
pub(super) enum Verdict {
    /// A query, whose tree is judged.
    Query,
    /// `SHOW`: nothing inside to judge.
    Show,
    /// Plain `EXPLAIN`: the inner statement is judged as if it were the check.
    Explain,
    ExplainAnalyze,
    /// A statement a check must not run; `name` is `None` when its first word names it.
    Denied {
        name: Option<&'static str>,
        effect: Effect,
    },
}

pub(super) fn verdict(node: &NodeEnum) -> Verdict {
    use NodeEnum as N;
    let effect = match node {
        N::SelectStmt(_) => return Verdict::Query,
        N::VariableShowStmt(_) => return Verdict::Show,
        N::ExplainStmt(explain) if explain_analyzes(&explain.options) => {
            return Verdict::ExplainAnalyze;
        }
        N::ExplainStmt(_) => return Verdict::Explain,
        N::TransactionStmt(_) => Effect::EscapesTransaction,
        N::VariableSetStmt(_)
        | N::DiscardStmt(_)
        | N::PrepareStmt(_)
        | N::DeallocateStmt(_)
        | N::ListenStmt(_)
        | N::UnlistenStmt(_)
        | N::DeclareCursorStmt(_)
        | N::FetchStmt(_)
        | N::ClosePortalStmt(_)
        | N::ConstraintsSetStmt(_) => Effect::SessionState,
        N::NotifyStmt(_) => Effect::Signals,
        N::LockStmt(_) => Effect::Lock,
        N::CallStmt(_) | N::ExecuteStmt(_) | N::DoStmt(_) | N::LoadStmt(_) => Effect::Unchecked,
        N::CheckPointStmt(_) | N::AlterSystemStmt(_) => Effect::ServerState,
        N::CopyStmt(copy) if copy.is_from => Effect::Writes,
        N::CopyStmt(copy) if copy.is_program || !copy.filename.is_empty() => Effect::Files,
        N::CopyStmt(_) => Effect::CopyProtocol,
        _ => Effect::Writes,
    };
    let name = statement_name(node);
    Verdict::Denied { name, effect }
}

/// Whether `EXPLAIN`'s options run the statement (`ANALYZE`, unless set off).
fn explain_analyzes(options: &[pg_query::Node]) -> bool {
    options.iter().any(|option| {
        let Some(NodeEnum::DefElem(def)) = &option.node else {
            return false;
        };
        let off = match def.arg.as_ref().and_then(|arg| arg.node.as_ref()) {
            Some(NodeEnum::String(s)) => matches!(s.sval.as_str(), "false" | "off" | "no" | "0"),
            Some(NodeEnum::Boolean(b)) => !b.boolval,
            Some(NodeEnum::Integer(i)) => i.ival == 0,
            _ => false,
        };
        def.defname == "analyze" && !off
    })
}

/// The statement's kind as SQL spells it, where its first word does not say it
/// (`WITH ... DELETE`, `START TRANSACTION`, `ALTER SYSTEM`).
fn statement_name(node: &NodeEnum) -> Option<&'static str> {
    use NodeEnum as N;
    Some(match node {
        N::InsertStmt(_) => "INSERT",
        N::UpdateStmt(_) => "UPDATE",
        N::DeleteStmt(_) => "DELETE",
        N::MergeStmt(_) => "MERGE",
        N::AlterSystemStmt(_) => "ALTER SYSTEM",
        N::TransactionStmt(t) if t.kind == TransactionStmtKind::TransStmtStart as i32 => {
            "START TRANSACTION"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_names_are_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for name in denied_names() {
            assert!(seen.insert(name), "`{name}` is denied twice");
        }
    }
}
