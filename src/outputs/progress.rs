//! The progress display: a spinner per step with its elapsed time, on a terminal only.
//!
//! It is a listener like the run record: it shows what the engine says, nothing more. When
//! stderr is not a terminal (cron, CI, pipes) or with `--quiet` it draws nothing at all.
//! Titles and messages come from the playbook and the server: their control characters are
//! shown escaped.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::events::{Event, Listener, Veto};
use crate::terminal_text::for_terminal_line;

pub struct Progress {
    enabled: bool,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(enabled: bool) -> Progress {
        Progress { enabled, bar: None }
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
                if let Some(bar) = self.bar.take() {
                    let message = record.message.as_deref().unwrap_or("");
                    bar.finish_with_message(format!(
                        "{} {} — {}",
                        record.status.label(),
                        for_terminal_line(&record.title),
                        for_terminal_line(message)
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }
}
