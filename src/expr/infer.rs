//! Kinds known before anything runs: each sub-expression's kind from literals and from what
//! the names in scope are known to be (param types, facts, steps' attributes, result-column
//! kinds inferred from the SQL). A comparison whose two sides have known kinds that do not
//! compare is a validation error; where a kind cannot be told it is `Unknown`, which is never
//! an error (the engine judges the values when they are there).

use minijinja::machinery::ast::{BinOpKind, CallArg, Expr, UnaryOpKind};
use minijinja::machinery::{Span, parse_expr};

use super::kind::{Kind, Mismatch, Op, Operand};
use super::print::{self, Mode};
use crate::history::Function;

/// A comparison of kinds that do not compare, and where it is in the expression's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub mismatch: Mismatch,
    /// Byte offset and length in the expression's source.
    pub offset: usize,
    pub len: usize,
}

/// Every comparison in `source` whose sides are known to be of kinds that do not compare.
/// `names` gives the kind of a dotted name (`["params", "idle_after"]`). A source that does
/// not parse has none (its syntax error is reported where it is compiled).
pub fn mismatches(source: &str, names: &dyn Fn(&[&str]) -> Kind) -> Vec<Found> {
    let Ok(expr) = parse_expr(source) else {
        return Vec::new();
    };
    let mut walk = Walk {
        names,
        found: Vec::new(),
    };
    walk.kind(&expr);
    walk.found
}

struct Walk<'n> {
    names: &'n dyn Fn(&[&str]) -> Kind,
    found: Vec<Found>,
}

impl Walk<'_> {
    fn kind(&mut self, expr: &Expr<'_>) -> Kind {
        match expr {
            Expr::Var(var) => (self.names)(&[var.id]),
            Expr::Const(constant) => Kind::of(&constant.value),
            Expr::GetAttr(attr) => {
                let inner = self.kind(&attr.expr);
                if inner == Kind::Duration && matches!(attr.name, "seconds" | "milliseconds") {
                    return Kind::Number;
                }
                dotted(expr).map_or(Kind::Unknown, |path| {
                    let path: Vec<&str> = path.iter().map(|s| &**s).collect();
                    (self.names)(&path)
                })
            }
            Expr::UnaryOp(unary) => {
                let inner = self.kind(&unary.expr);
                match unary.op {
                    UnaryOpKind::Not => Kind::Boolean,
                    UnaryOpKind::Neg if inner == Kind::Number => Kind::Number,
                    UnaryOpKind::Neg => Kind::Unknown,
                }
            }
            Expr::BinOp(binary) => {
                let (left, right) = (self.kind(&binary.left), self.kind(&binary.right));
                match print::binary_comparison(&binary.op) {
                    Some(op) => {
                        self.judge(&binary.left, left, op, &binary.right, right);
                        Kind::Boolean
                    }
                    None => arithmetic(&binary.op, left, right),
                }
            }
            Expr::Compare(chain) => {
                let mut left_expr = &chain.expr;
                let mut left = self.kind(left_expr);
                for link in &chain.ops {
                    let right = self.kind(&link.expr);
                    let (op, _) = print::chained_comparison(&link.op);
                    self.judge(left_expr, left, op, &link.expr, right);
                    (left_expr, left) = (&link.expr, right);
                }
                Kind::Boolean
            }
            Expr::IfExpr(if_expr) => {
                self.kind(&if_expr.test_expr);
                let yes = self.kind(&if_expr.true_expr);
                let no = if_expr.false_expr.as_ref().map(|e| self.kind(e));
                if no == Some(yes) { yes } else { Kind::Unknown }
            }
            Expr::Filter(filter) => {
                let inner = filter.expr.as_ref().map(|e| self.kind(e));
                let args = self.args(&filter.args);
                filter_kind(filter.name, inner, &args)
            }
            Expr::Test(test) => {
                let subject = self.kind(&test.expr);
                let args = self.args(&test.args);
                if let (Some(op), [CallArg::Pos(arg)]) = (test_op(test.name), &test.args[..]) {
                    self.judge(&test.expr, subject, op, arg, args[0]);
                }
                Kind::Boolean
            }
            Expr::Slice(slice) => {
                self.kind(&slice.expr);
                for part in [&slice.start, &slice.stop, &slice.step]
                    .into_iter()
                    .flatten()
                {
                    self.kind(part);
                }
                Kind::Unknown
            }
            Expr::GetItem(item) => {
                self.kind(&item.expr);
                self.kind(&item.subscript_expr);
                Kind::Unknown
            }
            Expr::Call(call) => {
                self.kind(&call.expr);
                self.args(&call.args);
                match dotted(&call.expr).as_deref() {
                    Some(["history", function]) if Function::named(function).is_some() => {
                        Kind::Number
                    }
                    _ => Kind::Unknown,
                }
            }
            Expr::List(list) => {
                self.items(&list.items);
                Kind::List
            }
            Expr::Tuple(tuple) => {
                self.items(&tuple.items);
                Kind::List
            }
            Expr::Map(map) => {
                for (key, value) in map.keys.iter().zip(&map.values) {
                    self.kind(key);
                    self.kind(value);
                }
                Kind::Map
            }
        }
    }

    fn items(&mut self, items: &[Expr<'_>]) {
        for item in items {
            self.kind(item);
        }
    }

    fn args(&mut self, args: &[CallArg<'_>]) -> Vec<Kind> {
        args.iter()
            .map(|arg| match arg {
                CallArg::Pos(e) | CallArg::Kwarg(_, e) => self.kind(e),
                CallArg::PosSplat(e) | CallArg::KwargSplat(e) => {
                    self.kind(e);
                    Kind::Unknown
                }
            })
            .collect()
    }

    fn judge(
        &mut self,
        left: &Expr<'_>,
        left_kind: Kind,
        op: Op,
        right: &Expr<'_>,
        right_kind: Kind,
    ) {
        let known = |kind: Kind| !matches!(kind, Kind::Unknown | Kind::Null);
        let refused = match op {
            Op::In => match right_kind {
                Kind::Text => known(left_kind) && left_kind != Kind::Text,
                Kind::Number | Kind::Boolean | Kind::Duration => true,
                _ => false,
            },
            _ => known(left_kind) && known(right_kind) && left_kind != right_kind,
        };
        if !refused {
            return;
        }
        let (left_source, right_source) = (
            print::source(left, Mode::AsWritten),
            print::source(right, Mode::AsWritten),
        );
        let (start, end) = (span_of(left).start_offset, span_of(right).end_offset);
        let (offset, len) = (start as usize, end.saturating_sub(start) as usize);
        self.found.push(Found {
            mismatch: Mismatch {
                comparison: format!("{left_source} {} {right_source}", op.symbol()),
                op,
                left: Operand::known(left_source, left_kind),
                right: Operand::known(right_source, right_kind),
            },
            offset,
            len,
        });
    }
}

/// `a.b.c` as `["a", "b", "c"]`; `None` when the chain does not start at a name.
fn dotted<'a>(expr: &'a Expr<'a>) -> Option<Vec<&'a str>> {
    match expr {
        Expr::Var(var) => Some(vec![var.id]),
        Expr::GetAttr(attr) => {
            let mut path = dotted(&attr.expr)?;
            path.push(attr.name);
            Some(path)
        }
        _ => None,
    }
}

fn arithmetic(op: &BinOpKind, left: Kind, right: Kind) -> Kind {
    match op {
        BinOpKind::Concat => Kind::Text,
        BinOpKind::ScAnd | BinOpKind::ScOr if left == right => left,
        BinOpKind::Add
        | BinOpKind::Sub
        | BinOpKind::Mul
        | BinOpKind::Div
        | BinOpKind::FloorDiv
        | BinOpKind::Rem
        | BinOpKind::Pow
            if left == Kind::Number && right == Kind::Number =>
        {
            Kind::Number
        }
        _ => Kind::Unknown,
    }
}

/// What a builtin filter gives, where that does not depend on the values.
fn filter_kind(name: &str, inner: Option<Kind>, args: &[Kind]) -> Kind {
    match name {
        "length" | "count" | "int" | "float" | "abs" | "round" | "sum" => Kind::Number,
        "string" | "lower" | "upper" | "title" | "capitalize" | "trim" | "join" | "replace"
        | "format" | "tojson" | "ident" | "plural" => Kind::Text,
        "list" | "sort" | "unique" | "map" | "select" | "reject" | "selectattr" | "rejectattr"
        | "batch" | "slice" | "split" | "lines" | "items" | "reverse" => Kind::List,
        "bool" => Kind::Boolean,
        "default" | "d" if inner.is_some() && args.first().copied() == inner => {
            inner.unwrap_or(Kind::Unknown)
        }
        _ => Kind::Unknown,
    }
}

/// The comparison a test makes (`x is gt(5)`), for the tests `compare` replaces.
fn test_op(name: &str) -> Option<Op> {
    Some(match name {
        "eq" | "equalto" | "==" => Op::Eq,
        "ne" | "!=" => Op::Ne,
        "lt" | "lessthan" | "<" => Op::Lt,
        "le" | "<=" => Op::Lte,
        "gt" | "greaterthan" | ">" => Op::Gt,
        "ge" | ">=" => Op::Gte,
        "in" => Op::In,
        _ => return None,
    })
}

pub(super) fn span_of(expr: &Expr<'_>) -> Span {
    match expr {
        Expr::Var(n) => n.span(),
        Expr::Const(n) => n.span(),
        Expr::Slice(n) => n.span(),
        Expr::UnaryOp(n) => n.span(),
        Expr::BinOp(n) => n.span(),
        Expr::Compare(n) => n.span(),
        Expr::IfExpr(n) => n.span(),
        Expr::Filter(n) => n.span(),
        Expr::Test(n) => n.span(),
        Expr::GetAttr(n) => n.span(),
        Expr::GetItem(n) => n.span(),
        // minijinja's span of a method call starts at the `.`: from the callee's start.
        Expr::Call(n) => Span {
            start_line: span_of(&n.expr).start_line,
            start_col: span_of(&n.expr).start_col,
            start_offset: span_of(&n.expr).start_offset.min(n.span().start_offset),
            ..n.span()
        },
        Expr::List(n) => n.span(),
        Expr::Tuple(n) => n.span(),
        Expr::Map(n) => n.span(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(path: &[&str]) -> Kind {
        match path {
            ["idle_for"] => Kind::Duration,
            ["s"] => Kind::Text,
            ["n"] => Kind::Number,
            ["params", "idle_after"] => Kind::Duration,
            ["facts", "server_version"] => Kind::Number,
            _ => Kind::Unknown,
        }
    }

    fn found(source: &str) -> Vec<String> {
        mismatches(source, &names)
            .into_iter()
            .map(|f| format!("{} @{}+{}", f.mismatch.comparison, f.offset, f.len))
            .collect()
    }

    #[test]
    fn known_kinds_that_do_not_compare_are_found_where_they_are() {
        assert_eq!(found("idle_for > 600"), ["idle_for > 600 @0+14"]);
        assert_eq!(found("row_count > 0 and s > 5"), ["s > 5 @18+5"]);
        assert_eq!(
            found("facts.server_version > '14'"),
            ["facts.server_version > '14' @0+27"]
        );
        assert_eq!(
            found("1 < idle_for < 3"),
            ["1 < idle_for", "idle_for < 3"].map(|c| {
                let f = mismatches("1 < idle_for < 3", &names);
                let i = if c.starts_with('1') { 0 } else { 1 };
                format!("{c} @{}+{}", f[i].offset, f[i].len)
            })
        );
        assert_eq!(found("s is gt(5)").len(), 1);
        assert_eq!(found("[n == 'x'] | first").len(), 1, "hidden in a list");
        assert_eq!(found("5 in s").len(), 1);
        assert_eq!(found("(idle_for.seconds + 1) ~ 'x' == n").len(), 1);
        assert_eq!(
            found("history.change('overview.idle', '1h') > params.idle_after"),
            ["history.change('overview.idle', '1h') > params.idle_after @0+57"],
            "a history function gives a number"
        );
        assert_eq!(found("history.avg('a.b', '1d') - 5 > 'x'").len(), 1);
    }

    #[test]
    fn same_or_unknown_kinds_pass() {
        for source in [
            "idle_for > params.idle_after",
            "idle_for.seconds > 600",
            "n > 5 and s == 'x'",
            "other > 5",
            "s == none and idle_for != none",
            "(n if s else 3) > 1",
            "'a' in s",
            "x | length > 0",
            "history.previous('a.b') > n",
            "history.unknown('a.b') > 'x'",
            "a >",
        ] {
            assert_eq!(found(source), Vec::<String>::new(), "{source}");
        }
    }
}
