//! Asking the operator at the terminal (stderr): the action's SQL and preview, then approve /
//! skip / abort, or for `confirm` the step id typed out. `--yes` still approves `required`
//! actions without asking.
//!
//! The prompt blocks on the terminal, so it runs on a blocking thread and the runtime goes on.
//! A Ctrl-C while it waits (a SIGINT from outside, or one the terminal delivers) aborts, as
//! a Ctrl-C typed into the prompt does: the prompt is abandoned, the terminal is put back as
//! it was before the prompt, and the answer is "aborted".

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dialoguer::console::Term;
use dialoguer::{Input, Select};
use futures_util::future::LocalBoxFuture;

use super::{Approver, Decision, Request, StepChoice};
use crate::playbook::{Approval, Step};

/// How often a waiting prompt looks at the Ctrl-C flag.
const INTERRUPT_POLL: Duration = Duration::from_millis(50);

pub struct Terminal {
    assume_yes: bool,
    term: Term,
    interrupted: Arc<AtomicBool>,
}

impl Terminal {
    /// For a run whose standard input and standard error are terminals; `interrupted` is set
    /// by Ctrl-C.
    pub fn new(assume_yes: bool, interrupted: Arc<AtomicBool>) -> Terminal {
        Terminal {
            assume_yes,
            term: Term::stderr(),
            interrupted,
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

/// The terminal's mode, to put back when a prompt is abandoned in raw mode.
mod tty {
    pub struct Mode(libc::termios);

    impl Mode {
        pub fn save() -> Option<Mode> {
            let mut termios = std::mem::MaybeUninit::<libc::termios>::uninit();
            // SAFETY: tcgetattr writes a whole termios on success and nothing is read otherwise.
            let saved = unsafe { libc::tcgetattr(libc::STDIN_FILENO, termios.as_mut_ptr()) };
            // SAFETY: initialised by the successful call above.
            (saved == 0).then(|| Mode(unsafe { termios.assume_init() }))
        }

        pub fn restore(&self) {
            // SAFETY: a termios that tcgetattr returned, for the same descriptor.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.0) };
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
        let shown = describe(request);
        let id = request.step.id.clone();
        let approval = request.approval;
        let aborted = Decision::Aborted {
            reason: "aborted by the operator".to_owned(),
        };
        Box::pin(self.ask(
            move |term| {
                let _ = term.write_line(&shown);
                match approval {
                    Approval::Confirm => confirm(term, &id),
                    Approval::Required => approve_skip_abort(term),
                }
            },
            aborted,
        ))
    }

    fn before_step<'a>(
        &'a mut self,
        step: &'a Step,
        title: &'a str,
    ) -> LocalBoxFuture<'a, StepChoice> {
        let prompt = format!("Next: {title} ({} `{}`)", step.kind_name(), step.id);
        Box::pin(self.ask(
            move |term| match choose(term, &prompt, &["continue", "skip", "abort"], 0) {
                Some(0) => StepChoice::Continue,
                Some(1) => StepChoice::Skip,
                _ => StepChoice::Abort,
            },
            StepChoice::Abort,
        ))
    }
}

fn choose(term: &Term, prompt: &str, items: &[&str], default: usize) -> Option<usize> {
    Select::new()
        .with_prompt(prompt)
        .items(items)
        .default(default)
        .interact_on_opt(term)
        .ok()
        .flatten()
}

fn approve_skip_abort(term: &Term) -> Decision {
    match choose(
        term,
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
                let _ = term.write_line(&format!("`{other}` is not `{id}`; nothing was run."));
            }
        }
    }
}

/// What the operator reads before deciding: title, description, SQL, preview rows.
fn describe(request: &Request) -> String {
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
