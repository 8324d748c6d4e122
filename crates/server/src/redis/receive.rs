//! A delivery's decision in Redis: one receive script when the codes its message names share a
//! bucket (always with one Redis; nearly always in a cluster, where most messages name one
//! code), else a claim, one script per bucket in the candidates' order and a record.
//!
//! # Candidates in several buckets (cluster only)
//! The delivery's record lives in the bucket of its first candidate (its *home*). The claim
//! script there sets the record to `claimed` (or answers the record found); then each run of
//! consecutive candidates of one bucket is tried in order by the receive script of that bucket,
//! which decides the first pending challenge it finds exactly as the one-script path does; the
//! record script writes the answer over the claim. A racing duplicate that finds the claim is
//! answered 503 ([`Unavailable`]), so the provider retries it and then reads the answer. A
//! challenge still turns `verified` at most once, in its own bucket's script. If this instance
//! dies between claim and record, the claim lapses after [`CLAIM_TIMEOUTS`] command timeouts
//! and the retry decides again: a challenge the lost attempt verified then reads as not
//! pending, so the retry answers `no_match` where the lost answer said `verified`.

use super::batch::Args;
use super::{Layout, RedisVerifier};
use mo2fa_core::clock::Millis;
use mo2fa_core::store::{ChallengeId, Unavailable};
use mo2fa_core::verifier::{Config, InboundMessage, Prepared, ReceiveOutcome};
use std::sync::atomic::{AtomicU64, Ordering};

/// Claims `ARGV[2]` in bucket `ARGV[1]` for `ARGV[3]` ms unless it has a record; answers
/// `{1, record}` (a repeat, counted in `ARGV[4]`) or `{0, ''}`.
pub(super) const CLAIM: &str = r"
local key, counts = ARGV[1] .. 'dd:' .. ARGV[2], ARGV[4]
local seen = redis.call('GET', key)
if seen then
  if seen ~= 'claimed' then count(counts, 'duplicates', 1) end
  return {1, seen}
end
redis.call('SET', key, 'claimed', 'PX', ARGV[3])
return {0, ''}
";

/// Records answer `ARGV[3]` of delivery `ARGV[2]` for `ARGV[4]` ms, counting outcome `ARGV[6]`
/// (unless '', counted where it was decided) and `ARGV[7]` stuffed codes in `ARGV[5]`.
pub(super) const RECORD: &str = r"
local p, counts, kind = ARGV[1], ARGV[5], ARGV[6]
redis.call('SET', p .. 'dd:' .. ARGV[2], ARGV[3], 'PX', ARGV[4])
if kind ~= '' then count(counts, kind, 1) end
count(counts, 'stuffed', tonumber(ARGV[7]))
return 1
";

/// How many command timeouts a claim lasts.
pub(super) const CLAIM_TIMEOUTS: u32 = 10;

/// A message as the store needs it, decided before any I/O.
pub(super) struct Message {
    /// The answer text of an outcome decided before the store ('' when the store decides).
    pub early: String,
    pub sender: String,
    pub codes: Vec<u64>,
    /// Codes `prepare` counted as stuffed (counted only if the delivery is not a repeat).
    pub stuffed: u64,
}

impl Message {
    pub fn prepare(cfg: &Config, msg: &InboundMessage<'_>) -> Self {
        // A plain atomic: `Counters` keeps a shard per thread, too much to make per message.
        let stuffed = AtomicU64::new(0);
        let (early, sender, codes) = match cfg.prepare(msg, &stuffed, |_| {}) {
            Prepared::Done(outcome) => (super::early_text(&outcome), String::new(), Vec::new()),
            Prepared::Match { sender, candidates } => (
                String::new(),
                sender.to_string(),
                candidates.as_slice().iter().map(|c| c.0).collect(),
            ),
        };
        Self {
            early,
            sender,
            codes,
            stuffed: stuffed.load(Ordering::Relaxed),
        }
    }

    /// The bucket the delivery's record lives in: its first code's, else its id's.
    pub fn home(&self, layout: &Layout, delivery: &str) -> usize {
        self.codes
            .first()
            .map_or_else(|| layout.of_text(delivery), |&c| layout.of_code(c))
    }
}

/// A recorded answer as an outcome; a claim is a decision still under way.
pub(super) fn parse_recorded(text: &str) -> Result<ReceiveOutcome, Unavailable> {
    if text == "claimed" {
        return Err(Unavailable(
            "this delivery is being decided by another request; retry".into(),
        ));
    }
    super::parse_outcome(text).ok_or_else(|| Unavailable(format!("unreadable answer {text:?}")))
}

/// How long a `WAIT` for a replica may take, and how long verifications go without one after
/// a `WAIT` no replica answered (a master whose replica is down or was promoted away).
const WAIT_MS: u64 = 100;
const UNREPLICATED_MS: u64 = 1_000;

impl RedisVerifier {
    /// In a cluster, a decision that takes a challenge out of `pending` (verified, locked) is
    /// answered only once its master's replica has it, so a failover right after cannot bring
    /// the challenge back as pending for a second delivery to verify again. Without a replica
    /// answering within [`WAIT_MS`], it is answered anyway and the next [`UNREPLICATED_MS`] of
    /// decisions do not wait: that is the window in which a failover can lose one.
    pub(super) async fn settle(&self, text: &str) -> Result<(), Unavailable> {
        let final_ = text.starts_with("verified ")
            || (text.starts_with("sender_mismatch ") && text.ends_with(" 1"));
        if !self.layout.cluster || !final_ {
            return Ok(());
        }
        let now = mo2fa_core::clock::Clock::now_ms(&mo2fa_core::clock::SystemClock);
        if now < self.unreplicated_until.load(Ordering::Relaxed) {
            return Ok(());
        }
        let Some(id) = text.split(' ').nth(1).and_then(ChallengeId::parse) else {
            return Ok(());
        };
        let (route, _) = self.bucket(self.layout.of_id(&id));
        let wait = std::time::Duration::from_millis(WAIT_MS);
        let acked = self
            .conn
            .clone()
            .wait_replica(route, wait)
            .await
            .map_err(|e| self.down(e))?;
        if acked == 0 {
            self.unreplicated_until
                .store(now + UNREPLICATED_MS, Ordering::Relaxed);
            tracing::warn!(
                "redis cluster: no replica acknowledged a verification within {WAIT_MS} ms; \
                 not waiting for replicas for {UNREPLICATED_MS} ms"
            );
        }
        Ok(())
    }

    /// Decides delivery `delivery` (its message prepared as `m`): whether it is a repeat, and
    /// the answer text.
    pub(super) async fn decide(
        &self,
        delivery: &str,
        m: &Message,
        now: Millis,
    ) -> Result<(bool, String), Unavailable> {
        let buckets: Vec<usize> = m.codes.iter().map(|&c| self.layout.of_code(c)).collect();
        let home = m.home(&self.layout, delivery);
        if buckets.iter().all(|&b| b == home) {
            let (repeat, text) = self
                .receive_in(home, delivery, m, &m.codes, true, now)
                .await?;
            if repeat {
                parse_recorded(&text)?;
            }
            return Ok((repeat, text));
        }
        let (route, prefix) = self.bucket(home);
        let claim_ms = self.redis.timeout.as_millis().max(1) as u64 * u64::from(CLAIM_TIMEOUTS);
        let (seen, text): (u8, String) = self
            .claim
            .key(route)
            .arg(prefix)
            .arg(delivery)
            .arg(claim_ms)
            .arg(&self.counts_keys[home])
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.down(e))?;
        if seen == 1 {
            parse_recorded(&text)?;
            return Ok((true, text));
        }
        let mut decided = None;
        let mut i = 0;
        while i < m.codes.len() {
            let b = buckets[i];
            let end = buckets[i..]
                .iter()
                .position(|&x| x != b)
                .map_or(m.codes.len(), |n| i + n);
            let (_, text) = self
                .receive_in(b, "", m, &m.codes[i..end], false, now)
                .await?;
            if !text.starts_with("no_match") {
                decided = Some(text);
                break;
            }
            i = end;
        }
        let (text, kind) = match decided {
            Some(text) => (text, ""),
            None => (format!("no_match {}", m.codes.len()), "no_match"),
        };
        let _: u8 = self
            .record
            .key(route)
            .arg(prefix)
            .arg(delivery)
            .arg(&text)
            .arg(self.cfg.dedupe_retention_ms.max(1))
            .arg(&self.counts_keys[home])
            .arg(kind)
            .arg(m.stuffed)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.down(e))?;
        Ok((false, text))
    }

    /// The receive script in `bucket` for `codes` (`last`: it decides the message, and counts
    /// its outcome and stuffed codes).
    async fn receive_in(
        &self,
        bucket: usize,
        delivery: &str,
        m: &Message,
        codes: &[u64],
        last: bool,
        now: Millis,
    ) -> Result<(bool, String), Unavailable> {
        let (route, prefix) = self.bucket(bucket);
        let mut args = Args::default();
        args.arg(prefix)
            .arg(now)
            .arg(delivery)
            .arg(self.cfg.dedupe_retention_ms.max(1))
            .arg(&m.sender)
            .arg(self.cfg.max_sender_failures)
            .arg(&m.early)
            .arg(&self.counts_keys[bucket])
            .arg(if last { m.stuffed } else { 0 })
            .arg(u8::from(last))
            .arg(self.redis.retention_ms);
        for c in codes {
            args.arg(*c);
        }
        let answer = self.call(true, route, args).await?;
        let (repeat, text): (u8, String) = ::redis::from_redis_value(answer)
            .map_err(|e| Unavailable(format!("unreadable receive answer: {e}")))?;
        Ok((repeat == 1, text))
    }
}
