//! The names of a query's result columns, as PostgreSQL would name them.
//!
//! Validation checks that an assessment's names are columns of its step (`idle_for` in
//! `idle_for > params.idle_after`), so it must know those names before anything runs. They
//! follow PostgreSQL's rules (an alias; else the column, function or type name, folded to lower
//! case unless quoted; else `?column?`). Where this module cannot be sure (a `*`, a templated
//! name, a form it does not model) it says so with `None`, and validation then accepts any name
//! rather than refuse a correct playbook.

use sqlparser::ast::{DataType, Expr, Ident, ObjectNamePart, SelectItem, SetExpr, Value};

use super::blank::IDENT_PLACEHOLDER;

/// Column names of a query body; set operations take the left-most SELECT's names.
pub(super) fn of_query(body: &SetExpr) -> Option<Vec<String>> {
    match body {
        SetExpr::Select(select) => select.projection.iter().map(item_name).collect(),
        SetExpr::Query(query) => of_query(&query.body),
        SetExpr::SetOperation { left, .. } => of_query(left),
        SetExpr::Values(values) => {
            let width = values.rows.first()?.content.len();
            Some((1..=width).map(|i| format!("column{i}")).collect())
        }
        _ => None,
    }
}

fn item_name(item: &SelectItem) -> Option<String> {
    match item {
        SelectItem::UnnamedExpr(expr) => {
            Some(expr_name(expr)?.map_or_else(|| "?column?".to_owned(), |n| n.0))
        }
        SelectItem::ExprWithAlias { alias, .. } => ident_name(alias),
        _ => None,
    }
}

/// The name PostgreSQL would give an expression's column and whether it is
/// "strong" (beats the type name of a cast around it). `Some(None)` stands for
/// `?column?`; `None` means it cannot be told (template placeholders, field access).
type ExprName = Option<Option<(String, bool)>>;

fn expr_name(expr: &Expr) -> ExprName {
    let strong = |name: &str| Some(Some((name.to_owned(), true)));
    let weak = |name: &str| Some(Some((name.to_owned(), false)));
    match expr {
        Expr::Identifier(ident) => Some(Some((ident_name(ident)?, true))),
        Expr::CompoundIdentifier(parts) => Some(Some((ident_name(parts.last()?)?, true))),
        Expr::Function(function) => match function.name.0.last()? {
            ObjectNamePart::Identifier(ident) => Some(Some((ident_name(ident)?, true))),
            ObjectNamePart::Function(_) => None,
        },
        Expr::Nested(inner) | Expr::Collate { expr: inner, .. } => expr_name(inner),
        Expr::Cast {
            expr: inner,
            data_type,
            ..
        } => match expr_name(inner)? {
            Some((name, true)) => strong(&name),
            _ => weak(&type_name(data_type)?),
        },
        Expr::Case { else_result, .. } => match else_result.as_deref().map(expr_name) {
            Some(Some(Some((name, true)))) => strong(&name),
            Some(None) => None,
            _ => weak("case"),
        },
        Expr::Value(value) if value.value == Value::Null => None,
        Expr::Interval(_) => weak("interval"),
        Expr::TypedString(typed) => weak(&type_name(&typed.data_type)?),
        Expr::Exists { .. } => strong("exists"),
        Expr::Array(_) => strong("array"),
        Expr::Extract { .. } => strong("extract"),
        Expr::AtTimeZone { .. } => strong("timezone"),
        Expr::Substring { .. } => strong("substring"),
        Expr::Position { .. } => strong("position"),
        Expr::Overlay { .. } => strong("overlay"),
        Expr::Subquery(query) => strong(of_query(&query.body)?.first()?),
        // PostgreSQL names these after a field or function this module does not model.
        Expr::CompoundFieldAccess { .. } | Expr::Trim { .. } => None,
        Expr::Ceil { .. } | Expr::Floor { .. } => None,
        _ => Some(None),
    }
}

/// PostgreSQL's name for an unquoted identifier is folded to lower case.
fn ident_name(ident: &Ident) -> Option<String> {
    if ident.value == IDENT_PLACEHOLDER {
        return None;
    }
    Some(match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_ascii_lowercase(),
    })
}

/// The column name PostgreSQL gives a cast of an unnamed expression: the type's own name.
fn type_name(data_type: &DataType) -> Option<String> {
    let text = data_type.to_string().to_ascii_lowercase();
    let base = text.split(['(', '[']).next().unwrap_or("").trim();
    let base = base.rsplit('.').next().unwrap_or(base);
    let canonical = match base {
        "int" | "integer" => "int4",
        "bigint" => "int8",
        "smallint" => "int2",
        "boolean" => "bool",
        "real" => "float4",
        "double precision" | "float" => "float8",
        "character varying" => "varchar",
        "character" | "char" => "bpchar",
        "decimal" => "numeric",
        "timestamp with time zone" => "timestamptz",
        "timestamp without time zone" => "timestamp",
        other if other.contains(char::is_whitespace) || other.contains(IDENT_PLACEHOLDER) => {
            return None;
        }
        "" => return None,
        other => other,
    };
    Some(canonical.to_owned())
}

#[cfg(test)]
mod tests {
    use crate::sql::analyze;
    use crate::sql::tests::assert_findings;

    fn columns(names: &[&str]) -> Option<Vec<String>> {
        Some(names.iter().map(|n| (*n).to_owned()).collect())
    }

    fn result_columns(sql: &str) -> Option<Vec<String>> {
        analyze(sql).columns
    }

    #[test]
    fn activity_columns_pass_the_token_fallback() {
        // `IS DOCUMENT` is PostgreSQL that sqlparser rejects, so this is judged by tokens.
        let sql = "SELECT pid, state, query, backend_start, usename, datname, wait_event_type, \
                   xact_start, state_change FROM pg_stat_activity WHERE query IS DOCUMENT";
        assert_eq!(result_columns(sql), None);
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
            "SELECT 1 IS DOCUMENT",
            "DELETE FROM t RETURNING id",
            "SHOW work_mem",
        ] {
            assert_eq!(result_columns(sql), None, "columns of {sql:?}");
        }
    }
}
