//! The progress display: a spinner per step with its elapsed time, on a terminal only.
//!
//! It is a listener like the run record: it shows what the engine says, nothing more. When
//! stderr is not a terminal (cron, CI, pipes) or with `--quiet` it draws nothing at all.
//! Titles and messages come from the playbook and the server: their control characters are
//! shown escaped. Each finished step is written by [`Screen`] (its status line, then its
//! sessions, a manual step's text, a dry run's targets), fitted to the width the terminal has
//! at that moment.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::paint::Paint;
use super::screen::{Detail, Screen};
use crate::events::{Event, Listener, Veto};
use crate::terminal_text::for_terminal_line;

/// The steps of a single run on the terminal.
pub struct Progress {
    enabled: bool,
    detail: Detail,
    paint: Paint,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A display that draws when `enabled`, showing `detail` below each step, in `paint`.
    pub fn new(enabled: bool, detail: Detail, paint: Paint) -> Progress {
        Progress {
            enabled,
            detail,
            paint,
            bar: None,
        }
    }
}

/// The line that names the server before the first connection attempt, on a terminal only:
/// a spinner while connecting that says why it waits between attempts, then `connected to …`
/// (or nothing, when it failed: the error says where it tried). Clones share the line, so the
/// endpoint's retry callback can tell it.
#[derive(Clone, Default)]
pub struct Connecting {
    bar: Arc<Mutex<Option<ProgressBar>>>,
    target: String,
}

impl Connecting {
    pub fn start(enabled: bool, target: &str) -> Connecting {
        let target = for_terminal_line(target).into_owned();
        let bar = enabled.then(|| {
            let bar = ProgressBar::new_spinner();
            let style = ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.set_message(format!("connecting to {target}"));
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Connecting {
            bar: Arc::new(Mutex::new(bar)),
            target,
        }
    }

    /// Between attempts: why it waits.
    pub fn waiting(&self, why: &str) {
        if let Some(bar) = self.bar().as_ref() {
            let why = for_terminal_line(why);
            bar.set_message(format!("connecting to {}: {why}", self.target));
        }
    }

    /// Connected: the line stays, naming the server the run works on.
    pub fn connected(&self) {
        if let Some(bar) = self.bar().take() {
            bar.set_style(
                ProgressStyle::with_template("{msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.finish_with_message(format!("connected to {}", self.target));
        }
    }

    /// Not connected: the line goes (the error that follows names the target).
    pub fn failed(&self) {
        if let Some(bar) = self.bar().take() {
            bar.finish_and_clear();
        }
    }

    fn bar(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        self.bar.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Listener for Progress {
    fn on(&mut self, event: &Event) -> Result<(), Veto> {
        if !self.enabled {
            return Ok(());
        }
        match event {
            Event::StepStarted {
                index,
                total,
                title,
                ..
            } => {
                let bar = ProgressBar::new_spinner();
                let style = ProgressStyle::with_template("{spinner} [{prefix}] {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner());
                bar.set_style(style);
                bar.set_prefix(format!("{}/{total}", index + 1));
                bar.set_message(for_terminal_line(title).into_owned());
                bar.enable_steady_tick(Duration::from_millis(100));
                self.bar = Some(bar);
            }
            Event::Asking => {
                if let Some(bar) = &self.bar {
                    bar.finish_and_clear();
                }
            }
            Event::StepFinished { record, .. } => {
                // The bar goes and the lines are printed as they are: what follows a finished
                // bar would share its line, and the spinner's template cannot hold a table.
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                    let screen = Screen::now(self.detail, self.paint);
                    let stderr = &mut std::io::stderr().lock();
                    let _ = screen.step(stderr, &bar.prefix(), record, bar.elapsed());
                }
            }
            _ => {}
        }
        Ok(())
    }
}
