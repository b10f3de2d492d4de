//! A fleet run on a terminal: a line per running target and a total (indicatif's
//! MultiProgress), and above them each target's result as it ends — written by the single
//! run's own renderer ([`outputs::screen`](crate::outputs::screen)): a header line, then the
//! steps that need attention with their tables (`--verbose`: every step; `--brief`: the
//! header alone), coloured by the same rules. On a non-terminal, or with `--quiet`, it draws
//! nothing at all.
//!
//! A prompt owns the terminal while it asks: the fleet's approver hides the display for it
//! ([`Screen::hide`]), and the lines of the targets that end meanwhile are held and printed
//! when it shows again, so nothing is drawn over the question and nothing is lost.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{TargetResult, fleet_status};
use crate::events::{Event, Listener, Veto};
use crate::outputs::paint::Paint;
use crate::outputs::record::Status;
use crate::outputs::screen::{self, Detail};
use crate::terminal_text::for_terminal_line;

pub struct Screen {
    /// `None`: nothing is drawn.
    shown: Option<Shown>,
}

struct Shown {
    detail: Detail,
    paint: Paint,
    multi: MultiProgress,
    total: ProgressBar,
    counts: RefCell<BTreeMap<Status, usize>>,
    hidden: Cell<bool>,
    /// The ends told while a prompt had the terminal.
    held: RefCell<Vec<String>>,
}

impl Screen {
    /// For `targets` targets; draws only when `enabled` (a terminal, and not `--quiet`),
    /// each ended target's `detail` in `paint`.
    pub fn new(enabled: bool, targets: usize, detail: Detail, paint: Paint) -> Screen {
        let shown = enabled.then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let total = multi.add(ProgressBar::new(targets as u64));
            total.set_style(style(
                "{prefix} [{bar:20}] {pos}/{len} targets done {msg} ({elapsed})",
            ));
            total.set_prefix("fleet");
            total.enable_steady_tick(Duration::from_millis(200));
            Shown {
                detail,
                paint,
                multi,
                total,
                counts: RefCell::default(),
                hidden: Cell::new(false),
                held: RefCell::default(),
            }
        });
        Screen { shown }
    }

    /// The line of a target that starts now: it shows its steps until it is dropped.
    pub fn line(&self, name: &str) -> Line {
        let bar = self.shown.as_ref().map(|shown| {
            let bar = shown
                .multi
                .insert_before(&shown.total, ProgressBar::new_spinner());
            bar.set_style(style("{spinner} {prefix} {msg} ({elapsed})"));
            bar.set_prefix(for_terminal_line(name).into_owned());
            bar.set_message("connecting");
            bar.enable_steady_tick(Duration::from_millis(100));
            (shown.multi.clone(), bar)
        });
        Line { bar }
    }

    /// A target ended: its line goes, its result is written above the bars, and the total
    /// counts it. `result` still holds its steps' rows: the fleet slims it after.
    pub fn ended(&self, result: &TargetResult) {
        let Some(shown) = &self.shown else {
            return;
        };
        let status = fleet_status(result.record.status);
        *shown.counts.borrow_mut().entry(status).or_default() += 1;
        let counts: Vec<String> = shown
            .counts
            .borrow()
            .iter()
            .rev()
            .map(|(status, n)| format!("{n} {}", status.label()))
            .collect();
        shown.total.set_message(format!("— {}", counts.join(", ")));
        shown.total.inc(1);
        let mut text = Vec::new();
        let render = screen::Screen::now(shown.detail, shown.paint);
        let _ = render.target(&mut text, &result.name, status, &result.record);
        self.say(String::from_utf8_lossy(&text).trim_end().to_owned());
    }

    /// A line about a target (its error) on stderr: above the bars when they are drawn (held
    /// while a prompt has the terminal), where a line written under them would be torn by
    /// their next redraw.
    pub fn say(&self, line: String) {
        let Some(shown) = &self.shown else {
            crate::run::say(&line);
            return;
        };
        if shown.hidden.get() {
            shown.held.borrow_mut().push(line);
        } else {
            let _ = shown.multi.println(line);
        }
    }

    /// Gives the terminal to a prompt.
    pub fn hide(&self) {
        if let Some(shown) = &self.shown {
            shown.hidden.set(true);
            shown.multi.set_draw_target(ProgressDrawTarget::hidden());
        }
    }

    /// Takes the terminal back after a prompt, with the lines held meanwhile.
    pub fn show(&self) {
        if let Some(shown) = &self.shown {
            shown.hidden.set(false);
            shown.multi.set_draw_target(ProgressDrawTarget::stderr());
            for line in shown.held.take() {
                let _ = shown.multi.println(line);
            }
        }
    }

    /// The fleet ended: the display goes, the summary line follows.
    pub fn clear(&self) {
        if let Some(shown) = &self.shown {
            shown.total.finish_and_clear();
            let _ = shown.multi.clear();
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// A running target's line: its step now. A listener of the target's engine, like the single
/// run's progress display.
pub struct Line {
    bar: Option<(MultiProgress, ProgressBar)>,
}

impl Listener for Line {
    fn on(&mut self, event: &Event) -> Result<(), Veto> {
        let Some((_, bar)) = &self.bar else {
            return Ok(());
        };
        match event {
            Event::Target { name } => {
                bar.set_message(format!("connected to {}", for_terminal_line(name)))
            }
            Event::StepStarted {
                index,
                total,
                title,
            } => bar.set_message(format!(
                "[{}/{total}] {}",
                index + 1,
                for_terminal_line(title)
            )),
            _ => {}
        }
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if let Some((multi, bar)) = self.bar.take() {
            bar.finish_and_clear();
            multi.remove(&bar);
        }
    }
}
