//! Which of a step's optional keys apply to its kind: one that does not is an error, like an
//! unknown key, rather than a setting silently ignored.

use crate::load::raw::RawStep;
use crate::load::spans::Path;
use crate::playbook::Signal;

use super::Validator;
use super::error::Problem;
use super::steps::Shape;

/// The keys a step may have besides its kind.
const OPTIONAL_KEYS: [&str; 11] = [
    "preview",
    "approval",
    "max_rows",
    "assess",
    "timeout",
    "on_error",
    "transaction",
    "functions",
    "sees",
    "wait",
    "metrics",
];

impl Validator<'_> {
    /// Reports every key of `raw` that applies to none of its kinds (`shapes`, at least one;
    /// said of the first); `false` when there is one.
    pub(super) fn keys_apply(&mut self, path: &Path, raw: &RawStep, shapes: &[Shape]) -> bool {
        let present = [
            raw.preview.is_some(),
            raw.approval.is_some(),
            raw.max_rows.is_some(),
            raw.assess.is_some(),
            raw.timeout.is_some(),
            raw.on_error.is_some(),
            raw.transaction.is_some(),
            raw.functions.is_some(),
            raw.sees.is_some(),
            raw.wait.is_some(),
            raw.metrics.is_some(),
        ];
        let mut ok = true;
        for (key, is_present) in OPTIONAL_KEYS.into_iter().zip(present) {
            if is_present && !shapes.iter().any(|shape| allowed(shape).1.contains(&key)) {
                let Some((kind, _)) = shapes.first().map(allowed) else {
                    break;
                };
                let location = self.document.key_location(&path.key(key));
                self.report(
                    Problem::KeyDoesNotApply {
                        key,
                        kind,
                        why: why(kind, key),
                    },
                    location,
                );
                ok = false;
            }
        }
        ok
    }
}

/// A kind's name, and the optional keys that apply to it.
fn allowed(shape: &Shape) -> (&'static str, &'static [&'static str]) {
    const SIGNAL: [&str; 5] = ["approval", "max_rows", "assess", "timeout", "on_error"];
    match shape {
        Shape::Check(_) => (
            "check",
            &[
                "assess",
                "timeout",
                "on_error",
                "functions",
                "sees",
                "metrics",
            ],
        ),
        Shape::Action(_) => ("action", &OPTIONAL_KEYS[..9]),
        Shape::Signal(Signal::Terminate { .. }) => (
            "terminate",
            &[
                "approval", "max_rows", "assess", "timeout", "on_error", "wait",
            ],
        ),
        Shape::Signal(Signal::Cancel) => ("cancel", &SIGNAL),
        Shape::Manual(_) => ("manual", &[]),
    }
}

/// Why `key` does not apply to a `kind` step: empty, or a parenthesised reason.
fn why(kind: &str, key: &str) -> &'static str {
    match (kind, key) {
        (_, "wait") if kind != "manual" => " (it applies to `terminate`)",
        (_, "metrics") if kind != "manual" => " (it applies to checks)",
        ("check", "transaction") => " (a check always runs in a READ ONLY transaction)",
        ("check", _) => " (it applies to actions)",
        ("manual", _) => " (a manual step runs nothing)",
        (_, "preview") => " (the check it names runs again as its preview, at the moment it asks)",
        (_, "transaction") => " (the engine runs its own statement)",
        (_, "functions") => " (list them on the check it names)",
        (_, "sees") => " (declare it on the check it names)",
        _ => "",
    }
}
