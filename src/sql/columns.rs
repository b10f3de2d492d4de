//! The names of a query's result columns, as PostgreSQL would name them.
//!
//! Validation checks that an assessment's names are columns of its step (`idle_for` in
//! `idle_for > params.idle_after`), so it must know those names before anything runs. They
//! follow PostgreSQL's `FigureColname` on the same parse tree the server builds: an alias;
//! else a column's last field, a function's name, a cast's inner name or else its type's name,
//! `case`, `array`, `exists`...; else `?column?`. Where this module cannot be sure (a `*`, a
//! templated name, a form it does not model) it says so with `None`, and validation then
//! accepts any name rather than refuse a correct playbook.

use pg_query::protobuf::{
    AExprKind, MinMaxOp, SelectStmt, SetOperation, SqlValueFunctionOp, SubLink, SubLinkType,
};
use pg_query::{Node, NodeEnum};

use super::blank::IDENT_PLACEHOLDER;

/// Expressions nested deeper than this are "cannot tell" (the parse tree is bounded anyway).
const MAX_DEPTH: usize = 64;

/// Column names of a statement when it is a query; set operations take the left-most
/// SELECT's names.
pub(super) fn of_statement(node: &NodeEnum) -> Option<Vec<String>> {
    let NodeEnum::SelectStmt(select) = node else {
        return None;
    };
    of_select(select)
}

fn of_select(mut select: &SelectStmt) -> Option<Vec<String>> {
    while select.op != SetOperation::SetopNone as i32 {
        select = select.larg.as_deref()?;
    }
    if let Some(first) = select.values_lists.first() {
        let Some(NodeEnum::List(row)) = &first.node else {
            return None;
        };
        return Some(
            (1..=row.items.len())
                .map(|i| format!("column{i}"))
                .collect(),
        );
    }
    select.target_list.iter().map(target_name).collect()
}

fn target_name(target: &Node) -> Option<String> {
    let Some(NodeEnum::ResTarget(target)) = &target.node else {
        return None;
    };
    if !target.name.is_empty() {
        return name(&target.name);
    }
    let name = expr_name(target.val.as_deref()?, 0)?;
    Some(name.map_or_else(|| "?column?".to_owned(), |(name, _)| name))
}

/// The name PostgreSQL would give an expression's column and whether it is strong (beats the
/// type name of a cast around it). `Some(None)` stands for `?column?`; `None` means it
/// cannot be told (template placeholders, `*`, forms not modelled).
type ExprName = Option<Option<(String, Strength)>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strength {
    Weak,
    Strong,
}

fn expr_name(node: &Node, depth: usize) -> ExprName {
    let strong = |n: &str| Some(Some((name(n)?, Strength::Strong)));
    let weak = |n: &str| Some(Some((name(n)?, Strength::Weak)));
    if depth > MAX_DEPTH {
        return None;
    }
    match node.node.as_ref()? {
        NodeEnum::ColumnRef(column) => match column.fields.last()?.node.as_ref()? {
            NodeEnum::String(field) => strong(&field.sval),
            _ => None,
        },
        NodeEnum::FuncCall(call) => strong(&last_string(&call.funcname)?),
        NodeEnum::TypeCast(cast) => match expr_name(cast.arg.as_deref()?, depth + 1)? {
            Some((name, Strength::Strong)) => strong(&name),
            _ => weak(&last_string(&cast.type_name.as_ref()?.names)?),
        },
        NodeEnum::CollateClause(collate) => expr_name(collate.arg.as_deref()?, depth + 1),
        NodeEnum::CaseExpr(case) => match case.defresult.as_deref() {
            Some(default) => match expr_name(default, depth + 1)? {
                Some((name, Strength::Strong)) => strong(&name),
                _ => weak("case"),
            },
            None => weak("case"),
        },
        NodeEnum::AConst(constant) if constant.isnull => None,
        NodeEnum::AExpr(expr) if expr.kind == AExprKind::AexprNullif as i32 => strong("nullif"),
        NodeEnum::AArrayExpr(_) => strong("array"),
        NodeEnum::RowExpr(_) => strong("row"),
        NodeEnum::CoalesceExpr(_) => strong("coalesce"),
        NodeEnum::GroupingFunc(_) => strong("grouping"),
        NodeEnum::MinMaxExpr(m) if m.op == MinMaxOp::IsGreatest as i32 => strong("greatest"),
        NodeEnum::MinMaxExpr(_) => strong("least"),
        NodeEnum::SqlvalueFunction(function) => {
            let op = SqlValueFunctionOp::try_from(function.op).ok()?;
            let name = op.as_str_name().strip_prefix("SVFOP_")?;
            strong(&name.trim_end_matches("_N").to_ascii_lowercase())
        }
        NodeEnum::SubLink(link) => sublink_name(link),
        // PostgreSQL names these after a field, an XML or JSON function this module does not model.
        NodeEnum::AIndirection(_)
        | NodeEnum::XmlExpr(_)
        | NodeEnum::XmlSerialize(_)
        | NodeEnum::JsonObjectConstructor(_)
        | NodeEnum::JsonArrayConstructor(_)
        | NodeEnum::JsonArrayQueryConstructor(_)
        | NodeEnum::JsonObjectAgg(_)
        | NodeEnum::JsonArrayAgg(_)
        | NodeEnum::JsonFuncExpr(_)
        | NodeEnum::JsonParseExpr(_)
        | NodeEnum::JsonScalarExpr(_)
        | NodeEnum::JsonSerializeExpr(_)
        | NodeEnum::MergeSupportFunc(_) => None,
        _ => Some(None),
    }
}

/// `EXISTS (...)`, `ARRAY(...)`, or a scalar subquery named after its first column.
fn sublink_name(link: &SubLink) -> ExprName {
    let strong = |n: &str| Some(Some((name(n)?, Strength::Strong)));
    match SubLinkType::try_from(link.sub_link_type).ok()? {
        SubLinkType::ExistsSublink => strong("exists"),
        SubLinkType::ArraySublink => strong("array"),
        SubLinkType::ExprSublink => {
            let Some(NodeEnum::SelectStmt(select)) = link.subselect.as_deref()?.node.as_ref()
            else {
                return None;
            };
            strong(of_select(select)?.first()?)
        }
        _ => Some(None),
    }
}

/// The parser already folded unquoted names to lower case; a template placeholder is unknown.
fn name(parsed: &str) -> Option<String> {
    (!parsed.contains(IDENT_PLACEHOLDER)).then(|| parsed.to_owned())
}

/// The last name of a dotted name (`pg_catalog.int4` → `int4`).
pub(super) fn last_string(names: &[Node]) -> Option<String> {
    match names.last()?.node.as_ref()? {
        NodeEnum::String(s) => Some(s.sval.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::sql::tests::assert_findings;
    use crate::sql::{OptIn, analyze};

    fn columns(names: &[&str]) -> Option<Vec<String>> {
        Some(names.iter().map(|n| (*n).to_owned()).collect())
    }

    fn result_columns(sql: &str) -> Option<Vec<String>> {
        analyze(sql, crate::sql::Role::Query(OptIn::default())).columns
    }

    #[test]
    fn postgres_only_syntax_has_columns() {
        // `IS DOCUMENT` is PostgreSQL that sqlparser rejected; PostgreSQL's parser does not.
        let sql = "SELECT pid, state, query, backend_start, usename, datname, wait_event_type, \
                   xact_start, state_change FROM pg_stat_activity WHERE query::xml IS DOCUMENT";
        let expected = [
            "pid",
            "state",
            "query",
            "backend_start",
            "usename",
            "datname",
            "wait_event_type",
            "xact_start",
            "state_change",
        ];
        assert_eq!(result_columns(sql), columns(&expected));
        assert_findings(sql, &[]);
    }

    #[test]
    fn result_columns_follow_postgres_naming() {
        let cases: &[(&str, &[&str])] = &[
            ("SELECT count(*) FROM t", &["count"]),
            ("SELECT count(*) AS n, max(x)", &["n", "max"]),
            ("SELECT a.b, \"MixedCase\", Foo", &["b", "MixedCase", "foo"]),
            ("SELECT x::int", &["x"]),
            ("SELECT 1", &["?column?"]),
            ("SELECT 1 UNION SELECT 2", &["?column?"]),
            ("SELECT a AS Foo, 2 AS \"Bar\"", &["foo", "Bar"]),
            ("VALUES (1, 2)", &["column1", "column2"]),
            (
                "SELECT CASE WHEN a THEN 1 END, CASE WHEN a THEN 1 ELSE b END",
                &["case", "b"],
            ),
            (
                "SELECT '1'::int, (now() - x)::interval, CAST(1 AS bigint)",
                &["int4", "interval", "int8"],
            ),
            (
                "SELECT (SELECT max(y) FROM t), EXISTS (SELECT 1), ARRAY[1]",
                &["max", "exists", "array"],
            ),
            ("SELECT 1; SELECT pid FROM pg_stat_activity", &["pid"]),
            (
                "SELECT x FROM {{ params.t | ident }} WHERE y > {{ params.min }}",
                &["x"],
            ),
            ("SELECT {{ params.n }} + 1 AS n", &["n"]),
        ];
        for (sql, expected) in cases {
            assert_eq!(result_columns(sql), columns(expected), "columns of {sql:?}");
        }
    }

    #[test]
    fn result_columns_are_none_when_unknown() {
        for sql in [
            "SELECT *",
            "SELECT t.* FROM t",
            "SELECT a, * FROM t",
            "SELECT {{ params.value }}",
            "SELECT {{ params.column | ident }} FROM t",
            "SELECT xmlelement(name a)",
            "DELETE FROM t RETURNING id",
            "SHOW work_mem",
        ] {
            assert_eq!(result_columns(sql), None, "columns of {sql:?}");
        }
    }
}
