//! Concurrent calls of one script, sent to a single Redis as one script call.
//!
//! Under load many starts (or deliveries) are waiting for Redis at once, and each script call
//! has a cost of its own next to the commands it runs: in Redis, reading and parsing the call,
//! entering Lua, building `ARGV`, writing the reply; in the client, packing the command,
//! handing it to the connection's driver task and waking the caller with its reply. A
//! [`Batcher`] sends the calls queued for one script as one call of a batch script ([`wrap`]),
//! which runs each call's body in turn, in the order they were queued, and answers a list of
//! their answers. Redis runs a script at once, so a batch of calls decides exactly what the
//! same calls sent one after the other would, and each call's writes are as atomic as before.
//!
//! The batch script also adds up what the calls count ([`super::count_prelude`]'s `count`)
//! and writes each counts-hash field once per batch instead of once per call (nobody can read
//! the hash in between).
//!
//! There is no batching task: the caller that finds a flight free (fewer than
//! [`MAX_IN_FLIGHT`] batches in flight) sends what is queued itself, its own call included,
//! and hands the others their answers. A lone call therefore goes alone, with the single-call
//! script, from its own task: no hand-over to another task and no batch script to unwrap.
//! Calls queue only while every flight is taken, that is while Redis is the queue, and the
//! flight that lands first sends them (from a task of its own, so no caller waits for others'
//! answers). Only for a single Redis: in a cluster the calls of one batch would have to share
//! a slot.

use super::conn::Conn;
use ::redis::{RedisError, Script, ToRedisArgs, Value};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use tokio::sync::oneshot;

/// Calls sent in one batch at most (their arguments stay well under Lua's stack limit).
pub(super) const MAX_BATCH: usize = 64;
/// Batches of one script in flight at once; more calls wait in the queue and go in the next.
pub(super) const MAX_IN_FLIGHT: usize = 4;

/// Appended to a script that defines `local function <name>(ARGV)` (its body unchanged, the
/// parameter shadowing the global `ARGV`): `ARGV` is then a list of calls, each its argument
/// count followed by its arguments, and the answer the list of the calls' answers. `count`
/// only adds up while the calls run; the sums are written at the end, with `count`'s rule
/// (the hash's lifetime is set by whoever makes a field).
pub(super) fn wrap(name: &str) -> String {
    format!(
        r"
local tallies = {{}}
count = function(key, field, n)
  if n > 0 then
    local t = tallies[key]
    if not t then
      t = {{}}
      tallies[key] = t
    end
    t[field] = (t[field] or 0) + n
  end
end
local out, i = {{}}, 1
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  out[#out + 1] = {name}({{unpack(ARGV, i + 1, i + n)}})
  i = i + n + 1
end
for key, t in pairs(tallies) do
  for field, n in pairs(t) do
    if redis.call('HINCRBY', key, field, n) == n then counted(key) end
  end
end
return out
"
    )
}

/// One call's arguments, as the single-call script would get them in `ARGV`.
#[derive(Default)]
pub(super) struct Args(Vec<Vec<u8>>);

impl Args {
    pub(super) fn arg(&mut self, a: impl ToRedisArgs) -> &mut Self {
        a.write_redis_args(&mut self.0);
        self
    }

    pub(super) fn into_inner(self) -> Vec<Vec<u8>> {
        self.0
    }
}

type Answer = Result<Value, Arc<RedisError>>;

/// A queued call and where its answer goes.
struct Job {
    args: Args,
    answer: oneshot::Sender<Answer>,
}

/// How many calls went in how many batches (for tests and the docs' figures). A call sent
/// alone counts as a batch of one.
#[derive(Default, Debug)]
pub struct Stats {
    pub calls: AtomicU64,
    pub batches: AtomicU64,
}

/// The calls waiting for a flight, and how many flights are taken.
#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    in_flight: usize,
}

/// What the callers of one script share.
struct Shared {
    conn: Conn,
    /// The script of one call (`return insert(ARGV)`), for a batch of one.
    single: Script,
    /// The batch script ([`wrap`]).
    batch: Script,
    /// The key the scripts are sent with (a single Redis does not route by it; scripts name a
    /// key all the same).
    route: String,
    queue: Mutex<Queue>,
    stats: Arc<Stats>,
}

/// The queue of one script's calls.
pub(super) struct Batcher {
    shared: Arc<Shared>,
    pub(super) stats: Arc<Stats>,
}

impl Batcher {
    pub(super) fn new(conn: Conn, single: Script, batch: Script, route: String) -> Self {
        let stats = Arc::new(Stats::default());
        let shared = Arc::new(Shared {
            conn,
            single,
            batch,
            route,
            queue: Mutex::default(),
            stats: stats.clone(),
        });
        Self { shared, stats }
    }

    /// One call's answer, as the single-call script would give it. An error is the batch's:
    /// Redis did not answer, or the script failed (then the calls before the failing one may
    /// have taken effect, like a single call whose answer was lost).
    ///
    /// If this call takes a flight and is dropped before it lands (its caller's timeout), the
    /// flight goes on in a task of its own, so the other calls in it still get their answers.
    pub(super) async fn call(&self, args: Args) -> Answer {
        let (answer, answered) = oneshot::channel();
        let flight = {
            let mut queue = self.shared.lock();
            queue.jobs.push_back(Job { args, answer });
            self.shared.take(&mut queue)
        };
        if let Some(batch) = flight {
            Detached::new(self.shared.clone().fly(batch)).await;
        }
        answered.await.map_err(|_| {
            Arc::new(RedisError::from((
                ::redis::ErrorKind::Io,
                "the batch was dropped",
            )))
        })?
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while the lock is held leaves the queue consistent (pushes and pops only).
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next batch, if a flight is free: the queued calls (at most [`MAX_BATCH`]) whose
    /// callers are still waiting.
    fn take(&self, queue: &mut Queue) -> Option<Vec<Job>> {
        while queue.in_flight < MAX_IN_FLIGHT && !queue.jobs.is_empty() {
            let n = queue.jobs.len().min(MAX_BATCH);
            let batch: Vec<Job> = queue
                .jobs
                .drain(..n)
                .filter(|job| !job.answer.is_closed())
                .collect();
            if !batch.is_empty() {
                queue.in_flight += 1;
                return Some(batch);
            }
        }
        None
    }

    /// Sends `batch`, then hands the calls queued meanwhile to a task that sends them.
    async fn fly(self: Arc<Self>, batch: Vec<Job>) {
        self.send(batch).await;
        let next = {
            let mut queue = self.lock();
            queue.in_flight -= 1;
            self.take(&mut queue)
        };
        if let Some(next) = next {
            tokio::spawn(self.drain(next));
        }
    }

    /// Sends batches while calls are queued (a task's loop, which no caller waits for).
    async fn drain(self: Arc<Self>, mut batch: Vec<Job>) {
        loop {
            self.send(batch).await;
            let mut queue = self.lock();
            queue.in_flight -= 1;
            match self.take(&mut queue) {
                Some(next) => batch = next,
                None => return,
            }
        }
    }

    /// Sends one batch and hands each call its answer.
    async fn send(&self, batch: Vec<Job>) {
        self.stats
            .calls
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        let mut conn = self.conn.clone();
        if let [_] = batch[..] {
            let Some(job) = batch.into_iter().next() else {
                return;
            };
            let mut inv = self.single.key(&self.route);
            for a in job.args.0 {
                inv.arg(a);
            }
            let answer = inv.invoke_async::<Value>(&mut conn).await;
            let _ = job.answer.send(answer.map_err(Arc::new));
            return;
        }
        let mut inv = self.batch.key(&self.route);
        for job in &batch {
            inv.arg(job.args.0.len());
            for a in &job.args.0 {
                inv.arg(&a[..]);
            }
        }
        let answers = match inv.invoke_async::<Value>(&mut conn).await {
            Ok(Value::Array(answers)) if answers.len() == batch.len() => Ok(answers),
            Ok(other) => Err(Arc::new(RedisError::from((
                ::redis::ErrorKind::Parse,
                "unreadable batch answer",
                format!("{other:?}"),
            )))),
            Err(e) => Err(Arc::new(e)),
        };
        match answers {
            Ok(answers) => {
                for (job, answer) in batch.into_iter().zip(answers) {
                    let _ = job.answer.send(Ok(answer));
                }
            }
            Err(e) => {
                for job in batch {
                    let _ = job.answer.send(Err(e.clone()));
                }
            }
        }
    }
}

/// A future that, if dropped before it is done, is finished by a task of its own (when a
/// runtime is there to run it): a flight carries other callers' calls, which must land
/// whatever happens to the caller that sent it.
struct Detached(Option<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl Detached {
    fn new(f: impl Future<Output = ()> + Send + 'static) -> Self {
        Self(Some(Box::pin(f)))
    }
}

impl Future for Detached {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(f) = self.0.as_mut() else {
            return Poll::Ready(());
        };
        match f.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.0 = None;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        if let (Some(f), Ok(runtime)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A caller that sent a flight and then gave up (its timeout, a closed connection) drops
    /// the flight's future: the flight still runs to the end, for the other calls in it.
    #[tokio::test]
    async fn a_flight_dropped_before_it_lands_still_lands() {
        let (landed, answer) = oneshot::channel();
        let (go, wait) = oneshot::channel::<()>();
        let mut flight = Detached::new(async move {
            let _ = wait.await;
            let _ = landed.send(42);
        });
        // One poll (pending: Redis has not answered), then the caller is gone.
        let polled = tokio::time::timeout(Duration::ZERO, &mut flight).await;
        assert!(polled.is_err(), "the flight was still in the air");
        drop(flight);
        go.send(()).expect("the flight still waits for its answer");
        assert_eq!(answer.await, Ok(42));
    }

    /// A flight that landed while its caller waited is not run again when dropped.
    #[tokio::test]
    async fn a_landed_flight_is_done() {
        let runs = Arc::new(AtomicU64::new(0));
        let counted = runs.clone();
        let mut flight = Detached::new(async move {
            counted.fetch_add(1, Ordering::Relaxed);
        });
        (&mut flight).await;
        drop(flight);
        tokio::task::yield_now().await;
        assert_eq!(runs.load(Ordering::Relaxed), 1);
    }
}
