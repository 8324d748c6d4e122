//! Time as the verifier sees it.
//!
//! The core never reads a clock: every operation takes `now` as an argument. Adapters own a
//! [`Clock`] and pass its reading in — the HTTP server a [`SystemClock`], the simulator and the
//! tests a [`ManualClock`] they move by hand — so the same code runs in real and virtual time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub type Millis = u64;

pub trait Clock: Send + Sync {
    fn now_ms(&self) -> Millis;
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now_ms(&self) -> Millis {
        (**self).now_ms()
    }
}

/// Wall-clock time.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as Millis)
    }
}

/// Wall time sped up: starts at `at_origin` when `origin` passes and runs `speed` times as
/// fast. A server on this clock lives in the simulator's compressed time, so challenge TTLs and
/// signature tolerances mean the same thing in a live replay as in the virtual run.
#[derive(Clone, Copy, Debug)]
pub struct ScaledClock {
    pub origin: std::time::Instant,
    pub at_origin: Millis,
    pub speed: f64,
}

impl Clock for ScaledClock {
    fn now_ms(&self) -> Millis {
        let real = std::time::Instant::now().saturating_duration_since(self.origin);
        self.at_origin + (real.as_secs_f64() * 1000.0 * self.speed) as Millis
    }
}

/// A clock that only moves when told to: virtual time for the simulator and tests.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn new(start: Millis) -> Self {
        Self(AtomicU64::new(start))
    }

    pub fn set(&self, t: Millis) {
        self.0.store(t, Ordering::Relaxed);
    }

    pub fn advance(&self, by: Millis) {
        self.0.fetch_add(by, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(1_000);
        assert_eq!(c.now_ms(), 1_000);
        c.advance(250);
        assert_eq!(c.now_ms(), 1_250);
        c.set(5);
        assert_eq!(c.now_ms(), 5);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_ms() > 1_577_836_800_000);
    }
}
