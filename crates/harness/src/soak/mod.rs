//! `mo2fa soak`: a bounded run at a steady rate against the in-process server over real HTTP,
//! with short lifetimes so challenges expire all the time.
//!
//! Each flow starts a challenge and then: never sends (it must expire), sends once, or sends
//! and is redelivered by the "provider" (same `message_id`: the answer must repeat with
//! `duplicate: true`), or sends twice as two messages (the second must not verify anything).
//! Every flow that sent its code must end verified exactly once. Memory (RSS) and the
//! pending gauge are sampled every second; after warm-up RSS must stay within a bound.
//!
//! With a target ([`remote`]), the same flows go to a running verifier through its profile;
//! what the profile cannot see (a verification without a status route or a telling answer, a
//! duplicate without `duplicate_pointer`, the target's memory) is counted and listed, never
//! passed.

mod remote;
pub use remote::SoakTarget;

use crate::client::{self, Conn};
use crate::error::HarnessError;
use crate::retry::{Attempts, RetryPolicy};
use crate::server::{self, InProcess, ServerSpec, StoreUrl, WithServer};
use mo2fa_core::clock::SystemClock;
use mo2fa_core::store::MemoryStoreConfig;
use mo2fa_core::verifier;
use mo2fa_core::webhook::{Inbound, PayloadShape, Scheme, Secret};
use mo2fa_server::backend::Backend;
use mo2fa_server::http::{App, HttpConfig};
use mo2fa_server::wire::{self, ChallengeStatus, ReceivedAnswer, StartAnswer, StatusAnswer};
use rand::Rng;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Debug)]
pub struct SoakOptions {
    pub duration: Duration,
    /// Flows started per second.
    pub rate_per_s: f64,
    pub ttl_secs: u64,
    /// Concurrent client connections.
    pub connections: usize,
    /// The body shape of webhook deliveries to the in-process server.
    pub shape: PayloadShape,
    /// How deliveries to the in-process server are signed.
    pub scheme: Scheme,
    /// The provider's retry policy for deliveries: each attempt's timeout, and what is sent
    /// again (the same delivery, so dedupe applies).
    pub retry: RetryPolicy,
    /// A running verifier to soak instead of the in-process server.
    pub target: Option<SoakTarget>,
}

#[derive(Default, Debug)]
pub struct Counts {
    pub flows: AtomicU64,
    pub silent: AtomicU64,
    pub sent: AtomicU64,
    pub verified: AtomicU64,
    pub redelivered: AtomicU64,
    pub second_messages: AtomicU64,
    /// Any answer that breaks an invariant (listed in `problems`).
    pub violations: AtomicU64,
    pub errors: AtomicU64,
    /// Delivery attempts sent again under the retry policy, and attempts that timed out.
    pub retries: AtomicU64,
    pub timeouts: AtomicU64,
    /// Checks a target's profile could not see (a verification, a duplicate).
    pub unobserved: AtomicU64,
}

pub struct SoakReport {
    pub counts: Counts,
    /// (seconds since start, RSS bytes, pending)
    pub samples: Vec<(u64, u64, usize)>,
    pub problems: Vec<String>,
    pub rss_bound: u64,
    /// What was not checked (against a target: what its profile cannot see, its memory).
    pub not_checked: Vec<String>,
}

impl SoakReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn table(&self) -> String {
        let c = &self.counts;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = String::new();
        let _ = writeln!(s, "  flows started                 {:>12}", g(&c.flows));
        let _ = writeln!(s, "  never sent (left to expire)   {:>12}", g(&c.silent));
        let _ = writeln!(s, "  sent their code               {:>12}", g(&c.sent));
        let _ = writeln!(s, "  verified exactly once         {:>12}", g(&c.verified));
        let _ = writeln!(
            s,
            "  provider redeliveries         {:>12}",
            g(&c.redelivered)
        );
        let _ = writeln!(
            s,
            "  second messages (no effect)   {:>12}",
            g(&c.second_messages)
        );
        let _ = writeln!(
            s,
            "  invariant violations          {:>12}",
            g(&c.violations)
        );
        let _ = writeln!(s, "  transport errors              {:>12}", g(&c.errors));
        if g(&c.retries) + g(&c.timeouts) > 0 {
            let _ = writeln!(s, "  delivery attempts retried     {:>12}", g(&c.retries));
            let _ = writeln!(s, "  delivery attempts timed out   {:>12}", g(&c.timeouts));
        }
        if !self.not_checked.is_empty() {
            let _ = writeln!(
                s,
                "  checks not seen               {:>12}",
                g(&c.unobserved)
            );
            for n in &self.not_checked {
                let _ = writeln!(s, "  NOT CHECKED: {n}");
            }
            for p in &self.problems {
                let _ = writeln!(s, "  PROBLEM: {p}");
            }
            return s;
        }
        let rss = |i: usize| self.samples.get(i).map_or(0, |s| s.1 / (1 << 20));
        let n = self.samples.len();
        let _ = writeln!(
            s,
            "  RSS MiB start / 1/3 / 2/3 / end  {} / {} / {} / {}   (bound after warm-up: {} MiB)",
            rss(0),
            rss(n / 3),
            rss(2 * n / 3),
            rss(n.saturating_sub(1)),
            self.rss_bound / (1 << 20)
        );
        let peak = self.samples.iter().map(|s| s.2).max().unwrap_or(0);
        let _ = writeln!(s, "  pending challenges, peak      {peak:>12}");
        for p in &self.problems {
            let _ = writeln!(s, "  PROBLEM: {p}");
        }
        s
    }
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// The `result` of a webhook answer and whether it was marked duplicate.
fn received(body: &[u8]) -> (Option<&'static str>, bool) {
    wire::read::<ReceivedAnswer>(body)
        .map_or((None, false), |r| (Some(r.result.as_str()), r.duplicate))
}

const SECRET: &str = "soak-secret";

impl Counts {
    /// Counts what sending one delivery took.
    pub(crate) fn took(&self, took: Attempts) {
        let retries = u64::from(took.sent.saturating_sub(1));
        self.retries.fetch_add(retries, Ordering::Relaxed);
        self.timeouts
            .fetch_add(u64::from(took.timeouts), Ordering::Relaxed);
    }
}

/// How the "provider" sends deliveries: signed with `secret`, in `shape`, under `retry`.
#[derive(Clone)]
struct Provider {
    secret: Secret,
    shape: PayloadShape,
    retry: RetryPolicy,
}

impl Provider {
    /// Sends delivery `request` (key `key` for the retry jitter) under the retry policy; an
    /// attempt left without an answer is a transport error.
    async fn deliver(
        &self,
        conn: &mut Conn,
        host: &str,
        request: &[u8],
        key: u64,
        counts: &Counts,
    ) -> std::io::Result<u16> {
        let (status, took) = self.retry.send(conn, host, request, key).await;
        counts.took(took);
        status.ok_or_else(|| {
            std::io::Error::other(format!("no answer after {} attempt(s)", took.sent))
        })
    }
}

async fn flow(
    conn: &mut Conn,
    host: &str,
    provider: &Provider,
    n: u64,
    counts: &Counts,
    problems: &std::sync::Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let note = |p: String| {
        counts.violations.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut v) = problems.lock()
            && v.len() < 20
        {
            v.push(p);
        }
    };
    counts.flows.fetch_add(1, Ordering::Relaxed);
    let status = conn
        .send(&client::request(host, "POST", "/2fa/start", &[], b""))
        .await?;
    if status != 201 {
        note(format!("start answered {status}"));
        return Ok(());
    }
    let Some(StartAnswer { code, id, .. }) = wire::read(conn.body()) else {
        note("start answer without code or id".into());
        return Ok(());
    };
    let roll: f64 = rand::rng().random();
    if roll < 0.10 {
        counts.silent.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    }
    counts.sent.fetch_add(1, Ordering::Relaxed);
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let sender = format!("+1555{:07}", n % 10_000_000);
    let deliver = |mid: String| {
        let m = Inbound {
            message_id: &mid,
            sender: &sender,
            text: &code,
            protocol: "imessage",
            received_at_ms: (now_s as u64).saturating_mul(1000),
        };
        let (secret, shape) = (&provider.secret, provider.shape);
        client::delivery(host, "/webhook/blooio", Some(secret), shape, &m, now_s)
    };
    let first = deliver(format!("soak_{n}"));
    provider.deliver(conn, host, &first, 2 * n, counts).await?;
    let (result, _) = received(conn.body());
    if result != Some("verified") {
        note(format!("flow {n}: first delivery answered {result:?}"));
        return Ok(());
    }
    if roll < 0.15 {
        // The provider retries the same delivery: same answer, marked duplicate, no effect.
        counts.redelivered.fetch_add(1, Ordering::Relaxed);
        provider.deliver(conn, host, &first, 2 * n, counts).await?;
        if received(conn.body()) != (Some("verified"), true) {
            note(format!(
                "flow {n}: redelivery answered {:?}",
                String::from_utf8_lossy(conn.body())
            ));
        }
    } else if roll < 0.18 {
        // The user sends the code again as a new message: nothing left to verify.
        counts.second_messages.fetch_add(1, Ordering::Relaxed);
        let again = deliver(format!("soak_{n}_again"));
        provider
            .deliver(conn, host, &again, 2 * n + 1, counts)
            .await?;
        if received(conn.body()).0 == Some("verified") {
            note(format!("flow {n}: a second message verified again"));
        }
    }
    conn.send(&client::request(
        host,
        "GET",
        &format!("/2fa/status/{id}"),
        &[],
        b"",
    ))
    .await?;
    let status = wire::read::<StatusAnswer>(conn.body()).map(|s| s.status);
    if status == Some(ChallengeStatus::Verified) {
        counts.verified.fetch_add(1, Ordering::Relaxed);
    } else {
        note(format!(
            "flow {n}: status {:?} after verification",
            String::from_utf8_lossy(conn.body())
        ));
    }
    Ok(())
}

/// Runs the soak. `progress` is called once a second with the seconds elapsed, the counts so
/// far and the pending gauge, e.g. to draw a progress line.
pub fn run(
    opts: &SoakOptions,
    progress: &dyn Fn(u64, &Counts, usize),
) -> Result<SoakReport, HarnessError> {
    if let Some(target) = &opts.target {
        return remote::run(opts, target, progress);
    }
    let secret = Secret::new(opts.scheme, SECRET)?;
    let ttl_ms = opts.ttl_secs.max(1) * 1000;
    let spec = ServerSpec {
        store: StoreUrl::Memory,
        runtime: Default::default(),
        verifier: verifier::Config {
            default_ttl_ms: ttl_ms,
            min_ttl_ms: ttl_ms.min(10_000),
            max_ttl_ms: ttl_ms.max(10_000),
            // Redeliveries here come within milliseconds; a short memory lets the soak see
            // whether anything else grows.
            dedupe_retention_ms: 30_000,
            ..verifier::Config::default()
        },
        memory: MemoryStoreConfig {
            max_pending: 1_000_000,
            retention_ms: 5_000,
            ..MemoryStoreConfig::default()
        },
        redis_prefix: String::new(),
        clock: SystemClock,
        http: HttpConfig::new("soak@example.com", secret.clone()),
        sms: None,
    };
    let (counts, samples, problems) = server::start(
        spec,
        Soak {
            opts,
            secret,
            progress,
        },
    )??;
    Ok(judge(opts, counts, samples, problems))
}

/// (seconds since start, RSS bytes, pending)
type Samples = Vec<(u64, u64, usize)>;

/// The load against the started server.
struct Soak<'a> {
    opts: &'a SoakOptions,
    secret: Secret,
    progress: &'a dyn Fn(u64, &Counts, usize),
}

impl WithServer<SystemClock> for Soak<'_> {
    type Output = Result<(Counts, Samples, Vec<String>), HarnessError>;

    fn with<V: Backend>(self, app: Arc<App<V, SystemClock>>, server: InProcess) -> Self::Output {
        let counts = Arc::new(Counts::default());
        let problems = Arc::new(std::sync::Mutex::new(Vec::new()));
        let load_rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let start = Instant::now();
        let end = start + self.opts.duration;
        let mut samples = Vec::new();
        load_rt.block_on(async {
            let tasks = self.spawn_flows(&server.addr, end, &counts, &problems);
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            while Instant::now() < end {
                tick.tick().await;
                let pending = app.verifier.pending();
                samples.push((start.elapsed().as_secs(), rss_bytes(), pending));
                (self.progress)(start.elapsed().as_secs(), &counts, pending);
            }
            for t in tasks {
                let _ = t.await;
            }
            samples.push((
                start.elapsed().as_secs(),
                rss_bytes(),
                app.verifier.pending(),
            ));
        });
        server.stop();
        let problems = std::mem::take(&mut *problems.lock().unwrap_or_else(|e| e.into_inner()));
        Ok((
            Arc::try_unwrap(counts).unwrap_or_default(),
            samples,
            problems,
        ))
    }
}

impl Soak<'_> {
    /// One task per connection, each starting flows on its share of the schedule until `end`.
    fn spawn_flows(
        &self,
        addr: &str,
        end: Instant,
        counts: &Arc<Counts>,
        problems: &Arc<std::sync::Mutex<Vec<String>>>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let workers = self.opts.connections.max(1);
        let provider = Provider {
            secret: self.secret.clone(),
            shape: self.opts.shape,
            retry: self.opts.retry,
        };
        let per_worker_gap =
            Duration::from_secs_f64(workers as f64 / self.opts.rate_per_s.max(0.001));
        let mut tasks = Vec::new();
        for w in 0..workers {
            let (addr, provider, counts, problems) = (
                addr.to_string(),
                provider.clone(),
                counts.clone(),
                problems.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let Ok(mut conn) = Conn::connect(&addr).await else {
                    counts.errors.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                let mut next = Instant::now() + per_worker_gap.mul_f64(w as f64 / workers as f64);
                let mut n = w as u64;
                while next < end {
                    tokio::time::sleep_until(next.into()).await;
                    if flow(&mut conn, &addr, &provider, n, &counts, &problems)
                        .await
                        .is_err()
                    {
                        counts.errors.fetch_add(1, Ordering::Relaxed);
                        match Conn::connect(&addr).await {
                            Ok(c) => conn = c,
                            Err(_) => return,
                        }
                    }
                    n += workers as u64;
                    next += per_worker_gap;
                }
            }));
        }
        tasks
    }
}

/// The report: the invariants checked over the counts, and memory after warm-up.
fn judge(
    opts: &SoakOptions,
    counts: Counts,
    samples: Samples,
    mut problems: Vec<String>,
) -> SoakReport {
    // Warm-up: the first third, or at least ttl + retention, whichever is longer.
    let warm = (samples.len() / 3)
        .max((opts.ttl_secs + 6) as usize)
        .min(samples.len().saturating_sub(1));
    let warm_rss = samples.get(warm).map_or(0, |s| s.1);
    let rss_bound = warm_rss + warm_rss / 2 + (32 << 20);
    if let Some(peak) = samples[warm..].iter().map(|s| s.1).max()
        && peak > rss_bound
    {
        problems.push(format!(
            "RSS grew to {} MiB after warm-up (bound {} MiB)",
            peak >> 20,
            rss_bound >> 20
        ));
    }
    let c = &counts;
    if c.verified.load(Ordering::Relaxed) != c.sent.load(Ordering::Relaxed) {
        problems.push(format!(
            "{} flows sent their code but {} verified",
            c.sent.load(Ordering::Relaxed),
            c.verified.load(Ordering::Relaxed)
        ));
    }
    if c.errors.load(Ordering::Relaxed) > 0 {
        problems.push(format!(
            "{} transport errors",
            c.errors.load(Ordering::Relaxed)
        ));
    }
    SoakReport {
        counts,
        samples,
        problems,
        rss_bound,
        not_checked: Vec::new(),
    }
}
