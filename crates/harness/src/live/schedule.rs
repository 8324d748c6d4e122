//! How far behind schedule the live replay sends, and the stop when it is too far
//! ([`Behind`]): the timing rule of the module's header.

use crate::error::HarnessError;
use mo2fa_sim::engine::{self, TOLERANCE_S};
use mo2fa_sim::scenario::{Flow, Scenario};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The smallest lag budget in wall time: below it a lag is scheduling noise of the machine.
pub const MIN_LAG_BUDGET: Duration = Duration::from_millis(20);

/// The replay fell too far behind schedule to keep answers comparable.
#[derive(Clone, Debug)]
pub struct Behind {
    /// How late the request that crossed the budget went out.
    pub lag: Duration,
    /// A quarter of the shortest timing window divided by the speed, at least
    /// [`MIN_LAG_BUDGET`].
    pub budget: Duration,
    /// The shortest timing window of the scenario, in virtual time, and what it is.
    pub window: (Duration, &'static str),
    /// Virtual time of the late request.
    pub at_ms: u64,
    pub speed: f64,
    /// The speed the servers sustained until then (answers per second over the trace's
    /// requests per virtual second).
    pub sustained: f64,
    /// A round speed at most half of `sustained` (and of `speed`).
    pub suggested_speed: f64,
}

/// "4.2 s", "180 ms".
fn human(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    }
}

impl Behind {
    /// "fell 4.2 s behind at 5000x; try --speed 1000".
    pub fn short(&self) -> String {
        format!(
            "the live replay fell {} behind schedule at {}x; try --speed {}",
            human(self.lag),
            self.speed,
            self.suggested_speed
        )
    }
}

/// The whole story: how far, when, the limit and why it is that, and what to try.
impl std::fmt::Display for Behind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the live replay fell {} behind schedule at {}x (at virtual time {:.0} s), more than \
             its limit of {}: a quarter of the shortest timing window ({}, {:.0} s) at this \
             speed, and at least {}. Later answers would not be comparable, so the replay \
             stops; the servers sustained about {:.0}x: try --speed {}",
            human(self.lag),
            self.speed,
            self.at_ms as f64 / 1000.0,
            human(self.budget),
            self.window.1,
            self.window.0.as_secs_f64(),
            human(MIN_LAG_BUDGET),
            self.sustained,
            self.suggested_speed
        )
    }
}

/// The scenario's shortest timing window in virtual time (the challenge and SMS code TTLs,
/// the webhook signature tolerance), with its name.
pub(super) fn shortest_window(sc: &Scenario) -> Result<(Duration, &'static str), HarnessError> {
    let core = engine::core_config(sc)?;
    let mut windows = vec![
        (core.verifier.default_ttl_ms, "challenge TTL"),
        (TOLERANCE_S as u64 * 1000, "webhook signature tolerance"),
    ];
    if sc.run.flows.contains(&Flow::Sms) {
        windows.push((core.sms.ttl_ms, "SMS code TTL"));
    }
    let (ms, name) = windows
        .into_iter()
        .min_by_key(|w| w.0)
        .unwrap_or((300_000, "challenge TTL"));
    Ok((Duration::from_millis(ms), name))
}

/// How far behind schedule requests go out, and the stop when it is too far.
pub(super) struct Schedule {
    /// The largest lag allowed.
    pub budget: Duration,
    pub window: (Duration, &'static str),
    pub speed: f64,
    pub origin: Instant,
    /// Trace requests per virtual second.
    pub trace_rate: f64,
    pub max_lag_us: AtomicU64,
    /// Requests answered so far.
    pub completed: AtomicU64,
    pub behind: std::sync::OnceLock<Behind>,
    /// Taken (and sent on) once: wakes the thread that reports falling behind.
    pub tell: parking_lot::Mutex<Option<std::sync::mpsc::Sender<()>>>,
}

impl Schedule {
    pub fn stopped(&self) -> bool {
        self.behind.get().is_some()
    }

    /// Notes that a request due at `due` goes out at `now`.
    pub fn sending(&self, due: Instant, now: Instant) {
        let lag = now.saturating_duration_since(due);
        self.max_lag_us
            .fetch_max(lag.as_micros() as u64, Ordering::Relaxed);
        if lag <= self.budget || self.stopped() {
            return;
        }
        let at_ms =
            (due.saturating_duration_since(self.origin).as_secs_f64() * self.speed * 1000.0) as u64;
        let elapsed = now
            .saturating_duration_since(self.origin)
            .as_secs_f64()
            .max(1e-3);
        let sustained = self.completed.load(Ordering::Relaxed) as f64 / elapsed / self.trace_rate;
        let _ = self.behind.set(Behind {
            lag,
            budget: self.budget,
            window: self.window,
            at_ms,
            speed: self.speed,
            sustained,
            suggested_speed: suggest(sustained, self.speed),
        });
        if let Some(tell) = self.tell.lock().take() {
            let _ = tell.send(());
        }
    }
}

/// A round speed (1, 2 or 5 times a power of ten) at most half of what the servers sustained
/// and half of the speed tried.
pub(super) fn suggest(sustained: f64, speed: f64) -> f64 {
    let target = (sustained.min(speed) / 2.0).max(1e-3);
    let decade = 10f64.powf(target.log10().floor());
    let step = [5.0, 2.0, 1.0]
        .into_iter()
        .find(|m| m * decade <= target * (1.0 + 1e-9))
        .unwrap_or(1.0);
    let v = step * decade;
    // 0.1 + 0.2 style noise stays out of the message.
    (v * 1e6).round() / 1e6
}
