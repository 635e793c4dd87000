//! Ending `warden mcp` on SIGTERM or SIGINT: no new call starts, running
//! calls get [`GRACE`] to finish (their results are sent), and any still
//! running then are stopped as a client's cancel stops them (the instance
//! dropped, the child process tree killed, the end recorded). Only then
//! does the process exit, so no call is cut off unrecorded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// How long running calls may take to finish once the server is asked to
/// stop.
pub const GRACE: Duration = Duration::from_secs(5);

/// How long stopped calls may take to record their end before the server
/// exits anyway.
pub const STOP_WAIT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Phase {
    Serving,
    /// No new calls; running ones may finish.
    Draining,
    /// Running calls are stopped.
    Stopping,
}

/// The server's shutdown state and its running calls.
pub struct Shutdown {
    phase: watch::Sender<Phase>,
    running: AtomicUsize,
    idle: Notify,
}

/// One running call; dropping it ends the count.
pub struct Running<'a>(&'a Shutdown);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            phase: watch::Sender::new(Phase::Serving),
            running: AtomicUsize::new(0),
            idle: Notify::new(),
        }
    }
}

impl Shutdown {
    /// Count a call that is about to start, unless the server is stopping.
    pub fn start(&self) -> Option<Running<'_>> {
        self.running.fetch_add(1, Ordering::AcqRel);
        let guard = Running(self);
        (*self.phase.borrow() == Phase::Serving).then_some(guard)
    }

    /// Whether running calls are being stopped.
    pub fn is_stopping(&self) -> bool {
        *self.phase.borrow() == Phase::Stopping
    }

    /// Resolves when running calls are to be stopped.
    pub async fn stopping(&self) {
        let mut rx = self.phase.subscribe();
        let _ = rx.wait_for(|p| *p == Phase::Stopping).await;
    }

    async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.running.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Stop taking calls, let running ones finish for [`GRACE`], then stop
    /// them and wait (at most [`STOP_WAIT`]) until they have ended.
    pub async fn stop(&self) {
        self.phase.send_replace(Phase::Draining);
        if tokio::time::timeout(GRACE, self.idle()).await.is_ok() {
            return;
        }
        self.phase.send_replace(Phase::Stopping);
        let _ = tokio::time::timeout(STOP_WAIT, self.idle()).await;
    }
}

/// Resolves at the first SIGTERM or SIGINT; its name.
pub async fn signalled() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without handlers the default action ends the process, as before.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
