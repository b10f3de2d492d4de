//! Typed expressions: `when` and `assess` conditions, judged by the kinds of what they
//! compare.
//!
//! minijinja compares values of different kinds by an arbitrary order of kinds, silently (an
//! interval against a number "holds" on every row). This module is the only way into
//! evaluating an expression, and it makes every comparison typed in two places:
//!
//! * before anything runs, [`mismatches`] infers the kind of each sub-expression from what
//!   validation knows (literals, param types, facts, steps' attributes, result-column kinds
//!   inferred from the SQL) and finds each comparison of two known kinds that do not compare;
//! * when it runs, [`Condition`] evaluates the expression with every comparison rewritten into
//!   one typed comparison (`compare`), which judges the two values it is given: two kinds that
//!   do not compare are a [`Mismatch`], never a silent true or false. minijinja's comparison
//!   tests (`gt`, `==`, `in`...) are replaced by typed ones in the one environment, so
//!   `selectattr('n', 'gt', 5)` is judged too.
//!
//! The rewrite leaves `and`, `or` and `if` to minijinja, so an operand that is not evaluated
//! is not judged. It relies on minijinja's unstable AST (`machinery`), which is why the
//! minijinja version is pinned exactly in `Cargo.toml`.

mod calls;
mod compare;
mod infer;
mod kind;
mod print;
mod scope;

use minijinja::machinery::parse_expr;
use minijinja::{Environment, Error, ErrorKind, Expression, Value};

pub use calls::{Argument, HistoryUse, history_uses};
pub use infer::mismatches;
pub use kind::{Kind, Mismatch};
pub use scope::{fact_kind, param_kind, step_attribute_kind};

/// Adds the typed comparison and the typed comparison tests to `env`.
pub fn register(env: &mut Environment<'static>) {
    compare::register(env);
}

/// Why an expression gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Two values of kinds that do not compare.
    #[error("{0}")]
    Mismatch(Box<Mismatch>),
    /// Anything else minijinja refused: an undefined name, a syntax error, a failing filter.
    #[error("{0:#}")]
    Eval(Error),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        match mismatch_in(&error) {
            Some(mismatch) => Failure::Mismatch(Box::new(mismatch)),
            None => Failure::Eval(error),
        }
    }
}

/// The mismatch a typed comparison raised, wherever in the error's chain it is.
fn mismatch_in(error: &Error) -> Option<Mismatch> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(mismatch) = current.downcast_ref::<Mismatch>() {
            return Some(mismatch.clone());
        }
        cause = current.source();
    }
    None
}

/// A compiled `when` or `assess` condition, every comparison in it typed.
pub struct Condition<'env> {
    source: String,
    compiled: Expression<'env, 'env>,
}

impl<'env> Condition<'env> {
    /// Compiles `source` in `env` (which [`register`] must have prepared).
    pub fn compile(env: &'env Environment<'static>, source: &str) -> Result<Self, Failure> {
        let typed = print::source(&parse_expr(source)?, print::Mode::Typed);
        let compiled = env.compile_expression_owned(typed)?;
        Ok(Condition {
            source: source.to_owned(),
            compiled,
        })
    }

    /// The expression's value in `ctx`; an undefined result is an error.
    pub fn value(&self, ctx: &Value) -> Result<Value, Failure> {
        let value = self
            .compiled
            .eval(ctx)
            .map_err(|error| self.as_written(error))?;
        if value.is_undefined() {
            return Err(Failure::Eval(Error::new(
                ErrorKind::UndefinedError,
                format!("expression `{}` is undefined", self.source),
            )));
        }
        Ok(value)
    }

    /// minijinja's error about the rewritten expression, told about the one as written: its
    /// debug view would show the rewritten text (and dump every variable in scope).
    fn as_written(&self, error: Error) -> Failure {
        match Failure::from(error) {
            Failure::Eval(error) => {
                let detail = error.detail().unwrap_or("");
                let detail = if detail.is_empty() {
                    String::new()
                } else {
                    format!("{detail} ")
                };
                Failure::Eval(Error::new(
                    error.kind(),
                    format!("{detail}in `{}`", self.source),
                ))
            }
            mismatch => mismatch,
        }
    }

    /// Whether the condition holds in `ctx`.
    pub fn holds(&self, ctx: &Value) -> Result<bool, Failure> {
        self.value(ctx).map(|value| value.is_true())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::Duration;
    use crate::template;
    use minijinja::context;

    fn evaluate(env: &Environment<'static>, expr: &str, ctx: &Value) -> Result<bool, Failure> {
        Condition::compile(env, expr)?.holds(ctx)
    }

    fn evaluate_value(
        env: &Environment<'static>,
        expr: &str,
        ctx: &Value,
    ) -> Result<Value, Failure> {
        Condition::compile(env, expr)?.value(ctx)
    }

    fn eval_error(failure: Failure) -> Error {
        match failure {
            Failure::Eval(error) => error,
            Failure::Mismatch(mismatch) => panic!("a mismatch: {mismatch}"),
        }
    }

    #[test]
    fn expressions_evaluate() {
        let env = template::environment();
        let ctx = context! {
            active => 90, max_connections => 100,
            params => context! {
                roles => vec!["postgres", "app"],
                idle_after => Duration::from_secs(3600).to_value(),
            },
            steps => context! { x => context! { row_count => 3 }, y => context! { row_count => 0 } },
            two_hours => Duration::from_secs(7200).to_value(),
            half_hour => Duration::from_secs(1800).to_value(),
            flag => false,
        };
        let t = |expr: &str| evaluate(&env, expr, &ctx).unwrap();
        assert!(t("active > max_connections * 0.8"));
        assert!(!t("active > max_connections * 0.95"));
        assert!(t("active + 10 == max_connections"));
        assert!(t("active / max_connections == 0.9"));
        assert!(t("'postgres' in params.roles"));
        assert!(!t("'root' in params.roles"));
        assert!(t("'root' not in params.roles"));
        assert!(t("active > 1 and not flag"));
        assert!(t("flag or active"));
        assert!(!t("flag and active"));
        assert!(t("steps.x.row_count > 0"));
        assert!(!t("steps.y.row_count > 0"));
        assert!(!t("steps.y.row_count"));
        assert!(t("two_hours > params.idle_after"));
        assert!(!t("half_hour > params.idle_after"));
        assert!(t("half_hour < params.idle_after"));
        assert!(t("params.idle_after.seconds == 3600"));
        assert_eq!(
            evaluate_value(&env, "active * 2", &ctx).unwrap(),
            Value::from(180)
        );

        let idle = |d: &str| {
            let ctx = context! {
                idle_for => d.parse::<Duration>().unwrap().to_value(),
                params => context! { idle_after => Duration::from_secs(3600).to_value() },
            };
            evaluate(&env, "idle_for > params.idle_after", &ctx).unwrap()
        };
        assert!(idle("2h"));
        assert!(!idle("30m"));
        assert!(!idle("1h"));

        let err = eval_error(evaluate(&env, "nope > 1", &ctx).unwrap_err());
        assert_eq!(err.kind(), ErrorKind::UndefinedError);
        assert!(err.to_string().contains("`nope`"), "{err}");
        let err = eval_error(evaluate(&env, "steps.z.row_count > 0", &ctx).unwrap_err());
        assert_eq!(err.kind(), ErrorKind::UndefinedError);
        let err = eval_error(evaluate(&env, "active >", &ctx).unwrap_err());
        assert_eq!(err.kind(), ErrorKind::SyntaxError);
    }

    fn mismatch(expr: &str, ctx: &Value) -> String {
        let env = template::environment();
        match evaluate(&env, expr, ctx) {
            Err(Failure::Mismatch(mismatch)) => mismatch.to_string(),
            other => panic!("`{expr}`: not a mismatch: {other:?}"),
        }
    }

    #[test]
    fn comparisons_of_different_kinds_are_mismatches_with_both_values() {
        let ctx = context! {
            idle_for => Duration::from_secs(900).to_value(),
            s => "x",
            n => 3,
            nothing => (),
            rows => vec![context! { idle_for => Duration::from_secs(900).to_value() }],
        };
        assert_eq!(
            mismatch("idle_for > 600", &ctx),
            "`idle_for > 600` compares values of different kinds: `idle_for` is the interval (a duration) 15m and `600` is the number 600; compare with a duration param, or use `idle_for.seconds > 600`"
        );
        assert_eq!(
            mismatch("n > 1 and s > 5", &ctx),
            "`s > 5` compares values of different kinds: `s` is the text 'x' and `5` is the number 5; cast the column to a number in the check's SQL (`::int`, `::numeric`), or compare with a text (`'5'`)"
        );
        // Hidden in a filter's argument, a list, a test, a chain.
        assert!(mismatch("[s == 1] | first", &ctx).contains("`s == 1`"));
        assert!(mismatch("s is gt(5)", &ctx).contains("`'x' > 5`"));
        assert!(
            mismatch("rows | selectattr('idle_for', 'gt', 600) | list", &ctx)
                .contains("the number 600")
        );
        assert!(mismatch("0 < n < s", &ctx).contains("`n < s`"));
        assert!(mismatch("5 not in s", &ctx).contains("`5 in s`"));
    }

    #[test]
    fn operands_not_evaluated_are_not_judged_and_null_does_not_order() {
        let env = template::environment();
        let ctx = context! { s => "x", n => 3, nothing => () };
        let holds = |expr: &str| evaluate(&env, expr, &ctx).unwrap();
        assert!(!holds("n > 5 and s > 5"));
        assert!(holds("n < 5 or s > 5"));
        assert!(holds("(s > 5) if n > 5 else true"));
        assert!(!holds("nothing > 5"));
        assert!(!holds("nothing <= 5"));
        assert!(holds("not (nothing > 5)"));
        assert!(holds("nothing == none and nothing is none and n != none"));
        assert!(holds("s == 'x' and n == 3.0 and 'x' in ['x', 'y']"));
    }
}
