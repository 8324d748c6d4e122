//! The provider's retry policy, as the load tools play it: a timeout on each attempt, a number
//! of retries, and exponential backoff with jitter.
//!
//! A retry is the same delivery sent again: the same bytes, so the same message id (and
//! signature), as a provider's retry carries the event it failed to deliver. The server's
//! delivery dedupe therefore applies: a retry of a delivery that was decided after all (its
//! attempt timed out at the provider while the server finished it) gets the first answer,
//! marked duplicate, and verifies nothing twice. The signature's time is the first
//! attempt's, so retries are accepted within the verifier's tolerance (5 minutes) of it.
//!
//! Blooio documents that it keeps delivery attempts (`attempt_count`, `next_attempt_at` on
//! `GET /webhooks/{id}/deliveries`) but not its timeout, retry count, backoff or which answers
//! it retries; the defaults here are assumptions, listed with their sources in
//! docs/performance.md ("Retry storms"). Every answer outside 2xx is retried, as are timeouts
//! and broken connections (the wording of issue #28; some providers treat 4xx as final).
//!
//! The jitter is a pure function of the seed, the delivery's key and the retry's number, so the
//! schedule of retries after a given set of failures is the same on every run.

use crate::client::Conn;
use std::time::Duration;

/// A provider's per-attempt timeout by default (assumed; see the module comment).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The first retry's delay by default, before jitter (assumed).
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
/// The longest delay between two attempts by default (assumed).
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How long one attempt may take before the provider gives up on it (and closes the
    /// connection).
    pub timeout: Duration,
    /// Attempts after the first; 0: no retries (the load tools' default, so that their figures
    /// measure the server alone).
    pub retries: u32,
    /// The delay before the first retry; each further retry doubles it, up to `max_backoff`.
    /// The delay actually waited is drawn between half of it and all of it ("equal jitter").
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Seeds the jitter.
    pub seed: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            retries: 0,
            backoff: DEFAULT_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            seed: 0,
        }
    }
}

/// SplitMix64's finaliser: a well-mixed 64-bit value from any input.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl RetryPolicy {
    /// Whether the provider tries an attempt that ended so again: `None` is a timeout or a
    /// broken connection.
    pub fn retries_on(status: Option<u16>) -> bool {
        !matches!(status, Some(200..=299))
    }

    /// The delay before retry number `retry` (1 for the first) of the delivery `key`:
    /// `backoff * 2^(retry-1)`, at most `max_backoff`, of which the second half is jitter.
    pub fn delay(&self, key: u64, retry: u32) -> Duration {
        let doubled = self
            .backoff
            .saturating_mul(1u32 << retry.saturating_sub(1).min(31));
        let base = doubled.min(self.max_backoff);
        let r = mix(self.seed ^ mix(key ^ mix(u64::from(retry))));
        // A fraction in [0, 1) from the top 53 bits.
        let u = (r >> 11) as f64 / (1u64 << 53) as f64;
        base / 2 + (base / 2).mul_f64(u)
    }

    /// Sends `request` on `conn` as the provider would: each attempt bounded by the timeout, a
    /// timed-out or broken connection replaced by a new one to `addr`, a retryable answer sent
    /// again after its delay. Returns the last attempt's status (`None`: it got no answer)
    /// and what it took; the last answer's body is `conn.body()`.
    pub async fn send(
        &self,
        conn: &mut Conn,
        addr: &str,
        request: &[u8],
        key: u64,
    ) -> (Option<u16>, Attempts) {
        let mut took = Attempts::default();
        loop {
            took.sent += 1;
            let status = match tokio::time::timeout(self.timeout, conn.send(request)).await {
                Ok(Ok(status)) => Some(status),
                Ok(Err(_)) => None,
                Err(_) => {
                    took.timeouts += 1;
                    None
                }
            };
            if status.is_none()
                && let Ok(fresh) = Conn::connect(addr).await
            {
                *conn = fresh;
            }
            if !Self::retries_on(status) || took.sent > self.retries {
                return (status, took);
            }
            tokio::time::sleep(self.delay(key, took.sent)).await;
        }
    }
}

/// What sending one delivery took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attempts {
    /// Attempts sent, the first included.
    pub sent: u32,
    /// Attempts that timed out.
    pub timeouts: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(seed: u64) -> RetryPolicy {
        RetryPolicy {
            retries: 8,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            seed,
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn delays_double_up_to_the_cap_with_half_of_each_jittered() {
        let p = policy(7);
        for key in 0..200 {
            for retry in 1..=8u32 {
                let base = Duration::from_millis((100u64 << (retry - 1)).min(1000));
                let d = p.delay(key, retry);
                assert!(d >= base / 2 && d <= base, "key {key} retry {retry}: {d:?}");
            }
        }
        // Jitter spreads retries of different deliveries.
        let firsts: std::collections::BTreeSet<Duration> =
            (0..100).map(|k| p.delay(k, 1)).collect();
        assert!(firsts.len() > 90, "{} distinct delays", firsts.len());
    }

    #[test]
    fn the_schedule_is_a_function_of_the_seed() {
        let (a, b) = (policy(1), policy(2));
        let schedule = |p: &RetryPolicy| -> Vec<Duration> {
            (0..50)
                .flat_map(|k| (1..=3).map(move |r| (k, r)))
                .map(|(k, r)| p.delay(k, r))
                .collect()
        };
        assert_eq!(schedule(&a), schedule(&policy(1)));
        assert_ne!(schedule(&a), schedule(&b));
    }

    #[test]
    fn every_answer_outside_2xx_is_retried() {
        for s in [200, 201, 204, 299] {
            assert!(!RetryPolicy::retries_on(Some(s)));
        }
        for s in [
            None,
            Some(400),
            Some(401),
            Some(408),
            Some(429),
            Some(500),
            Some(503),
        ] {
            assert!(RetryPolicy::retries_on(s), "{s:?}");
        }
    }

    #[test]
    fn huge_retry_numbers_do_not_overflow() {
        let p = policy(3);
        assert!(p.delay(1, u32::MAX) <= Duration::from_millis(1000));
    }
}
