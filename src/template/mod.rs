//! The template environment: one minijinja `Environment` for every template and
//! expression of a playbook.
//!
//! Design choices:
//!
//! * `UndefinedBehavior::Strict`: a misspelt name (`params.idle_afer`) is an
//!   error naming it, never an empty string spliced into SQL or a guard that is
//!   silently false.
//! * SQL templates (check, action, preview) auto-escape every interpolation as a
//!   PostgreSQL literal through [`crate::sql::literal::write_literal`]: strings are
//!   quoted, lists become `ARRAY[...]`, durations `interval '...'`, and mappings
//!   are refused. Only safe strings pass through as they are: the `ident` filter
//!   (quoted identifiers) and the `|safe` escape hatch, which
//!   [`raw_interpolations`] finds so validation can warn about it. Text templates
//!   (titles, messages, descriptions, manual text) are not escaped.
//! * Templates are registered under names (`steps.x.action.sql`,
//!   `steps.x.title.txt`) because the auto-escape mode is chosen from the name:
//!   `Environment::render_str` names its template `<string>` and so would skip
//!   the SQL escaping entirely. The formatter additionally escapes any value
//!   printed from a template whose name ends in `.sql`, so an
//!   `{% autoescape false %}` block cannot switch the escaping off either.
//! * The builtin `tojson` filter marks its output safe; here it is replaced by one
//!   returning a plain string, so `{{ x | tojson }}::jsonb` becomes a quoted
//!   literal in SQL instead of raw JSON text.
//! * `join` in an SQL template yields one string, written as one literal
//!   (`{{ pids | join(', ') }}` gives `'1, 2'`): to match a list, interpolate it
//!   whole, `pid = ANY({{ pids }})` gives `pid = ANY(ARRAY[1, 2])`.
//!
//! Expressions (`when`, `assess`) are evaluated only through [`crate::expr`], which makes
//! every comparison typed; this environment carries its typed comparison and tests.

use std::collections::BTreeSet;

use minijinja::value::{Kwargs, Value};
use minijinja::{
    AutoEscape, Environment, Error, ErrorKind, Output, State, UndefinedBehavior, escape_formatter,
};

use crate::sql::literal as sql_literal;

mod lint;

pub use lint::{TagCode, has_word, raw_interpolations, recursive_loops, tag_code};

/// Auto-escape mode name for SQL templates.
const SQL_ESCAPE: &str = "sql";
const SQL_SUFFIX: &str = ".sql";
const TEXT_SUFFIX: &str = ".txt";
/// Far below minijinja's default of 500: playbook templates are flat.
const RECURSION_LIMIT: usize = 100;
/// The instructions one template or expression may execute: far more than a playbook's loops
/// over 10,000 rows need, and a fraction of a second of work.
pub const FUEL: u64 = 20_000_000;

/// What a template produces, which decides its escaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplateKind {
    /// SQL for check, action and preview steps: every interpolation is an SQL literal.
    Sql,
    /// Titles, messages, descriptions, manual text: interpolations are written as text.
    Text,
}

impl TemplateKind {
    /// The suffix [`compile`] gives the template name (`.sql` or `.txt`).
    pub fn suffix(self) -> &'static str {
        match self {
            TemplateKind::Sql => SQL_SUFFIX,
            TemplateKind::Text => TEXT_SUFFIX,
        }
    }
}

/// The full template name [`compile`] registers: `name` plus the kind's suffix
/// (not doubled when `name` already ends with it).
pub fn template_name(name: &str, kind: TemplateKind) -> String {
    let suffix = kind.suffix();
    if name.ends_with(suffix) {
        name.to_string()
    } else {
        format!("{name}{suffix}")
    }
}

/// The engine's template environment.
///
/// Strict undefined behaviour; auto-escape `Custom("sql")` for names ending in
/// `.sql` and none otherwise; a formatter writing safe values raw and every
/// other value in an SQL template through [`sql_literal::write_literal`]; the
/// `ident` filter; `plural` (`3 sessions`); `tojson` returning a plain string; `escape` plain; minijinja's builtin
/// filters (`map`, `list`, `join`, `length`, `default`, ...) kept; recursion limit 100;
/// [`FUEL`] instructions per render; no `namespace`, and no macros (the feature is off).
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_recursion_limit(RECURSION_LIMIT);
    env.set_fuel(Some(FUEL));
    // A namespace carries a value from one loop iteration to the next: with it, a loop can
    // double a string each time round, faster than fuel can stop it.
    env.remove_global("namespace");
    // HTML escaping would mark a value safe and so paste it into SQL raw; here `escape` is
    // plain, and the value is written as a literal like any other.
    env.add_filter("escape", escape_filter);
    env.add_filter("e", escape_filter);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(SQL_SUFFIX) {
            AutoEscape::Custom(SQL_ESCAPE.into())
        } else {
            AutoEscape::None
        }
    });
    env.set_formatter(format_value);
    env.add_filter("ident", ident_filter);
    env.add_filter("tojson", tojson_filter);
    env.add_filter("plural", plural_filter);
    crate::expr::register(&mut env);
    env
}

/// Writes one interpolated value: SQL literal in SQL templates, text elsewhere.
fn format_value(
    out: &mut Output<'_>,
    state: &mut State<'_, '_>,
    value: &Value,
) -> Result<(), Error> {
    let sql = matches!(state.auto_escape(), AutoEscape::Custom(mode) if mode == SQL_ESCAPE)
        || state.name().ends_with(SQL_SUFFIX);
    if !sql {
        return escape_formatter(out, state, value);
    }
    let mut text = String::new();
    sql_literal::write_literal(&mut text, value).map_err(|err| {
        let kind = match err {
            sql_literal::LiteralError::Undefined => ErrorKind::UndefinedError,
            _ => ErrorKind::InvalidOperation,
        };
        Error::new(kind, format!("cannot write the value as SQL: {err}"))
    })?;
    out.write_str(&text).map_err(Error::from)
}

/// `escape` and `e`: the value unchanged (and not marked safe).
fn escape_filter(value: Value) -> Value {
    value
}

/// `{{ table | ident }}` → `"my table"`, already SQL (a safe string).
fn ident_filter(name: &str) -> Result<Value, Error> {
    sql_literal::quote_ident(name)
        .map(Value::from_safe_string)
        .map_err(|err| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("`ident` filter: {err}"),
            )
        })
}

/// `{{ row_count | plural('session') }}` → `1 session`, `3 sessions`: a count a person reads,
/// in the grammar of [`crate::count`] (`plural('person|people')` for an irregular noun). A
/// value that is not a count (NULL, text) is written as it is before the plural: grammar never
/// fails a step.
fn plural_filter(n: &Value, noun: &str) -> String {
    match i64::try_from(n.clone())
        .ok()
        .and_then(|n| u64::try_from(n).ok())
    {
        Some(count) => crate::count::count(count, noun),
        None => format!("{n} {}", crate::count::plural(noun)),
    }
}

/// `{{ value | tojson }}` / `{{ value | tojson(indent=2) }}` as a plain string.
fn tojson_filter(value: &Value, indent: Option<usize>, kwargs: Kwargs) -> Result<Value, Error> {
    let indent = match indent {
        Some(indent) => Some(indent),
        None => kwargs.get::<Option<usize>>("indent")?,
    };
    kwargs.assert_all_used()?;
    let json = match indent {
        None => serde_json::to_string(value),
        Some(width) => {
            let spaces = " ".repeat(width);
            let formatter = serde_json::ser::PrettyFormatter::with_indent(spaces.as_bytes());
            let mut buf = Vec::new();
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
            serde::Serialize::serialize(value, &mut ser)
                .map(|()| String::from_utf8_lossy(&buf).into_owned())
        }
    };
    json.map(Value::from).map_err(|err| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("`tojson` filter: cannot serialize the value: {err}"),
        )
    })
}

/// Compiles `source` as template [`template_name`]`(name, kind)`, e.g.
/// `steps.terminate_idle.action` + `Sql` → `steps.terminate_idle.action.sql`.
/// Returns minijinja's error (with its line) on failure. Compiling a name again
/// replaces the template.
pub fn compile(
    env: &mut Environment<'static>,
    name: &str,
    kind: TemplateKind,
    source: &str,
) -> Result<(), Error> {
    env.add_template_owned(template_name(name, kind), source.to_string())
}

/// Finds a template by its full name, or by the name given to [`compile`]
/// (trying `.sql`, then `.txt`).
fn lookup<'e>(
    env: &'e Environment<'static>,
    name: &str,
) -> Result<minijinja::Template<'e, 'e>, Error> {
    match env.get_template(name) {
        Ok(template) => Ok(template),
        Err(err) if err.kind() == ErrorKind::TemplateNotFound => {
            for kind in [TemplateKind::Sql, TemplateKind::Text] {
                if let Ok(template) = env.get_template(&template_name(name, kind)) {
                    return Ok(template);
                }
            }
            Err(err)
        }
        Err(err) => Err(err),
    }
}

/// Compiles and renders a text template once, in an environment of its own: for the places
/// that render outside a run (`show`, validation with the params' defaults).
pub fn render_text(source: &str, ctx: &Value) -> Result<String, Error> {
    const NAME: &str = "once";
    let mut env = environment();
    compile(&mut env, NAME, TemplateKind::Text, source)?;
    render(&env, NAME, ctx)
}

/// Renders a previously compiled template with `ctx`. `name` is the full name
/// (`steps.x.action.sql`) or the one given to [`compile`] (`steps.x.action`).
pub fn render(env: &Environment<'static>, name: &str, ctx: &Value) -> Result<String, Error> {
    lookup(env, name)?.render(ctx.clone())
}

/// Compiles `source` without keeping it, and returns the names it reads. Validation uses
/// this: it needs the verdict, not the template.
///
/// The names are dotted paths (`params.idle_after`, `steps.x.rows`) from
/// `Template::undeclared_variables(true)`, minus names that start with an environment global
/// (`range`, `namespace`, ...). minijinja reports the longest dotted attribute chain off a free
/// variable (`steps.x.rows | map(attribute='pid')` → `steps.x.rows`); a subscript stops the
/// chain (`steps['x'].rows` → `steps`); loop variables and `loop` are not reported, nor are
/// names assigned by `{% set %}` (but the expression assigned is: `{% set y = params.a %}{{ y.b
/// }}` → `params.a`). Each chain is reported as written, so `{{ params.a }}{{ params.a.b }}`
/// gives both.
pub fn compile_names(
    env: &Environment<'static>,
    name: &str,
    kind: TemplateKind,
    source: &str,
) -> Result<BTreeSet<String>, Error> {
    let name = template_name(name, kind);
    let template = env.template_from_named_str(&name, source)?;
    Ok(without_globals(env, template.undeclared_variables(true)))
}

fn without_globals(
    env: &Environment<'static>,
    names: impl IntoIterator<Item = String>,
) -> BTreeSet<String> {
    let globals: BTreeSet<&str> = env.globals().map(|(name, _)| name).collect();
    names
        .into_iter()
        .filter(|name| {
            let root = name.split('.').next().unwrap_or(name);
            !globals.contains(root)
        })
        .collect()
}

/// Compiles an expression to check its syntax; returns the names it uses (dotted,
/// as for [`compile_names`]).
pub fn expression_names(env: &Environment<'static>, expr: &str) -> Result<BTreeSet<String>, Error> {
    let compiled = env.compile_expression_owned(expr.to_string())?;
    Ok(without_globals(env, compiled.undeclared_variables(true)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::Duration;
    use minijinja::context;

    const EXAMPLE: &str = "SELECT pid FROM pg_stat_activity
WHERE state_change < now() - {{ params.idle_after }}
  AND usename <> ALL({{ params.protected_users }})";

    fn example_ctx() -> Value {
        context! {
            params => context! {
                idle_after => Duration::from_secs(3600).to_value(),
                protected_users => vec!["postgres", "o'brien"],
            },
        }
    }

    fn render_sql(source: &str, ctx: &Value) -> Result<String, Error> {
        let mut env = environment();
        compile(&mut env, "test", TemplateKind::Sql, source)?;
        render(&env, "test.sql", ctx)
    }

    fn render_text(source: &str, ctx: &Value) -> Result<String, Error> {
        let mut env = environment();
        compile(&mut env, "test", TemplateKind::Text, source)?;
        render(&env, "test", ctx)
    }

    fn names(set: &BTreeSet<String>) -> Vec<&str> {
        set.iter().map(String::as_str).collect()
    }

    #[test]
    fn renders_the_example_exactly() {
        let sql = render_sql(EXAMPLE, &example_ctx()).unwrap();
        assert_eq!(
            sql,
            "SELECT pid FROM pg_stat_activity
WHERE state_change < now() - interval '1 hour'
  AND usename <> ALL(ARRAY['postgres', 'o''brien'])"
        );
    }

    #[test]
    fn plural_counts_agree_with_their_number() {
        let ctx = context! { one => 1, three => 3, text => "x" };
        let text = |source| render_text(source, &ctx);
        assert_eq!(text("{{ one | plural('session') }}").unwrap(), "1 session");
        assert_eq!(text("{{ three | plural('query') }}").unwrap(), "3 queries");
        assert_eq!(text("{{ text | plural('row') }}").unwrap(), "x rows");
    }

    #[test]
    fn compile_names_and_lookup() {
        let mut env = environment();
        compile(&mut env, "steps.x.action", TemplateKind::Sql, "{{ a }}").unwrap();
        compile(&mut env, "steps.x.title.txt", TemplateKind::Text, "{{ a }}").unwrap();
        assert!(env.get_template("steps.x.action.sql").is_ok());
        assert!(env.get_template("steps.x.title.txt").is_ok());
        assert!(env.get_template("steps.x.title.txt.txt").is_err());
        let ctx = context! { a => "o'brien" };
        assert_eq!(render(&env, "steps.x.action", &ctx).unwrap(), "'o''brien'");
        assert_eq!(
            render(&env, "steps.x.action.sql", &ctx).unwrap(),
            "'o''brien'"
        );
        assert_eq!(render(&env, "steps.x.title", &ctx).unwrap(), "o'brien");
        let err = render(&env, "steps.nope", &ctx).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TemplateNotFound);
        assert_eq!(template_name("a.sql", TemplateKind::Text), "a.sql.txt");
    }

    #[test]
    fn compile_errors_carry_the_line() {
        let mut env = environment();
        let err = compile(
            &mut env,
            "steps.x.action",
            TemplateKind::Sql,
            "SELECT 1\nWHERE {{ a +  }}",
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SyntaxError);
        assert_eq!(err.line(), Some(2));
        assert_eq!(err.name(), Some("steps.x.action.sql"));
    }

    #[test]
    fn ident_quotes_identifiers() {
        let ctx = context! { t => "my table", evil => "x\"; DROP TABLE y; --" };
        assert_eq!(
            render_sql("SELECT * FROM {{ t | ident }}", &ctx).unwrap(),
            "SELECT * FROM \"my table\""
        );
        assert_eq!(
            render_sql("{{ evil | ident }}", &ctx).unwrap(),
            "\"x\"\"; DROP TABLE y; --\""
        );
        let err = render_sql("{{ '' | ident }}", &ctx).unwrap_err();
        assert!(
            err.to_string().contains("not a valid SQL identifier"),
            "{err}"
        );
        // Text templates get the quoted name too.
        assert_eq!(
            render_text("{{ t | ident }}", &ctx).unwrap(),
            "\"my table\""
        );
    }

    #[test]
    fn safe_is_raw() {
        let ctx = context! { cond => "pid > 10", name => "o'brien" };
        assert_eq!(
            render_sql("WHERE {{ cond | safe }} AND n = {{ name }}", &ctx).unwrap(),
            "WHERE pid > 10 AND n = 'o''brien'"
        );
    }

    #[test]
    fn text_templates_are_not_escaped() {
        let ctx = context! {
            params => context! { idle_after => Duration::from_secs(3600).to_value(), who => "o'brien" },
            n => 3,
        };
        assert_eq!(
            render_text(
                "Idle connections older than {{ params.idle_after }} ({{ params.who }}, {{ n }})",
                &ctx
            )
            .unwrap(),
            "Idle connections older than 1h (o'brien, 3)"
        );
    }

    #[test]
    fn scalars_and_lists_in_sql() {
        let ctx = context! {
            n => -5, f => 0.5, yes => true, nothing => (), s => "a\\b",
            empty => Vec::<i64>::new(),
            rows => vec![context! { pid => 1 }, context! { pid => 2 }],
        };
        assert_eq!(
            render_sql(
                "{{ n }} {{ f }} {{ yes }} {{ nothing }} {{ s }} {{ empty }}",
                &ctx
            )
            .unwrap(),
            "(-5) 0.5 TRUE NULL E'a\\\\b' '{}'"
        );
        assert_eq!(
            render_sql("ANY({{ rows | map(attribute='pid') }})", &ctx).unwrap(),
            "ANY(ARRAY[1, 2])"
        );
        assert_eq!(
            render_sql("ANY({{ rows | map(attribute='pid') | list }})", &ctx).unwrap(),
            "ANY(ARRAY[1, 2])"
        );
        // `join` makes one string, hence one literal.
        assert_eq!(
            render_sql("{{ rows | map(attribute='pid') | join(', ') }}", &ctx).unwrap(),
            "'1, 2'"
        );
        assert_eq!(render_sql("{{ rows | length }}", &ctx).unwrap(), "2");
        assert_eq!(render_sql("{{ missing | default(7) }}", &ctx).unwrap(), "7");
        assert_eq!(render_sql("{{ 'x' ~ s }}", &ctx).unwrap(), "E'xa\\\\b'");
    }

    #[test]
    fn escaping_cannot_be_switched_off() {
        let ctx = context! { s => "'; DROP TABLE x; --" };
        assert_eq!(
            render_sql("{% autoescape false %}{{ s }}{% endautoescape %}", &ctx).unwrap(),
            "'''; DROP TABLE x; --'"
        );
        assert_eq!(
            render_sql("{% set q %}{{ s }}{% endset %}{{ q }}", &ctx).unwrap(),
            "'''; DROP TABLE x; --'"
        );
        assert_eq!(
            render_sql("{{ s | e }}", &ctx).unwrap(),
            "'''; DROP TABLE x; --'"
        );
        assert_eq!(
            render_sql("{{ {'k': s} | tojson }}::jsonb", &ctx).unwrap(),
            "'{\"k\":\"''; DROP TABLE x; --\"}'::jsonb"
        );
        assert_eq!(
            render_text("{{ {'k': s} | tojson }}", &ctx).unwrap(),
            "{\"k\":\"'; DROP TABLE x; --\"}"
        );
        assert_eq!(
            render_text("{{ [1] | tojson(indent=2) }}", &ctx).unwrap(),
            "[\n  1\n]"
        );
    }

    #[test]
    fn undefined_variable_is_an_error_naming_it() {
        let err = render_sql("SELECT {{ params.idle_afer }}", &example_ctx()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UndefinedError);
        assert!(err.to_string().contains("`params.idle_afer`"), "{err}");
        let err = render_text("{{ nope }}", &example_ctx()).unwrap_err();
        assert!(err.to_string().contains("`nope`"), "{err}");
        assert_eq!(err.line(), Some(1));
    }

    #[test]
    fn map_interpolation_is_refused() {
        let ctx = context! { rows => vec![context! { pid => 1 }] };
        let err = render_sql("SELECT {{ rows }}", &ctx).unwrap_err();
        assert!(
            err.to_string().contains(
                "a mapping cannot be interpolated into SQL; pick a column, e.g. `rows | map(attribute='pid') | list`"
            ),
            "{err}"
        );
        assert_eq!(err.line(), Some(1));
    }

    #[test]
    fn nul_is_refused() {
        let ctx = context! { s => "a\0b" };
        let err = render_sql("SELECT {{ s }}", &ctx).unwrap_err();
        assert!(err.to_string().contains("NUL byte"), "{err}");
        let err = render_sql("SELECT {{ s | ident }}", &ctx).unwrap_err();
        assert!(err.to_string().contains("NUL byte"), "{err}");
    }

    /// Documents what minijinja 3.1's `undeclared_variables(true)` reports.
    #[test]
    fn compiled_names_as_minijinja_reports_them() {
        let cases: &[(&str, &[&str])] = &[
            (EXAMPLE, &["params.idle_after", "params.protected_users"]),
            // Filters: the chain before the filter; filter names and arguments are not names.
            (
                "{{ steps.x.rows | map(attribute='pid') | list }}",
                &["steps.x.rows"],
            ),
            // Loops: the loop target and `loop` are not reported, the iterable is.
            (
                "{% for r in steps.x.rows %}{{ r.pid }}{{ loop.index }}{% endfor %}",
                &["steps.x.rows"],
            ),
            // `{% set %}`: the assigned name is not reported; its expression is.
            ("{% set y = params.a %}{{ y.b }}{{ z }}", &["params.a", "z"]),
            // Quirk: the target is assigned before its expression is visited.
            ("{% set x = x + 1 %}{{ x }}", &[]),
            // A subscript ends the chain; every chain is reported as written.
            (
                "{{ steps['x'].rows }}{{ params.a.b }}{{ params.a }}",
                &["params.a", "params.a.b", "steps"],
            ),
            // Globals (`range`, `namespace`) are dropped by `compile_names`.
            (
                "{% for i in range(3) %}{{ i }}{% endfor %}{{ n.x }}",
                &["n.x"],
            ),
            ("{{ a if b.c else d }}", &["a", "b.c", "d"]),
        ];
        for (source, expected) in cases {
            let env = environment();
            let got = compile_names(&env, "t", TemplateKind::Sql, source).unwrap();
            assert_eq!(names(&got), *expected, "{source}");
        }
    }

    #[test]
    fn rendering_is_bounded_and_escape_is_a_literal() {
        let env = environment();
        let render = |source: &str| {
            env.template_from_named_str("t.sql", source)
                .and_then(|t| t.render(Value::from(())))
        };
        let started = std::time::Instant::now();
        let error = render(
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        )
        .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::OutOfFuel);
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        let error = render("{% set ns = namespace(s='x') %}").unwrap_err();
        assert!(error.to_string().contains("namespace"), "{error}");
        assert!(
            render("{% macro m() %}x{% endmacro %}").is_err(),
            "no macros"
        );
        assert_eq!(
            render("{{ \"1 OR pg_cancel_backend(1)\" | e }}").unwrap(),
            "'1 OR pg_cancel_backend(1)'"
        );
    }

    #[test]
    fn expression_names_and_syntax() {
        let env = environment();
        let got =
            expression_names(&env, "steps.x.row_count > 0 and params.mode in ['a', 'b']").unwrap();
        assert_eq!(names(&got), ["params.mode", "steps.x.row_count"]);
        let got = expression_names(&env, "active > max_connections * 0.8").unwrap();
        assert_eq!(names(&got), ["active", "max_connections"]);
        let got = expression_names(&env, "range(3) | length > n").unwrap();
        assert_eq!(names(&got), ["n"]);
        let err = expression_names(&env, "a >").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SyntaxError);
    }
}
