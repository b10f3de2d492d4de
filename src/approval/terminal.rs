//! Asking the operator at the terminal (stderr): the action's rows and folded SQL, fitted to
//! the terminal (see `screen`), then approve / skip / abort, or for `confirm` the step id
//! typed out; `s` prints the SQL in full and asks again. `--yes` still approves `required`
//! actions without asking. The menus never wrap around ([`Menu`]), Esc at them skips (never
//! aborts), and every text from the playbook or the server is shown with its control
//! characters escaped, so a row value cannot redraw what the operator is approving.
//!
//! The prompt blocks on the terminal, so it runs on a blocking thread and the runtime goes on.
//! A Ctrl-C while it waits (a SIGINT from outside, or one the terminal delivers) aborts, as
//! a Ctrl-C typed into the prompt does, and the answer is "interrupted": a menu sees the
//! interruption itself and leaves one line saying so, the cursor shown; a prompt that cannot
//! (the typed `confirm`) is abandoned, the terminal put back as it was before it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dialoguer::Input;
use dialoguer::console::Term;
use futures_util::future::LocalBoxFuture;

use super::menu::{Answer, Menu};
use super::{Approver, Decision, Request, StepChoice, screen, tty};
use crate::outputs::record::Decider;
use crate::playbook::{Approval, Step};
use crate::terminal_text::for_terminal_line;

/// The keys the approval menu takes, on its prompt's line.
const ACTION_HINTS: &str = "↑/↓ move, Enter choose, Esc skip, s SQL";

/// The keys `--step`'s menu takes.
const STEP_HINTS: &str = "↑/↓ move, Enter choose, Esc skip";

/// How often a waiting prompt looks at the Ctrl-C flag.
const INTERRUPT_POLL: Duration = Duration::from_millis(50);

/// How long an interrupted prompt is given to close itself (a menu does, within its own poll)
/// before it is abandoned.
const CLOSING: Duration = Duration::from_millis(500);

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

    /// Runs `prompt` on a blocking thread, with the interruption flag its menus close on; a
    /// Ctrl-C meanwhile answers `on_interrupt`.
    async fn ask<T: Send + 'static>(
        &self,
        prompt: impl FnOnce(&Term, &AtomicBool) -> T + Send + 'static,
        on_interrupt: T,
    ) -> T {
        let mode = tty::Mode::save();
        let term = self.term.clone();
        let interrupted = self.interrupted.clone();
        let mut asked = tokio::task::spawn_blocking(move || prompt(&term, &interrupted));
        loop {
            tokio::select! {
                answer = &mut asked => return answer.unwrap_or(on_interrupt),
                () = tokio::time::sleep(INTERRUPT_POLL) => {
                    if self.interrupted.load(Ordering::SeqCst) {
                        if let Ok(answer) = tokio::time::timeout(CLOSING, &mut asked).await {
                            return answer.unwrap_or(on_interrupt);
                        }
                        if let Some(mode) = &mode {
                            mode.restore();
                        }
                        // The prompt's thread may be blocked mid-line: the run's next line
                        // starts on a fresh one, the cursor shown.
                        let _ = self.term.show_cursor();
                        let _ = self.term.write_str("\n");
                        let _ = self.term.clear_line();
                        let _ = self.term.flush();
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
                by: Decider::Yes,
            }));
        }
        let (rows, columns) = self.term.size();
        let size = (usize::from(rows), usize::from(columns));
        let shown = screen::describe(request, &self.naming(), size);
        let sql = screen::full_sql(request.sql);
        let id = request.step.id.clone();
        let approval = request.approval;
        let interrupted = Decision::Interrupted {
            reason: "interrupted at the prompt (Ctrl-C)".to_owned(),
        };
        Box::pin(self.ask(
            move |term, interrupted| {
                let _ = term.write_line(&shown);
                match approval {
                    Approval::Confirm => confirm(term, &id, &sql),
                    Approval::Required => approve_skip_abort(term, &sql, interrupted),
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
            move |term, interrupted| {
                let menu = Menu {
                    prompt: &prompt,
                    items: &["continue", "skip", "abort"],
                    default: 0,
                    on_escape: 1,
                    hints: STEP_HINTS,
                    keys: &[],
                    interrupted,
                };
                match menu.choose(term) {
                    Some(Answer::Item(0)) => StepChoice::Continue,
                    Some(Answer::Item(2)) => StepChoice::Abort,
                    Some(_) => StepChoice::Skip,
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
/// nothing, and Esc skips too. `s` prints the SQL in full and asks again.
fn approve_skip_abort(term: &Term, sql: &str, interrupted: &AtomicBool) -> Decision {
    let menu = Menu {
        prompt: "Run this action?",
        items: &["approve", "skip this step", "abort the run"],
        default: 1,
        on_escape: 1,
        hints: ACTION_HINTS,
        keys: &['s'],
        interrupted,
    };
    loop {
        return match menu.choose(term) {
            Some(Answer::Key(_)) => {
                let _ = term.write_line(sql);
                continue;
            }
            Some(Answer::Item(0)) => Decision::Approved {
                by: Decider::Operator,
            },
            Some(Answer::Item(1)) => Decision::Declined {
                reason: "declined by the operator (skipped at the prompt)".to_owned(),
            },
            Some(Answer::Item(_)) => Decision::Aborted {
                reason: "aborted by the operator".to_owned(),
            },
            None => Decision::Interrupted {
                reason: "interrupted at the prompt (Ctrl-C)".to_owned(),
            },
        };
    }
}

/// `confirm`: the operator types the step id; a wrong answer asks again, empty skips, and
/// `s` (unless it is the id) prints the SQL in full and asks again.
fn confirm(term: &Term, id: &str, sql: &str) -> Decision {
    loop {
        let typed: Result<String, _> = Input::new()
            .with_prompt(format!(
                "Type `{id}` to run this action (empty to skip, `s` to show the SQL, `abort` to stop the run)"
            ))
            .allow_empty(true)
            .interact_text_on(term);
        match typed.as_deref().map(str::trim) {
            Ok(answer) if answer == id => {
                return Decision::Approved {
                    by: Decider::OperatorTypedStepId,
                };
            }
            Ok("") => {
                return Decision::Declined {
                    reason: "declined by the operator (skipped at the prompt)".to_owned(),
                };
            }
            Ok("s") => {
                let _ = term.write_line(sql);
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
