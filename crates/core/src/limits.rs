//! Start limits: token buckets per client address, per expected sender *from one client
//! address*, and one global bucket.
//!
//! One implementation for the server (`POST /2fa/start`, `serve --start-rate-*`) and the
//! simulator (`[defences.reverse] start_rate_per_client`), so what a scenario measures is what
//! the server enforces. Pure: `now` (ms) is passed in; no clock, no randomness, no I/O.
//!
//! A bucket holds up to `burst` starts and refills continuously at `per_minute` starts a
//! minute. Levels are integers (one start = [`UNIT`] units; a millisecond adds the rate in
//! thousandths of a start per minute), so the same requests at the same times always get the
//! same answers. A refused request takes no token from any bucket.
//!
//! **Bounded memory.** Each keyed table holds at most `max_keys` buckets. A bucket that has
//! refilled to `burst` is indistinguishable from no bucket, so when a table is full those are
//! dropped first (lossless). If every bucket is still in use, a request from a *new* key is
//! refused ([`Limit::Table`]) until the earliest bucket refills: evicting a partly drained
//! bucket would hand its owner a fresh burst, so an attacker rotating addresses could reset
//! his own limits. Refusing keeps every admitted client within its rate; the cost (new clients
//! wait while the table is saturated) is bounded by the time one bucket takes to refill.
//! IPv6 clients are keyed by their /64, the block one subscriber usually holds, so rotating
//! addresses inside it gains nothing.
//!
//! **Per sender, per client.** The sender bucket is keyed by the expected sender *and* the
//! client address. Keyed by the sender alone, anyone could spend a user's bucket by starting
//! challenges bound to that user's number, and so refuse the user's own login for as long as
//! they kept doing it (a lockout renewable at the refill rate). Keyed by both, a stranger's
//! starts spend only the stranger's bucket; the price is that an attacker with many addresses
//! gets one burst per address for the same number, which the per-client and global buckets
//! bound (THREATS.md, "Start floods", has the trade-off).
//!
//! **Refunds.** A start the verifier could not make after the limits allowed it (the store
//! full or down) gives its tokens back ([`StartLimiter::refund`]): a client is charged for
//! challenges it got, not for the server's refusals.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

/// Units per start: 60 000 ms × 1000 (the rate is kept in thousandths of a start a minute).
pub const UNIT: u64 = 60_000_000;

/// Default bound on each keyed table (about 64 bytes a bucket).
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// A refill rate and burst.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Starts a minute, refilled continuously; must be positive.
    pub per_minute: f64,
    /// Bucket size: starts allowed at once after a quiet period; at least 1.
    pub burst: u32,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RateError {
    #[error("rate {0} must be a positive number of starts a minute, at most 1e9")]
    Rate(f64),
    #[error("burst must be at least 1")]
    Burst,
    #[error("max_keys must be at least 1")]
    MaxKeys,
}

impl Rate {
    fn milli_per_minute(&self) -> u64 {
        (self.per_minute * 1000.0).round() as u64
    }

    /// Units a bucket of this rate gains per millisecond (see [`UNIT`]).
    pub fn refill_per_ms(&self) -> u64 {
        Params::new(*self).refill
    }

    /// Units a full bucket of this rate holds (`burst` starts).
    pub fn cap(&self) -> u64 {
        Params::new(*self).cap
    }

    pub fn check(&self) -> Result<(), RateError> {
        if !(self.per_minute.is_finite() && self.per_minute > 0.0 && self.per_minute <= 1e9)
            || self.milli_per_minute() == 0
        {
            return Err(RateError::Rate(self.per_minute));
        }
        if self.burst == 0 {
            return Err(RateError::Burst);
        }
        Ok(())
    }
}

/// Which limits apply; `None` turns one off.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LimitsConfig {
    pub per_client: Option<Rate>,
    pub per_sender: Option<Rate>,
    pub global: Option<Rate>,
    /// Bound on each keyed table (clients, senders).
    pub max_keys: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            per_client: None,
            per_sender: None,
            global: None,
            max_keys: DEFAULT_MAX_KEYS,
        }
    }
}

impl LimitsConfig {
    pub fn is_off(&self) -> bool {
        self.per_client.is_none() && self.per_sender.is_none() && self.global.is_none()
    }
}

/// The limit that refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Client,
    Sender,
    Global,
    /// The client or sender table is full of buckets still in use (see the module doc).
    Table,
}

impl Limit {
    /// The label used in API errors and `/metrics`.
    pub fn name(self) -> &'static str {
        match self {
            Limit::Client => "client",
            Limit::Sender => "sender",
            Limit::Global => "global",
            Limit::Table => "table_full",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Refused by `limit`; a retry after `ms` may pass (if nobody else spends the tokens).
    RetryAfter {
        limit: Limit,
        ms: u64,
    },
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    level: u64,
    at: u64,
}

#[derive(Clone, Copy, Debug)]
struct Params {
    refill: u64,
    cap: u64,
}

impl Params {
    fn new(r: Rate) -> Self {
        Self {
            refill: r.milli_per_minute().max(1),
            cap: u64::from(r.burst.max(1)) * UNIT,
        }
    }

    fn level(&self, b: Bucket, now: u64) -> u64 {
        let dt = now.saturating_sub(b.at);
        let added = u128::from(dt) * u128::from(self.refill);
        (u128::from(b.level) + added).min(u128::from(self.cap)) as u64
    }

    /// Milliseconds until a bucket at `level` holds one start.
    fn wait(&self, level: u64) -> u64 {
        UNIT.saturating_sub(level).div_ceil(self.refill)
    }

    /// Milliseconds until a bucket at `level` is full again.
    fn wait_full(&self, level: u64) -> u64 {
        self.cap.saturating_sub(level).div_ceil(self.refill)
    }
}

/// A bounded table of buckets keyed by `K`.
#[derive(Debug)]
struct Table<K> {
    params: Params,
    buckets: HashMap<K, Bucket>,
    max_keys: usize,
    /// While the table is full of buckets in use: no slot frees before this time.
    full_until: u64,
}

enum Peek {
    /// The key's level now (a new key starts full).
    Level(u64),
    NoRoom {
        ms: u64,
    },
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn new(rate: Rate, max_keys: usize) -> Self {
        Self {
            params: Params::new(rate),
            buckets: HashMap::new(),
            max_keys: max_keys.max(1),
            full_until: 0,
        }
    }

    fn peek(&mut self, key: &K, now: u64) -> Peek {
        if let Some(b) = self.buckets.get(key) {
            return Peek::Level(self.params.level(*b, now));
        }
        if self.buckets.len() < self.max_keys {
            return Peek::Level(self.params.cap);
        }
        if now < self.full_until {
            return Peek::NoRoom {
                ms: self.full_until - now,
            };
        }
        // Drop the buckets that have refilled (lossless), and learn when the next one will.
        let params = self.params;
        let mut next = u64::MAX;
        self.buckets.retain(|_, b| {
            let level = params.level(*b, now);
            let wait = params.wait_full(level);
            if wait == 0 {
                return false;
            }
            next = next.min(wait);
            true
        });
        if self.buckets.len() < self.max_keys {
            self.full_until = 0;
            Peek::Level(self.params.cap)
        } else {
            self.full_until = now.saturating_add(next);
            Peek::NoRoom { ms: next }
        }
    }

    fn take(&mut self, key: K, level: u64, now: u64) {
        self.buckets.insert(
            key,
            Bucket {
                level: level - UNIT,
                at: now,
            },
        );
    }

    fn len(&self) -> usize {
        self.buckets.len()
    }
}

/// The start limiter. Keys: a client address (see [`client_key`]) and, if the start names
/// one, the expected sender as the verifier normalises it together with the client address.
#[derive(Debug)]
pub struct StartLimiter {
    clients: Option<Table<u128>>,
    senders: Option<Table<(u128, Box<str>)>>,
    global: Option<(Params, Bucket)>,
}

impl StartLimiter {
    pub fn new(cfg: &LimitsConfig) -> Result<Self, RateError> {
        for r in [cfg.per_client, cfg.per_sender, cfg.global]
            .into_iter()
            .flatten()
        {
            r.check()?;
        }
        if cfg.max_keys == 0 {
            return Err(RateError::MaxKeys);
        }
        Ok(Self {
            clients: cfg.per_client.map(|r| Table::new(r, cfg.max_keys)),
            senders: cfg.per_sender.map(|r| Table::new(r, cfg.max_keys)),
            global: cfg.global.map(|r| {
                let p = Params::new(r);
                (
                    p,
                    Bucket {
                        level: p.cap,
                        at: 0,
                    },
                )
            }),
        })
    }

    /// Decides one start from `client` for `sender` (if bound) at `now`; takes one token from
    /// every bucket that applies if (and only if) all of them allow it.
    pub fn check(&mut self, client: u128, sender: Option<&str>, now: u64) -> Decision {
        let mut refused: Option<(Limit, u64)> = None;
        let mut refuse = |limit: Limit, ms: u64| {
            let ms = ms.max(1);
            refused = Some(match refused {
                Some((first, prev)) => (first, prev.max(ms)),
                None => (limit, ms),
            });
        };
        let client_level = self.clients.as_mut().map(|t| match t.peek(&client, now) {
            Peek::Level(l) => {
                if l < UNIT {
                    refuse(Limit::Client, t.params.wait(l));
                }
                l
            }
            Peek::NoRoom { ms } => {
                refuse(Limit::Table, ms);
                0
            }
        });
        let sender_level = match (self.senders.as_mut(), sender) {
            (Some(t), Some(s)) => {
                let key: (u128, Box<str>) = (client, s.into());
                Some(match t.peek(&key, now) {
                    Peek::Level(l) => {
                        if l < UNIT {
                            refuse(Limit::Sender, t.params.wait(l));
                        }
                        (key, l)
                    }
                    Peek::NoRoom { ms } => {
                        refuse(Limit::Table, ms);
                        (key, 0)
                    }
                })
            }
            _ => None,
        };
        let global_level = self.global.as_ref().map(|(p, b)| {
            let l = p.level(*b, now);
            if l < UNIT {
                refuse(Limit::Global, p.wait(l));
            }
            l
        });
        if let Some((limit, ms)) = refused {
            return Decision::RetryAfter { limit, ms };
        }
        if let (Some(t), Some(l)) = (self.clients.as_mut(), client_level) {
            t.take(client, l, now);
        }
        if let (Some(t), Some((key, l))) = (self.senders.as_mut(), sender_level) {
            t.take(key, l, now);
        }
        if let (Some((_, b)), Some(l)) = (self.global.as_mut(), global_level) {
            *b = Bucket {
                level: l - UNIT,
                at: now,
            };
        }
        Decision::Allowed
    }

    /// Gives back the tokens an allowed [`StartLimiter::check`] of the same `client` and
    /// `sender` took, when the start it allowed was not made after all (the store refused or
    /// failed). A bucket never rises above its burst, and a bucket dropped meanwhile is left
    /// alone (it is already full).
    pub fn refund(&mut self, client: u128, sender: Option<&str>, now: u64) {
        fn give<K: Hash + Eq>(t: &mut Table<K>, key: &K, now: u64) {
            let params = t.params;
            if let Some(b) = t.buckets.get_mut(key) {
                let level = params.level(*b, now).saturating_add(UNIT).min(params.cap);
                *b = Bucket { level, at: now };
            }
        }
        if let Some(t) = self.clients.as_mut() {
            give(t, &client, now);
        }
        if let (Some(t), Some(s)) = (self.senders.as_mut(), sender) {
            give(t, &(client, s.into()), now);
        }
        if let Some((p, b)) = self.global.as_mut() {
            let level = p.level(*b, now).saturating_add(UNIT).min(p.cap);
            *b = Bucket { level, at: now };
        }
    }

    /// Buckets held: (clients, senders).
    pub fn keys(&self) -> (usize, usize) {
        (
            self.clients.as_ref().map_or(0, Table::len),
            self.senders.as_ref().map_or(0, Table::len),
        )
    }
}

/// The client key of an address: an IPv4 address as itself (IPv4-mapped IPv6 too), an IPv6
/// address by its /64 network.
pub fn client_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(u32::from(v4)),
            None => u128::from(v6) & !u128::from(u64::MAX),
        },
    }
}

/// The client address behind `trusted` proxies, from a comma-separated, X-Forwarded-For-style
/// list: each proxy appends the address it received the request from, so the last `trusted`
/// entries were written by proxies we run, and the leftmost of them (the `trusted`-th from the
/// right, written by our outermost proxy) is the client. Entries left of it were written by
/// the client itself and are ignored.
/// `None` if the list is shorter than `trusted` entries or that entry is not an address.
pub fn forwarded_client(header: &str, trusted: usize) -> Option<IpAddr> {
    if trusted == 0 {
        return None;
    }
    let entry = header.rsplit(',').nth(trusted - 1)?.trim();
    entry.parse().ok().or_else(|| {
        // "[v6]:port" or "v4:port" as some proxies write them.
        let host = entry
            .strip_prefix('[')
            .and_then(|r| r.split(']').next())
            .unwrap_or_else(|| entry.rsplit_once(':').map_or(entry, |(h, _)| h));
        host.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_minute: f64, burst: u32) -> Option<Rate> {
        Some(Rate { per_minute, burst })
    }

    fn limiter(cfg: LimitsConfig) -> StartLimiter {
        StartLimiter::new(&cfg).expect("valid")
    }

    #[test]
    fn burst_then_refill_at_the_rate() {
        let mut l = limiter(LimitsConfig {
            per_client: rate(6.0, 3),
            ..Default::default()
        });
        for _ in 0..3 {
            assert_eq!(l.check(1, None, 1000), Decision::Allowed);
        }
        // 6 a minute: one token every 10 s.
        assert_eq!(
            l.check(1, None, 1000),
            Decision::RetryAfter {
                limit: Limit::Client,
                ms: 10_000
            }
        );
        assert_eq!(
            l.check(1, None, 5000),
            Decision::RetryAfter {
                limit: Limit::Client,
                ms: 6_000
            },
            "the wait shrinks as the bucket refills"
        );
        assert_eq!(l.check(1, None, 11_000), Decision::Allowed);
        assert!(matches!(
            l.check(1, None, 11_000),
            Decision::RetryAfter { .. }
        ));
        assert_eq!(l.check(2, None, 11_000), Decision::Allowed, "per client");
        // A long pause refills up to the burst, not beyond.
        for _ in 0..3 {
            assert_eq!(l.check(1, None, 10_000_000), Decision::Allowed);
        }
        assert!(matches!(
            l.check(1, None, 10_000_000),
            Decision::RetryAfter { .. }
        ));
    }

    #[test]
    fn a_refused_request_takes_no_token() {
        let mut l = limiter(LimitsConfig {
            per_client: rate(60.0, 1),
            global: rate(60.0, 2),
            ..Default::default()
        });
        assert_eq!(l.check(1, None, 0), Decision::Allowed);
        for _ in 0..5 {
            assert!(matches!(
                l.check(1, None, 0),
                Decision::RetryAfter {
                    limit: Limit::Client,
                    ..
                }
            ));
        }
        // The global bucket still has its second token.
        assert_eq!(l.check(2, None, 0), Decision::Allowed);
        assert_eq!(
            l.check(3, None, 0),
            Decision::RetryAfter {
                limit: Limit::Global,
                ms: 1000
            }
        );
    }

    #[test]
    fn per_sender_applies_only_to_bound_starts() {
        let mut l = limiter(LimitsConfig {
            per_sender: rate(1.0, 2),
            ..Default::default()
        });
        assert_eq!(l.check(1, Some("+15550001"), 0), Decision::Allowed);
        assert_eq!(l.check(1, Some("+15550001"), 0), Decision::Allowed);
        assert_eq!(
            l.check(1, Some("+15550001"), 0),
            Decision::RetryAfter {
                limit: Limit::Sender,
                ms: 60_000
            },
        );
        assert_eq!(l.check(1, Some("+15550002"), 0), Decision::Allowed);
        assert_eq!(l.check(1, None, 0), Decision::Allowed);
    }

    #[test]
    fn strangers_cannot_spend_a_users_sender_bucket() {
        // The lockout: a stranger (client 66) starts challenges bound to the user's number;
        // keyed by the sender alone, the user's own login (client 1) was then refused.
        let mut l = limiter(LimitsConfig {
            per_sender: rate(1.0, 2),
            ..Default::default()
        });
        let user = Some("+15550001");
        for t in 0..5 {
            l.check(66, user, t * 60_000);
            l.check(66, user, t * 60_000);
        }
        assert!(matches!(
            l.check(66, user, 240_000),
            Decision::RetryAfter {
                limit: Limit::Sender,
                ..
            }
        ));
        assert_eq!(l.check(1, user, 240_000), Decision::Allowed);
        assert_eq!(l.check(1, user, 240_000), Decision::Allowed);
    }

    #[test]
    fn a_refund_gives_back_what_the_check_took_and_no_more() {
        let mut l = limiter(LimitsConfig {
            per_client: rate(1.0, 1),
            per_sender: rate(1.0, 1),
            global: rate(1.0, 2),
            ..Default::default()
        });
        let s = Some("+15550001");
        assert_eq!(l.check(1, s, 0), Decision::Allowed);
        l.refund(1, s, 10);
        assert_eq!(
            l.check(1, s, 10),
            Decision::Allowed,
            "every bucket got its token"
        );
        assert!(matches!(l.check(1, s, 10), Decision::RetryAfter { .. }));
        // Refunds never lift a bucket past its burst.
        l.refund(1, s, 20);
        l.refund(1, s, 20);
        assert_eq!(l.check(1, s, 20), Decision::Allowed);
        assert!(matches!(l.check(1, s, 20), Decision::RetryAfter { .. }));
        // A refund for a key never charged adds no bucket.
        l.refund(7, Some("+15550009"), 30);
        assert_eq!(l.keys(), (1, 1));
    }

    #[test]
    fn a_full_table_drops_refilled_buckets_then_refuses_new_keys() {
        let mut l = limiter(LimitsConfig {
            per_client: rate(60.0, 1),
            max_keys: 3,
            ..Default::default()
        });
        for k in 0..3 {
            assert_eq!(l.check(k, None, 0), Decision::Allowed);
        }
        // All three buckets are empty; they refill in 1 s. A new key waits for that.
        assert_eq!(
            l.check(9, None, 400),
            Decision::RetryAfter {
                limit: Limit::Table,
                ms: 600
            }
        );
        assert_eq!(l.keys().0, 3);
        // Known keys are still decided by their own bucket.
        assert_eq!(l.check(0, None, 1000), Decision::Allowed);
        // At 1 s keys 1 and 2 have refilled and are dropped; key 9 gets in.
        assert_eq!(l.check(9, None, 1000), Decision::Allowed);
        assert_eq!(l.keys().0, 2, "0 and 9 remain");
    }

    #[test]
    fn rates_are_checked() {
        let bad = |r: Rate| {
            StartLimiter::new(&LimitsConfig {
                global: Some(r),
                ..Default::default()
            })
            .unwrap_err()
        };
        assert_eq!(
            bad(Rate {
                per_minute: 0.0,
                burst: 1
            }),
            RateError::Rate(0.0)
        );
        assert!(matches!(
            bad(Rate {
                per_minute: f64::NAN,
                burst: 1
            }),
            RateError::Rate(_)
        ));
        assert_eq!(
            bad(Rate {
                per_minute: 1.0,
                burst: 0
            }),
            RateError::Burst
        );
    }

    #[test]
    fn fractional_rates_and_rounding_up() {
        // Half a start a minute: one every 2 minutes.
        let mut l = limiter(LimitsConfig {
            global: rate(0.5, 1),
            ..Default::default()
        });
        assert_eq!(l.check(0, None, 0), Decision::Allowed);
        assert_eq!(
            l.check(0, None, 1),
            Decision::RetryAfter {
                limit: Limit::Global,
                ms: 119_999
            }
        );
        assert_eq!(l.check(0, None, 120_000), Decision::Allowed);
    }

    #[test]
    fn client_keys_and_forwarded_addresses() {
        let v6a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let v6c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(v6a), client_key(v6b), "one /64");
        assert_ne!(client_key(v6a), client_key(v6c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client_key(mapped), client_key("10.0.0.1".parse().unwrap()));
        let h = "6.6.6.6, 203.0.113.7, 10.0.0.2";
        assert_eq!(forwarded_client(h, 1), Some("10.0.0.2".parse().unwrap()));
        assert_eq!(forwarded_client(h, 2), Some("203.0.113.7".parse().unwrap()));
        assert_eq!(forwarded_client(h, 4), None, "shorter than the hops");
        assert_eq!(forwarded_client(h, 0), None);
        assert_eq!(forwarded_client("junk", 1), None);
        assert_eq!(
            forwarded_client("[2001:db8::1]:443", 1),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(
            forwarded_client("1.2.3.4:5678", 1),
            Some("1.2.3.4".parse().unwrap())
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Whatever keys arrive, no table grows past its bound, and no client ever gets
            /// more than its burst plus what the rate refilled.
            #[test]
            fn tables_stay_bounded_and_clients_within_rate(
                max_keys in 1usize..16,
                burst in 1u32..4,
                reqs in proptest::collection::vec((0u128..64, 0u8..8, 0u64..5_000), 1..400),
            ) {
                let mut l = limiter(LimitsConfig {
                    per_client: rate(60.0, burst),
                    per_sender: rate(30.0, burst),
                    max_keys,
                    ..Default::default()
                });
                let mut now = 0u64;
                let mut allowed: HashMap<u128, u64> = HashMap::new();
                for (client, sender, dt) in reqs {
                    now += dt;
                    let s = format!("+1555000{sender}");
                    if l.check(client, Some(&s), now) == Decision::Allowed {
                        *allowed.entry(client).or_default() += 1;
                    }
                    let (c, s) = l.keys();
                    prop_assert!(c <= max_keys && s <= max_keys, "{c} {s} > {max_keys}");
                }
                // 60 a minute = one a second.
                let bound = u64::from(burst) + now / 1000;
                for (client, n) in allowed {
                    prop_assert!(n <= bound, "client {client}: {n} > {bound}");
                }
            }
        }
    }
}
