//! Where an expression uses `history`, for validation: each `history.NAME(…)` call with its
//! arguments as written, and any other use of the name (which can only be a mistake: the
//! object has nothing but its functions).

use minijinja::machinery::ast::{CallArg, Expr};
use minijinja::machinery::parse_expr;

use super::infer::span_of;

/// A use of `history` in an expression; offsets are bytes in the expression's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryUse {
    /// `history.function(args…)`.
    Call {
        function: String,
        args: Vec<Argument>,
        offset: usize,
        len: usize,
    },
    /// `history` read otherwise (`history.previous` uncalled, `history['x']`, `history`).
    Other { offset: usize, len: usize },
}

/// A call's argument, as far as validation can read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Argument {
    /// A text literal: `'overview.idle'`, `'1h'`.
    Text(String),
    /// A dotted name: `params.idle_window` as `["params", "idle_window"]`.
    Name(Vec<String>),
    /// Anything else (a computed value, a keyword argument).
    Other,
}

/// Every use of `history` in `source`; none when it does not parse (its syntax error is
/// reported where it is compiled).
pub fn history_uses(source: &str) -> Vec<HistoryUse> {
    let mut found = Vec::new();
    if let Ok(expr) = parse_expr(source) {
        walk(&expr, &mut found);
    }
    found
}

fn walk(expr: &Expr<'_>, found: &mut Vec<HistoryUse>) {
    match expr {
        Expr::Call(call) => {
            if let Expr::GetAttr(attr) = &call.expr
                && matches!(&attr.expr, Expr::Var(var) if var.id == "history")
            {
                let span = span_of(expr);
                found.push(HistoryUse::Call {
                    function: attr.name.to_owned(),
                    args: call.args.iter().map(argument).collect(),
                    offset: span.start_offset as usize,
                    len: span.end_offset.saturating_sub(span.start_offset) as usize,
                });
            } else {
                walk(&call.expr, found);
            }
            args(&call.args, found);
        }
        Expr::Var(var) if var.id == "history" => {
            let span = span_of(expr);
            found.push(HistoryUse::Other {
                offset: span.start_offset as usize,
                len: span.end_offset.saturating_sub(span.start_offset) as usize,
            });
        }
        Expr::Var(_) | Expr::Const(_) => {}
        Expr::Slice(slice) => {
            walk(&slice.expr, found);
            for part in [&slice.start, &slice.stop, &slice.step]
                .into_iter()
                .flatten()
            {
                walk(part, found);
            }
        }
        Expr::UnaryOp(unary) => walk(&unary.expr, found),
        Expr::BinOp(binary) => {
            walk(&binary.left, found);
            walk(&binary.right, found);
        }
        Expr::Compare(chain) => {
            walk(&chain.expr, found);
            for link in &chain.ops {
                walk(&link.expr, found);
            }
        }
        Expr::IfExpr(if_expr) => {
            walk(&if_expr.test_expr, found);
            walk(&if_expr.true_expr, found);
            if let Some(no) = &if_expr.false_expr {
                walk(no, found);
            }
        }
        Expr::Filter(filter) => {
            if let Some(inner) = &filter.expr {
                walk(inner, found);
            }
            args(&filter.args, found);
        }
        Expr::Test(test) => {
            walk(&test.expr, found);
            args(&test.args, found);
        }
        Expr::GetAttr(attr) => walk(&attr.expr, found),
        Expr::GetItem(item) => {
            walk(&item.expr, found);
            walk(&item.subscript_expr, found);
        }
        Expr::List(list) => list.items.iter().for_each(|e| walk(e, found)),
        Expr::Tuple(tuple) => tuple.items.iter().for_each(|e| walk(e, found)),
        Expr::Map(map) => map
            .keys
            .iter()
            .chain(&map.values)
            .for_each(|e| walk(e, found)),
    }
}

fn args(args: &[CallArg<'_>], found: &mut Vec<HistoryUse>) {
    for arg in args {
        match arg {
            CallArg::Pos(e)
            | CallArg::Kwarg(_, e)
            | CallArg::PosSplat(e)
            | CallArg::KwargSplat(e) => {
                walk(e, found);
            }
        }
    }
}

fn argument(arg: &CallArg<'_>) -> Argument {
    let CallArg::Pos(expr) = arg else {
        return Argument::Other;
    };
    if let Expr::Const(constant) = expr
        && let Some(text) = constant.value.as_str()
    {
        return Argument::Text(text.to_owned());
    }
    match dotted(expr) {
        Some(path) => Argument::Name(path),
        None => Argument::Other,
    }
}

fn dotted(expr: &Expr<'_>) -> Option<Vec<String>> {
    match expr {
        Expr::Var(var) => Some(vec![var.id.to_owned()]),
        Expr::GetAttr(attr) => {
            let mut path = dotted(&attr.expr)?;
            path.push(attr.name.to_owned());
            Some(path)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_and_other_uses_are_found_where_they_are() {
        let source = "history.change('overview.idle', params.w) > 5 and [history.avg(1, x=2)] | first or history.max";
        let uses = history_uses(source);
        let texts: Vec<&str> = uses
            .iter()
            .map(|u| match u {
                HistoryUse::Call { offset, len, .. } | HistoryUse::Other { offset, len } => {
                    &source[*offset..offset + len]
                }
            })
            .collect();
        assert_eq!(
            texts,
            [
                "history.change('overview.idle', params.w)",
                "history.avg(1, x=2)",
                "history"
            ]
        );
        let HistoryUse::Call { function, args, .. } = &uses[0] else {
            panic!("a call: {uses:?}");
        };
        assert_eq!(function, "change");
        assert_eq!(
            args,
            &[
                Argument::Text("overview.idle".to_owned()),
                Argument::Name(vec!["params".to_owned(), "w".to_owned()])
            ]
        );
        let HistoryUse::Call { args, .. } = &uses[1] else {
            panic!("a call: {uses:?}");
        };
        assert_eq!(args, &[Argument::Other, Argument::Other]);
        assert!(history_uses("steps.history.rows | length > 0").is_empty());
        assert!(history_uses("history.change(").is_empty());
    }
}
