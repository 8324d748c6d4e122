//! The traditional flow, for comparison: the app texts a numeric code to the user's phone and
//! the user types it back. Every start costs an outbound SMS, which is what pumping exploits.
//!
//! Pure like the verifier: `now` and the RNG come from the caller. One pending code per phone
//! (a new start replaces it); a code expires after `ttl_ms` and dies after `max_attempts` wrong
//! checks. Expiry is O(1) amortised: starts are queued in time order (one TTL for all).

use crate::clock::Millis;
use crate::sender::Sender;
use parking_lot::Mutex;
use rand::Rng;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

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

#[derive(Clone, Copy)]
struct Pending {
    code: u32,
    expires_at: Millis,
    attempts: u8,
}

#[derive(Default)]
struct State {
    pending: FxHashMap<u64, Pending>,
    queue: VecDeque<(Millis, u64)>,
}

pub struct SmsOtp {
    cfg: SmsOtpConfig,
    state: Mutex<State>,
}

impl SmsOtp {
    pub fn new(cfg: SmsOtpConfig) -> Result<Self, SmsOtpError> {
        if !(4..=9).contains(&cfg.digits) {
            return Err(SmsOtpError::Digits(cfg.digits));
        }
        Ok(Self {
            cfg,
            state: Mutex::new(State::default()),
        })
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
        let code = rng.random_range(0..10u32.pow(self.cfg.digits));
        let mut st = self.state.lock();
        st.pending.insert(
            number,
            Pending {
                code,
                expires_at: now + self.cfg.ttl_ms,
                attempts: 0,
            },
        );
        st.queue.push_back((now + self.cfg.ttl_ms, number));
        Ok(SmsCode {
            phone: number,
            code,
        })
    }

    /// Checks a typed code. Anything but exactly `digits` digits is a wrong code.
    pub fn check(&self, phone: &Sender, code: &str, now: Millis) -> CheckOutcome {
        let Sender::Phone(number) = *phone else {
            return CheckOutcome::NoChallenge;
        };
        let typed = code.trim();
        let parsed = (typed.len() == self.cfg.digits as usize
            && typed.bytes().all(|b| b.is_ascii_digit()))
        .then(|| typed.parse::<u32>().ok())
        .flatten();
        let mut st = self.state.lock();
        let Some(p) = st.pending.get_mut(&number) else {
            return CheckOutcome::NoChallenge;
        };
        if now >= p.expires_at {
            st.pending.remove(&number);
            return CheckOutcome::NoChallenge;
        }
        if parsed == Some(p.code) {
            st.pending.remove(&number);
            return CheckOutcome::Verified;
        }
        p.attempts += 1;
        let left = self.cfg.max_attempts.saturating_sub(p.attempts);
        if left == 0 {
            st.pending.remove(&number);
        }
        CheckOutcome::WrongCode {
            attempts_left: left,
        }
    }

    /// Forgets expired codes; returns how many were still pending.
    pub fn sweep(&self, now: Millis) -> u64 {
        let mut st = self.state.lock();
        let mut expired = 0;
        while let Some(&(at, number)) = st.queue.front() {
            if at > now {
                break;
            }
            st.queue.pop_front();
            // A later start for the same phone replaced this entry; only drop a stale one.
            if st.pending.get(&number).is_some_and(|p| p.expires_at <= now) {
                st.pending.remove(&number);
                expired += 1;
            }
        }
        expired
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
