//! The rest of the server's state in Redis: SMS codes, the SMS defences' state and the start
//! limits, so every instance on one Redis shares them and a restart keeps them (issue 22).
//!
//! # Layout (under the verifier's prefix; in a cluster the SMS keys are `{p}{sms}sms:…` and the
//! limits' `{p}{lim}lim:…`, one slot each, see [`super::conn`])
//! * `{p}sms:code:{phone}`: the phone's pending SMS code ([`Pending::encode`]), expiring with
//!   it; `{p}sms:pending`: sorted set of phones by expiry, the `max_pending` bound.
//! * `{p}sms:log`: the SMS guard's inputs in order ([`Event::encode`]), at most `max_events`
//!   (older ones trimmed); `{p}sms:base`: the index of its first entry; `{p}sms:origin`: the
//!   time of the first event ever (the warm-up's start, see `sms_defences::state`);
//!   `{p}sms:keys`: the account-name hash keys every instance uses.
//! * `{p}lim:c:{client}`, `{p}lim:s:{client}:{sender}`, `{p}lim:g`: start-limit buckets
//!   (`level,at`), each expiring when it would be full again (a full bucket is no bucket).
//!
//! # Where each rule lives
//! * SMS checks: the script hands a phone's [`Pending`] over, [`SmsOtp::judge`] decides, and a
//!   compare-and-set script writes the result only if nobody changed it meanwhile (else the
//!   judge runs again on the new state). The rule is only in the core.
//! * SMS defences: appending to the log is atomic, and every instance's
//!   [`Replica`] decides each event at its position in the log: the rules are only in the
//!   core (one round trip per `/sms/start`, no retries). A new or restarted instance
//!   replays the log at its first SMS request, 4,096 events a round trip (a full log of
//!   1,000,000 is about 245 round trips and as many guard checks: that request is slow).
//! * Start limits: a token bucket in Lua (one round trip, no conflicts on the global bucket
//!   under load), with units and rates from [`mo2fa_core::limits::Rate`]; the model test
//!   (`tests/it/redis_sms.rs`) drives it and [`mo2fa_core::limits::StartLimiter`] with the
//!   same random requests and requires the same decisions.
//! * The pending bound on SMS codes: only live codes count (the memory store counts every
//!   start of the last TTL, replaced ones too: Redis can refuse later, never sooner).

use super::{Conn, Layout};
use ::redis::Script;
use mo2fa_core::clock::Millis;
use mo2fa_core::limits::{Decision, Limit, LimitsConfig, Rate};
use mo2fa_core::sms_defences::state::{Event, Replica, Verdict};
use mo2fa_core::sms_otp::{CheckOutcome, Pending, SmsCode, SmsOtp, SmsOtpError};
use mo2fa_core::store::Unavailable;
use parking_lot::Mutex;

/// Events the guard's log keeps by default (about 60 bytes each in Redis: about 60 MB). An
/// instance that falls further behind, or starts after more were trimmed, starts from what is
/// left: the rules forget what the log no longer holds.
pub const DEFAULT_MAX_EVENTS: u64 = 1_000_000;
/// Added to the lifetimes Redis keeps keys for: a key's lifetime runs on Redis' clock, the
/// rules on the caller's, so a key must not vanish before the caller's clock says it may
/// (a bucket's level and a code's expiry are read from the value, by the caller's time).
const SLACK_MS: u64 = 60_000;
/// Events one round trip brings at most.
const CHUNK: u64 = 4_096;
/// Compare-and-set rounds before a check gives up (each one lost to a racing check of the
/// same phone).
const CAS_ROUNDS: usize = 8;

const APPEND: &str = r"
local p, from, ev, max, now = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), ARGV[5]
local log, base_key = p .. 'sms:log', p .. 'sms:base'
redis.call('SET', p .. 'sms:origin', now, 'NX')
local origin = redis.call('GET', p .. 'sms:origin')
local base = tonumber(redis.call('GET', base_key) or '0')
local n = redis.call('RPUSH', log, ev)
local at = base + n - 1
if n > max then
  redis.call('LTRIM', log, n - max, -1)
  base = base + n - max
  redis.call('SET', base_key, base)
end
if from < base or at - from >= CHUNK then return {base, at, origin, {}} end
return {base, at, origin, redis.call('LRANGE', log, from - base, -1)}
";

const READ: &str = r"
local p, from, count = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local base = tonumber(redis.call('GET', p .. 'sms:base') or '0')
local origin = redis.call('GET', p .. 'sms:origin') or '0'
if from < base then from = base end
return {base, from, origin, redis.call('LRANGE', p .. 'sms:log', from - base, from - base + count - 1)}
";

const KEYS: &str = r"
redis.call('SET', ARGV[1] .. 'sms:keys', ARGV[2], 'NX')
return redis.call('GET', ARGV[1] .. 'sms:keys')
";

const CODE_START: &str = r"
local p, phone, value, now, expires, max =
  ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local z = p .. 'sms:pending'
redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
if not redis.call('ZSCORE', z, phone) and redis.call('ZCARD', z) >= max then
  local oldest = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
  return {'full', oldest[2] or now}
end
redis.call('SET', p .. 'sms:code:' .. phone, value, 'PX', math.max(1, expires - now) + SLACK)
redis.call('ZADD', z, expires, phone)
return {'ok'}
";

/// Writes a phone's new state only if it still holds `old` ('' = nothing); '' as the new
/// state deletes it. Answers 1, or 0 and the state found.
const CODE_SWAP: &str = r"
local p, phone, old, new = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local key = p .. 'sms:code:' .. phone
local cur = redis.call('GET', key) or ''
if cur ~= old then return {0, cur} end
if new == '' then
  redis.call('DEL', key)
  redis.call('ZREM', p .. 'sms:pending', phone)
else
  redis.call('SET', key, new, 'KEEPTTL')
end
return {1, ''}
";

/// Token buckets: `level,at` per key, refilled by `refill` units a millisecond up to `cap`.
/// ARGV: prefix, now, take (1: check and take; 0: refund), client, sender ('' = none), then
/// refill and cap of the client, sender and global limits (0 = off). Answers {'ok'} or
/// {'refused', limit, ms}.
const LIMIT: &str = r"
local p, now, take = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'
local unit = 60000000
local keys = {p .. 'lim:c:' .. ARGV[4], p .. 'lim:s:' .. ARGV[4] .. ':' .. ARGV[5], p .. 'lim:g'}
local names = {'client', 'sender', 'global'}
local levels, refusal, wait = {}, nil, 0
for i = 1, 3 do
  local refill, cap = tonumber(ARGV[4 + 2 * i]), tonumber(ARGV[5 + 2 * i])
  if refill > 0 and (i ~= 2 or ARGV[5] ~= '') then
    local level = cap
    local v = redis.call('GET', keys[i])
    if v then
      local l, at = string.match(v, '^(%d+),(%d+)$')
      l, at = tonumber(l), tonumber(at)
      local dt = math.max(0, now - at)
      if dt * refill < cap - l then level = l + dt * refill end
    end
    levels[i] = level
    if take and level < unit then
      local ms = math.max(1, math.ceil((unit - level) / refill))
      if not refusal then refusal = names[i] end
      wait = math.max(wait, ms)
    end
  end
end
if refusal then return {'refused', refusal, wait} end
for i = 1, 3 do
  local level = levels[i]
  if level then
    local refill, cap = tonumber(ARGV[4 + 2 * i]), tonumber(ARGV[5 + 2 * i])
    local exists = true
    if take then
      level = level - unit
    elseif redis.call('EXISTS', keys[i]) == 1 then
      level = math.min(cap, level + unit)
    else
      exists = false
    end
    if exists then
      if level >= cap then
        redis.call('DEL', keys[i])
      else
        local full = math.max(1, math.ceil((cap - level) / refill))
        redis.call('SET', keys[i], string.format('%d,%d', level, now), 'PX', full + SLACK)
      end
    end
  end
end
return {'ok'}
";

/// Buckets of a rate fit Lua's numbers exactly while their capacity stays below 2^53 units
/// (about 150 million starts of burst).
pub const MAX_CAP: u64 = 1 << 53;

/// The SMS codes, SMS guard log and start limits of one Redis prefix.
pub struct SharedState {
    conn: Conn,
    /// Prefix of the SMS state's keys, and the key its scripts are routed by.
    prefix: String,
    route: String,
    /// Prefix of the start limits' keys, and the key their script is routed by.
    limits_prefix: String,
    limits_route: String,
    append: Script,
    read: Script,
    keys: Script,
    code_start: Script,
    code_swap: Script,
    limit: Script,
    max_events: u64,
    /// The account-name hash keys, once read from Redis.
    account_keys: Mutex<Option<[u64; 2]>>,
}

/// A log append's answer: the log's first index, this event's index, the log's origin, and
/// the events from the caller's `from` (empty if it must catch up by [`SharedState::read`]).
type Appended = (u64, u64, u64, Vec<Vec<u8>>);

impl SharedState {
    pub fn new(conn: Conn, layout: &Layout, max_events: u64) -> Self {
        Self {
            conn,
            prefix: layout.sms.clone(),
            route: format!("{}sms:log", layout.sms),
            limits_prefix: layout.limits.clone(),
            limits_route: format!("{}lim:g", layout.limits),
            append: Script::new(&APPEND.replace("CHUNK", &CHUNK.to_string())),
            read: Script::new(READ),
            keys: Script::new(KEYS),
            code_start: Script::new(&CODE_START.replace("SLACK", &SLACK_MS.to_string())),
            code_swap: Script::new(CODE_SWAP),
            limit: Script::new(&LIMIT.replace("SLACK", &SLACK_MS.to_string())),
            max_events: max_events.max(1),
            account_keys: Mutex::new(None),
        }
    }

    fn down(e: ::redis::RedisError) -> Unavailable {
        Unavailable(e.to_string())
    }

    /// The account-name hash keys every instance on this prefix uses (the first instance's
    /// draw, `local` here).
    pub async fn account_keys(&self, local: [u64; 2]) -> Result<[u64; 2], Unavailable> {
        if let Some(k) = *self.account_keys.lock() {
            return Ok(k);
        }
        let mine = format!("{:016x}{:016x}", local[0], local[1]);
        let text: String = self
            .keys
            .key(&self.route)
            .arg(&self.prefix)
            .arg(mine)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(Self::down)?;
        let parse = |r: std::ops::Range<usize>| {
            text.get(r)
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .ok_or_else(|| Unavailable(format!("unreadable account keys {text:?}")))
        };
        let keys = [parse(0..16)?, parse(16..32)?];
        *self.account_keys.lock() = Some(keys);
        Ok(keys)
    }

    /// Appends `ev` to the guard's log, brings `replica` up to it and answers its verdict
    /// (`None` for a verification).
    pub async fn decide(
        &self,
        replica: &Mutex<Replica>,
        ev: Event,
    ) -> Result<Option<Verdict>, Unavailable> {
        let from = replica.lock().next();
        let (base, at, origin, events): Appended = self
            .append
            .key(&self.route)
            .arg(&self.prefix)
            .arg(from)
            .arg(ev.encode())
            .arg(self.max_events)
            .arg(ev.now())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(Self::down)?;
        if from >= base && !events.is_empty() {
            apply(replica, from, origin, &events)?;
        }
        self.catch_up(replica, at).await?;
        let verdict = replica.lock().verdict(at);
        match (ev, verdict) {
            (Event::Verified { .. }, _) => Ok(None),
            (Event::Attempt(_), Some(v)) => Ok(Some(v)),
            (Event::Attempt(_), None) => Err(Unavailable(format!(
                "the verdict of SMS guard event {at} is no longer kept"
            ))),
        }
    }

    /// Applies the log up to and including event `until`.
    pub async fn catch_up(&self, replica: &Mutex<Replica>, until: u64) -> Result<(), Unavailable> {
        loop {
            let next = replica.lock().next();
            if next > until {
                return Ok(());
            }
            let (base, from, origin, events): Appended = self
                .read
                .key(&self.route)
                .arg(&self.prefix)
                .arg(next)
                .arg(CHUNK)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(Self::down)?;
            if from > next {
                // Trimmed past what this replica applied: start from what is left.
                let mut r = replica.lock();
                if r.next() < base {
                    r.rebuild(base);
                }
            }
            if events.is_empty() {
                return Err(Unavailable(format!(
                    "the SMS guard log ends before event {until}"
                )));
            }
            apply(replica, from, origin, &events)?;
        }
    }

    /// A new SMS code for `phone`, kept in Redis;     /// `p` is [`SmsOtp::draw`]'s (drawn by the caller, so the future holds no RNG).
    pub async fn code_start(
        &self,
        otp: &SmsOtp,
        phone: u64,
        p: Pending,
        now: Millis,
    ) -> Result<Result<SmsCode, SmsOtpError>, Unavailable> {
        let answer: Vec<String> = self
            .code_start
            .key(&self.route)
            .arg(&self.prefix)
            .arg(phone)
            .arg(p.encode())
            .arg(now)
            .arg(p.expires_at)
            .arg(otp.max_pending())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(Self::down)?;
        Ok(match answer.first().map(String::as_str) {
            Some("ok") => Ok(SmsCode {
                phone,
                code: p.code,
            }),
            Some("full") => {
                let oldest: u64 = answer.get(1).and_then(|t| t.parse().ok()).unwrap_or(now);
                Err(SmsOtpError::Full {
                    max: otp.max_pending(),
                    retry_after_ms: oldest.saturating_sub(now).max(1),
                })
            }
            _ => return Err(Unavailable(format!("unreadable answer {answer:?}"))),
        })
    }

    /// Checks a typed code against the phone's code in Redis ([`SmsOtp::judge`] decides).
    pub async fn code_check(
        &self,
        otp: &SmsOtp,
        phone: u64,
        code: &str,
        now: Millis,
    ) -> Result<CheckOutcome, Unavailable> {
        let mut conn = self.conn.clone();
        let key = format!("{}sms:code:{phone}", self.prefix);
        let mut held: String = ::redis::cmd("GET")
            .arg(&key)
            .query_async::<Option<String>>(&mut conn)
            .await
            .map_err(Self::down)?
            .unwrap_or_default();
        for _ in 0..CAS_ROUNDS {
            let (outcome, left) = otp.judge(Pending::decode(&held), code, now);
            let new = left.map(|p| p.encode()).unwrap_or_default();
            if new == held {
                return Ok(outcome);
            }
            let (done, found): (u8, String) = self
                .code_swap
                .key(&self.route)
                .arg(&self.prefix)
                .arg(phone)
                .arg(&held)
                .arg(&new)
                .invoke_async(&mut conn)
                .await
                .map_err(Self::down)?;
            if done == 1 {
                return Ok(outcome);
            }
            held = found;
        }
        Err(Unavailable(format!(
            "SMS code of {phone}: {CAS_ROUNDS} racing checks in a row"
        )))
    }

    /// The start limits of `cfg` in Redis: [`mo2fa_core::limits::StartLimiter::check`]'s
    /// decision (`take`), or its refund.
    pub async fn limit(
        &self,
        cfg: &LimitsConfig,
        client: u128,
        sender: Option<&str>,
        now: Millis,
        take: bool,
    ) -> Result<Decision, Unavailable> {
        let mut inv = self.limit.key(&self.limits_route);
        inv.arg(&self.limits_prefix)
            .arg(now)
            .arg(u8::from(take))
            .arg(client.to_string())
            .arg(sender.unwrap_or_default());
        for r in [cfg.per_client, cfg.per_sender, cfg.global] {
            let (refill, cap) = r.map_or((0, 0), |r: Rate| (r.refill_per_ms(), r.cap()));
            inv.arg(refill).arg(cap.min(MAX_CAP));
        }
        let answer: Vec<String> = inv
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(Self::down)?;
        let ms = answer.get(2).and_then(|t| t.parse::<u64>().ok());
        Ok(
            match (answer.first().map(String::as_str), answer.get(1), ms) {
                (Some("ok"), _, _) => Decision::Allowed,
                (Some("refused"), Some(limit), Some(ms)) => Decision::RetryAfter {
                    limit: match limit.as_str() {
                        "client" => Limit::Client,
                        "sender" => Limit::Sender,
                        _ => Limit::Global,
                    },
                    ms,
                },
                _ => return Err(Unavailable(format!("unreadable answer {answer:?}"))),
            },
        )
    }
}

/// Applies `events`, the log from index `from`, to `replica`.
fn apply(
    replica: &Mutex<Replica>,
    from: u64,
    origin: u64,
    events: &[Vec<u8>],
) -> Result<(), Unavailable> {
    let mut r = replica.lock();
    for (i, bytes) in events.iter().enumerate() {
        let ev = Event::decode(bytes)
            .ok_or_else(|| Unavailable(format!("unreadable SMS guard event {bytes:?}")))?;
        let at = from + i as u64;
        if let Err(gap) = r.apply(at, &ev, origin) {
            // Only after a trim: start from this event.
            tracing::warn!("SMS guard log: {gap}; this instance starts again from {at}");
            r.rebuild(at);
            r.apply(at, &ev, origin)
                .map_err(|e| Unavailable(e.to_string()))?;
        }
    }
    Ok(())
}
