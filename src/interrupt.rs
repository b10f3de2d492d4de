//! Ctrl-C during a run. The first one flags the run (the engine stops at the next step) and
//! cancels the engine's running query; the second exits at once — the journal is already on
//! disk. The handler is installed before anything can prompt: until it exists, SIGINT kills
//! the process without a report.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::engine::Backend;
use crate::exit;
use crate::target::Endpoint;

pub struct Interrupts {
    signal: Option<Signal>,
    flag: Arc<AtomicBool>,
}

impl Interrupts {
    /// Installs the handler.
    pub fn install() -> Interrupts {
        Interrupts {
            signal: signal(SignalKind::interrupt()).ok(),
            flag: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Set once the operator pressed Ctrl-C.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.flag.clone()
    }

    /// Watches for Ctrl-C until the returned task is aborted; `backend` is the engine's own
    /// session, whose query a Ctrl-C cancels (after a reconnection its pid may be another's:
    /// the start is checked too).
    pub fn watch(
        &mut self,
        endpoint: &Endpoint,
        backend: Backend,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let mut signal = self.signal.take()?;
        let flag = self.flag.clone();
        let endpoint = endpoint.clone();
        Some(tokio::spawn(async move {
            while signal.recv().await.is_some() {
                if flag.swap(true, Ordering::SeqCst) {
                    eprintln!("\ninterrupted again: exiting now");
                    std::process::exit(i32::from(exit::STOPPED));
                }
                eprintln!(
                    "\ninterrupted: cancelling the running query (Ctrl-C again to exit at once)"
                );
                endpoint.cancel_backend(&backend).await;
            }
        }))
    }
}
