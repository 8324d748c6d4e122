//! A connection that wakes itself while it is being polled is polled again at once, instead of
//! being handed back to the runtime to be scheduled again.
//!
//! Why: hyper's request body channel wakes the connection's task every time the handler takes
//! a chunk from it (so that the connection reads the next one), and the handler runs inside
//! that same task. So every request whose body is read (every webhook) woke its own task
//! during its poll. Tokio then puts the task at the back of the worker's queue and wakes a
//! parked worker to steal it: an `eventfd` write or a `futex` wake, a context switch on the
//! other core, and often the connection moving to that core with its caches. Measured at 4
//! connections: 0.17 such wake-ups per request, none in bare hyper, which never reads the body
//! (docs/performance.md, "CPU per webhook, fifth round").
//!
//! [`InlineWake::poll`] gives the connection a waker of its own. A wake that comes while the
//! connection is being polled only marks it, and the connection is polled once more before
//! the poll returns; a wake at any other time goes to the task's waker as before. A
//! connection that wakes itself again during that second poll is handed to the runtime as it
//! would have been (so one that keeps waking itself, as hyper's yield after 16 pipelined
//! requests does, still lets other tasks run).

use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker};

/// Not being polled: a wake goes to the task.
const IDLE: u8 = 0;
/// Being polled, not woken yet.
const POLLING: u8 = 1;
/// Woken while being polled: to be polled again.
const WOKEN: u8 = 2;

/// The waker the connection sees.
struct Shared {
    state: AtomicU8,
    /// The task's own waker, where a wake outside a poll goes.
    task: Mutex<Option<Waker>>,
}

impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        match self
            .state
            .compare_exchange(POLLING, WOKEN, Ordering::AcqRel, Ordering::Acquire)
        {
            // Noted: the poll under way polls again.
            Ok(_) | Err(WOKEN) => {}
            Err(_) => {
                if let Some(task) = &*self.task.lock() {
                    task.wake_by_ref();
                }
            }
        }
    }
}

/// One per connection; see the module's documentation.
pub(super) struct InlineWake {
    shared: Arc<Shared>,
    /// `shared` as a [`Waker`], made once.
    waker: Waker,
    /// The task waker last stored in `shared`, compared without its lock.
    task: Option<Waker>,
}

impl InlineWake {
    pub(super) fn new() -> Self {
        let shared = Arc::new(Shared {
            state: AtomicU8::new(IDLE),
            task: Mutex::new(None),
        });
        Self {
            waker: Waker::from(shared.clone()),
            shared,
            task: None,
        }
    }

    /// The connection's waker: the same for the connection's whole life; a wake outside a poll
    /// goes to the task waker last seen.
    pub(super) fn waker(&self) -> &Waker {
        &self.waker
    }

    /// Polls `f` with this connection's waker, once more if it woke itself meanwhile.
    pub(super) fn poll<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut f: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        if !self.task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
            let task = cx.waker().clone();
            *self.shared.task.lock() = Some(task.clone());
            self.task = Some(task);
        }
        let mut ours = Context::from_waker(&self.waker);
        for _ in 0..2 {
            self.shared.state.store(POLLING, Ordering::Release);
            let polled = f(&mut ours);
            let woken = self.shared.state.swap(IDLE, Ordering::AcqRel) == WOKEN;
            if polled.is_ready() || !woken {
                return polled;
            }
        }
        // Woken during the second poll too: the runtime schedules it, after the others.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts the wakes that reach the task.
    pub(in crate::http) struct Count(pub(in crate::http) AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A waker and the count of its wakes (for the tests of `wake` and `drain`).
    pub(in crate::http) fn task() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }

    #[test]
    fn a_wake_during_the_poll_polls_again_at_once_and_spares_the_task() {
        let (count, waker) = task();
        let mut cx = Context::from_waker(&waker);
        let mut inline = InlineWake::new();
        let mut polls = 0;
        let polled = inline.poll(&mut cx, |cx| {
            polls += 1;
            if polls == 1 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(polls)
            }
        });
        assert_eq!(polled, Poll::Ready(2));
        assert_eq!(count.0.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_future_that_keeps_waking_itself_is_handed_to_the_runtime() {
        let (count, waker) = task();
        let mut cx = Context::from_waker(&waker);
        let mut inline = InlineWake::new();
        let mut polls = 0;
        let polled: Poll<()> = inline.poll(&mut cx, |cx| {
            polls += 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        });
        assert_eq!((polled, polls), (Poll::Pending, 2));
        assert_eq!(count.0.load(Ordering::Relaxed), 1, "the wake is not lost");
    }

    #[test]
    fn a_wake_between_polls_reaches_the_task() {
        let (count, waker) = task();
        let mut cx = Context::from_waker(&waker);
        let mut inline = InlineWake::new();
        let mut kept = None;
        let polled: Poll<()> = inline.poll(&mut cx, |cx| {
            kept = Some(cx.waker().clone());
            Poll::Pending
        });
        assert_eq!(polled, Poll::Pending);
        assert_eq!(count.0.load(Ordering::Relaxed), 0);
        let kept = kept.expect("polled");
        kept.wake_by_ref();
        // From another thread, as the runtime's I/O driver wakes it.
        std::thread::scope(|s| {
            s.spawn(|| kept.wake());
        });
        assert_eq!(count.0.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_new_task_waker_replaces_the_old_one() {
        let (first, waker) = task();
        let mut inline = InlineWake::new();
        let mut kept = None;
        let _ = inline.poll(&mut Context::from_waker(&waker), |cx| {
            kept = Some(cx.waker().clone());
            Poll::<()>::Pending
        });
        let (second, waker) = task();
        let _ = inline.poll(&mut Context::from_waker(&waker), |_| Poll::<()>::Pending);
        kept.expect("polled").wake();
        assert_eq!(first.0.load(Ordering::Relaxed), 0);
        assert_eq!(second.0.load(Ordering::Relaxed), 1);
    }
}
