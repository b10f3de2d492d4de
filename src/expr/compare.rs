//! The one place a comparison is decided at run time.
//!
//! Every comparison of an evaluated expression is rewritten (`print`) into a call of
//! [`compare`], and minijinja's comparison tests (`gt`, `==`, `in`, ... as `x is gt(5)` or in
//! `selectattr('n', 'gt', 5)`) are replaced by typed ones, so no comparison in a `when` or an
//! `assess` reaches minijinja's kind-ordered comparison.
//!
//! NULL follows SQL's rule for ordering: `x > 5` with `x` NULL does not hold (it is false, and
//! `not (x > 5)` is true), as `WHERE x > 5` drops the row. `==`/`!=` compare with `none` as
//! minijinja does (`x == none` holds for NULL), so `is none`, `== none` and `!= none` test for
//! NULL.

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind};

use super::kind::{Kind, Mismatch, Op, Operand};
use super::print::COMPARE;

/// The typed comparison and the typed tests, in `env`.
pub(super) fn register(env: &mut Environment<'static>) {
    env.add_function(COMPARE, compare_function);
    let tests: [(&str, Op); 16] = [
        ("eq", Op::Eq),
        ("equalto", Op::Eq),
        ("==", Op::Eq),
        ("ne", Op::Ne),
        ("!=", Op::Ne),
        ("lt", Op::Lt),
        ("lessthan", Op::Lt),
        ("<", Op::Lt),
        ("le", Op::Lte),
        ("<=", Op::Lte),
        ("gt", Op::Gt),
        ("greaterthan", Op::Gt),
        (">", Op::Gt),
        ("ge", Op::Gte),
        (">=", Op::Gte),
        ("in", Op::In),
    ];
    for (name, op) in tests {
        env.add_test(name, move |value: &Value, other: &Value| {
            let (left, right) = (shown(value), shown(other));
            compare(value, other, op, &left, &right).map_err(into_error)
        });
    }
}

/// A tested value has no source text of its own: it is shown by its value.
fn shown(value: &Value) -> String {
    Operand::ran(String::new(), value).value.unwrap_or_default()
}

fn compare_function(
    left: Value,
    right: Value,
    op: &str,
    left_source: &str,
    right_source: &str,
) -> Result<bool, Error> {
    let op = Op::from_symbol(op).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("unknown comparison `{op}`"),
        )
    })?;
    // Strict mode refuses an undefined value when it is used, not when it is passed on.
    for (value, source) in [(&left, left_source), (&right, right_source)] {
        if value.is_undefined() {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                format!("`{source}` is undefined"),
            ));
        }
    }
    compare(&left, &right, op, left_source, right_source).map_err(into_error)
}

/// The minijinja error a mismatch travels in; `super::Condition` finds it again by its source.
fn into_error(mismatch: Box<Mismatch>) -> Error {
    Error::new(ErrorKind::InvalidOperation, mismatch.to_string()).with_source(*mismatch)
}

/// `left op right`, when their kinds may be compared.
pub(super) fn compare(
    left: &Value,
    right: &Value,
    op: Op,
    left_source: &str,
    right_source: &str,
) -> Result<bool, Box<Mismatch>> {
    let mismatch = || {
        Box::new(Mismatch {
            comparison: format!("{left_source} {} {right_source}", op.symbol()),
            op,
            left: Operand::ran(left_source.to_owned(), left),
            right: Operand::ran(right_source.to_owned(), right),
        })
    };
    let (left_kind, right_kind) = (Kind::of(left), Kind::of(right));
    if op == Op::In {
        return contains(right, left).ok_or_else(mismatch);
    }
    if !left_kind.compares_with(right_kind) {
        return Err(mismatch());
    }
    if op.orders() && (left_kind == Kind::Null || right_kind == Kind::Null) {
        return Ok(false);
    }
    Ok(match op {
        Op::Eq => left == right,
        Op::Ne => left != right,
        Op::Lt => left < right,
        Op::Lte => left <= right,
        Op::Gt => left > right,
        Op::Gte => left >= right,
        Op::In => false,
    })
}

/// Whether `container` holds `item`; `None` when they are of kinds that cannot hold each
/// other. A NULL container holds nothing (SQL's `x IN (NULL)` does not hold).
fn contains(container: &Value, item: &Value) -> Option<bool> {
    let item_kind = Kind::of(item);
    match Kind::of(container) {
        Kind::Null => Some(false),
        Kind::Text => match item_kind {
            Kind::Text => Some(container.as_str()?.contains(item.as_str()?)),
            Kind::Null => Some(false),
            _ => None,
        },
        Kind::List => {
            let mut found = false;
            for element in container.try_iter().ok()? {
                if !Kind::of(&element).compares_with(item_kind) {
                    return None;
                }
                found |= element == *item;
            }
            Some(found)
        }
        Kind::Map => {
            if !matches!(item_kind, Kind::Text | Kind::Number | Kind::Null) {
                return None;
            }
            Some(
                container
                    .get_item(item)
                    .is_ok_and(|value| !value.is_undefined()),
            )
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::Duration;

    fn cmp(left: Value, op: Op, right: Value) -> Result<bool, Box<Mismatch>> {
        compare(&left, &right, op, "l", "r")
    }

    #[test]
    fn same_kinds_compare_and_others_are_refused() {
        let minutes = |m: i64| Duration::from_secs(60 * m).to_value();
        assert_eq!(cmp(Value::from(3), Op::Gt, Value::from(2.5)), Ok(true));
        assert_eq!(cmp(minutes(10), Op::Gt, minutes(5)), Ok(true));
        assert_eq!(cmp(minutes(1), Op::Gte, minutes(5)), Ok(false));
        assert_eq!(cmp(Value::from("b"), Op::Gt, Value::from("a")), Ok(true));
        assert_eq!(cmp(Value::from(true), Op::Eq, Value::from(true)), Ok(true));
        for (left, right) in [
            (minutes(10), Value::from(600)),
            (Value::from("x"), Value::from(5)),
            (Value::from(true), Value::from(1)),
            (minutes(10), Value::from("10m")),
        ] {
            for op in [Op::Eq, Op::Ne, Op::Lt, Op::Gt] {
                let error = cmp(left.clone(), op, right.clone()).unwrap_err();
                assert_eq!(error.left.kind, Kind::of(&left));
                assert_eq!(error.right.kind, Kind::of(&right));
            }
        }
    }

    #[test]
    fn null_does_not_order_but_equals_none() {
        let null = Value::from(());
        for op in [Op::Lt, Op::Lte, Op::Gt, Op::Gte] {
            assert_eq!(cmp(null.clone(), op, Value::from(5)), Ok(false));
            assert_eq!(cmp(Value::from(5), op, null.clone()), Ok(false));
        }
        assert_eq!(cmp(null.clone(), Op::Eq, null.clone()), Ok(true));
        assert_eq!(cmp(null.clone(), Op::Ne, Value::from(5)), Ok(true));
        assert_eq!(cmp(Value::from(5), Op::Eq, null.clone()), Ok(false));
    }

    #[test]
    fn in_needs_a_container_of_the_same_kind() {
        let users = Value::from(vec!["postgres", "app"]);
        assert_eq!(cmp(Value::from("app"), Op::In, users.clone()), Ok(true));
        assert_eq!(cmp(Value::from("x"), Op::In, users.clone()), Ok(false));
        assert!(cmp(Value::from(5), Op::In, users).is_err());
        assert_eq!(
            cmp(Value::from("gre"), Op::In, Value::from("postgres")),
            Ok(true)
        );
        assert!(cmp(Value::from(5), Op::In, Value::from("postgres")).is_err());
        assert!(cmp(Value::from(5), Op::In, Value::from(50)).is_err());
        assert_eq!(cmp(Value::from(5), Op::In, Value::from(())), Ok(false));
        assert_eq!(
            cmp(Value::from(()), Op::In, Value::from(vec![1])),
            Ok(false)
        );
    }
}
