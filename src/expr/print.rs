//! An expression tree written back as minijinja source: as the author wrote it (for
//! messages), or with every comparison routed through the typed comparison (to evaluate).
//!
//! Writing the whole tree, instead of splicing text by spans, keeps the result independent
//! of how exactly minijinja spans each node: every compound node is parenthesised, so the
//! written text means what the tree means. Comparisons hidden anywhere — in a filter's
//! argument, a list, a call — are rewritten like those at the top, and `and`, `or`, `if`
//! stay minijinja's own, so an operand that is not evaluated is not judged.

use std::fmt::Write;

use minijinja::Value;
use minijinja::machinery::ast::{BinOpKind, CallArg, CompareOpKind, Expr, UnaryOpKind};
use minijinja::value::ValueKind;

use super::kind::Op;

/// The global function every comparison of an evaluated expression becomes:
/// `__runbook_compare(left, right, "op", "left as written", "right as written")`.
pub(super) const COMPARE: &str = "__runbook_compare";

/// Whether comparisons are written as written or through [`COMPARE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    AsWritten,
    Typed,
}

/// `expr` as source; the top level is not parenthesised.
pub(super) fn source(expr: &Expr<'_>, mode: Mode) -> String {
    let mut out = String::new();
    write_expr(&mut out, expr, mode, true);
    out
}

/// The operator of a binary comparison node.
pub(super) fn binary_comparison(op: &BinOpKind) -> Option<Op> {
    Some(match op {
        BinOpKind::Eq => Op::Eq,
        BinOpKind::Ne => Op::Ne,
        BinOpKind::Lt => Op::Lt,
        BinOpKind::Lte => Op::Lte,
        BinOpKind::Gt => Op::Gt,
        BinOpKind::Gte => Op::Gte,
        BinOpKind::In => Op::In,
        _ => return None,
    })
}

/// The operator of one link of a chained comparison, and whether it is negated (`not in`).
pub(super) fn chained_comparison(op: &CompareOpKind) -> (Op, bool) {
    match op {
        CompareOpKind::Eq => (Op::Eq, false),
        CompareOpKind::Ne => (Op::Ne, false),
        CompareOpKind::Lt => (Op::Lt, false),
        CompareOpKind::Lte => (Op::Lte, false),
        CompareOpKind::Gt => (Op::Gt, false),
        CompareOpKind::Gte => (Op::Gte, false),
        CompareOpKind::In => (Op::In, false),
        CompareOpKind::NotIn => (Op::In, true),
    }
}

fn binary_symbol(op: &BinOpKind) -> &'static str {
    match op {
        BinOpKind::ScAnd => "and",
        BinOpKind::ScOr => "or",
        BinOpKind::Add => "+",
        BinOpKind::Sub => "-",
        BinOpKind::Mul => "*",
        BinOpKind::Div => "/",
        BinOpKind::FloorDiv => "//",
        BinOpKind::Rem => "%",
        BinOpKind::Pow => "**",
        BinOpKind::Concat => "~",
        other => binary_comparison(other).map_or("?", Op::symbol),
    }
}

fn write_expr(out: &mut String, expr: &Expr<'_>, mode: Mode, top: bool) {
    let (open, close) = if top { ("", "") } else { ("(", ")") };
    match expr {
        Expr::Var(var) => out.push_str(var.id),
        Expr::Const(constant) => write_const(out, &constant.value),
        Expr::Slice(slice) => {
            write_expr(out, &slice.expr, mode, false);
            out.push('[');
            if let Some(start) = &slice.start {
                write_expr(out, start, mode, false);
            }
            out.push(':');
            if let Some(stop) = &slice.stop {
                write_expr(out, stop, mode, false);
            }
            if let Some(step) = &slice.step {
                out.push(':');
                write_expr(out, step, mode, false);
            }
            out.push(']');
        }
        Expr::UnaryOp(unary) => {
            out.push_str(open);
            out.push_str(match unary.op {
                UnaryOpKind::Not => "not ",
                UnaryOpKind::Neg => "-",
            });
            write_expr(out, &unary.expr, mode, false);
            out.push_str(close);
        }
        Expr::BinOp(binary) => match (mode, binary_comparison(&binary.op)) {
            (Mode::Typed, Some(op)) => write_compare(out, &binary.left, op, &binary.right),
            _ => {
                out.push_str(open);
                write_expr(out, &binary.left, mode, false);
                let _ = write!(out, " {} ", binary_symbol(&binary.op));
                write_expr(out, &binary.right, mode, false);
                out.push_str(close);
            }
        },
        Expr::Compare(chain) => write_chain(out, chain, mode, (open, close)),
        Expr::IfExpr(if_expr) => {
            out.push_str(open);
            write_expr(out, &if_expr.true_expr, mode, false);
            out.push_str(" if ");
            write_expr(out, &if_expr.test_expr, mode, false);
            if let Some(otherwise) = &if_expr.false_expr {
                out.push_str(" else ");
                write_expr(out, otherwise, mode, false);
            }
            out.push_str(close);
        }
        Expr::Filter(filter) => {
            out.push_str(open);
            if let Some(inner) = &filter.expr {
                write_expr(out, inner, mode, false);
                out.push_str(" | ");
            }
            out.push_str(filter.name);
            write_args(out, &filter.args, mode, false);
            out.push_str(close);
        }
        Expr::Test(test) => {
            out.push_str(open);
            write_expr(out, &test.expr, mode, false);
            let _ = write!(out, " is {}", test.name);
            write_args(out, &test.args, mode, false);
            out.push_str(close);
        }
        Expr::GetAttr(attr) => {
            write_expr(out, &attr.expr, mode, false);
            let _ = write!(out, ".{}", attr.name);
        }
        Expr::GetItem(item) => {
            write_expr(out, &item.expr, mode, false);
            out.push('[');
            write_expr(out, &item.subscript_expr, mode, true);
            out.push(']');
        }
        Expr::Call(call) => {
            write_expr(out, &call.expr, mode, false);
            write_args(out, &call.args, mode, true);
        }
        Expr::List(list) => write_items(out, ("[", "]"), &list.items, mode),
        Expr::Tuple(tuple) => {
            write_items(out, ("(", ""), &tuple.items, mode);
            out.push_str(if tuple.items.len() == 1 { ",)" } else { ")" });
        }
        Expr::Map(map) => {
            out.push('{');
            for (i, (key, value)) in map.keys.iter().zip(&map.values).enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(out, key, mode, false);
                out.push_str(": ");
                write_expr(out, value, mode, false);
            }
            out.push('}');
        }
    }
}

/// `a < b < c` is `a < b and b < c`; typed, each link is one typed comparison (`b` is
/// evaluated twice: expressions have no side effects).
fn write_chain(
    out: &mut String,
    chain: &minijinja::machinery::ast::Compare<'_>,
    mode: Mode,
    (open, close): (&str, &str),
) {
    out.push_str(open);
    let mut left = &chain.expr;
    if mode == Mode::AsWritten {
        write_expr(out, left, mode, false);
    }
    for (i, link) in chain.ops.iter().enumerate() {
        let (op, negated) = chained_comparison(&link.op);
        match mode {
            Mode::AsWritten => {
                let symbol = if negated { "not in" } else { op.symbol() };
                let _ = write!(out, " {symbol} ");
                write_expr(out, &link.expr, mode, false);
            }
            Mode::Typed => {
                if i > 0 {
                    out.push_str(" and ");
                }
                if negated {
                    out.push_str("not ");
                }
                write_compare(out, left, op, &link.expr);
            }
        }
        left = &link.expr;
    }
    out.push_str(close);
}

fn write_compare(out: &mut String, left: &Expr<'_>, op: Op, right: &Expr<'_>) {
    let _ = write!(out, "{COMPARE}(");
    write_expr(out, left, Mode::Typed, true);
    out.push_str(", ");
    write_expr(out, right, Mode::Typed, true);
    out.push_str(", ");
    write_string(out, op.symbol());
    out.push_str(", ");
    write_string(out, &source(left, Mode::AsWritten));
    out.push_str(", ");
    write_string(out, &source(right, Mode::AsWritten));
    out.push(')');
}

fn write_items(out: &mut String, (open, close): (&str, &str), items: &[Expr<'_>], mode: Mode) {
    out.push_str(open);
    separated(out, items, |out, item| write_expr(out, item, mode, true));
    out.push_str(close);
}

/// A filter's or test's arguments (nothing when there are none), a call's always.
fn write_args(out: &mut String, args: &[CallArg<'_>], mode: Mode, always: bool) {
    if args.is_empty() && !always {
        return;
    }
    out.push('(');
    separated(out, args, |out, arg| match arg {
        CallArg::Pos(expr) => write_expr(out, expr, mode, true),
        CallArg::Kwarg(name, expr) => {
            let _ = write!(out, "{name}=");
            write_expr(out, expr, mode, true);
        }
        CallArg::PosSplat(expr) => {
            out.push('*');
            write_expr(out, expr, mode, false);
        }
        CallArg::KwargSplat(expr) => {
            out.push_str("**");
            write_expr(out, expr, mode, false);
        }
    });
    out.push(')');
}

/// `items`, each written by `each`, separated by commas.
fn separated<T>(out: &mut String, items: &[T], mut each: impl FnMut(&mut String, &T)) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        each(out, item);
    }
}

/// A constant as a literal minijinja reads back as the same value.
fn write_const(out: &mut String, value: &Value) {
    match value.kind() {
        ValueKind::None => out.push_str("none"),
        ValueKind::Undefined => out.push_str("undefined"),
        ValueKind::String => write_string(out, value.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Map => {
            let map = value.kind() == ValueKind::Map;
            out.push(if map { '{' } else { '[' });
            let items: Vec<Value> = value.try_iter().into_iter().flatten().collect();
            separated(out, &items, |out, item| {
                write_const(out, item);
                if map {
                    out.push_str(": ");
                    write_const(out, &value.get_item(item).unwrap_or_default());
                }
            });
            out.push(if map { '}' } else { ']' });
        }
        _ => {
            let _ = write!(out, "{value}");
        }
    }
}

/// A single-quoted string literal: `\`, `'` and control characters escaped.
fn write_string(out: &mut String, text: &str) {
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::machinery::parse_expr;

    fn written(source_text: &str, mode: Mode) -> String {
        source(&parse_expr(source_text).unwrap(), mode)
    }

    #[test]
    fn expressions_are_written_back_as_they_read() {
        for (given, expected) in [
            (
                "idle_for > params.idle_after",
                "idle_for > params.idle_after",
            ),
            ("a + b * 2 > 3 and not c", "((a + (b * 2)) > 3) and (not c)"),
            ("x not in ['a', \"b\"]", "not (x in ['a', 'b'])"),
            ("1 < x < 3", "1 < x < 3"),
            (
                "rows | selectattr('n', 'gt', 5) | list | length",
                "((rows | selectattr('n', 'gt', 5)) | list) | length",
            ),
            ("a.b[0]['c'] is defined", "a.b[0]['c'] is defined"),
            ("f(1, k=2)[1:2] ~ 'it\\'s'", "f(1, k=2)[1:2] ~ 'it\\'s'"),
            ("x if y else -z", "x if y else (-z)"),
            ("{'a': (1,)}", "{'a': (1,)}"),
        ] {
            assert_eq!(written(given, Mode::AsWritten), expected, "{given}");
        }
    }

    #[test]
    fn every_comparison_is_routed_through_the_typed_one() {
        assert_eq!(
            written("a > 1 and [b == 'x'] | first", Mode::Typed),
            "__runbook_compare(a, 1, '>', 'a', '1') and ([__runbook_compare(b, 'x', '==', 'b', '\\'x\\'')] | first)"
        );
        assert_eq!(
            written("1 < x < 3", Mode::Typed),
            "__runbook_compare(1, x, '<', '1', 'x') and __runbook_compare(x, 3, '<', 'x', '3')"
        );
    }
}
