//! Ctrl-C (SIGINT), SIGTERM and SIGHUP during a run: the same thing, said with its name.
//!
//! The first of them flags the run (the engine stops at the next opportunity) and cancels the
//! engine's running query through the session's [`Canceller`], the one seam every
//! cancellation takes (a step's timeout uses it too), which always aims at the session's
//! current backend; the second exits at once — the journal is already on disk. A supervisor's
//! SIGTERM or a closed terminal's SIGHUP so still ends with a report and exit 4.
//!
//! The handlers are installed before anything can prompt: until they exist, a signal kills
//! the process without a report. [`Interruption`] is the one place that says what
//! interrupted the run; every message about it takes its words from [`Cause::by`].
//!
//! [`Stop`] is the one way a run is stopped from outside its engine: it raises the
//! interruption and cancels what every session registered with it runs. A single run has one
//! session; a fleet has one per running target, and an abort at any target's prompt stops them
//! all through the same `Stop` a signal takes.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::engine::Backend;
use crate::exit;
use crate::target::Canceller;

/// What interrupted the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// SIGINT: Ctrl-C at the terminal (or `kill -INT`).
    CtrlC,
    /// SIGTERM: a supervisor, `kill`, a shutdown.
    Terminate,
    /// SIGHUP: the terminal closed.
    Hangup,
    /// In a fleet: the operator aborted at another target's prompt.
    Aborted,
}

impl Cause {
    /// Who or what interrupted the run, as every message says it after "interrupted".
    pub fn by(self) -> &'static str {
        match self {
            Cause::CtrlC => "by the operator (Ctrl-C)",
            Cause::Terminate => "by SIGTERM",
            Cause::Hangup => "by SIGHUP",
            Cause::Aborted => "by the operator (abort at another target's prompt)",
        }
    }

    fn kind(self) -> Option<SignalKind> {
        match self {
            Cause::CtrlC => Some(SignalKind::interrupt()),
            Cause::Terminate => Some(SignalKind::terminate()),
            Cause::Hangup => Some(SignalKind::hangup()),
            Cause::Aborted => None,
        }
    }

    /// What the first signal prints; the second one exits at once.
    fn notice(self) -> String {
        let again = match self {
            Cause::CtrlC => "Ctrl-C again",
            Cause::Terminate | Cause::Hangup | Cause::Aborted => "another signal",
        };
        format!(
            "interrupted {}: cancelling the running query ({again} to exit at once)",
            self.by()
        )
    }
}

/// Whether the run was interrupted, and by what: set once, by the first signal, and read by
/// the engine, the approver and the watcher.
#[derive(Debug, Clone, Default)]
pub struct Interruption {
    cause: Arc<OnceLock<Cause>>,
    /// Set right after `cause`, for what only asks whether (the approver's prompt).
    flag: Arc<AtomicBool>,
    /// Wakes what waits for the interruption (see [`Interruption::raised`]).
    raised: Arc<tokio::sync::Notify>,
}

impl Interruption {
    /// Flags the run as interrupted by `cause`; false when it already was (by anything).
    pub fn raise(&self, cause: Cause) -> bool {
        let first = self.cause.set(cause).is_ok();
        self.flag.store(true, Ordering::SeqCst);
        self.raised.notify_waiters();
        first
    }

    /// Ready once the run is interrupted: for what waits on something that knows nothing of
    /// the interruption (a connection attempt, which may take its whole connect timeout).
    pub async fn raised(&self) {
        loop {
            let notified = self.raised.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the flag is read, so a raise in between still wakes it.
            notified.as_mut().enable();
            if self.is_raised() {
                return;
            }
            notified.await;
        }
    }

    pub fn is_raised(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// What interrupted the run, once it was.
    pub fn cause(&self) -> Option<Cause> {
        self.cause.get().copied()
    }

    /// The flag alone, for an approver that abandons its prompt when it is set.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.flag.clone()
    }
}

/// Stops a run from outside its engine: raises the [`Interruption`] and cancels, on their
/// servers, the queries of every session registered (see [`Stop::register`]). Clones are the
/// same stop.
#[derive(Clone, Default)]
pub struct Stop {
    interruption: Interruption,
    sessions: Arc<Mutex<Sessions>>,
}

#[derive(Default)]
struct Sessions {
    next: u64,
    cancellers: Vec<(u64, Canceller)>,
}

/// A session's registration with a [`Stop`]: dropped, the stop no longer cancels it.
pub struct Registered {
    sessions: Arc<Mutex<Sessions>>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.cancellers.retain(|(id, _)| *id != self.id);
    }
}

impl Stop {
    /// A stop that raises `interruption`.
    #[cfg(test)]
    pub fn new(interruption: Interruption) -> Stop {
        Stop {
            interruption,
            sessions: Arc::default(),
        }
    }

    pub fn interruption(&self) -> Interruption {
        self.interruption.clone()
    }

    /// The backends of the sessions registered now: in a fleet, this run's own sessions on
    /// every target, which are not another responder's (see `engine::lock`).
    pub fn backends(&self) -> Vec<Backend> {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .cancellers
            .iter()
            .filter_map(|(_, canceller)| canceller.current())
            .collect()
    }

    /// From now until the registration is dropped, a stop cancels what `canceller`'s session
    /// runs (the canceller follows that session across a reconnection).
    pub fn register(&self, canceller: Canceller) -> Registered {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.next += 1;
        let id = sessions.next;
        sessions.cancellers.push((id, canceller));
        Registered {
            sessions: self.sessions.clone(),
            id,
        }
    }

    /// Stops the run for `cause`: raises the interruption and cancels every registered
    /// session's query, all at once. False, and nothing cancelled, when it was already
    /// stopped.
    pub async fn stop(&self, cause: Cause) -> bool {
        if !self.interruption.raise(cause) {
            return false;
        }
        let cancellers: Vec<Canceller> = self
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .cancellers
            .iter()
            .map(|(_, canceller)| canceller.clone())
            .collect();
        futures_util::future::join_all(cancellers.iter().map(Canceller::cancel)).await;
        true
    }
}

pub struct Interrupts {
    /// The installed handlers, until `watch` takes them.
    signals: Vec<(Cause, Signal)>,
    stop: Stop,
}

impl Interrupts {
    /// Installs the handlers of SIGINT, SIGTERM and SIGHUP. From now on they are queued until
    /// `watch` hears them, instead of killing the process.
    pub fn install() -> Interrupts {
        let signals = [Cause::CtrlC, Cause::Terminate, Cause::Hangup]
            .into_iter()
            .filter_map(|cause| Some((cause, signal(cause.kind()?).ok()?)))
            .collect();
        Interrupts {
            signals,
            stop: Stop::default(),
        }
    }

    /// What a signal raises and cancels through.
    pub fn stop(&self) -> Stop {
        self.stop.clone()
    }

    /// Watches for the signals until the returned task is aborted: the first stops the run
    /// (see [`Stop::stop`]), the second exits at once.
    pub fn watch(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        let signals = std::mem::take(&mut self.signals);
        if signals.is_empty() {
            return None;
        }
        let stop = self.stop.clone();
        Some(tokio::spawn(async move {
            let mut signals = signals;
            while let Some(cause) = next(&mut signals).await {
                if stop.interruption.is_raised() {
                    say("interrupted again: exiting now");
                    std::process::exit(i32::from(exit::STOPPED));
                }
                // Raised first, so that a menu on the screen closes (and lets the terminal
                // go) while the queries are cancelled; the notice follows its one line.
                let notice = cause.notice();
                let told = tokio::task::spawn_blocking(move || {
                    let _terminal = hold_terminal();
                    say(&notice);
                });
                stop.stop(cause).await;
                let _ = told.await;
            }
        }))
    }
}

/// Who writes to the terminal now, besides the progress display: a menu holds it while it is
/// drawn (it clears its own lines when it closes, counted from the cursor), and the notice of
/// a signal waits for it.
static TERMINAL: Mutex<()> = Mutex::new(());

/// The terminal, until the guard is dropped: see [`TERMINAL`]. A menu lets it go within its
/// poll once the run is interrupted, so the notice waits no longer than that.
pub fn hold_terminal() -> MutexGuard<'static, ()> {
    TERMINAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The next signal of any of the kinds; `None` once none can come any more.
async fn next(signals: &mut [(Cause, Signal)]) -> Option<Cause> {
    let pending = signals
        .iter_mut()
        .map(|(cause, signal)| {
            let cause = *cause;
            Box::pin(async move { signal.recv().await.map(|()| cause) })
        })
        .collect::<Vec<_>>();
    if pending.is_empty() {
        return None;
    }
    futures_util::future::select_all(pending).await.0
}

/// To the terminal, if it is still there: after a SIGHUP it may not be, and the run must still
/// write its report.
fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "\n{text}");
}
