//! Challenges in Redis, so several verifier instances behind one load balancer share them.
//!
//! # Layout (every key under a prefix, default `mo2fa:`)
//! A pending challenge is two entries, nothing else: its code key and its place in the pending
//! set. It gets a key of its own only when it ends.
//! * `{p}code:{code}`: `id expires expected` of the *pending* challenge holding that code (all a
//!   receive or an insert reads to decide); expires with it (by Redis' clock), deleted when a
//!   message ends the challenge. This is the "one pending challenge per code" rule, enforced by
//!   the insert script. A code key whose holder is no longer in the pending set (it expired by
//!   the caller's clock first) holds nothing.
//! * `{p}pending`: sorted set of pending ids scored by expiry; the sweep drops what is due (at
//!   most 1,000 a call), and an insert that finds the bound reached drops what is due first and
//!   counts only the live ones (score past `now`) against `max_pending`. A status lookup of a
//!   pending challenge reads its score.
//! * `{p}done:{id}`: how a challenge ended, `verified expires verified_at sender`, `expired
//!   expires` or `locked expires`; expires `retention` after the challenge does.
//! * `{p}fail:{id}`: a pending challenge's sender mismatches so far (only after one); expires
//!   with the challenge.
//! * `{p}dd:{delivery id}`: the first answer to a webhook delivery, for `dedupe_retention`.
//! * `{p}counts:{instance}`: hash of what this verifier instance's scripts decided (`starts`,
//!   `verifications`, `expired`, `duplicates`, ...: [`RECORDED`]; `messages` is the sum of the
//!   outcomes, [`MESSAGES_ARE`]), counted by the script in the same step that decides; kept a
//!   day after the instance's last sweep ([`COUNTS_TTL_MS`]).
//!
//! # Invariants
//! * Insert and receive are each one Lua script, and Redis runs scripts one at a time, so a
//!   challenge turns `verified` at most once however many instances race with duplicates, and a
//!   delivery id is decided once: a racing duplicate gets the recorded answer. With one Redis,
//!   the calls of concurrent requests are sent in batches (`redis::batch`): one script call runs
//!   each call's unchanged body in turn, so it decides what the calls one by one would.
//! * Time is the caller's `now` (the injected clock), never Redis' own, like the memory store.
//! * A Redis error or timeout is [`Unavailable`]: nothing is reported as decided. If a script
//!   ran but its answer was lost, the provider's retry reads the recorded answer, and the
//!   decision is in the instance's counts hash all the same: the instance's `/metrics` take the
//!   hash's totals in at the next sweep, so summed over instances they equal what Redis holds.
//!
//! Versions before 2026-12-07 kept each challenge as a hash, `{p}ch:{id}` (`code`, `status`,
//! `expires`, `sender`, `verified_at`, `failures`), written at the start. This version reads
//! what they left: their pending challenges (in the pending set, their code keys in the same
//! form) verify, expire and read as before, and their ended ones read from the hash; only
//! their sender-mismatch counts start again. Those versions cannot read this layout, so all
//! instances on one prefix move to it together (stop the old ones, then start the new).
//!
//! Keys a script touches are derived inside it from the prefix it is given. In Redis Cluster
//! that prefix carries a hash tag, so each script runs in one slot: see [`conn`] for the
//! layout (`{p}` is then the bucket's prefix, `mo2fa:{b7}`, and each bucket keeps its own
//! pending set, counts hashes and share of `max_pending`).

mod batch;
pub mod conn;
mod receive;
mod scripts;
pub mod sms;
mod tally;

use crate::backend::Backend;
use ::redis::{Script, Value};
use batch::{Args, Batcher};
use conn::{Conn, Layout};
use mo2fa_core::clock::Millis;
use mo2fa_core::code::Code;
use mo2fa_core::metrics::Counters;
use mo2fa_core::store::Unavailable;
use mo2fa_core::store::{ChallengeId, Status};
use mo2fa_core::verifier::{
    Config, ConfigError, InboundMessage, ReceiveOutcome, StartError, StartRequest, Started,
    StatusView, count_outcome, outcome_fields,
};
use scripts::{CHALLENGE, EXPIRE_DUE, INSERT, LOOKUP, RECEIVE, SWEEP, count_prelude};
use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tally::{Tally, sum_records};
use thread_local::ThreadLocal;

/// The counters the scripts decide, by their [`Counters::field`] names: each script increments
/// these in its instance's counts hash in the step that decides them. All of them but the last
/// two of [`Counters::FIELDS`] (bad signatures and store errors, which only the instance sees).
pub const RECORDED: [&str; 12] = *Counters::FIELDS.first_chunk().expect("12 of 14");

/// The counts-hash fields whose sum is `messages` (every message has exactly one outcome), which
/// saves the receive script a command per message. A message that finds its challenge expired
/// counts as `expired_messages` and as `expired`, which the sweeps' expiries share.
pub const MESSAGES_ARE: [&str; 6] = [
    "verifications",
    "expired_messages",
    "sender_mismatches",
    "no_match",
    "no_code",
    "ignored",
];

/// How long an instance's counts hash outlives its last sweep (once a second, each renews it):
/// long enough for any outage, short enough that stopped instances leave nothing behind.
pub const COUNTS_TTL_MS: u64 = 86_400_000;

/// Codes drawn per insert round trip after the first, which sends one: with a sparse code
/// space the first code is nearly always free, and every code sent costs an id to encode and
/// two arguments to send and read into Lua. Once a code was taken, drawing several per round
/// trip saves round trips.
const DRAWS_PER_CALL: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum RedisStoreError {
    #[error("redis url: {0}")]
    Url(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Settings beyond the verifier's own.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// `redis://…`, `redis+unix:///PATH` or `redis-cluster://HOST:PORT[,HOST:PORT...]`
    /// ([`conn`]).
    pub url: String,
    pub prefix: String,
    /// In a cluster, split evenly over the buckets (each bucket refuses at its share).
    pub max_pending: usize,
    /// How long terminal challenges stay readable.
    pub retention_ms: Millis,
    /// Per command; a slower Redis counts as down.
    pub timeout: Duration,
    /// Names this instance's counts hash (`{prefix}counts:{instance}`); random by default. Two
    /// live instances must not share one, or each would report the other's counts too.
    pub instance: String,
    /// Events the SMS guard's log keeps ([`sms::DEFAULT_MAX_EVENTS`]).
    pub max_events: u64,
    /// Buckets (hash slots) challenges are spread over in a cluster; every instance on one
    /// prefix must use the same ([`conn::CLUSTER_BUCKETS`] by default). Ignored for one Redis.
    pub buckets: u32,
    /// With one Redis, send the insert and receive calls of concurrent requests in batches
    /// (`redis::batch`; on by default). Ignored in a cluster, where every call goes on its own.
    pub batch: bool,
}

impl RedisConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "mo2fa:".into(),
            max_pending: 1 << 20,
            retention_ms: 60_000,
            timeout: Duration::from_millis(500),
            instance: format!("{:016x}", rand::random::<u64>()),
            max_events: sms::DEFAULT_MAX_EVENTS,
            buckets: conn::CLUSTER_BUCKETS,
            batch: true,
        }
    }
}

/// The verifier over Redis: the same pure decisions as [`mo2fa_core::verifier::Verifier`], the
/// state in Redis.
pub struct RedisVerifier {
    cfg: Config,
    redis: RedisConfig,
    conn: Conn,
    /// Key prefixes, per bucket in a cluster.
    layout: Layout,
    insert: Script,
    receive: Script,
    lookup: Script,
    sweep: Script,
    claim: Script,
    record: Script,
    /// Per bucket, `{bucket prefix}counts:{instance}`.
    counts_keys: Vec<String>,
    /// Per bucket, the key a script of the bucket is routed by (its pending set).
    route_keys: Vec<String>,
    /// Each bucket's share of `max_pending`.
    bucket_max_pending: usize,
    /// Shared with the sweep task, which counts the expiries it finds and brings Redis' record
    /// of this instance's counts in.
    tally: Arc<Tally>,
    /// Pending count as of the last sweep (for metrics).
    pending: Arc<AtomicUsize>,
    /// When the last "unavailable" line was logged (ms), so a dead Redis logs once a second.
    last_warning: AtomicU64,
    /// Until when (ms) verifications in a cluster are answered without waiting for a replica
    /// (see `receive`).
    unreplicated_until: AtomicU64,
    /// SMS codes, the SMS guard's log and the start limits.
    shared: sms::SharedState,
    /// With a single Redis: the insert and receive calls of concurrent requests, batched
    /// (`redis::batch`), by tasks on the runtime the verifier was made in.
    batches: Option<Batches>,
    /// Thread per core: what each thread's calls go through ([`ThreadBatches`]), decided at
    /// its first call.
    local: ThreadLocal<RefCell<Option<ThreadBatches>>>,
    /// How many threads got batchers of their own.
    thread_batchers: AtomicUsize,
    /// The runtime the verifier was made in, whose threads use `batches`.
    home: Option<tokio::runtime::Id>,
    /// The two batch scripts, for the batchers that threads make.
    batch_scripts: (Script, Script),
    /// What every batcher of this verifier sent.
    batch_stats: Arc<batch::Stats>,
}

/// The batchers of the insert and receive scripts.
struct Batches {
    insert: Batcher,
    receive: Batcher,
}

/// The batchers and connection a thread's calls go through. A serving thread with a
/// current-thread runtime of its own (thread per core) gets batchers and a connection of its
/// own on that runtime, so that a call and its answer never wake another thread; every other
/// thread uses the verifier's (those of the runtime it was made in).
///
/// A thread's entry outlives the thread, and a later thread may be given its slot. An `Own`
/// entry names its runtime, so a thread on another one decides again; a `Shared` one is kept
/// (that thread's calls then go through the verifier's batchers: slower, not wrong).
enum ThreadBatches {
    Shared,
    /// On the runtime with this id.
    Own(tokio::runtime::Id, Own),
}

/// A thread's own batchers, and the connection they and its status reads use.
struct Own {
    batches: Batches,
    conn: Conn,
}

impl Batches {
    /// The receive script's batcher, or the insert script's.
    fn of(&self, receive: bool) -> &Batcher {
        if receive { &self.receive } else { &self.insert }
    }

    /// Starts both on the current Tokio runtime.
    fn spawn(
        conn: &Conn,
        scripts: &(Script, Script),
        route: &str,
        stats: &Arc<batch::Stats>,
    ) -> Self {
        let batcher = |script: &Script| {
            Batcher::spawn(
                conn.clone(),
                script.clone(),
                route.to_string(),
                stats.clone(),
            )
        };
        Self {
            insert: batcher(&scripts.0),
            receive: batcher(&scripts.1),
        }
    }
}

impl RedisVerifier {
    /// Connects lazily: the verifier starts even while Redis is down, answers 503 until it is
    /// up, and reconnects on its own. Must be called inside a Tokio runtime.
    pub fn new(cfg: Config, redis: RedisConfig) -> Result<Self, RedisStoreError> {
        cfg.validate()?;
        let cluster = conn::cluster_nodes(&redis.url).is_some();
        let layout =
            Layout::new(&redis.prefix, cluster, redis.buckets).map_err(RedisStoreError::Url)?;
        let conn = conn::open(&redis.url, redis.timeout).map_err(RedisStoreError::Url)?;
        let prelude = count_prelude();
        // The insert and receive scripts as functions of their `ARGV`, for the single-call
        // script (`return insert(ARGV)`) and the batch one.
        // `known_pending` lives for one script run: the pending set's size as the inserts of a
        // batch leave it (see INSERT).
        let insert_fn = format!(
            "{prelude}{CHALLENGE}{EXPIRE_DUE}local known_pending = {{}}\nlocal function insert(ARGV)\n{INSERT}\nend\n"
        );
        let receive_fn =
            format!("{prelude}{CHALLENGE}local function receive(ARGV)\n{RECEIVE}\nend\n");
        let counts_keys = layout
            .buckets
            .iter()
            .map(|p| format!("{p}counts:{}", redis.instance))
            .collect();
        let route_keys: Vec<String> = layout
            .buckets
            .iter()
            .map(|p| format!("{p}pending"))
            .collect();
        let batch_scripts = (
            Script::new(&format!("{insert_fn}{}", batch::wrap("insert"))),
            Script::new(&format!("{receive_fn}{}", batch::wrap("receive"))),
        );
        let batch_stats = Arc::default();
        // The batch tasks run on the runtime the verifier is made in (the server's); without
        // one, every call goes on its own. (The connection is lazy: its driver runs on the
        // runtime of its first command.)
        let home = tokio::runtime::Handle::try_current().ok();
        let batches = match &home {
            Some(_) if !cluster && redis.batch => Some(Batches::spawn(
                &conn,
                &batch_scripts,
                &route_keys[0],
                &batch_stats,
            )),
            _ => None,
        };
        Ok(Self {
            batches,
            local: ThreadLocal::new(),
            thread_batchers: AtomicUsize::new(0),
            home: home.map(|h| h.id()),
            batch_scripts,
            batch_stats,
            shared: sms::SharedState::new(conn.clone(), &layout, redis.max_events),
            counts_keys,
            route_keys,
            bucket_max_pending: redis.max_pending.div_ceil(layout.buckets.len()),
            layout,
            cfg,
            redis,
            conn,
            insert: Script::new(&format!("{insert_fn}return insert(ARGV)\n")),
            receive: Script::new(&format!("{receive_fn}return receive(ARGV)\n")),
            lookup: Script::new(&format!("{prelude}{LOOKUP}")),
            sweep: Script::new(&format!("{prelude}{CHALLENGE}{EXPIRE_DUE}{SWEEP}")),
            claim: Script::new(&format!("{prelude}{}", receive::CLAIM)),
            record: Script::new(&format!("{prelude}{}", receive::RECORD)),
            tally: Arc::default(),
            pending: Arc::default(),
            last_warning: AtomicU64::new(0),
            unreplicated_until: AtomicU64::new(0),
        })
    }

    /// Turns a Redis error into [`Unavailable`], logging it at most once a second.
    fn down(&self, e: impl std::fmt::Display) -> Unavailable {
        let now = mo2fa_core::clock::Clock::now_ms(&mo2fa_core::clock::SystemClock);
        let last = self.last_warning.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 1000
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                "redis store unavailable ({}): answering 503 until it is back: {e}",
                self.redis.url
            );
        }
        Unavailable(e.to_string())
    }

    /// One call of the insert or receive script with `args` (its `ARGV`): through its batcher
    /// with a single Redis, else on its own, routed by `route`.
    async fn call(&self, receive: bool, route: &str, args: Args) -> Result<Value, Unavailable> {
        let own = self.with_thread_own(|own| own.batches.of(receive).clone());
        let batcher = own
            .as_ref()
            .or_else(|| self.batches.as_ref().map(|b| b.of(receive)));
        if let Some(batcher) = batcher {
            // The command timeout bounds the wait in the queue as well as Redis' answer, as it
            // bounds a call on its own; a call given up before its batch is sent is not sent.
            return match tokio::time::timeout(self.redis.timeout, batcher.call(args)).await {
                Ok(answer) => answer.map_err(|e| self.down(e)),
                Err(_) => Err(self.down(format!(
                    "no answer within {} ms",
                    self.redis.timeout.as_millis()
                ))),
            };
        }
        let script = if receive { &self.receive } else { &self.insert };
        let mut cmd = batch::evalsha(script, route, batch::CALL_BYTES);
        args.append_to(&mut cmd);
        batch::eval(&mut self.conn.clone(), script, &cmd)
            .await
            .map_err(|e| self.down(e))
    }

    /// What `pick` takes from this thread's own batchers and connection, if it has (or now
    /// gets) any: see [`ThreadBatches`]. (A call clones only the one it uses.)
    fn with_thread_own<T>(&self, pick: impl FnOnce(&Own) -> T) -> Option<T> {
        self.batches.as_ref()?;
        let cell = self.local.get_or_default();
        // Checked first: the work-stealing runtime's workers read no runtime handle (cloning
        // it writes a count that every worker shares).
        if matches!(*cell.borrow(), Some(ThreadBatches::Shared)) {
            return None;
        }
        let runtime = tokio::runtime::Handle::try_current().ok();
        let id = runtime.as_ref().map(|r| r.id());
        if let Some(ThreadBatches::Own(on, own)) = &*cell.borrow()
            && Some(*on) == id
        {
            return Some(pick(own));
        }
        match runtime {
            Some(r)
                if r.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread
                    && Some(r.id()) != self.home =>
            {
                // The URL opened once already, when the verifier was made.
                let conn = conn::open(&self.redis.url, self.redis.timeout).ok()?;
                self.thread_batchers.fetch_add(1, Ordering::Relaxed);
                let batches = Batches::spawn(
                    &conn,
                    &self.batch_scripts,
                    &self.route_keys[0],
                    &self.batch_stats,
                );
                let own = Own { batches, conn };
                let picked = pick(&own);
                *cell.borrow_mut() = Some(ThreadBatches::Own(r.id(), own));
                Some(picked)
            }
            _ => {
                *cell.borrow_mut() = Some(ThreadBatches::Shared);
                None
            }
        }
    }

    /// How many insert and receive calls went in how many batches, over every batcher
    /// (`None` without batching).
    pub fn batch_stats(&self) -> Option<(u64, u64)> {
        self.batches.as_ref()?;
        let s = &self.batch_stats;
        Some((
            s.calls.load(Ordering::Relaxed),
            s.batches.load(Ordering::Relaxed),
        ))
    }

    /// How many threads got batchers of their own (thread per core).
    pub fn thread_batchers(&self) -> usize {
        self.thread_batchers.load(Ordering::Relaxed)
    }

    /// Challenge `id`'s state in `bucket`, read as of `now` with plain reads: its pending-set
    /// score (all that a status poll of a pending challenge needs), else its `done:` record,
    /// else an earlier version's hash (the two in one round trip). A challenge leaves the
    /// pending set and gets its record in one script, so read in this order nothing falls
    /// between the two.
    async fn read_status(
        &self,
        bucket: usize,
        id: &str,
        now: Millis,
    ) -> Result<Option<StatusView>, Unavailable> {
        // The bucket's routing key is its pending set.
        let (pending, prefix) = self.bucket(bucket);
        let mut conn = self
            .with_thread_own(|own| own.conn.clone())
            .unwrap_or_else(|| self.conn.clone());
        let score: Option<String> = ::redis::cmd("ZSCORE")
            .arg(pending)
            .arg(id)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.down(e))?;
        if let Some(expires) = score {
            return Ok(status_view("pending", &expires, None, None, now));
        }
        let (done, hash): (Option<String>, Vec<Option<String>>) = ::redis::pipe()
            .cmd("GET")
            .arg(format!("{prefix}done:{id}"))
            .cmd("HMGET")
            .arg(format!("{prefix}ch:{id}"))
            .arg(&["status", "expires", "verified_at", "sender"])
            .query_async(&mut conn)
            .await
            .map_err(|e| self.down(e))?;
        if let Some(done) = done {
            return Ok(parse_status(&done, now));
        }
        Ok(match hash.as_slice() {
            [Some(status), Some(expires), at, sender] => {
                status_view(status, expires, at.as_deref(), sender.as_deref(), now)
            }
            _ => None,
        })
    }

    /// One sweep at `now`, awaited (the periodic [`Backend::sweep`] runs it as a task of its
    /// own): expires at most 1,000 due challenges and answers how many.
    pub async fn sweep_now(&self, now: Millis) -> Result<u64, Unavailable> {
        self.sweep_job().run(now).await.map_err(|e| self.down(e))
    }

    fn sweep_job(&self) -> SweepJob {
        SweepJob {
            script: self.sweep.clone(),
            retention_ms: self.redis.retention_ms,
            buckets: self.layout.buckets.clone(),
            counts_keys: self.counts_keys.clone(),
            route_keys: self.route_keys.clone(),
            conn: self.conn.clone(),
            tally: self.tally.clone(),
            pending: self.pending.clone(),
        }
    }

    /// The names of this instance's counts hashes in Redis (one per bucket).
    pub fn counts_keys(&self) -> &[String] {
        &self.counts_keys
    }

    /// Reads Redis' record of what this instance's scripts decided and brings `counters()` up
    /// to it now, rather than at the next sweep.
    pub async fn sync_counters(&self) -> Result<(), Unavailable> {
        let mut conn = self.conn.clone();
        let mut flats = Vec::with_capacity(self.counts_keys.len());
        for key in &self.counts_keys {
            let flat: Vec<String> = ::redis::cmd("HGETALL")
                .arg(key)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.down(e))?;
            flats.push(flat);
        }
        self.tally.recorded(&sum_records(&flats));
        Ok(())
    }

    /// The routing key and prefix of `bucket`.
    fn bucket(&self, bucket: usize) -> (&str, &str) {
        (&self.route_keys[bucket], &self.layout.buckets[bucket])
    }
}

/// What one sweep needs, owned, so that it can run as a task of its own.
struct SweepJob {
    script: Script,
    retention_ms: Millis,
    buckets: Vec<String>,
    counts_keys: Vec<String>,
    route_keys: Vec<String>,
    conn: Conn,
    tally: Arc<Tally>,
    pending: Arc<AtomicUsize>,
}

impl SweepJob {
    /// One script per bucket (one with a single Redis); the counts of every bucket are summed.
    async fn run(mut self, now: Millis) -> Result<u64, ::redis::RedisError> {
        let (mut expired, mut live, mut flats) = (0, 0, Vec::with_capacity(self.buckets.len()));
        for ((prefix, counts), route) in self
            .buckets
            .iter()
            .zip(&self.counts_keys)
            .zip(&self.route_keys)
        {
            let (n, pending, recorded): (u64, usize, Vec<String>) = self
                .script
                .key(route)
                .arg(prefix)
                .arg(now)
                .arg(counts)
                .arg(self.retention_ms)
                .invoke_async(&mut self.conn)
                .await?;
            expired += n;
            live += pending;
            flats.push(recorded);
        }
        self.tally
            .replied(["expired"], |c| Counters::add(&c.expired, expired));
        self.tally.recorded(&sum_records(&flats));
        self.pending.store(live, Ordering::Relaxed);
        Ok(expired)
    }
}

/// A `done:` record (`status expires`, and for a verified challenge `verified_at sender`
/// after), read as of `now`; `None` if it is not one.
fn parse_status(record: &str, now: Millis) -> Option<StatusView> {
    let mut parts = record.splitn(4, ' ');
    let (status, expires) = (parts.next()?, parts.next()?);
    status_view(status, expires, parts.next(), parts.next(), now)
}

/// A challenge's state from its fields as stored, read as of `now`: a pending one is expired
/// once due, as in the memory store; the sender and time are shown only once verified.
fn status_view(
    status: &str,
    expires: &str,
    verified_at: Option<&str>,
    sender: Option<&str>,
    now: Millis,
) -> Option<StatusView> {
    // A score read from the pending set may come back as a float's text.
    let expires_at = expires
        .parse()
        .ok()
        .or_else(|| expires.parse::<f64>().ok().map(|e| e as Millis))?;
    let status = match status {
        "pending" if now >= expires_at => Status::Expired,
        "pending" => Status::Pending,
        "verified" => Status::Verified,
        "locked" => Status::Locked,
        _ => Status::Expired,
    };
    let verified = status == Status::Verified;
    Some(StatusView {
        status,
        sender: sender.filter(|_| verified).map(str::to_string),
        verified_at: verified_at
            .and_then(|t| t.parse().ok())
            .filter(|_| verified),
        expires_at,
    })
}

/// Parses the receive script's answer text back into an outcome.
fn parse_outcome(text: &str) -> Option<ReceiveOutcome> {
    let mut parts = text.splitn(3, ' ');
    let kind = parts.next()?;
    let mut id = || parts.next().and_then(ChallengeId::parse);
    Some(match kind {
        "verified" => ReceiveOutcome::Verified { id: id()? },
        "expired" => ReceiveOutcome::Expired { id: id()? },
        "sender_mismatch" => {
            let id = id()?;
            ReceiveOutcome::SenderMismatch {
                id,
                locked: parts.next()? == "1",
            }
        }
        "no_match" => ReceiveOutcome::NoMatch {
            candidates_tried: parts.next()?.parse().ok()?,
        },
        "no_code" => ReceiveOutcome::NoCode,
        "ignored" => ReceiveOutcome::Ignored {
            reason: text.split_once(' ')?.1.to_string(),
        },
        _ => return None,
    })
}

/// The text an outcome decided before the store is recorded as.
fn early_text(outcome: &ReceiveOutcome) -> String {
    match outcome {
        ReceiveOutcome::NoCode => "no_code".into(),
        ReceiveOutcome::Ignored { reason } => format!("ignored {reason}"),
        // Only the two above are decided before the store; keep the rest lossless anyway.
        other => format!("{other:?}"),
    }
}

impl Backend for RedisVerifier {
    fn config(&self) -> &Config {
        &self.cfg
    }

    fn shared(&self) -> Option<&sms::SharedState> {
        Some(&self.shared)
    }

    fn counters(&self) -> &Counters {
        &self.tally.shown
    }

    fn start<'a, R: rand::Rng + ?Sized>(
        &'a self,
        req: &StartRequest,
        now: Millis,
        rng: &mut R,
    ) -> impl Future<Output = Result<Started, StartError>> + Send + use<'a, R> {
        let checked = self.cfg.check_start(req, now);
        // `code_attempts` draws (at least one): one in the first round, then DRAWS_PER_CALL.
        let attempts = (self.cfg.code_attempts as usize).max(1);
        let rounds = std::iter::once(1).chain(
            (1..attempts)
                .step_by(DRAWS_PER_CALL)
                .map(|drawn| DRAWS_PER_CALL.min(attempts - drawn)),
        );
        // All randomness up front: the future must not hold the caller's RNG. In a cluster a
        // round's draws must share a bucket (one slot): those in the first one's are kept.
        let draws: Vec<(usize, Vec<(Code, ChallengeId)>)> = match &checked {
            Ok(c) => rounds
                .map(|size| {
                    let mut bucket = None;
                    let round = (0..size)
                        .filter_map(|_| {
                            let n = c.draw(&self.cfg, rng);
                            let b = self.layout.of_code(n.code.0);
                            if *bucket.get_or_insert(b) != b {
                                return None;
                            }
                            let id = ChallengeId {
                                locator: self.layout.locator(rng.random(), b),
                                tag: n.tag,
                            };
                            Some((n.code, id))
                        })
                        .collect();
                    (bucket.unwrap_or_default(), round)
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        async move {
            let result = async {
                let checked = checked?;
                let expected = checked
                    .expected_sender
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                for (bucket, round) in draws {
                    let (route, prefix) = self.bucket(bucket);
                    let mut args = Args::default();
                    args.arg(prefix)
                        .arg(now)
                        .arg(self.bucket_max_pending)
                        .arg(checked.expires_at)
                        .arg(&expected)
                        .arg(self.redis.retention_ms)
                        .arg(&self.counts_keys[bucket]);
                    for (code, id) in &round {
                        args.arg(code.0).arg(id.encode());
                    }
                    let answer = self.call(false, route, args).await?;
                    let answer: Vec<String> = ::redis::from_redis_value(answer)
                        .map_err(|e| Unavailable(format!("unreadable insert answer: {e}")))?;
                    match answer.first().map(String::as_str) {
                        Some("ok") => {
                            let id = answer.get(1).and_then(|t| ChallengeId::parse(t));
                            let code = answer.get(2).and_then(|c| c.parse().ok()).map(Code);
                            let (Some(id), Some(code)) = (id, code) else {
                                return Err(Unavailable("unreadable insert answer".into()).into());
                            };
                            return Ok(Started {
                                id,
                                code,
                                expires_at: checked.expires_at,
                            });
                        }
                        Some("full") => {
                            return Err(StartError::Store(mo2fa_core::store::InsertError::Full {
                                max_pending: self.redis.max_pending,
                            }));
                        }
                        _ => continue,
                    }
                }
                Err(StartError::CodeSpace(self.cfg.code_attempts))
            }
            .await;
            let tally = &self.tally;
            match &result {
                Ok(_) => tally.replied(["starts"], |c| Counters::inc(&c.starts)),
                Err(StartError::Store(_)) => {
                    tally.replied(["starts_refused"], |c| Counters::inc(&c.starts_refused))
                }
                // Perhaps started (the answer lost), perhaps not: Redis' record will tell.
                Err(StartError::Unavailable(_)) => Counters::inc(&tally.shown.store_unavailable),
                // Refused before Redis was asked, or after every round's draws were taken.
                Err(_) => Counters::inc(&tally.shown.starts_refused),
            }
            result
        }
    }

    fn status(
        &self,
        id: &str,
        now: Millis,
    ) -> impl Future<Output = Result<Option<StatusView>, Unavailable>> + Send {
        let id = ChallengeId::parse(id);
        async move {
            let Some(id) = id else { return Ok(None) };
            let view = self
                .read_status(self.layout.of_id(&id), &id.encode(), now)
                .await;
            if view.is_err() {
                Counters::inc(&self.tally.shown.store_unavailable);
            }
            view
        }
    }

    fn receive_once(
        &self,
        delivery_id: &str,
        msg: &InboundMessage<'_>,
        now: Millis,
    ) -> impl Future<Output = Result<(ReceiveOutcome, bool), Unavailable>> + Send {
        // Whether this delivery is a repeat is only known once the script ran; like the memory
        // verifier, a repeat must count nothing but the duplicate, so `prepare`'s own count
        // (stuffed) is held back until then.
        let m = receive::Message::prepare(&self.cfg, msg);
        // The receive script skips dedupe for ""; the adapter refuses empty ids before here.
        debug_assert!(!delivery_id.is_empty(), "empty delivery id");
        let delivery_id = delivery_id.to_string();
        async move {
            let answer = async {
                let (repeat, text) = self.decide(&delivery_id, &m, now).await?;
                if !repeat {
                    self.settle(&text).await?;
                }
                let outcome = parse_outcome(&text)
                    .ok_or_else(|| Unavailable(format!("unreadable answer {text:?}")))?;
                Ok((outcome, repeat))
            }
            .await;
            match &answer {
                Ok((_, true)) => self
                    .tally
                    .replied(["duplicates"], |c| Counters::inc(&c.duplicates)),
                Ok((outcome, false)) => {
                    let stuffed: &[&str] = if m.stuffed > 0 { &["stuffed"] } else { &[] };
                    let names = outcome_fields(outcome).iter().chain(stuffed).copied();
                    self.tally.replied(names, |c| {
                        Counters::add(&c.stuffed, m.stuffed);
                        count_outcome(c, outcome);
                    })
                }
                // The script may have run: its counts reach `counters()` at the next sweep.
                Err(_) => Counters::inc(&self.tally.shown.store_unavailable),
            }
            answer
        }
    }

    fn recorded(
        &self,
        delivery_id: &str,
        msg: &InboundMessage<'_>,
    ) -> impl Future<Output = Result<Option<ReceiveOutcome>, Unavailable>> + Send {
        let m = receive::Message::prepare(&self.cfg, msg);
        let (route, prefix) = self.bucket(m.home(&self.layout, delivery_id));
        let mut inv = self.lookup.key(route);
        inv.arg(prefix)
            .arg(delivery_id)
            .arg(&self.counts_keys[m.home(&self.layout, delivery_id)]);
        async move {
            let mut conn = self.conn.clone();
            let seen: Option<String> = match inv.invoke_async(&mut conn).await {
                Ok(seen) => seen,
                Err(e) => {
                    Counters::inc(&self.tally.shown.store_unavailable);
                    return Err(self.down(e));
                }
            };
            let Some(text) = seen else { return Ok(None) };
            let outcome = receive::parse_recorded(&text)?;
            self.tally
                .replied(["duplicates"], |c| Counters::inc(&c.duplicates));
            Ok(Some(outcome))
        }
    }

    /// Redis expires the keys itself; this counts the challenges that expired unverified (as
    /// the memory store's sweep does), refreshes the pending count for metrics and brings in
    /// Redis' record of this instance's counts (decisions whose answers were lost included).
    fn sweep(&self, now: Millis) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let job = self.sweep_job();
        runtime.spawn(async move {
            let _ = job.run(now).await;
        });
    }

    fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    fn max_pending(&self) -> usize {
        self.redis.max_pending
    }

    /// One PING, given the same time as any command (a lazy connection is made on the way).
    fn ready(&self) -> impl Future<Output = Result<(), Unavailable>> + Send {
        let mut conn = self.conn.clone();
        async move {
            let ping = ::redis::cmd("PING");
            match tokio::time::timeout(self.redis.timeout, ping.query_async::<String>(&mut conn))
                .await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(self.down(e)),
                Err(_) => Err(Unavailable(format!(
                    "no answer to PING within {} ms",
                    self.redis.timeout.as_millis()
                ))),
            }
        }
    }
}

#[cfg(test)]
mod tests;
