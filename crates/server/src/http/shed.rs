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
use mo2fa_core::metrics::{self, Counters};
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};

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

/// The store routes' room: one permit per request inside.
pub(super) struct Shedder {
    cfg: ShedConfig,
    room: Option<Semaphore>,
    shed: [AtomicU64; SHED_ROUTES.len()],
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
        let room = (cfg.max_in_flight > 0)
            .then(|| Semaphore::new(cfg.max_in_flight.min(Semaphore::MAX_PERMITS)));
        Self {
            cfg,
            room,
            shed: Default::default(),
        }
    }

    /// Lets a request to `path` in, holding its place until the permit is dropped (`Ok(None)`:
    /// the path is not bounded, or shedding is off), or sheds it: the answer and its route.
    pub(super) async fn admit(
        &self,
        path: &str,
    ) -> Result<Option<SemaphorePermit<'_>>, (Route, Resp)> {
        let (Some(room), Some(i)) = (&self.room, store_route(path)) else {
            return Ok(None);
        };
        if let Ok(permit) = room.try_acquire() {
            return Ok(Some(permit));
        }
        if !self.cfg.max_wait.is_zero()
            && let Ok(Ok(permit)) = tokio::time::timeout(self.cfg.max_wait, room.acquire()).await
        {
            return Ok(Some(permit));
        }
        Counters::inc(&self.shed[i]);
        Err((SHED_ROUTES[i].0, self.answer()))
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
        self.room.as_ref().map_or(0, |room| {
            self.cfg
                .max_in_flight
                .saturating_sub(room.available_permits())
        })
    }

    /// `mo2fa_shed_total{route}`, `mo2fa_in_flight_requests`, `mo2fa_max_in_flight_requests`.
    pub(super) fn render(&self, out: &mut String) {
        metrics::render_labelled(
            out,
            "mo2fa_shed_total",
            "counter",
            "Requests answered 503 without reaching the store: --max-in-flight requests were inside and none finished within --shed-wait.",
            "route",
            SHED_ROUTES.iter().zip(&self.shed).map(|((_, name), n)| {
                (
                    (*name).to_string(),
                    n.load(std::sync::atomic::Ordering::Relaxed) as f64,
                )
            }),
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

    #[tokio::test]
    async fn off_lets_everything_in() {
        let s = Shedder::new(ShedConfig::OFF);
        for _ in 0..1000 {
            assert!(matches!(s.admit("/webhook/blooio").await, Ok(None)));
        }
        assert_eq!(s.in_flight(), 0);
    }
}
