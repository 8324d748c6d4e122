//! Load shedding: a bound on the requests inside the routes that reach the store, so that a
//! slow store makes the server answer 503 at once instead of queueing without bound.
//!
//! Why: the provider retries a delivery it got no 2xx for, and a delivery that timed out at the
//! provider is still being worked on here when its retry arrives on another connection. With
//! no bound, each timeout adds a request to the queue in front of the store, the queue makes
//! more requests time out, and the load grows with every round of retries. With the bound,
//! a request that finds [`ShedConfig::max_in_flight`] requests inside waits at most
//! [`ShedConfig::max_wait`] for one of them to finish, then is answered
//! `503 Service Unavailable` with `Retry-After: 1`, having cost the store nothing. A delivery
//! shed so is not decided: the provider's retry is handled as the first attempt would have
//! been, and delivery dedupe answers a retry of one that was decided after all.
//!
//! Only the routes that reach the store are bounded (`/2fa/*`, `/webhook/*`, `/sms/*`); the
//! probes and `/metrics` always answer, so the shedding can be watched while it happens
//! (`mo2fa_shed_total`, `mo2fa_in_flight_requests`).

use super::Route;
use super::answer::{Resp, json_response};
use crate::wire::ErrorAnswer;
use hyper::StatusCode;
use hyper::header::{HeaderValue, RETRY_AFTER};
use mo2fa_core::metrics;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// Requests inside the store routes at once by default (`serve --max-in-flight`). Assumed, not
/// measured as an optimum: a healthy store answers in well under a millisecond, so at 50,000
/// requests a second some 50 are inside at once (Little's law); 512 leaves ten times that
/// before anything is shed, and stays far below the 10,000 connections a server holds open.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 512;

/// How long a request waits for room by default (`serve --shed-wait`). Assumed: far below any
/// provider timeout seen published (3 s to 30 s; docs/performance.md, "Retry storms"), so the
/// provider gets a quick 503 rather than a timeout, and long enough to ride out a burst.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_millis(50);

/// The bound. `max_in_flight == 0` turns shedding off (requests queue as they arrive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShedConfig {
    pub max_in_flight: usize,
    /// How long a request that finds no room waits for some before it is shed.
    pub max_wait: Duration,
}

impl Default for ShedConfig {
    fn default() -> Self {
        Self {
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }
}

impl ShedConfig {
    /// No bound: every request waits for the store however long it takes.
    pub const OFF: Self = Self {
        max_in_flight: 0,
        max_wait: Duration::ZERO,
    };
}

/// The routes shed requests are counted by.
const SHED_ROUTES: [(Route, &str); 4] = [
    (Route::Start, "start"),
    (Route::Status, "status"),
    (Route::Webhook, "webhook"),
    (Route::Sms, "sms"),
];

/// The store routes' room. The fast path is two atomic operations per request (in and out),
/// no lock; only a request that finds the room full waits, woken when one inside leaves.
pub(super) struct Shedder {
    cfg: ShedConfig,
    /// Requests inside, never more than `cfg.max_in_flight`.
    inside: AtomicUsize,
    /// Requests waiting for room, so that one leaving knows whether to wake one.
    waiting: AtomicUsize,
    freed: Notify,
    shed: [AtomicU64; SHED_ROUTES.len()],
}

/// A request's place inside; leaving (drop) wakes a waiting request, if any.
pub(super) struct Inside<'a>(&'a Shedder);

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.0.inside.fetch_sub(1, Ordering::AcqRel);
        if self.0.waiting.load(Ordering::Acquire) > 0 {
            self.0.freed.notify_one();
        }
    }
}

/// What [`Shedder::try_admit`] decided.
pub(super) enum Admission<'a> {
    /// In (holding a place, or `None`: not bounded).
    In(Option<Inside<'a>>),
    /// No room now: wait for some on store route `i` ([`Shedder::admit_waiting`]).
    Wait(usize),
    /// Shed at once (no wait allowed): the route and the answer.
    Shed((Route, Resp)),
}

/// The route a path reaches the store through, if it does.
fn store_route(path: &str) -> Option<usize> {
    let route = if path == "/2fa/start" {
        Route::Start
    } else if path.starts_with("/2fa/") {
        Route::Status
    } else if path.starts_with("/webhook/") {
        Route::Webhook
    } else if path.starts_with("/sms/") {
        Route::Sms
    } else {
        return None;
    };
    SHED_ROUTES.iter().position(|(r, _)| *r == route)
}

impl Shedder {
    pub(super) fn new(cfg: ShedConfig) -> Self {
        Self {
            cfg,
            inside: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            freed: Notify::new(),
            shed: Default::default(),
        }
    }

    /// Lets a request to `path` in, holding its place until the returned guard is dropped
    /// (`Ok(None)`: the path is not bounded, or shedding is off), or sheds it: the answer and
    /// its route.
    #[cfg(test)]
    pub(super) async fn admit(&self, path: &str) -> Result<Option<Inside<'_>>, (Route, Resp)> {
        match self.try_admit(path) {
            Admission::In(inside) => Ok(inside),
            Admission::Wait(i) => self.admit_waiting(i).await,
            Admission::Shed(shed) => Err(shed),
        }
    }

    /// `admit` (the tests' helper) without waiting: in, shed, or to wait for room with
    /// [`Shedder::admit_waiting`]. The server's request future then holds no waiting future
    /// unless it waits.
    pub(super) fn try_admit(&self, path: &str) -> Admission<'_> {
        if self.cfg.max_in_flight == 0 {
            return Admission::In(None);
        }
        let Some(i) = store_route(path) else {
            return Admission::In(None);
        };
        if let Some(inside) = self.enter() {
            return Admission::In(Some(inside));
        }
        if self.cfg.max_wait.is_zero() {
            return Admission::Shed(self.shed_one(i));
        }
        Admission::Wait(i)
    }

    /// Waits up to `max_wait` for room on store route `i` (from [`Admission::Wait`]), else
    /// sheds the request.
    pub(super) async fn admit_waiting(
        &self,
        i: usize,
    ) -> Result<Option<Inside<'_>>, (Route, Resp)> {
        match self.wait().await {
            Some(inside) => Ok(Some(inside)),
            None => Err(self.shed_one(i)),
        }
    }

    /// Counts a request shed on store route `i`; its route and answer.
    fn shed_one(&self, i: usize) -> (Route, Resp) {
        self.shed[i].fetch_add(1, Ordering::Relaxed);
        (SHED_ROUTES[i].0, self.answer())
    }

    /// A place, if there is room now.
    fn enter(&self) -> Option<Inside<'_>> {
        let mut now = self.inside.load(Ordering::Acquire);
        while now < self.cfg.max_in_flight {
            match self.inside.compare_exchange_weak(
                now,
                now + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(Inside(self)),
                Err(seen) => now = seen,
            }
        }
        None
    }

    /// Waits up to `max_wait` for a place.
    async fn wait(&self) -> Option<Inside<'_>> {
        let deadline = tokio::time::Instant::now() + self.cfg.max_wait;
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let inside = loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before looking, so a place freed in between wakes this wait.
            freed.as_mut().enable();
            if let Some(inside) = self.enter() {
                break Some(inside);
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                break self.enter();
            }
        };
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        inside
    }

    /// 503 with `Retry-After: 1`, naming the bound and the flags that set it.
    fn answer(&self) -> Resp {
        let error = format!(
            "overloaded: {} requests are waiting for the store and none finished within {} ms; \
             retry later (serve --max-in-flight, --shed-wait)",
            self.cfg.max_in_flight,
            self.cfg.max_wait.as_millis()
        );
        let mut r = json_response(StatusCode::SERVICE_UNAVAILABLE, &ErrorAnswer { error });
        r.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        r
    }

    /// Requests inside the store routes now.
    pub(super) fn in_flight(&self) -> usize {
        self.inside.load(Ordering::Relaxed)
    }

    /// `mo2fa_shed_total{route}`, `mo2fa_in_flight_requests`, `mo2fa_max_in_flight_requests`.
    pub(super) fn render(&self, out: &mut String) {
        metrics::render_labelled(
            out,
            "mo2fa_shed_total",
            "counter",
            "Requests answered 503 without reaching the store: --max-in-flight requests were inside and none finished within --shed-wait.",
            "route",
            SHED_ROUTES
                .iter()
                .zip(&self.shed)
                .map(|((_, name), n)| ((*name).to_string(), n.load(Ordering::Relaxed) as f64)),
        );
        metrics::render_gauge(
            out,
            "mo2fa_in_flight_requests",
            "Requests inside the store routes (start, status, webhook, sms) now.",
            self.in_flight() as f64,
        );
        metrics::render_gauge(
            out,
            "mo2fa_max_in_flight_requests",
            "Bound on requests inside the store routes (0: no bound, nothing is shed).",
            self.cfg.max_in_flight as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_store_routes_are_bounded() {
        for (path, route) in [
            ("/2fa/start", Some("start")),
            ("/2fa/status/abc", Some("status")),
            ("/webhook/blooio", Some("webhook")),
            ("/sms/start", Some("sms")),
            ("/healthz", None),
            ("/readyz", None),
            ("/metrics", None),
            ("/openapi.yaml", None),
        ] {
            assert_eq!(store_route(path).map(|i| SHED_ROUTES[i].1), route, "{path}");
        }
    }

    #[tokio::test]
    async fn a_full_room_sheds_after_the_wait_and_frees_on_drop() {
        let s = Shedder::new(ShedConfig {
            max_in_flight: 2,
            max_wait: Duration::from_millis(20),
        });
        let a = s.admit("/webhook/blooio").await.ok().flatten();
        let b = s.admit("/2fa/start").await.ok().flatten();
        assert!(a.is_some() && b.is_some());
        assert_eq!(s.in_flight(), 2);
        // Unbounded paths pass however full the room is.
        assert!(matches!(s.admit("/metrics").await, Ok(None)));
        let Err((route, resp)) = s.admit("/webhook/blooio").await else {
            panic!("a third request must be shed");
        };
        assert_eq!(route, Route::Webhook);
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[RETRY_AFTER], "1");
        drop(a);
        assert_eq!(s.in_flight(), 1);
        assert!(s.admit("/webhook/blooio").await.ok().flatten().is_some());
        let mut out = String::new();
        s.render(&mut out);
        assert!(
            out.contains("mo2fa_shed_total{route=\"webhook\"} 1"),
            "{out}"
        );
        assert!(out.contains("mo2fa_shed_total{route=\"start\"} 0"), "{out}");
    }

    #[tokio::test]
    async fn a_waiting_request_gets_the_room_a_finished_one_leaves() {
        let s = std::sync::Arc::new(Shedder::new(ShedConfig {
            max_in_flight: 1,
            max_wait: Duration::from_secs(5),
        }));
        let first = s.admit("/2fa/start").await.ok().flatten();
        let s2 = s.clone();
        let waiter = tokio::spawn(async move { s2.admit("/2fa/start").await.is_ok() });
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(first);
        assert!(waiter.await.unwrap(), "the waiter is let in, not shed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_waiters_never_exceed_the_bound_and_all_get_in() {
        let s = std::sync::Arc::new(Shedder::new(ShedConfig {
            max_in_flight: 4,
            max_wait: Duration::from_secs(30),
        }));
        let peak = std::sync::Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (s, peak) = (s.clone(), peak.clone());
                tokio::spawn(async move {
                    let inside = s.admit("/webhook/blooio").await.ok().flatten();
                    assert!(inside.is_some(), "a waiter with time to spare is let in");
                    peak.fetch_max(s.in_flight(), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert!(peak.load(Ordering::Relaxed) <= 4, "peak {peak:?}");
        assert_eq!(s.in_flight(), 0);
        assert!(s.shed.iter().all(|n| n.load(Ordering::Relaxed) == 0));
    }

    #[tokio::test]
    async fn off_lets_everything_in() {
        let s = Shedder::new(ShedConfig::OFF);
        for _ in 0..1000 {
            assert!(matches!(s.admit("/webhook/blooio").await, Ok(None)));
        }
        assert_eq!(s.in_flight(), 0);
    }
}
