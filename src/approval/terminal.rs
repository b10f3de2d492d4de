//! Asking the operator at the terminal (stderr): the action's SQL and preview, then approve /
//! skip / abort, or for `confirm` the step id typed out. `--yes` still approves `required`
//! actions without asking. The menus never wrap around ([`Menu`]), and every text from the
//! playbook or the server is shown with its control characters escaped, so a row value cannot
//! redraw what the operator is approving.
//!
//! The prompt blocks on the terminal, so it runs on a blocking thread and the runtime goes on.
//! A Ctrl-C while it waits (a SIGINT from outside, or one the terminal delivers) aborts, as
//! a Ctrl-C typed into the prompt does: the prompt is abandoned, the terminal is put back as
//! it was before the prompt, and the answer is "interrupted".

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dialoguer::Input;
use dialoguer::console::Term;
use futures_util::future::LocalBoxFuture;

use super::menu::Menu;
use super::{Approver, Decision, Request, StepChoice, tty};
use crate::playbook::{Approval, Step};
use crate::terminal_text::{for_terminal, for_terminal_line};

/// How often a waiting prompt looks at the Ctrl-C flag.
const INTERRUPT_POLL: Duration = Duration::from_millis(50);

pub struct Terminal {
    assume_yes: bool,
    term: Term,
    interrupted: Arc<AtomicBool>,
    /// In a fleet run: the target the question is about.
    target: Option<String>,
}

impl Terminal {
    /// For a run whose standard input and standard error are terminals; `interrupted` is set
    /// by Ctrl-C.
    pub fn new(assume_yes: bool, interrupted: Arc<AtomicBool>) -> Terminal {
        Terminal {
            assume_yes,
            term: Term::stderr(),
            interrupted,
            target: None,
        }
    }

    /// Runs `prompt` on a blocking thread; a Ctrl-C meanwhile answers `on_interrupt`.
    async fn ask<T: Send + 'static>(
        &self,
        prompt: impl FnOnce(&Term) -> T + Send + 'static,
        on_interrupt: T,
    ) -> T {
        let mode = tty::Mode::save();
        let term = self.term.clone();
        let mut asked = tokio::task::spawn_blocking(move || prompt(&term));
        loop {
            tokio::select! {
                answer = &mut asked => return answer.unwrap_or(on_interrupt),
                () = tokio::time::sleep(INTERRUPT_POLL) => {
                    if self.interrupted.load(Ordering::SeqCst) {
                        if let Some(mode) = &mode {
                            mode.restore();
                        }
                        let _ = self.term.show_cursor();
                        let _ = self.term.write_line("");
                        return on_interrupt;
                    }
                }
            }
        }
    }
}

impl Approver for Terminal {
    fn decide<'a>(&'a mut self, request: &'a Request<'a>) -> LocalBoxFuture<'a, Decision> {
        if self.assume_yes && request.approval == Approval::Required {
            return Box::pin(futures_util::future::ready(Decision::Approved {
                by: "--yes".to_owned(),
            }));
        }
        let shown = format!("{}{}", self.naming(), describe(request));
        let id = request.step.id.clone();
        let approval = request.approval;
        let interrupted = Decision::Interrupted {
            reason: "interrupted at the prompt (Ctrl-C)".to_owned(),
        };
        Box::pin(self.ask(
            move |term| {
                let _ = term.write_line(&shown);
                match approval {
                    Approval::Confirm => confirm(term, &id),
                    Approval::Required => approve_skip_abort(term),
                }
            },
            interrupted,
        ))
    }

    fn before_step<'a>(
        &'a mut self,
        step: &'a Step,
        title: &'a str,
    ) -> LocalBoxFuture<'a, StepChoice> {
        let prompt = format!(
            "{}Next: {} ({} `{}`)",
            self.target
                .as_deref()
                .map(|target| format!("[{target}] "))
                .unwrap_or_default(),
            for_terminal_line(title),
            step.kind_name(),
            step.id
        );
        Box::pin(self.ask(
            move |term| {
                let menu = Menu {
                    prompt: &prompt,
                    items: &["continue", "skip", "abort"],
                    default: 0,
                    on_escape: 2,
                };
                match menu.choose(term) {
                    Some(0) => StepChoice::Continue,
                    Some(1) => StepChoice::Skip,
                    Some(_) => StepChoice::Abort,
                    None => StepChoice::Interrupted,
                }
            },
            StepChoice::Interrupted,
        ))
    }

    fn for_target(&mut self, target: &str) {
        self.target = Some(for_terminal_line(target).into_owned());
    }
}

impl Terminal {
    /// `\n== Target db3 (ops@db3:5432/app)\n` in a fleet run: the prompt that follows is about it.
    fn naming(&self) -> String {
        self.target
            .as_deref()
            .map(|target| format!("\n== Target {target}\n"))
            .unwrap_or_default()
    }
}

/// Approve, skip or abort; the highlight starts on "skip this step", so Enter alone runs
/// nothing.
fn approve_skip_abort(term: &Term) -> Decision {
    let menu = Menu {
        prompt: "Run this action?",
        items: &["approve", "skip this step", "abort the run"],
        default: 1,
        on_escape: 2,
    };
    match menu.choose(term) {
        Some(0) => Decision::Approved {
            by: "operator".to_owned(),
        },
        Some(1) => Decision::Declined {
            reason: "declined by the operator (skipped at the prompt)".to_owned(),
        },
        Some(_) => Decision::Aborted {
            reason: "aborted by the operator".to_owned(),
        },
        None => Decision::Interrupted {
            reason: "interrupted at the prompt (Ctrl-C)".to_owned(),
        },
    }
}

/// `confirm`: the operator types the step id; a wrong answer asks again, empty skips.
fn confirm(term: &Term, id: &str) -> Decision {
    loop {
        let typed: Result<String, _> = Input::new()
            .with_prompt(format!(
                "Type `{id}` to run this action (empty to skip, `abort` to stop the run)"
            ))
            .allow_empty(true)
            .interact_text_on(term);
        match typed.as_deref().map(str::trim) {
            Ok(answer) if answer == id => {
                return Decision::Approved {
                    by: "operator (typed the step id)".to_owned(),
                };
            }
            Ok("") => {
                return Decision::Declined {
                    reason: "declined by the operator (skipped at the prompt)".to_owned(),
                };
            }
            Ok("abort") => {
                return Decision::Aborted {
                    reason: "aborted by the operator".to_owned(),
                };
            }
            // Ctrl-C typed into the line, or the terminal went away.
            Err(_) => {
                return Decision::Interrupted {
                    reason: "interrupted at the prompt (Ctrl-C)".to_owned(),
                };
            }
            Ok(other) => {
                let other = for_terminal_line(other);
                let _ = term.write_line(&format!("`{other}` is not `{id}`; nothing was run."));
            }
        }
    }
}

/// What the operator reads before deciding: title, description, SQL, preview rows, each
/// with its control characters shown escaped, so nothing in them can redraw the prompt.
fn describe(request: &Request) -> String {
    let mut out = format!(
        "\n== Action `{}`: {}\n",
        request.step.id,
        for_terminal_line(request.title)
    );
    if let Some(description) = &request.step.description {
        let _ = writeln!(out, "{}", for_terminal(description.trim_end()));
    }
    let _ = writeln!(
        out,
        "\nSQL that will run:\n{}\n",
        indent(&for_terminal(request.sql.trim_end()))
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

/// A plain aligned table for the terminal, each name and value on one line.
fn text_table(columns: &[String], rows: &[Vec<Option<String>>]) -> String {
    let cell =
        |value: &Option<String>| for_terminal_line(value.as_deref().unwrap_or("NULL")).into_owned();
    let columns: Vec<String> = columns
        .iter()
        .map(|c| for_terminal_line(c).into_owned())
        .collect();
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
    let mut out = line(columns.clone());
    out.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    for row in rows {
        out.push_str(&line(row.iter().map(cell).collect()));
    }
    out
}
