//! Who approves an action, and who says whether to go on: the seam between the executor and
//! the operator.
//!
//! The executor asks; an `Approver` answers. Without a terminal the answer is no (fail
//! closed), `--yes` approves `required` actions but never `confirm` ones, a dry run answers
//! "dry run" so the same path shows what would have run, and at a terminal the operator sees
//! the rendered SQL and the preview rows before choosing.

use std::fmt::Write as _;
use std::io::IsTerminal;

use dialoguer::console::Term;
use dialoguer::{Input, Select};

use crate::outcome::Mode;
use crate::playbook::{Approval, Step};

/// What the operator is asked to approve.
pub struct Request<'a> {
    pub step: &'a Step,
    pub title: &'a str,
    /// The rendered SQL that will run.
    pub sql: &'a str,
    /// The preview's columns and first rows, and how many rows it returned in all.
    pub preview: Option<Preview<'a>>,
    /// The most rows the action may act on, when it says.
    pub max_rows: Option<u64>,
    pub approval: Approval,
}

pub struct Preview<'a> {
    pub columns: &'a [String],
    pub rows: &'a [Vec<Option<String>>],
    pub row_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run it; `by` says how (`--yes`, or the operator at the prompt).
    Approved { by: String },
    /// The operator chose to skip it; the run goes on.
    Skipped { reason: String },
    /// Not approved (no terminal, or `--yes` on a `confirm` action): the action does not
    /// run, the run goes on, and exits 4.
    Refused { reason: String },
    /// The operator aborted the run: nothing more runs; exit 4.
    Aborted { reason: String },
    /// A dry run: show what would have run.
    DryRun,
}

/// The answer to `--step`'s question before a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepChoice {
    Continue,
    Skip,
    Abort,
}

pub trait Approver {
    fn decide(&mut self, request: &Request, mode: Mode) -> Decision;

    /// With `--step`: asked before every step.
    fn before_step(&mut self, step: &Step, title: &str) -> StepChoice;
}

/// Answers without asking: `--yes` for `required` actions; nothing otherwise.
pub struct Unattended {
    pub assume_yes: bool,
}

impl Approver for Unattended {
    fn decide(&mut self, request: &Request, mode: Mode) -> Decision {
        if mode == Mode::DryRun {
            return Decision::DryRun;
        }
        match (request.approval, self.assume_yes) {
            (Approval::Required, true) => Decision::Approved {
                by: "--yes".to_owned(),
            },
            (Approval::Confirm, true) => Decision::Refused {
                reason: format!(
                    "not approved: `{}` needs `approval: confirm` (typing the step id at a terminal), which `--yes` never gives",
                    request.step.id
                ),
            },
            (_, false) => Decision::Refused {
                reason: "not approved: no terminal to ask and no `--yes`".to_owned(),
            },
        }
    }

    fn before_step(&mut self, _step: &Step, _title: &str) -> StepChoice {
        // `--step` without a terminal cannot ask: stop rather than run unasked.
        StepChoice::Abort
    }
}

/// Asks the operator at the terminal (stderr), falling back to `Unattended` rules for
/// `--yes` on `required` actions.
pub struct Terminal {
    pub assume_yes: bool,
    term: Term,
}

impl Terminal {
    /// `Some` when both standard input and standard error are terminals.
    pub fn detect(assume_yes: bool) -> Option<Terminal> {
        (std::io::stdin().is_terminal() && std::io::stderr().is_terminal()).then(|| Terminal {
            assume_yes,
            term: Term::stderr(),
        })
    }

    fn show(&self, request: &Request) {
        let _ = self.term.write_line(&describe(request));
    }

    fn choose(&self, prompt: &str, items: &[&str], default: usize) -> Option<usize> {
        Select::new()
            .with_prompt(prompt)
            .items(items)
            .default(default)
            .interact_on_opt(&self.term)
            .ok()
            .flatten()
    }

    /// `confirm`: the operator types the step id; a wrong answer asks again, empty skips.
    fn confirm(&self, id: &str) -> Decision {
        loop {
            let typed: Result<String, _> = Input::new()
                .with_prompt(format!(
                    "Type `{id}` to run this action (empty to skip, `abort` to stop the run)"
                ))
                .allow_empty(true)
                .interact_text_on(&self.term);
            match typed.as_deref().map(str::trim) {
                Ok(answer) if answer == id => {
                    return Decision::Approved {
                        by: "operator (typed the step id)".to_owned(),
                    };
                }
                Ok("") => {
                    return Decision::Skipped {
                        reason: "skipped by the operator".to_owned(),
                    };
                }
                Ok("abort") | Err(_) => {
                    return Decision::Aborted {
                        reason: "aborted by the operator".to_owned(),
                    };
                }
                Ok(other) => {
                    let _ = self
                        .term
                        .write_line(&format!("`{other}` is not `{id}`; nothing was run."));
                }
            }
        }
    }
}

impl Approver for Terminal {
    fn decide(&mut self, request: &Request, mode: Mode) -> Decision {
        if mode == Mode::DryRun {
            return Decision::DryRun;
        }
        if self.assume_yes && request.approval == Approval::Required {
            return Decision::Approved {
                by: "--yes".to_owned(),
            };
        }
        self.show(request);
        if request.approval == Approval::Confirm {
            return self.confirm(&request.step.id);
        }
        match self.choose(
            "Run this action?",
            &["approve", "skip this step", "abort the run"],
            1,
        ) {
            Some(0) => Decision::Approved {
                by: "operator".to_owned(),
            },
            Some(1) => Decision::Skipped {
                reason: "skipped by the operator".to_owned(),
            },
            _ => Decision::Aborted {
                reason: "aborted by the operator".to_owned(),
            },
        }
    }

    fn before_step(&mut self, step: &Step, title: &str) -> StepChoice {
        let prompt = format!("Next: {title} ({} `{}`)", step.kind_name(), step.id);
        match self.choose(&prompt, &["continue", "skip", "abort"], 0) {
            Some(0) => StepChoice::Continue,
            Some(1) => StepChoice::Skip,
            _ => StepChoice::Abort,
        }
    }
}

/// What the operator reads before deciding: title, description, SQL, preview rows.
pub fn describe(request: &Request) -> String {
    let mut out = format!("\n== Action `{}`: {}\n", request.step.id, request.title);
    if let Some(description) = &request.step.description {
        let _ = writeln!(out, "{}", description.trim_end());
    }
    let _ = writeln!(
        out,
        "\nSQL that will run:\n{}\n",
        indent(request.sql.trim_end())
    );
    if let Some(preview) = &request.preview {
        let limit = request
            .max_rows
            .map(|n| format!(" (max_rows {n})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "Preview: {} row{}{limit}",
            preview.row_count,
            if preview.row_count == 1 { "" } else { "s" }
        );
        out.push_str(&text_table(preview.columns, preview.rows));
        if (preview.rows.len() as u64) < preview.row_count {
            let _ = writeln!(
                out,
                "  ... {} more rows not shown",
                preview.row_count - preview.rows.len() as u64
            );
        }
    }
    if request.approval == Approval::Confirm {
        out.push_str("This action needs confirmation.\n");
    }
    out
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A plain aligned table for the terminal.
fn text_table(columns: &[String], rows: &[Vec<Option<String>>]) -> String {
    let cell = |value: &Option<String>| {
        value
            .as_deref()
            .unwrap_or("NULL")
            .replace(['\n', '\r', '\t'], " ")
    };
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for row in rows {
        for (i, value) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell(value).chars().count().min(60));
            }
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                let c: String = c.chars().take(60).collect();
                format!("{c:w$}")
            })
            .collect();
        format!("  {}\n", padded.join(" | ").trim_end())
    };
    let mut out = line(columns.to_vec());
    out.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    for row in rows {
        out.push_str(&line(row.iter().map(cell).collect()));
    }
    out
}
