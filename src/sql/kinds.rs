//! The kinds of a query's result columns, as far as the parse tree tells them.
//!
//! Validation judges `idle_for > 600` before anything runs, so it must know that `idle_for`,
//! `now() - state_change`, is an interval. This module infers each result column's kind on the
//! same parse tree `columns` names them from: casts, literals, aggregates of known kinds,
//! `extract`, timestamp arithmetic, `CASE` with agreeing branches, comparisons, and the
//! columns of the system views the built-in playbooks read ([`SYSTEM_VIEWS`]). Kinds are the
//! ones the engine gives the cells (`target::rows::ColumnKind`): a timestamp arrives as text.
//! Where it cannot be told, the kind is `Unknown`, which validation never holds against a
//! playbook.

use pg_query::protobuf::{
    AExprKind, SelectStmt, SetOperation, SqlValueFunctionOp, SubLink, SubLinkType, a_const,
};
use pg_query::{Node, NodeEnum};

use super::columns::last_string;
use super::system_views::SYSTEM_VIEWS;
use crate::expr::Kind;

/// Expressions nested deeper than this are `Unknown`.
const MAX_DEPTH: usize = 64;

/// A column's SQL kind: [`Kind`] plus timestamps, which matter for arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sql {
    Number,
    Text,
    Boolean,
    Interval,
    Timestamp,
    Unknown,
}

impl Sql {
    fn kind(self) -> Kind {
        match self {
            Sql::Number => Kind::Number,
            Sql::Text | Sql::Timestamp => Kind::Text,
            Sql::Boolean => Kind::Boolean,
            Sql::Interval => Kind::Duration,
            Sql::Unknown => Kind::Unknown,
        }
    }
}

use Sql::{Boolean as B, Interval as I, Number as N, Text as T, Timestamp as TS};

/// The kinds of a statement's result columns, in order, when it is a query whose columns
/// can be listed (see `columns::of_statement`).
pub(super) fn of_statement(node: &NodeEnum) -> Option<Vec<Kind>> {
    let NodeEnum::SelectStmt(select) = node else {
        return None;
    };
    Some(of_select(select)?.into_iter().map(Sql::kind).collect())
}

fn of_select(mut select: &SelectStmt) -> Option<Vec<Sql>> {
    while select.op != SetOperation::SetopNone as i32 {
        select = select.larg.as_deref()?;
    }
    let from = From::of(select);
    if let Some(first) = select.values_lists.first() {
        let Some(NodeEnum::List(row)) = &first.node else {
            return None;
        };
        return Some(row.items.iter().map(|item| from.kind(item, 0)).collect());
    }
    select
        .target_list
        .iter()
        .map(|target| match &target.node {
            Some(NodeEnum::ResTarget(target)) => Some(
                target
                    .val
                    .as_deref()
                    .map_or(Sql::Unknown, |v| from.kind(v, 0)),
            ),
            _ => None,
        })
        .collect()
}

/// The known system views a SELECT reads, with the names (alias or view name) it reads them by.
struct From {
    views: Vec<(String, &'static [(&'static str, Sql)])>,
}

impl From {
    fn of(select: &SelectStmt) -> From {
        let mut views = Vec::new();
        let mut pending: Vec<&Node> = select.from_clause.iter().collect();
        while let Some(item) = pending.pop() {
            match &item.node {
                Some(NodeEnum::RangeVar(range)) => {
                    if !matches!(range.schemaname.as_str(), "" | "pg_catalog") {
                        continue;
                    }
                    if let Some((_, columns)) =
                        SYSTEM_VIEWS.iter().find(|(view, _)| *view == range.relname)
                    {
                        let name = range
                            .alias
                            .as_ref()
                            .map_or(range.relname.clone(), |a| a.aliasname.clone());
                        views.push((name, *columns));
                    }
                }
                Some(NodeEnum::JoinExpr(join)) => {
                    pending.extend(join.larg.as_deref());
                    pending.extend(join.rarg.as_deref());
                }
                _ => {}
            }
        }
        From { views }
    }

    /// A column reference's kind: from a known view it names, or the one known view that has
    /// a column of that name.
    fn column(&self, fields: &[Node]) -> Sql {
        let names: Option<Vec<&str>> = fields
            .iter()
            .map(|field| match &field.node {
                Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
                _ => None,
            })
            .collect();
        let lookup = |columns: &[(&str, Sql)], name: &str| {
            columns
                .iter()
                .find(|(c, _)| *c == name)
                .map(|(_, kind)| *kind)
        };
        match names.as_deref() {
            Some([column]) => self
                .views
                .iter()
                .find_map(|(_, columns)| lookup(columns, column))
                .unwrap_or(Sql::Unknown),
            Some([relation, column]) => self
                .views
                .iter()
                .find(|(name, _)| name == relation)
                .and_then(|(_, columns)| lookup(columns, column))
                .unwrap_or(Sql::Unknown),
            _ => Sql::Unknown,
        }
    }

    fn kind(&self, node: &Node, depth: usize) -> Sql {
        if depth > MAX_DEPTH {
            return Sql::Unknown;
        }
        let of = |node: &Option<Box<Node>>| {
            node.as_deref()
                .map_or(Sql::Unknown, |n| self.kind(n, depth + 1))
        };
        let Some(inner) = node.node.as_ref() else {
            return Sql::Unknown;
        };
        match inner {
            NodeEnum::ColumnRef(column) => self.column(&column.fields),
            NodeEnum::AConst(constant) => match &constant.val {
                _ if constant.isnull => Sql::Unknown,
                Some(a_const::Val::Ival(_) | a_const::Val::Fval(_)) => N,
                Some(a_const::Val::Boolval(_)) => B,
                Some(a_const::Val::Sval(_)) => T,
                _ => Sql::Unknown,
            },
            NodeEnum::TypeCast(cast) => cast
                .type_name
                .as_ref()
                .filter(|t| t.array_bounds.is_empty())
                .and_then(|t| last_string(&t.names))
                .map_or(Sql::Unknown, |name| type_kind(&name)),
            NodeEnum::FuncCall(call) => {
                let args: Vec<Sql> = call.args.iter().map(|a| self.kind(a, depth + 1)).collect();
                last_string(&call.funcname).map_or(Sql::Unknown, |name| {
                    function_kind(&name, call.agg_star, &args)
                })
            }
            NodeEnum::AExpr(expr) => {
                let (left, right) = (of(&expr.lexpr), of(&expr.rexpr));
                match AExprKind::try_from(expr.kind) {
                    Ok(AExprKind::AexprOp) => {
                        let op = last_string(&expr.name).unwrap_or_default();
                        operator_kind(&op, expr.lexpr.is_some().then_some(left), right)
                    }
                    Ok(AExprKind::AexprNullif) => left,
                    Ok(_) => B,
                    Err(_) => Sql::Unknown,
                }
            }
            NodeEnum::BoolExpr(_) | NodeEnum::NullTest(_) | NodeEnum::BooleanTest(_) => B,
            NodeEnum::CaseExpr(case) => {
                let results = case.args.iter().filter_map(|when| match &when.node {
                    Some(NodeEnum::CaseWhen(when)) => when.result.as_deref(),
                    _ => None,
                });
                let results = results.chain(case.defresult.as_deref());
                self.agreeing(results, depth)
            }
            NodeEnum::CoalesceExpr(coalesce) => self.agreeing(coalesce.args.iter(), depth),
            NodeEnum::MinMaxExpr(minmax) => self.agreeing(minmax.args.iter(), depth),
            NodeEnum::SqlvalueFunction(function) => {
                match SqlValueFunctionOp::try_from(function.op) {
                    Ok(SqlValueFunctionOp::SvfopCurrentTimestamp)
                    | Ok(SqlValueFunctionOp::SvfopCurrentTimestampN)
                    | Ok(SqlValueFunctionOp::SvfopLocaltimestamp)
                    | Ok(SqlValueFunctionOp::SvfopLocaltimestampN) => TS,
                    Ok(SqlValueFunctionOp::SvfopCurrentDate) => T,
                    Ok(
                        SqlValueFunctionOp::SvfopCurrentRole
                        | SqlValueFunctionOp::SvfopCurrentUser
                        | SqlValueFunctionOp::SvfopUser
                        | SqlValueFunctionOp::SvfopSessionUser
                        | SqlValueFunctionOp::SvfopCurrentCatalog
                        | SqlValueFunctionOp::SvfopCurrentSchema,
                    ) => T,
                    _ => Sql::Unknown,
                }
            }
            NodeEnum::SubLink(link) => self.sublink(link),
            NodeEnum::CollateClause(collate) => of(&collate.arg),
            _ => Sql::Unknown,
        }
    }

    /// The kind all of `nodes` have (NULLs aside); `Unknown` when they disagree.
    fn agreeing<'n>(&self, nodes: impl Iterator<Item = &'n Node>, depth: usize) -> Sql {
        let mut agreed = None;
        for node in nodes {
            if is_null(node) {
                continue;
            }
            let kind = self.kind(node, depth + 1);
            match agreed {
                None => agreed = Some(kind),
                Some(other) if other == kind => {}
                Some(_) => return Sql::Unknown,
            }
        }
        agreed.unwrap_or(Sql::Unknown)
    }

    fn sublink(&self, link: &SubLink) -> Sql {
        match SubLinkType::try_from(link.sub_link_type) {
            Ok(SubLinkType::ExprSublink) => {
                match link.subselect.as_deref().and_then(|s| s.node.as_ref()) {
                    Some(NodeEnum::SelectStmt(inner)) => of_select(inner)
                        .and_then(|kinds| kinds.first().copied())
                        .unwrap_or(Sql::Unknown),
                    _ => Sql::Unknown,
                }
            }
            Ok(SubLinkType::ExistsSublink | SubLinkType::AnySublink | SubLinkType::AllSublink) => B,
            _ => Sql::Unknown,
        }
    }
}

fn is_null(node: &Node) -> bool {
    matches!(&node.node, Some(NodeEnum::AConst(c)) if c.isnull)
}

/// A cast's target type (as the parser names it: `int4`, `interval`, `timestamptz`...).
fn type_kind(name: &str) -> Sql {
    match name {
        "int2" | "int4" | "int8" | "numeric" | "float4" | "float8" | "oid" => N,
        "text" | "varchar" | "bpchar" | "name" | "char" | "json" | "jsonb" | "inet" | "uuid"
        | "date" | "regclass" => T,
        "bool" => B,
        "interval" => I,
        "timestamptz" | "timestamp" => TS,
        _ => Sql::Unknown,
    }
}

fn function_kind(name: &str, star: bool, args: &[Sql]) -> Sql {
    let first = args.first().copied().unwrap_or(Sql::Unknown);
    match name {
        "count" if star || args.len() == 1 => N,
        "sum" | "avg" if matches!(first, N | I) => first,
        "max" | "min" => first,
        "round" | "floor" | "ceil" | "ceiling" | "abs" | "trunc" if first == N => N,
        "extract"
        | "date_part"
        | "length"
        | "char_length"
        | "octet_length"
        | "pg_database_size"
        | "pg_relation_size"
        | "pg_total_relation_size"
        | "pg_table_size"
        | "pg_indexes_size"
        | "pg_backend_pid"
        | "array_length"
        | "cardinality" => N,
        "now"
        | "clock_timestamp"
        | "statement_timestamp"
        | "transaction_timestamp"
        | "pg_postmaster_start_time"
        | "pg_conf_load_time" => TS,
        "age" if !args.is_empty() && args.iter().all(|a| *a == TS) => I,
        "justify_interval" | "justify_hours" | "justify_days" | "make_interval" => I,
        "pg_size_pretty" | "lower" | "upper" | "format" | "concat" | "current_setting"
        | "string_agg" | "version" | "current_database" | "quote_ident" | "substr" | "replace"
        | "to_char" | "pg_get_userbyid" => T,
        "pg_is_in_recovery"
        | "bool_and"
        | "bool_or"
        | "every"
        | "pg_has_role"
        | "has_table_privilege"
        | "has_database_privilege" => B,
        _ => Sql::Unknown,
    }
}

/// An operator's result kind; `left` is `None` for a prefix operator.
fn operator_kind(op: &str, left: Option<Sql>, right: Sql) -> Sql {
    let Some(left) = left else {
        return if matches!(op, "-" | "+") && matches!(right, N | I) {
            right
        } else {
            Sql::Unknown
        };
    };
    match (op, left, right) {
        (
            "<" | ">" | "=" | "<>" | "!=" | "<=" | ">=" | "~~" | "!~~" | "~~*" | "!~~*" | "~"
            | "!~" | "~*" | "!~*",
            _,
            _,
        ) => B,
        ("||", _, _) => T,
        ("-", TS, TS) => I,
        ("-" | "+", TS, I) | ("+", I, TS) => TS,
        ("-" | "+", I, I) => I,
        ("*" | "/", I, N) | ("*", N, I) => I,
        ("+" | "-" | "*" | "/" | "%" | "^", N, N) => N,
        _ => Sql::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use crate::expr::Kind::{self, Boolean, Duration, Number, Text, Unknown};
    use crate::sql::{OptIn, analyze};

    fn kinds(sql: &str) -> Option<Vec<Kind>> {
        analyze(sql, crate::sql::Role::Query(OptIn::default())).kinds
    }

    #[test]
    fn result_column_kinds_follow_the_parse_tree() {
        let cases: &[(&str, &[Kind])] = &[
            (
                "SELECT pid, state, now() - state_change AS idle_for, backend_start \
                 FROM pg_stat_activity",
                &[Number, Text, Duration, Text],
            ),
            (
                "SELECT a.pid, x.y FROM pg_catalog.pg_stat_activity a",
                &[Number, Unknown],
            ),
            (
                "SELECT count(*) AS n, max(now() - query_start) FROM pg_stat_activity",
                &[Number, Duration],
            ),
            (
                "SELECT 'x'::text AS s, 1, 1.5, true, NULL AS n, 'y'",
                &[Text, Number, Number, Boolean, Unknown, Text],
            ),
            (
                "SELECT x::int, x::interval, x::bigint, x::numeric(5,1), x::int[]",
                &[Number, Duration, Number, Number, Unknown],
            ),
            (
                "SELECT extract(epoch FROM now() - xact_start) FROM pg_stat_activity",
                &[Number],
            ),
            (
                "SELECT CASE WHEN a THEN 1 ELSE 2 END, CASE WHEN a THEN 1 ELSE 'x' END, CASE WHEN a THEN 1 END",
                &[Number, Unknown, Number],
            ),
            (
                "SELECT a > 1, EXISTS (SELECT 1), a IS NULL, a AND b, a IN (1, 2)",
                &[Boolean, Boolean, Boolean, Boolean, Boolean],
            ),
            (
                "SELECT (SELECT count(*) FROM t), coalesce(sum(x::int), 0)",
                &[Number, Number],
            ),
            (
                "SELECT 100.0 * count(*) / 5 AS p, current_user, now()",
                &[Number, Text, Text],
            ),
            (
                "SELECT state FROM (SELECT state FROM pg_stat_activity) s",
                &[Unknown],
            ),
            (
                "SELECT {{ params.n }} AS n, {{ params.n }}::int AS m",
                &[Unknown, Number],
            ),
        ];
        for (sql, expected) in cases {
            assert_eq!(kinds(sql).as_deref(), Some(*expected), "kinds of {sql:?}");
        }
        assert_eq!(kinds("SELECT * FROM pg_stat_activity"), None);
    }
}
