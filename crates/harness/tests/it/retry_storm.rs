//! A provider retry storm against a slow store: how much the provider's retries amplify the
//! load, that delivery dedupe keeps every verification exactly once, and that the server sheds
//! load (503 with Retry-After) instead of queueing when its bound says so.
//!
//! The slow store is the memory store behind a wrapper that serves one operation at a time and
//! holds each for [`SERVICE`]: a store with a fixed capacity (1 / SERVICE operations a second),
//! in front of which a queue builds as soon as more is offered, as in front of a single
//! Redis. The provider is the open-loop driver with a retry policy: many connections, a
//! timeout on each attempt, retries with backoff, every retry the same delivery.

use mo2fa_core::clock::{Clock, Millis, SystemClock};
use mo2fa_core::metrics::Counters;
use mo2fa_core::store::{MemoryStore, MemoryStoreConfig, Status, Store, Unavailable};
use mo2fa_core::verifier::{
    Config, InboundMessage, ReceiveOutcome, StartError, StartRequest, Started, StatusView, Verifier,
};
use mo2fa_core::webhook::{Inbound, PayloadShape, Scheme, Secret};
use mo2fa_harness::InProcess;
use mo2fa_harness::client;
use mo2fa_harness::openloop::{self, EndpointReport, Planned};
use mo2fa_harness::retry::RetryPolicy;
use mo2fa_server::backend::Backend;
use mo2fa_server::http::{App, HttpConfig, ShedConfig};
use rand::Rng;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long the slow store holds each operation; it serves one at a time, so its capacity is
/// 250 operations a second.
const SERVICE: Duration = Duration::from_millis(4);

/// The memory verifier behind a store that serves one operation at a time, each taking
/// [`SERVICE`]. The operation takes effect at the end of its service time.
struct SlowStore {
    inner: Verifier<MemoryStore>,
    one_at_a_time: Semaphore,
    /// Operations the store served (a request cancelled while it waited for its turn is not
    /// one).
    served: std::sync::atomic::AtomicU64,
}

impl SlowStore {
    async fn serve(&self) {
        // The semaphore is never closed.
        let _turn = self.one_at_a_time.acquire().await;
        tokio::time::sleep(SERVICE).await;
        Counters::inc(&self.served);
    }
}

impl Backend for SlowStore {
    fn config(&self) -> &Config {
        self.inner.config()
    }

    fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    fn start<'a, R: Rng + ?Sized>(
        &'a self,
        req: &StartRequest,
        now: Millis,
        rng: &mut R,
    ) -> impl Future<Output = Result<Started, StartError>> + Send + use<'a, R> {
        let started = self.inner.start(req, now, rng);
        async move {
            self.serve().await;
            started
        }
    }

    async fn status(&self, id: &str, now: Millis) -> Result<Option<StatusView>, Unavailable> {
        self.serve().await;
        Ok(self.inner.status(id, now))
    }

    async fn receive_once(
        &self,
        delivery_id: &str,
        msg: &InboundMessage<'_>,
        now: Millis,
    ) -> Result<(ReceiveOutcome, bool), Unavailable> {
        self.serve().await;
        Ok(self.inner.receive_once(delivery_id, msg, now))
    }

    async fn recorded(
        &self,
        delivery_id: &str,
        _msg: &InboundMessage<'_>,
    ) -> Result<Option<ReceiveOutcome>, Unavailable> {
        self.serve().await;
        Ok(self.inner.recorded(delivery_id))
    }

    fn sweep(&self, now: Millis) {
        self.inner.sweep(now);
    }

    fn pending(&self) -> usize {
        self.inner.store().pending()
    }

    fn max_pending(&self) -> usize {
        self.inner.store().max_pending()
    }

    fn ready(&self) -> impl Future<Output = Result<(), Unavailable>> + Send {
        std::future::ready(Ok(()))
    }
}

/// The storm: deliveries offered at twice the store's capacity over many connections.
const DELIVERIES: usize = 300;
const OFFERED_PER_S: f64 = 500.0;
const CONNECTIONS: usize = 128;

/// The provider: 400 ms per attempt, six retries from 100 ms doubling to 1.6 s.
fn provider() -> RetryPolicy {
    RetryPolicy {
        timeout: Duration::from_millis(400),
        retries: 6,
        backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(1600),
        seed: 28,
    }
}

/// What one storm did.
struct Storm {
    sent: EndpointReport,
    verifications: u64,
    messages: u64,
    duplicates: u64,
    no_match: u64,
    /// Challenges whose status is verified afterwards.
    verified_challenges: usize,
    /// `mo2fa_shed_total{route="webhook"}` from `/metrics`.
    shed: u64,
    /// Operations the store served.
    served: u64,
    /// From the first delivery's release to the last attempt's end.
    elapsed: Duration,
}

fn metric(page: &str, name: &str) -> u64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
        .map_or(u64::MAX, |v| v as u64)
}

fn storm(shed: ShedConfig) -> Storm {
    let secret = Secret::new(Scheme::Blooio, "storm-secret").unwrap();
    let store = SlowStore {
        inner: Verifier::in_memory(Config::default(), MemoryStoreConfig::default()).unwrap(),
        one_at_a_time: Semaphore::new(1),
        served: Default::default(),
    };
    let http = HttpConfig {
        shed,
        ..HttpConfig::new("storm@example.com", secret.clone())
    };
    let app = Arc::new(App::new(store, SystemClock, http));
    let server = InProcess::start(app.clone()).unwrap();
    // The challenges, made straight in the store (not timed, not slowed).
    let now = SystemClock.now_ms();
    let challenges: Vec<Started> = (0..DELIVERIES)
        .map(|_| {
            let req = StartRequest::default();
            app.verifier
                .inner
                .start(&req, now, &mut rand::rng())
                .unwrap()
        })
        .collect();
    let t = (now / 1000) as i64;
    let plan: Vec<Planned> = challenges
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let code = app.verifier.config().code.format(c.code).to_string();
            let id = format!("storm_{i}");
            let m = Inbound {
                message_id: &id,
                sender: "+15550100001",
                text: &code,
                protocol: "imessage",
                received_at_ms: now,
            };
            let request = client::delivery(
                &server.addr,
                "/webhook/blooio",
                Some(&secret),
                PayloadShape::V2,
                &m,
                t,
            );
            Planned {
                at: Duration::from_secs_f64(i as f64 / OFFERED_PER_S),
                endpoint: 0,
                request: request.into(),
            }
        })
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt
        .block_on(openloop::run_with(
            &server.addr,
            CONNECTIONS,
            &["webhook"],
            plan,
            Duration::from_secs(1),
            &provider(),
        ))
        .unwrap();
    let page = rt.block_on(async {
        let mut conn = client::Conn::connect(&server.addr).await.unwrap();
        conn.send(&client::request(&server.addr, "GET", "/metrics", &[], b""))
            .await
            .unwrap();
        String::from_utf8_lossy(conn.body()).into_owned()
    });
    // Work a timed-out attempt left behind may still be finishing: let it.
    std::thread::sleep(Duration::from_millis(200));
    let now = SystemClock.now_ms();
    let verified_challenges = challenges
        .iter()
        .filter(|c| {
            let s = app.verifier.inner.status(&c.id.encode(), now);
            s.is_some_and(|s| s.status == Status::Verified)
        })
        .count();
    let c = &app.verifier.inner.counters;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let count = |a: &mo2fa_core::metrics::Count| a.load(std::sync::atomic::Ordering::Relaxed);
    let out = Storm {
        served: get(&app.verifier.served),
        elapsed: report.elapsed,
        sent: report.endpoints.into_iter().next().unwrap(),
        verifications: count(&c.verifications),
        messages: count(&c.messages),
        duplicates: count(&c.duplicates),
        no_match: count(&c.no_match),
        verified_challenges,
        shed: metric(&page, "mo2fa_shed_total{route=\"webhook\"}"),
    };
    server.stop();
    out
}

/// What every storm must keep, shed or not: each delivery verified its challenge at most once,
/// a retry never decided anything a second time, and every delivery the provider saw a 2xx for
/// verified.
fn exactly_once(name: &str, s: &Storm) {
    let e = &s.sent;
    eprintln!(
        "{name}: {} deliveries, {} attempts ({:.2} per delivery), {} timed out, {} answered \
         503, {} given up; shed {}; store operations {}; verifications {}, messages decided {}, \
         duplicates {}, verified challenges {}; done in {:.1} s",
        e.planned,
        e.planned + e.retries,
        e.amplification(),
        e.timeouts,
        e.statuses.get(&503).copied().unwrap_or(0),
        e.gave_up,
        s.shed,
        s.served,
        s.verifications,
        s.messages,
        s.duplicates,
        s.verified_challenges,
        s.elapsed.as_secs_f64()
    );
    assert_eq!(e.planned, DELIVERIES as u64, "{name}");
    // Dedupe: a retry is answered from the record, never decided again. Without it, the
    // retry of a delivery that verified would find its code used and count a no-match.
    assert_eq!(s.no_match, 0, "{name}: a retry was decided again");
    assert_eq!(
        s.messages, s.verifications,
        "{name}: a message was decided twice"
    );
    assert_eq!(
        s.verifications as usize, s.verified_challenges,
        "{name}: the verification counter disagrees with the challenges"
    );
    // Every delivery acknowledged with a 2xx verified; one given up may or may not have.
    assert!(s.verified_challenges as u64 >= e.ok, "{name}");
    assert!(s.verified_challenges <= DELIVERIES, "{name}");
    assert!(
        e.ok <= DELIVERIES as u64,
        "{name}: a delivery was acknowledged twice"
    );
    assert_eq!(
        e.ok + e.gave_up,
        DELIVERIES as u64,
        "{name}: every delivery ends acknowledged or given up"
    );
}

#[test]
fn a_retry_storm_against_a_slow_store_verifies_once_and_is_shed_when_bounded() {
    // Unbounded: the queue in front of the store outgrows the provider's timeout, and every
    // timeout comes back as a retry.
    let queued = storm(ShedConfig::OFF);
    exactly_once("queued", &queued);
    assert_eq!(queued.shed, 0, "nothing is shed without a bound");
    assert!(
        queued.sent.timeouts > 0,
        "the queue in front of the store should outgrow the provider's timeout"
    );
    assert!(queued.sent.amplification() > 1.0);

    // Bounded: 8 requests inside, 20 ms of waiting; the rest are shed at once.
    let shed = storm(ShedConfig {
        max_in_flight: 8,
        max_wait: Duration::from_millis(20),
    });
    exactly_once("shed", &shed);
    assert!(shed.shed > 0, "the server did not shed");
    let answered_503 = shed.sent.statuses.get(&503).copied().unwrap_or(0);
    assert!(
        answered_503 > 0 && answered_503 <= shed.shed,
        "the provider saw {answered_503} of the {} shed answers",
        shed.shed
    );
    assert!(
        shed.sent.timeouts < queued.sent.timeouts,
        "shedding should answer instead of letting attempts time out ({} vs {})",
        shed.sent.timeouts,
        queued.sent.timeouts
    );
}
