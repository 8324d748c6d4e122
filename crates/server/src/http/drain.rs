//! The graceful shutdown of one accept loop's connections: when it begins, each open connection
//! finishes the request it is serving (an idle one closes at once) and closes, and the loop
//! waits for them all.
//!
//! Why not hyper-util's `GracefulShutdown`: it wraps each connection in a future that polls a
//! `watch` channel's `changed()` on every poll of the connection, and a pending `changed()`
//! takes the lock of a `Notify` shared by all the connections each time it is polled: one
//! lock and unlock, on a cache line both workers write, per poll, and a webhook is polled twice
//! (see `wake.rs`). Here a connection registers its waker once, when it is accepted, and each
//! poll reads one flag that is written once, at shutdown.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Waker;
use tokio::sync::Notify;

/// Shared by an accept loop and its connections.
#[derive(Default)]
pub(super) struct Drain {
    /// Set once, when the shutdown begins.
    begun: AtomicBool,
    open: Mutex<Open>,
    /// Notified when the last registered connection is gone.
    all_closed: Notify,
}

#[derive(Default)]
struct Open {
    next: u64,
    /// Each open connection's waker, to wake it when the shutdown begins.
    wakers: HashMap<u64, Waker>,
}

/// One connection's place in a [`Drain`], given up when dropped (with the connection).
pub(super) struct Draining {
    drain: Arc<Drain>,
    id: u64,
}

impl Drain {
    /// Registers a connection that `waker` wakes. The waker must stay the connection's for its
    /// whole life (its `InlineWake` one is: a wake goes to whichever task waker it last saw), and
    /// the connection must call [`Draining::begun`] on every poll.
    pub(super) fn register(self: &Arc<Self>, waker: Waker) -> Draining {
        let mut open = self.open.lock();
        let id = open.next;
        open.next += 1;
        open.wakers.insert(id, waker);
        Draining {
            drain: self.clone(),
            id,
        }
    }

    /// Begins the shutdown: every open connection is woken, sees [`Draining::begun`] and
    /// closes once its request in flight is answered.
    ///
    /// A connection polled while this runs cannot miss it: the flag is set before any wake,
    /// and a connection that read it unset either is woken after (and polled again) or, if
    /// its first poll comes later, reads it after taking a lock this wake released.
    pub(super) fn begin(&self) {
        self.begun.store(true, Ordering::SeqCst);
        let wakers: Vec<Waker> = self.open.lock().wakers.values().cloned().collect();
        for w in wakers {
            w.wake();
        }
    }

    /// Resolves once no registered connection is left.
    pub(super) async fn closed(&self) {
        loop {
            let notified = self.all_closed.notified();
            tokio::pin!(notified);
            // Enabled before the check, so that a last connection going in between is not missed.
            notified.as_mut().enable();
            if self.open.lock().wakers.is_empty() {
                return;
            }
            notified.await;
        }
    }
}

impl Draining {
    /// Whether the shutdown has begun: one load of a flag written once, on every poll.
    pub(super) fn begun(&self) -> bool {
        self.drain.begun.load(Ordering::SeqCst)
    }
}

impl Drop for Draining {
    fn drop(&mut self) {
        let mut open = self.drain.open.lock();
        open.wakers.remove(&self.id);
        let last = open.wakers.is_empty();
        drop(open);
        if last {
            self.drain.all_closed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::wake::tests::task;
    use std::time::Duration;

    #[test]
    fn begin_wakes_every_open_connection_once_and_sets_the_flag() {
        let drain = Arc::new(Drain::default());
        let (counts, mut slots): (Vec<_>, Vec<_>) = (0..3)
            .map(|_| {
                let (count, waker) = task();
                (count, drain.register(waker))
            })
            .unzip();
        assert!(slots.iter().all(|s| !s.begun()));
        drop(slots.remove(1)); // closed before the shutdown: not woken
        drain.begin();
        let woken: Vec<_> = counts.iter().map(|c| c.0.load(Ordering::Relaxed)).collect();
        assert_eq!(woken, [1, 0, 1]);
        assert!(slots.iter().all(|s| s.begun()));
        let late = drain.register(Waker::noop().clone());
        assert!(late.begun(), "a connection registered after sees it too");
    }

    #[tokio::test]
    async fn closed_waits_for_the_last_connection() {
        let drain = Arc::new(Drain::default());
        let (a, b) = (
            drain.register(Waker::noop().clone()),
            drain.register(Waker::noop().clone()),
        );
        drain.begin();
        let waiting = tokio::spawn({
            let drain = drain.clone();
            async move { drain.closed().await }
        });
        drop(a);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "one connection is still open");
        drop(b);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("resolves once the last one is gone")
            .unwrap();
        // And at once when none is open.
        tokio::time::timeout(Duration::from_secs(5), drain.closed())
            .await
            .expect("nothing open");
    }
}
