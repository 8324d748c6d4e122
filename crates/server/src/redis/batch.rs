//! Concurrent calls of one script, sent to a single Redis as one script call.
//!
//! Under load many starts (or deliveries) are waiting for Redis at once, and each script call
//! has a cost of its own next to the commands it runs: in Redis, reading and parsing the call,
//! entering Lua, building `ARGV`, writing the reply; in the client, packing the command,
//! handing it to the connection's driver task and waking the caller with its reply. A
//! [`Batcher`] is a task that takes the calls queued for one script and sends them as one call
//! of a batch script ([`wrap`]), which runs each call's body in turn, in the order they were
//! queued, and answers a list of their answers. Redis runs a script at once, so a batch of
//! calls decides exactly what the same calls sent one after the other would, and each call's
//! writes are as atomic as before.
//!
//! The batch script also adds up what the calls count ([`super::scripts::count_prelude`]'s `count`)
//! and writes each counts-hash field once per batch instead of once per call (nobody can read
//! the hash in between).
//!
//! Nothing waits to fill a batch: the task sends whatever is queued as soon as fewer than
//! [`MAX_IN_FLIGHT`] batches are in flight, so a lone request goes alone (one extra task
//! hand-over) and batches grow only when Redis is the queue. Only for a single Redis: in a
//! cluster the calls of one batch would have to share a slot.

use super::conn::Conn;
use ::redis::{Arg, Cmd, ErrorKind, RedisError, Script, ServerErrorKind, ToRedisArgs, Value};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

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

/// One call's arguments, as the single-call script would get them in `ARGV`, packed in one
/// buffer (a command without a name), so that a call's arguments cost two allocations however
/// many there are, and go into the script call by one copy each.
pub(super) struct Args(Cmd);

/// Bytes reserved for one call's arguments: an insert's or a receive's are about 150.
pub(super) const CALL_BYTES: usize = 256;

impl Default for Args {
    fn default() -> Self {
        Self(Cmd::with_capacity(12, CALL_BYTES))
    }
}

impl Args {
    pub(super) fn arg(&mut self, a: impl ToRedisArgs) -> &mut Self {
        self.0.arg(a);
        self
    }

    fn len(&self) -> usize {
        self.0.args_iter().len()
    }

    /// Appends the arguments to `cmd`.
    pub(super) fn append_to(&self, cmd: &mut Cmd) {
        for a in self.0.args_iter() {
            // `Args` never holds a cursor argument (only `Cmd::cursor_arg` makes one).
            if let Arg::Simple(a) = a {
                cmd.arg(a);
            }
        }
    }
}

/// An `EVALSHA` of `script` with its one key, `route`, and room for `bytes` of arguments.
pub(super) fn evalsha(script: &Script, route: &str, bytes: usize) -> Cmd {
    let mut cmd = Cmd::with_capacity(4, bytes + 96);
    cmd.arg("EVALSHA").arg(script.get_hash()).arg(1).arg(route);
    cmd
}

/// Sends `cmd`, an [`evalsha`] of `script`; if Redis does not have the script (restarted,
/// flushed), loads it and sends `cmd` again, as `Script::invoke_async` does.
pub(super) async fn eval(conn: &mut Conn, script: &Script, cmd: &Cmd) -> Result<Value, RedisError> {
    match cmd.query_async(conn).await {
        Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
            script.load_async(conn).await?;
            cmd.query_async(conn).await
        }
        answer => answer,
    }
}

/// A queued call and where its answer goes.
struct Job {
    args: Args,
    answer: oneshot::Sender<Result<Value, Arc<RedisError>>>,
}

/// How many calls went in how many batches (for tests and the docs' figures).
#[derive(Default, Debug)]
pub struct Stats {
    pub calls: AtomicU64,
    pub batches: AtomicU64,
}

/// The queue of one batch script; its task ends when the batcher and its clones are dropped
/// (after answering every call in flight).
#[derive(Clone)]
pub(super) struct Batcher {
    queue: mpsc::UnboundedSender<Job>,
}

impl Batcher {
    /// Starts the task on the current Tokio runtime. `route` is the key the script is sent
    /// with (a single Redis does not route by it; scripts name a key all the same); `stats`
    /// counts what it sends.
    pub(super) fn spawn(conn: Conn, script: Script, route: String, stats: Arc<Stats>) -> Self {
        let (queue, jobs) = mpsc::unbounded_channel();
        tokio::spawn(run(jobs, conn, script, route, stats));
        Self { queue }
    }

    /// One call's answer, as the single-call script would give it. An error is the batch's:
    /// Redis did not answer, or the script failed (then the calls before the failing one may
    /// have taken effect, like a single call whose answer was lost).
    pub(super) async fn call(&self, args: Args) -> Result<Value, Arc<RedisError>> {
        let (answer, answered) = oneshot::channel();
        let lost = || Arc::new(RedisError::from((ErrorKind::Io, "the batch task is gone")));
        self.queue.send(Job { args, answer }).map_err(|_| lost())?;
        answered.await.map_err(|_| lost())?
    }
}

async fn run(
    mut jobs: mpsc::UnboundedReceiver<Job>,
    conn: Conn,
    script: Script,
    route: String,
    stats: Arc<Stats>,
) {
    // The batches in flight are polled by this task rather than spawned: a spawn is a task
    // to schedule (and, on an idle runtime, a parked worker woken to steal it) per batch.
    let mut flights = FuturesUnordered::new();
    loop {
        tokio::select! {
            Some(()) = flights.next(), if !flights.is_empty() => {}
            job = jobs.recv(), if flights.len() < MAX_IN_FLIGHT => {
                let Some(first) = job else { break };
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match jobs.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                // Calls whose caller gave up (its timeout) while they were queued are not sent.
                batch.retain(|job| !job.answer.is_closed());
                if batch.is_empty() {
                    continue;
                }
                stats.calls.fetch_add(batch.len() as u64, Ordering::Relaxed);
                stats.batches.fetch_add(1, Ordering::Relaxed);
                flights.push(send(conn.clone(), &script, &route, batch));
            }
        }
    }
    while flights.next().await.is_some() {}
}

/// Sends one batch and hands each call its answer.
async fn send(mut conn: Conn, script: &Script, route: &str, batch: Vec<Job>) {
    let mut cmd = evalsha(script, route, batch.len() * CALL_BYTES);
    for job in &batch {
        cmd.arg(job.args.len());
        job.args.append_to(&mut cmd);
    }
    let answers = match eval(&mut conn, script, &cmd).await {
        Ok(Value::Array(answers)) if answers.len() == batch.len() => Ok(answers),
        Ok(other) => Err(Arc::new(RedisError::from((
            ErrorKind::Parse,
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
