//! The traditional flow, for comparison: the app texts a numeric code to the user's phone and
//! the user types it back. Every start costs an outbound SMS, which is what pumping exploits.
//!
//! Pure like the verifier: `now` and the RNG come from the caller. One pending code per phone
//! (a new start replaces it); a code expires after `ttl_ms` and dies after `max_attempts` wrong
//! checks. Expiry is O(1) amortised: starts are queued in time order (one TTL for all), and
//! every start first drops the queue's expired head.
//!
//! **Bounded:** at most `max_pending` starts are kept (the queue, which holds every start of
//! the last TTL, replaced ones included, so it bounds the map too); past it a start is refused
//! with the time until the oldest one expires, never evicting a live code. About 60 bytes each
//! (measured by issue 22: 300,000 pending added about 18 MiB), so the default
//! [`DEFAULT_MAX_PENDING`] is about 6 MiB.

use crate::clock::Millis;
use crate::sender::Sender;
use parking_lot::Mutex;
use rand::Rng;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

/// Starts kept at most by [`SmsOtp::new`] unless [`SmsOtp::with_max_pending`] says otherwise.
pub const DEFAULT_MAX_PENDING: usize = 100_000;

#[derive(Clone, Copy, Debug)]
pub struct SmsOtpConfig {
    /// Decimal digits per code.
    pub digits: u32,
    pub ttl_ms: Millis,
    pub max_attempts: u8,
}

impl Default for SmsOtpConfig {
    fn default() -> Self {
        Self {
            digits: 6,
            ttl_ms: 300_000,
            max_attempts: 5,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SmsOtpError {
    #[error("phone: only phone numbers can receive an SMS")]
    NotAPhone,
    #[error("digits must be between 4 and 9, got {0}")]
    Digits(u32),
    #[error("{max} SMS codes are pending, the most this server keeps; retry later")]
    Full { max: usize, retry_after_ms: Millis },
}

/// The code to send, and to whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SmsCode {
    pub phone: u64,
    pub code: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    Verified,
    WrongCode {
        attempts_left: u8,
    },
    /// No code is pending for this phone (never sent, expired, used up or already verified).
    NoChallenge,
}

/// One phone's pending code: all a check decides on ([`SmsOtp::judge`]), so a networked
/// store can hold it and hand it back (`serve --store redis://…`) while the rule stays here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    pub code: u32,
    pub expires_at: Millis,
    /// Wrong checks so far.
    pub attempts: u8,
}

impl Pending {
    /// `code,expires_at,attempts`, as a store keeps it.
    pub fn encode(&self) -> String {
        format!("{},{},{}", self.code, self.expires_at, self.attempts)
    }

    /// What [`Self::encode`] wrote; `None` for anything else.
    pub fn decode(s: &str) -> Option<Self> {
        let mut it = s.split(',');
        let p = Self {
            code: it.next()?.parse().ok()?,
            expires_at: it.next()?.parse().ok()?,
            attempts: it.next()?.parse().ok()?,
        };
        it.next().is_none().then_some(p)
    }
}

#[derive(Default)]
struct State {
    pending: FxHashMap<u64, Pending>,
    queue: VecDeque<(Millis, u64)>,
}

impl State {
    /// Drops up to `max` expired queue entries; returns how many codes were still pending.
    fn expire(&mut self, now: Millis, max: usize) -> u64 {
        let mut expired = 0;
        for _ in 0..max {
            match self.queue.front() {
                Some(&(at, number)) if at <= now => {
                    self.queue.pop_front();
                    // A later start for the same phone replaced this entry; only drop a stale one.
                    if self
                        .pending
                        .get(&number)
                        .is_some_and(|p| p.expires_at <= now)
                    {
                        self.pending.remove(&number);
                        expired += 1;
                    }
                }
                _ => break,
            }
        }
        expired
    }

    /// A start's share of the sweep: two expired entries per start keep the queue from
    /// growing past one TTL of starts without a sweeper.
    fn expire_head(&mut self, now: Millis) {
        self.expire(now, 2);
    }
}

pub struct SmsOtp {
    cfg: SmsOtpConfig,
    max_pending: usize,
    state: Mutex<State>,
}

impl SmsOtp {
    pub fn new(cfg: SmsOtpConfig) -> Result<Self, SmsOtpError> {
        if !(4..=9).contains(&cfg.digits) {
            return Err(SmsOtpError::Digits(cfg.digits));
        }
        Ok(Self {
            cfg,
            max_pending: DEFAULT_MAX_PENDING,
            state: Mutex::new(State::default()),
        })
    }

    /// The same, keeping at most `max` starts (at least 1).
    pub fn with_max_pending(mut self, max: usize) -> Self {
        self.max_pending = max.max(1);
        self
    }

    /// Draws a code for `phone`; the caller sends (and pays for) the SMS.
    pub fn start<R: Rng + ?Sized>(
        &self,
        phone: &Sender,
        now: Millis,
        rng: &mut R,
    ) -> Result<SmsCode, SmsOtpError> {
        let Sender::Phone(number) = *phone else {
            return Err(SmsOtpError::NotAPhone);
        };
        let mut st = self.state.lock();
        st.expire_head(now);
        if st.queue.len() >= self.max_pending {
            let oldest = st.queue.front().map_or(now, |&(at, _)| at);
            return Err(SmsOtpError::Full {
                max: self.max_pending,
                retry_after_ms: oldest.saturating_sub(now).max(1),
            });
        }
        let p = self.draw(now, rng);
        st.pending.insert(number, p);
        st.queue.push_back((p.expires_at, number));
        Ok(SmsCode {
            phone: number,
            code: p.code,
        })
    }

    /// A fresh code for a start at `now` (what [`Self::start`] keeps, for a store of codes).
    pub fn draw<R: Rng + ?Sized>(&self, now: Millis, rng: &mut R) -> Pending {
        Pending {
            code: rng.random_range(0..10u32.pow(self.cfg.digits)),
            expires_at: now + self.cfg.ttl_ms,
            attempts: 0,
        }
    }

    /// The check rule on one phone's state: the outcome of typing `code` at `now` against
    /// `pending`, and what stays pending after it (`None`: nothing).
    pub fn judge(
        &self,
        pending: Option<Pending>,
        code: &str,
        now: Millis,
    ) -> (CheckOutcome, Option<Pending>) {
        let Some(mut p) = pending else {
            return (CheckOutcome::NoChallenge, None);
        };
        if now >= p.expires_at {
            return (CheckOutcome::NoChallenge, None);
        }
        let typed = code.trim();
        let parsed = (typed.len() == self.cfg.digits as usize
            && typed.bytes().all(|b| b.is_ascii_digit()))
        .then(|| typed.parse::<u32>().ok())
        .flatten();
        if parsed == Some(p.code) {
            return (CheckOutcome::Verified, None);
        }
        p.attempts = p.attempts.saturating_add(1);
        let left = self.cfg.max_attempts.saturating_sub(p.attempts);
        let outcome = CheckOutcome::WrongCode {
            attempts_left: left,
        };
        (outcome, (left > 0).then_some(p))
    }

    pub fn config(&self) -> &SmsOtpConfig {
        &self.cfg
    }

    pub fn max_pending(&self) -> usize {
        self.max_pending
    }

    /// Checks a typed code. Anything but exactly `digits` digits is a wrong code.
    pub fn check(&self, phone: &Sender, code: &str, now: Millis) -> CheckOutcome {
        let Sender::Phone(number) = *phone else {
            return CheckOutcome::NoChallenge;
        };
        let mut st = self.state.lock();
        let (outcome, left) = self.judge(st.pending.get(&number).copied(), code, now);
        match left {
            Some(p) => {
                st.pending.insert(number, p);
            }
            None => {
                st.pending.remove(&number);
            }
        }
        outcome
    }

    /// Forgets expired codes; returns how many were still pending.
    pub fn sweep(&self, now: Millis) -> u64 {
        self.state.lock().expire(now, usize::MAX)
    }

    pub fn pending(&self) -> usize {
        self.state.lock().pending.len()
    }

    pub fn format(&self, code: u32) -> String {
        format!("{code:0width$}", width = self.cfg.digits as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn phone() -> Sender {
        Sender::parse("+15550100001").unwrap()
    }

    #[test]
    fn right_code_verifies_once() {
        let s = SmsOtp::new(SmsOtpConfig::default()).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let c = s.start(&phone(), 0, &mut rng).unwrap();
        let text = s.format(c.code);
        assert_eq!(s.check(&phone(), &text, 10), CheckOutcome::Verified);
        assert_eq!(s.check(&phone(), &text, 11), CheckOutcome::NoChallenge);
    }

    #[test]
    fn wrong_codes_use_up_attempts() {
        let s = SmsOtp::new(SmsOtpConfig {
            max_attempts: 2,
            ..Default::default()
        })
        .unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let c = s.start(&phone(), 0, &mut rng).unwrap();
        let wrong = s.format((c.code + 1) % 1_000_000);
        assert_eq!(
            s.check(&phone(), &wrong, 1),
            CheckOutcome::WrongCode { attempts_left: 1 }
        );
        assert_eq!(
            s.check(&phone(), "12ab56", 1),
            CheckOutcome::WrongCode { attempts_left: 0 }
        );
        assert_eq!(
            s.check(&phone(), &s.format(c.code), 1),
            CheckOutcome::NoChallenge
        );
    }

    #[test]
    fn codes_expire_and_sweep_frees_them() {
        let s = SmsOtp::new(SmsOtpConfig::default()).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let c = s.start(&phone(), 0, &mut rng).unwrap();
        assert_eq!(
            s.check(&phone(), &s.format(c.code), 300_000),
            CheckOutcome::NoChallenge
        );
        s.start(&phone(), 1_000, &mut rng).unwrap();
        assert_eq!(s.sweep(300_999), 0, "the newer code is still live");
        assert_eq!(s.sweep(301_000), 1);
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn pending_codes_are_bounded_and_the_refusal_says_when_to_retry() {
        let s = SmsOtp::new(SmsOtpConfig::default())
            .unwrap()
            .with_max_pending(3);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let to = |n: u64| Sender::Phone(15_550_100_000 + n);
        for n in 0..3 {
            s.start(&to(n), n * 1_000, &mut rng).unwrap();
        }
        // A replacement start counts too: the queue holds every start of the last TTL.
        assert_eq!(
            s.start(&to(0), 5_000, &mut rng),
            Err(SmsOtpError::Full {
                max: 3,
                retry_after_ms: 295_000
            })
        );
        assert_eq!(s.pending(), 3, "no live code was evicted");
        // Once the oldest expires, a start gets in without any sweep.
        s.start(&to(9), 300_000, &mut rng).unwrap();
        assert_eq!(s.pending(), 3);
        assert_eq!(
            DEFAULT_MAX_PENDING,
            SmsOtp::new(SmsOtpConfig::default()).unwrap().max_pending
        );
    }

    #[test]
    fn e_mail_senders_cannot_get_an_sms() {
        let s = SmsOtp::new(SmsOtpConfig::default()).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mail = Sender::parse("a@b.c").unwrap();
        assert_eq!(s.start(&mail, 0, &mut rng), Err(SmsOtpError::NotAPhone));
        assert!(
            SmsOtp::new(SmsOtpConfig {
                digits: 3,
                ..Default::default()
            })
            .is_err()
        );
    }
}
