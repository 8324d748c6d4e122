//! Challenges in Redis, so several verifier instances behind one load balancer share them.
//!
//! # Layout (every key under a prefix, default `mo2fa:`)
//! * `{p}ch:{id}`: hash of one challenge (`code`, `status`, `created`, `expires`, `expected`,
//!   `sender`, `verified_at`, `failures`); expires `retention` after the challenge does.
//! * `{p}code:{code}`: the id of the *pending* challenge holding that code; expires with it,
//!   deleted when the challenge leaves `pending`. This is the "one pending challenge per code"
//!   rule, enforced by the insert script.
//! * `{p}pending`: sorted set of pending ids scored by expiry; the insert script drops what is
//!   due and counts the rest against `max_pending`.
//! * `{p}dd:{delivery id}`: the first answer to a webhook delivery, for `dedupe_retention`.
//!
//! # Invariants
//! * Insert and receive are each one Lua script, and Redis runs scripts one at a time, so a
//!   challenge turns `verified` at most once however many instances race with duplicates, and a
//!   delivery id is decided once: a racing duplicate gets the recorded answer.
//! * Time is the caller's `now` (the injected clock), never Redis' own, like the memory store.
//! * A Redis error or timeout is [`Unavailable`]: nothing is reported as decided. If a script
//!   ran but its answer was lost, the provider's retry reads the recorded answer.
//!
//! Keys a script touches are derived inside it from the prefix, so this layout is for a single
//! Redis (or a primary with replicas), not Redis Cluster.

use crate::backend::Backend;
use ::redis::Script;
use ::redis::aio::ConnectionManager;
use mo2fa_core::clock::Millis;
use mo2fa_core::code::Code;
use mo2fa_core::metrics::Counters;
use mo2fa_core::store::Unavailable;
use mo2fa_core::store::{ChallengeId, Status};
use mo2fa_core::verifier::{
    Config, ConfigError, InboundMessage, Prepared, ReceiveOutcome, StartError, StartRequest,
    Started, StatusView, count_outcome,
};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Codes drawn per insert round trip; with a sparse code space the first one is nearly always
/// free, and drawing several costs nothing next to the round trip.
const DRAWS_PER_CALL: usize = 4;

/// Expires what is due by the caller's clock as the memory store's sweep does: the challenge
/// reads expired, its code is free (a late message finds nothing, as in memory, even while the
/// code key's own TTL, which follows Redis' clock, has not run out) and it leaves the pending
/// set. The pending set holds only pending challenges (leaving `pending` any other way removes
/// the id), so each expiry is done, and counted, once across every instance sharing the prefix.
/// At most 1,000 per call, to keep Redis responsive; the rest go on the next call.
const EXPIRE_DUE: &str = r"
local function expire_due(p, now)
  local ids = redis.call('ZRANGEBYSCORE', p .. 'pending', '-inf', now, 'LIMIT', 0, 1000)
  for _, id in ipairs(ids) do
    local ch = p .. 'ch:' .. id
    local code = redis.call('HGET', ch, 'code')
    if code then
      local code_key = p .. 'code:' .. code
      if redis.call('GET', code_key) == id then redis.call('DEL', code_key) end
      redis.call('HSET', ch, 'status', 'expired')
    end
    redis.call('ZREM', p .. 'pending', id)
  end
  return #ids
end
local function live_pending(p, now)
  return redis.call('ZCOUNT', p .. 'pending', '(' .. now, '+inf')
end
";

/// The last element of every answer is the number of challenges this call expired.
const INSERT: &str = r"
local p = ARGV[1]
local now, max_pending = tonumber(ARGV[2]), tonumber(ARGV[3])
local swept = tostring(expire_due(p, now))
if live_pending(p, now) >= max_pending then return {'full', swept} end
for i = 8, #ARGV, 2 do
  local code_key = p .. 'code:' .. ARGV[i]
  local holder = redis.call('GET', code_key)
  local taken = false
  if holder then
    -- Held only by a challenge still pending by the caller's clock (Redis' own may differ).
    local st = redis.call('HMGET', p .. 'ch:' .. holder, 'status', 'expires')
    taken = st[1] == 'pending' and tonumber(st[2]) > now
  end
  if not taken then
    local id, ch = ARGV[i + 1], p .. 'ch:' .. ARGV[i + 1]
    redis.call('SET', code_key, id, 'PXAT', ARGV[5])
    redis.call('HSET', ch, 'code', ARGV[i], 'status', 'pending', 'created', ARGV[4],
      'expires', ARGV[5], 'expected', ARGV[6], 'failures', 0)
    redis.call('PEXPIREAT', ch, tonumber(ARGV[5]) + tonumber(ARGV[7]))
    redis.call('ZADD', p .. 'pending', ARGV[5], id)
    return {'ok', id, ARGV[i], swept}
  end
end
return {'taken', swept}
";

/// Answers `{expired now, still pending}`.
const SWEEP: &str = r"
local p, now = ARGV[1], tonumber(ARGV[2])
return {expire_due(p, now), live_pending(p, now)}
";

const RECEIVE: &str = r"
local p, now, delivery = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local dedupe_key = p .. 'dd:' .. delivery
if delivery ~= '' then
  local seen = redis.call('GET', dedupe_key)
  if seen then return {1, seen} end
end
local out = ARGV[7]
if out == '' then
  out = 'no_match ' .. (#ARGV - 7)
  for i = 8, #ARGV do
    local code_key = p .. 'code:' .. ARGV[i]
    local id = redis.call('GET', code_key)
    local ch = p .. 'ch:' .. (id or '')
    local st = id and redis.call('HMGET', ch, 'status', 'expires', 'expected') or {}
    if st[1] == 'pending' then
      local done = true
      if tonumber(st[2]) <= now then
        redis.call('HSET', ch, 'status', 'expired')
        out = 'expired ' .. id
      elseif st[3] ~= '' and st[3] ~= ARGV[5] then
        local failures = redis.call('HINCRBY', ch, 'failures', 1)
        done = failures >= tonumber(ARGV[6])
        if done then redis.call('HSET', ch, 'status', 'locked') end
        out = 'sender_mismatch ' .. id .. ' ' .. (done and 1 or 0)
      else
        redis.call('HSET', ch, 'status', 'verified', 'sender', ARGV[5], 'verified_at', ARGV[2])
        out = 'verified ' .. id
      end
      if done then
        redis.call('DEL', code_key)
        redis.call('ZREM', p .. 'pending', id)
      end
      break
    end
  end
end
if delivery ~= '' then redis.call('SET', dedupe_key, out, 'PX', ARGV[4]) end
return {0, out}
";

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
    pub url: String,
    pub prefix: String,
    pub max_pending: usize,
    /// How long terminal challenges stay readable.
    pub retention_ms: Millis,
    /// Per command; a slower Redis counts as down.
    pub timeout: Duration,
}

impl RedisConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "mo2fa:".into(),
            max_pending: 1 << 20,
            retention_ms: 60_000,
            timeout: Duration::from_millis(500),
        }
    }
}

/// The verifier over Redis: the same pure decisions as [`mo2fa_core::verifier::Verifier`], the
/// state in Redis.
pub struct RedisVerifier {
    cfg: Config,
    redis: RedisConfig,
    conn: ConnectionManager,
    insert: Script,
    receive: Script,
    sweep: Script,
    /// Shared with the sweep task, which counts the expiries it finds.
    counters: Arc<Counters>,
    /// Pending count as of the last sweep (for metrics).
    pending: Arc<AtomicUsize>,
    /// When the last "unavailable" line was logged (ms), so a dead Redis logs once a second.
    last_warning: AtomicU64,
}

impl RedisVerifier {
    /// Connects lazily: the verifier starts even while Redis is down, answers 503 until it is
    /// up, and reconnects on its own. Must be called inside a Tokio runtime.
    pub fn new(cfg: Config, redis: RedisConfig) -> Result<Self, RedisStoreError> {
        cfg.validate()?;
        let client = ::redis::Client::open(redis.url.as_str())
            .map_err(|e| RedisStoreError::Url(e.to_string()))?;
        let manager = ::redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(redis.timeout))
            .set_response_timeout(Some(redis.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client, manager)
            .map_err(|e| RedisStoreError::Url(e.to_string()))?;
        Ok(Self {
            cfg,
            redis,
            conn,
            insert: Script::new(&format!("{EXPIRE_DUE}{INSERT}")),
            receive: Script::new(RECEIVE),
            sweep: Script::new(&format!("{EXPIRE_DUE}{SWEEP}")),
            counters: Arc::default(),
            pending: Arc::default(),
            last_warning: AtomicU64::new(0),
        })
    }

    /// Turns a Redis error into [`Unavailable`], logging it at most once a second.
    fn down(&self, e: ::redis::RedisError) -> Unavailable {
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

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn start<'a, R: rand::Rng + ?Sized>(
        &'a self,
        req: &StartRequest,
        now: Millis,
        rng: &mut R,
    ) -> impl Future<Output = Result<Started, StartError>> + Send + use<'a, R> {
        let checked = self.cfg.check_start(req, now);
        let rounds = (self.cfg.code_attempts as usize)
            .div_ceil(DRAWS_PER_CALL)
            .max(1);
        // All randomness up front: the future must not hold the caller's RNG.
        let draws: Vec<Vec<(Code, ChallengeId)>> = match &checked {
            Ok(c) => (0..rounds)
                .map(|_| {
                    (0..DRAWS_PER_CALL)
                        .map(|_| {
                            let n = c.draw(&self.cfg, rng);
                            let id = ChallengeId {
                                locator: rng.random(),
                                tag: n.tag,
                            };
                            (n.code, id)
                        })
                        .collect()
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
                for round in draws {
                    let mut inv = self.insert.prepare_invoke();
                    inv.arg(&self.redis.prefix)
                        .arg(now)
                        .arg(self.redis.max_pending)
                        .arg(now)
                        .arg(checked.expires_at)
                        .arg(&expected)
                        .arg(self.redis.retention_ms);
                    for (code, id) in &round {
                        inv.arg(code.0).arg(id.encode());
                    }
                    let mut conn = self.conn.clone();
                    let answer: Vec<String> = inv
                        .invoke_async(&mut conn)
                        .await
                        .map_err(|e| self.down(e))?;
                    let swept = answer.last().and_then(|n| n.parse().ok()).unwrap_or(0);
                    Counters::add(&self.counters.expired, swept);
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
            match &result {
                Ok(_) => Counters::inc(&self.counters.starts),
                Err(_) => Counters::inc(&self.counters.starts_refused),
            }
            result
        }
    }

    fn status(
        &self,
        id: &str,
        now: Millis,
    ) -> impl Future<Output = Result<Option<StatusView>, Unavailable>> + Send {
        let key =
            ChallengeId::parse(id).map(|id| format!("{}ch:{}", self.redis.prefix, id.encode()));
        async move {
            let Some(key) = key else { return Ok(None) };
            let mut conn = self.conn.clone();
            let fields: Vec<Option<String>> = ::redis::cmd("HMGET")
                .arg(&key)
                .arg(&["status", "expires", "sender", "verified_at"])
                .query_async(&mut conn)
                .await
                .map_err(|e| self.down(e))?;
            let [status, expires, sender, verified_at] = <[Option<String>; 4]>::try_from(fields)
                .map_err(|_| Unavailable("unreadable challenge".into()))?;
            let (Some(status), Some(expires)) = (status, expires.and_then(|e| e.parse().ok()))
            else {
                return Ok(None);
            };
            let status = match status.as_str() {
                "pending" if now >= expires => Status::Expired,
                "pending" => Status::Pending,
                "verified" => Status::Verified,
                "locked" => Status::Locked,
                _ => Status::Expired,
            };
            let verified = status == Status::Verified;
            Ok(Some(StatusView {
                status,
                sender: sender.filter(|_| verified),
                verified_at: verified_at
                    .and_then(|t| t.parse().ok())
                    .filter(|_| verified),
                expires_at: expires,
            }))
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
        let prepared = Counters::default();
        let (early, sender, codes) = match self.cfg.prepare(msg, &prepared, |_| {}) {
            Prepared::Done(outcome) => (early_text(&outcome), String::new(), Vec::new()),
            Prepared::Match { sender, candidates } => (
                String::new(),
                sender.to_string(),
                candidates.as_slice().iter().map(|c| c.0).collect(),
            ),
        };
        let delivery_id = delivery_id.to_string();
        async move {
            let mut inv = self.receive.prepare_invoke();
            inv.arg(&self.redis.prefix)
                .arg(now)
                .arg(&delivery_id)
                .arg(self.cfg.dedupe_retention_ms.max(1))
                .arg(&sender)
                .arg(self.cfg.max_sender_failures)
                .arg(&early);
            for c in &codes {
                inv.arg(*c);
            }
            let mut conn = self.conn.clone();
            let (repeat, text): (u8, String) = inv
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.down(e))?;
            let outcome = parse_outcome(&text)
                .ok_or_else(|| Unavailable(format!("unreadable answer {text:?}")))?;
            if repeat == 1 {
                Counters::inc(&self.counters.duplicates);
            } else {
                Counters::add(
                    &self.counters.stuffed,
                    prepared.stuffed.load(Ordering::Relaxed),
                );
                count_outcome(&self.counters, &outcome);
            }
            Ok((outcome, repeat == 1))
        }
    }

    fn recorded(
        &self,
        delivery_id: &str,
    ) -> impl Future<Output = Result<Option<ReceiveOutcome>, Unavailable>> + Send {
        let key = format!("{}dd:{delivery_id}", self.redis.prefix);
        async move {
            let mut conn = self.conn.clone();
            let seen: Option<String> = ::redis::cmd("GET")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.down(e))?;
            let Some(text) = seen else { return Ok(None) };
            let outcome = parse_outcome(&text)
                .ok_or_else(|| Unavailable(format!("unreadable answer {text:?}")))?;
            Counters::inc(&self.counters.duplicates);
            Ok(Some(outcome))
        }
    }

    /// Redis expires the keys itself; this counts the challenges that expired unverified (as
    /// the memory store's sweep does) and refreshes the pending count for metrics.
    fn sweep(&self, now: Millis) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (script, prefix, mut conn, counters, pending) = (
            self.sweep.clone(),
            self.redis.prefix.clone(),
            self.conn.clone(),
            self.counters.clone(),
            self.pending.clone(),
        );
        runtime.spawn(async move {
            let answer = script.arg(prefix).arg(now).invoke_async(&mut conn).await;
            if let Ok((expired, n)) = answer {
                Counters::add(&counters.expired, expired);
                pending.store(n, Ordering::Relaxed);
            }
        });
    }

    fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    fn max_pending(&self) -> usize {
        self.redis.max_pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_through_their_text() {
        let id = ChallengeId {
            locator: 7,
            tag: 0xDEAD_BEEF,
        };
        let e = id.encode();
        for (text, want) in [
            (format!("verified {e}"), ReceiveOutcome::Verified { id }),
            (format!("expired {e}"), ReceiveOutcome::Expired { id }),
            (
                format!("sender_mismatch {e} 1"),
                ReceiveOutcome::SenderMismatch { id, locked: true },
            ),
            (
                format!("sender_mismatch {e} 0"),
                ReceiveOutcome::SenderMismatch { id, locked: false },
            ),
            (
                "no_match 3".to_string(),
                ReceiveOutcome::NoMatch {
                    candidates_tried: 3,
                },
            ),
            ("no_code".to_string(), ReceiveOutcome::NoCode),
        ] {
            assert_eq!(parse_outcome(&text), Some(want), "{text}");
        }
        let ignored = ReceiveOutcome::Ignored {
            reason: "protocol \"sms\" is not accepted".into(),
        };
        assert_eq!(parse_outcome(&early_text(&ignored)), Some(ignored));
        assert_eq!(
            parse_outcome(&early_text(&ReceiveOutcome::NoCode)),
            Some(ReceiveOutcome::NoCode)
        );
        for bad in ["", "verified", "verified nope", "no_match x", "weird 1"] {
            assert_eq!(parse_outcome(bad), None, "{bad}");
        }
    }
}
