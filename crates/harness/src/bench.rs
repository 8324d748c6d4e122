//! `mo2fa bench http`: saturation throughput of each endpoint on loopback, then latency
//! percentiles at a fixed fraction of it (or at a fixed offered rate).
//!
//! The verifier runs in-process on 127.0.0.1:0 on its own runtime, or is an already running
//! server (`--target`); the load runs on another thread. Saturation is found by doubling the
//! offered rate while the server keeps up ([`Search`]: a step fails when it achieves less than
//! 90 % of the offered rate or its p99 is above 50 ms; a failing step is run again at the same
//! rate, and only two failures in a row stop the search, so one latency spike does not); the
//! best achieved rate is the saturation. `bench.json` records when, where and from which commit
//! a run was made, and `latency.html` plots the percentile distributions.

use super::client;
use super::openloop::{self, Planned, Report};
use mo2fa_core::clock::SystemClock;
use mo2fa_core::store::MemoryStoreConfig;
use mo2fa_core::verifier::{Config, StartRequest, Verifier};
use mo2fa_core::webhook::{Inbound, PayloadShape, Scheme, Secret};
use mo2fa_server::backend::Backend;
use mo2fa_server::http::{App, HttpConfig};
use mo2fa_server::redis::{RedisConfig, RedisStoreError, RedisVerifier};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Endpoint {
    Healthz,
    Start,
    Status,
    Webhook,
}

impl Endpoint {
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Healthz => "healthz",
            Endpoint::Start => "start",
            Endpoint::Status => "status",
            Endpoint::Webhook => "webhook",
        }
    }
}

#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub endpoints: Vec<Endpoint>,
    pub connections: usize,
    /// Length of each step of the saturation search.
    pub step: Duration,
    /// Length of the latency measurement.
    pub measure: Duration,
    /// Latency is measured at this fraction of saturation...
    pub fraction: f64,
    /// ...unless a fixed offered rate is given.
    pub rate: Option<u64>,
    pub max_rate: u64,
    pub out: Option<PathBuf>,
    pub server: Server,
    /// How webhook deliveries are signed; must match the server's scheme.
    pub scheme: Scheme,
    /// The body shape of webhook deliveries (Blooio's documented v2 event by default).
    pub shape: PayloadShape,
}

/// One endpoint's result.
#[derive(Clone, Debug)]
pub struct Row {
    pub endpoint: Endpoint,
    pub saturation: Option<f64>,
    pub offered: u64,
    pub achieved: f64,
    /// Requests answered 2xx in the measured step.
    pub succeeded: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    /// What the errors were: `(Some(status), n)` for answers outside 2xx, `(None, n)` for
    /// requests that got no answer.
    pub error_kinds: Vec<(Option<u16>, u64)>,
}

/// The in-process server's webhook secret; only this process knows that server.
const SECRET: &str = "bench-http-secret";

/// Challenges made for the status endpoint to poll.
const STATUS_IDS: usize = 10_000;

/// Challenge starts written to the target before their answers are read: one round trip per
/// batch instead of per challenge, and few enough answers to fit in the socket buffers.
const START_BATCH: usize = 256;

/// The server under test.
#[derive(Clone, Debug)]
pub enum Server {
    /// Started in this process on 127.0.0.1:0; `store` is `memory` or a Redis URL.
    InProcess { store: String },
    /// Already running at `addr` (`host:port`, see [`target_addr`]). `secret` must be the one
    /// it checks webhook deliveries with; it is needed only for the webhook endpoint.
    Remote {
        addr: String,
        secret: Option<String>,
    },
}

/// The `host:port` of a `--target` URL: `http://` and an authority with an explicit, non-zero
/// port, nothing after it but an optional `/`. Any host is accepted; the bench only ever
/// connects to this one.
pub fn target_addr(url: &str) -> Result<String, BenchError> {
    let bad = |why: &str| Err(BenchError::TargetUrl(format!("{url:?}: {why}")));
    let Some(rest) = url.strip_prefix("http://") else {
        return bad("must start with http:// (the bench speaks plain HTTP/1.1)");
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#', '@']) || authority.contains(char::is_whitespace) {
        return bad("expected http://HOST:PORT with nothing after the port");
    }
    let Some((host, port)) = authority.rsplit_once(':') else {
        return bad("the port is missing (http://HOST:PORT)");
    };
    let host_ok = match host.strip_prefix('[') {
        Some(v6) => v6
            .strip_suffix(']')
            .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok()),
        None => !host.is_empty() && !host.contains([':', '[', ']']),
    };
    if !host_ok {
        return bad("the host is missing or malformed");
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(authority.to_string()),
        _ => bad("the port must be a number from 1 to 65535"),
    }
}

/// Where fresh challenges come from: straight from the in-process verifier, or over HTTP from
/// the target. The plans need nothing else from the server.
trait Challenges {
    /// Up to `n` fresh challenges as `(id, code)`.
    fn fresh(
        &mut self,
        rt: &tokio::runtime::Runtime,
        n: usize,
    ) -> Result<Vec<(String, String)>, BenchError>;
}

/// Starts that fail are left out (their deliveries then carry a code that matches nothing),
/// as an overloaded store refusing some is part of what is measured.
struct InProcessChallenges<V: Backend> {
    app: Arc<App<V, SystemClock>>,
}

impl<V: Backend> Challenges for InProcessChallenges<V> {
    /// The store is asked through `rt`, as a server would ask it.
    fn fresh(
        &mut self,
        rt: &tokio::runtime::Runtime,
        n: usize,
    ) -> Result<Vec<(String, String)>, BenchError> {
        let verifier = &self.app.verifier;
        Ok((0..n)
            .filter_map(|_| {
                let started =
                    verifier.start(&StartRequest::default(), self.app.now(), &mut rand::rng());
                let s = rt.block_on(started).ok()?;
                let code = verifier.config().code.format(s.code).to_string();
                Some((s.id.encode(), code))
            })
            .collect())
    }
}

/// `POST /2fa/start` pipelined on one keep-alive connection. Any answer but a 201 with an id
/// and a code fails the run: against a server we do not control, a guessed code would
/// measure the wrong thing.
struct RemoteChallenges {
    addr: String,
    conn: client::Conn,
}

impl Challenges for RemoteChallenges {
    fn fresh(
        &mut self,
        rt: &tokio::runtime::Runtime,
        n: usize,
    ) -> Result<Vec<(String, String)>, BenchError> {
        let fail = |problem: String| BenchError::TargetStart {
            target: self.addr.clone(),
            problem,
        };
        let request = client::request(&self.addr, "POST", "/2fa/start", &[], b"");
        let conn = &mut self.conn;
        let mut out = Vec::with_capacity(n);
        rt.block_on(async {
            while out.len() < n {
                let batch = START_BATCH.min(n - out.len());
                conn.write(&request.repeat(batch))
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                for _ in 0..batch {
                    let status = conn.read().await.map_err(|e| fail(e.to_string()))?;
                    out.push(started(status, conn.body()).map_err(fail)?);
                }
            }
            Ok(out)
        })
    }
}

/// The `(id, code)` of a `/2fa/start` answer, or what was wrong with it.
fn started(status: u16, body: &[u8]) -> Result<(String, String), String> {
    #[derive(serde::Deserialize)]
    struct Started {
        id: String,
        code: String,
    }
    let quoted = || {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
        format!("{:?}", text.trim())
    };
    if status != 201 {
        return Err(format!("answered {status} {}", quoted()));
    }
    serde_json::from_slice::<Started>(body)
        .map(|s| (s.id, s.code))
        .map_err(|_| {
            format!(
                "answered 201 without an \"id\" and a \"code\": {}",
                quoted()
            )
        })
}

struct Target<C: Challenges> {
    addr: String,
    challenges: C,
    /// Signs webhook deliveries; `None` only when the webhook endpoint is not measured.
    secret: Option<Secret>,
    shape: PayloadShape,
    status_ids: Vec<String>,
    /// Delivery ids are `<run>_<n>`: unique across runs, because a long-running target
    /// remembers ids for deduplication and would not verify a repeated one.
    run: String,
    delivery: u64,
}

impl<C: Challenges> Target<C> {
    fn new(addr: String, challenges: C, secret: Option<Secret>, shape: PayloadShape) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Self {
            addr,
            challenges,
            secret,
            shape,
            status_ids: Vec::new(),
            run: format!("bench_{now}_{}", std::process::id()),
            delivery: 0,
        }
    }

    fn plan(
        &mut self,
        rt: &tokio::runtime::Runtime,
        endpoint: Endpoint,
        rate: u64,
        duration: Duration,
    ) -> Result<Vec<Planned>, BenchError> {
        let n = (rate as f64 * duration.as_secs_f64()).round() as u64;
        let gap = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
        let now_s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()) as i64;
        // A fresh challenge per delivery, made before the run so that making it is not timed.
        let codes: Vec<String> = if endpoint == Endpoint::Webhook {
            self.challenges
                .fresh(rt, n as usize)?
                .into_iter()
                .map(|(_, code)| code)
                .collect()
        } else {
            Vec::new()
        };
        let mut plan = Vec::with_capacity(n as usize);
        for i in 0..n {
            let request: Vec<u8> = match endpoint {
                Endpoint::Healthz => client::request(&self.addr, "GET", "/healthz", &[], b""),
                Endpoint::Start => client::request(&self.addr, "POST", "/2fa/start", &[], b""),
                Endpoint::Status => {
                    let id = &self.status_ids[i as usize % self.status_ids.len()];
                    client::request(&self.addr, "GET", &format!("/2fa/status/{id}"), &[], b"")
                }
                Endpoint::Webhook => {
                    let secret = self.secret.as_ref().ok_or(BenchError::NoSecret)?;
                    let code = codes.get(i as usize).map_or("ZZZZZZ", String::as_str);
                    self.delivery += 1;
                    let id = format!("{}_{}", self.run, self.delivery);
                    delivery(&self.addr, secret, self.shape, &id, code, now_s)
                }
            };
            plan.push(Planned {
                at: gap * i as u32,
                endpoint: 0,
                request: request.into(),
            });
        }
        Ok(plan)
    }
}

/// A signed `message.received` delivery carrying `code`, in `shape`, under the secret's scheme.
fn delivery(
    host: &str,
    secret: &Secret,
    shape: PayloadShape,
    id: &str,
    code: &str,
    t: i64,
) -> Vec<u8> {
    let m = Inbound {
        message_id: id,
        sender: "+15550100001",
        text: code,
        protocol: "imessage",
        received_at_ms: (t as u64).saturating_mul(1000),
    };
    client::delivery(host, secret, shape, &m, t)
}

/// A search step fails below this share of the offered rate...
pub const KEPT_UP: f64 = 0.9;
/// ...or with its p99 above this many milliseconds.
pub const P99_LIMIT_MS: f64 = 50.0;
/// Failing steps in a row (at the same rate) that stop the search.
pub const FAILURES_TO_STOP: u32 = 2;

/// What one step of the saturation search measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    pub offered: u64,
    /// 2xx answers per second.
    pub achieved: f64,
    pub p99_ms: f64,
}

impl Step {
    /// The server kept up: it achieved at least [`KEPT_UP`] of the offered rate with a p99 of
    /// at most [`P99_LIMIT_MS`].
    pub fn kept_up(&self) -> bool {
        self.achieved >= KEPT_UP * self.offered as f64 && self.p99_ms <= P99_LIMIT_MS
    }
}

/// The saturation search: offers `start`/s, doubling after every step that kept up, up to
/// `max_rate`. A step that did not keep up is run again at the same rate; the search stops
/// after [`FAILURES_TO_STOP`] failing steps in a row. One spike (a step failing once, then
/// keeping up when confirmed) therefore does not end it.
#[derive(Clone, Debug)]
pub struct Search {
    rate: u64,
    max_rate: u64,
    failures: u32,
    /// Every step measured, in order.
    pub steps: Vec<Step>,
}

impl Search {
    pub fn new(start: u64, max_rate: u64) -> Self {
        Self {
            rate: start.max(1),
            max_rate,
            failures: 0,
            steps: Vec::new(),
        }
    }

    /// The rate of the next step, or `None` when the search is over.
    pub fn next_rate(&self) -> Option<u64> {
        (self.failures < FAILURES_TO_STOP && self.rate <= self.max_rate).then_some(self.rate)
    }

    pub fn record(&mut self, step: Step) {
        self.steps.push(step);
        if step.kept_up() {
            self.failures = 0;
            self.rate = self.rate.saturating_mul(2);
        } else {
            self.failures += 1;
        }
    }

    /// The best achieved rate of any step.
    pub fn saturation(&self) -> f64 {
        self.steps.iter().map(|s| s.achieved).fold(0.0, f64::max)
    }

    /// Whether the last steps failed [`FAILURES_TO_STOP`] times in a row (the server stopped
    /// keeping up), rather than the search reaching `max_rate`.
    pub fn saturated(&self) -> bool {
        self.failures >= FAILURES_TO_STOP
    }

    /// How the steps of each rate offered more than once spread.
    pub fn spread(&self) -> Vec<Spread> {
        let mut out: Vec<Spread> = Vec::new();
        for s in &self.steps {
            if out.iter().any(|o| o.offered == s.offered) {
                continue;
            }
            let same: Vec<&Step> = self
                .steps
                .iter()
                .filter(|t| t.offered == s.offered)
                .collect();
            if same.len() < 2 {
                continue;
            }
            let range = |f: fn(&Step) -> f64| {
                same.iter()
                    .map(|t| f(t))
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                        (lo.min(v), hi.max(v))
                    })
            };
            out.push(Spread {
                offered: s.offered,
                runs: same.len(),
                achieved: range(|t| t.achieved),
                p99_ms: range(|t| t.p99_ms),
            });
        }
        out
    }
}

/// The (min, max) of a rate's repeated steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub offered: u64,
    pub runs: usize,
    pub achieved: (f64, f64),
    pub p99_ms: (f64, f64),
}

/// Runs the search, measuring each step with `measure(rate)`.
pub fn search<E>(
    start: u64,
    max_rate: u64,
    mut measure: impl FnMut(u64) -> Result<Step, E>,
) -> Result<Search, E> {
    let mut s = Search::new(start, max_rate);
    while let Some(rate) = s.next_rate() {
        let step = measure(rate)?;
        s.record(step);
    }
    Ok(s)
}

/// "offered 8000/s ×2: achieved 7,912–8,000/s, p99 0.41–87.20 ms".
pub fn describe_spread(search: &Search) -> Vec<String> {
    search
        .spread()
        .into_iter()
        .map(|s| {
            let (rate, n, (a0, a1), (p0, p1)) = (s.offered, s.runs, s.achieved, s.p99_ms);
            format!("offered {rate}/s ×{n}: achieved {a0:.0}–{a1:.0}/s, p99 {p0:.2}–{p1:.2} ms")
        })
        .collect()
}

/// Where and when a run was made, for `bench.json`.
pub fn provenance() -> serde_json::Value {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    serde_json::json!({
        "timestamp": mo2fa_core::timefmt::rfc3339_ms(now_ms),
        "git_commit": git_commit(),
        "host": host_name(),
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
    })
}

/// The commit the binary was built from: `MO2FA_GIT_COMMIT` at build time if set, else
/// `git rev-parse HEAD` in the source tree it was built from (if it is still there), else
/// "unknown".
fn git_commit() -> String {
    if let Some(c) = option_env!("MO2FA_GIT_COMMIT").filter(|c| !c.is_empty()) {
        return c.to_string();
    }
    std::process::Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| s.len() >= 7 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| "unknown".into())
}

fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`, which outlives the call.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(h) if rc == 0 && !h.is_empty() => h.to_string(),
        _ => "unknown".into(),
    }
}

fn ms(h: &hdrhistogram::Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Config(#[from] mo2fa_core::verifier::ConfigError),
    #[error(transparent)]
    Secret(#[from] mo2fa_core::webhook::SecretError),
    #[error("--store: {0}")]
    Store(String),
    #[error("--target: {0}")]
    TargetUrl(String),
    #[error("--target {target}: cannot connect: {source}")]
    Unreachable {
        target: String,
        source: std::io::Error,
    },
    #[error("--target {target}: POST /2fa/start {problem}")]
    TargetStart { target: String, problem: String },
    #[error(
        "the webhook endpoint of a --target needs the secret the target checks deliveries with"
    )]
    NoSecret,
}

/// Runs the benchmark; returns one row per endpoint.
pub fn run(opts: &BenchOptions) -> Result<Vec<Row>, BenchError> {
    let store = match &opts.server {
        Server::InProcess { store } => store,
        Server::Remote { addr, secret } => return run_remote(opts, addr, secret.as_deref()),
    };
    let secret = Secret::new(opts.scheme, SECRET)?;
    let http = HttpConfig::new("verify@example.com", secret.clone());
    if store == "memory" {
        let verifier = Verifier::in_memory(
            Config::default(),
            MemoryStoreConfig {
                max_pending: 4_000_000,
                ..MemoryStoreConfig::default()
            },
        )?;
        let app = Arc::new(App::new(verifier, SystemClock, http));
        let server = super::InProcess::start(app.clone())?;
        run_in_process(opts, secret, app, server)
    } else {
        let redis = RedisConfig {
            max_pending: 4_000_000,
            // This run's own keys; they expire with their challenges.
            prefix: format!("mo2fa-bench:{}:", std::process::id()),
            ..RedisConfig::new(store)
        };
        // The connection's driver lives on the runtime it is made in: the server's.
        let mut made = None;
        let server = super::InProcess::start_with(|| {
            let verifier = RedisVerifier::new(Config::default(), redis)?;
            let app = Arc::new(App::new(verifier, SystemClock, http));
            made = Some(app.clone());
            Ok::<_, RedisStoreError>(app)
        })
        .map_err(|e| BenchError::Store(e.to_string()))?;
        let app = made.ok_or_else(|| BenchError::Store("server did not start".into()))?;
        run_in_process(opts, secret, app, server)
    }
}

fn load_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

fn run_in_process<V: Backend>(
    opts: &BenchOptions,
    secret: Secret,
    app: Arc<App<V, SystemClock>>,
    server: super::InProcess,
) -> Result<Vec<Row>, BenchError> {
    let rt = load_runtime()?;
    let target = Target::new(
        server.addr.clone(),
        InProcessChallenges { app },
        Some(secret),
        opts.shape,
    );
    let rows = measure(opts, &rt, target);
    server.stop();
    rows
}

/// Checks everything it can (the secret, the connection) before sending a request.
fn run_remote(
    opts: &BenchOptions,
    addr: &str,
    secret: Option<&str>,
) -> Result<Vec<Row>, BenchError> {
    if secret.is_none() && opts.endpoints.contains(&Endpoint::Webhook) {
        return Err(BenchError::NoSecret);
    }
    let secret = secret.map(|s| Secret::new(opts.scheme, s)).transpose()?;
    let rt = load_runtime()?;
    let conn =
        rt.block_on(client::Conn::connect(addr))
            .map_err(|source| BenchError::Unreachable {
                target: addr.to_string(),
                source,
            })?;
    let challenges = RemoteChallenges {
        addr: addr.to_string(),
        conn,
    };
    measure(
        opts,
        &rt,
        Target::new(addr.to_string(), challenges, secret, opts.shape),
    )
}

fn measure<C: Challenges>(
    opts: &BenchOptions,
    load_rt: &tokio::runtime::Runtime,
    mut target: Target<C>,
) -> Result<Vec<Row>, BenchError> {
    if opts.endpoints.contains(&Endpoint::Status) {
        target.status_ids = target
            .challenges
            .fresh(load_rt, STATUS_IDS)?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        if target.status_ids.is_empty() {
            return Err(BenchError::Store("no challenge could be started".into()));
        }
    }
    let mut rows = Vec::new();
    let mut searches = Vec::new();
    let mut histograms = Vec::new();
    for &endpoint in &opts.endpoints {
        let step =
            |rate: u64, duration: Duration, target: &mut Target<C>| -> Result<Report, BenchError> {
                let plan = target.plan(load_rt, endpoint, rate, duration)?;
                Ok(load_rt.block_on(openloop::run(
                    &target.addr,
                    opts.connections,
                    &[endpoint.name()],
                    plan,
                    Duration::from_secs(1),
                ))?)
            };
        let (saturation, offered) = match opts.rate {
            Some(r) => (None, r),
            None => {
                let found = search(4_000, opts.max_rate, |rate| {
                    let r = step(rate, opts.step, &mut target)?;
                    let e = &r.endpoints[0];
                    let s = Step {
                        offered: rate,
                        achieved: e.ok as f64
                            / r.elapsed.as_secs_f64().max(opts.step.as_secs_f64()),
                        p99_ms: ms(&e.latency, 0.99),
                    };
                    eprintln!(
                        "  {:8} offered {:>7}/s achieved {:>9.0}/s p99 {:>8.2} ms{}",
                        endpoint.name(),
                        rate,
                        s.achieved,
                        s.p99_ms,
                        if s.kept_up() {
                            ""
                        } else {
                            "  (did not keep up)"
                        }
                    );
                    Ok::<_, BenchError>(s)
                })?;
                for line in describe_spread(&found) {
                    eprintln!("  {:8} spread: {line}", endpoint.name());
                }
                let best = found.saturation();
                searches.push((endpoint, found));
                (Some(best), (best * opts.fraction).round().max(1.0) as u64)
            }
        };
        let r = step(offered, opts.measure, &mut target)?;
        let e = &r.endpoints[0];
        if let Some(dir) = &opts.out {
            std::fs::create_dir_all(dir)?;
            std::fs::write(
                dir.join(format!("{}.hgrm", endpoint.name())),
                openloop::hgrm(&e.latency),
            )?;
            std::fs::write(
                dir.join(format!("{}.service.hgrm", endpoint.name())),
                openloop::hgrm(&e.service),
            )?;
            std::fs::write(
                dir.join(format!("{}.hlog", endpoint.name())),
                openloop::interval_log(&r)?,
            )?;
            histograms.push((endpoint, e.latency.clone(), e.service.clone()));
        }
        rows.push(Row {
            endpoint,
            saturation,
            offered,
            achieved: e.ok as f64 / opts.measure.as_secs_f64(),
            succeeded: e.ok,
            p50_ms: ms(&e.latency, 0.5),
            p99_ms: ms(&e.latency, 0.99),
            p999_ms: ms(&e.latency, 0.999),
            max_ms: e.latency.max() as f64 / 1000.0,
            errors: e.errors + e.non_2xx,
            error_kinds: e
                .statuses
                .iter()
                .map(|(&code, &n)| (Some(code), n))
                .chain((e.errors > 0).then_some((None, e.errors)))
                .collect(),
        });
    }
    if let Some(dir) = &opts.out {
        let mut json = summary(opts, &rows);
        json["run"] = provenance();
        json["search"] = search_json(&searches);
        std::fs::write(dir.join("bench.json"), format!("{json:#}\n"))?;
        let curves: Vec<openloop::Curve<'_>> = histograms
            .iter()
            .map(|(endpoint, latency, service)| openloop::Curve {
                name: endpoint.name(),
                latency,
                service,
            })
            .collect();
        let subtitle = format!(
            "{}; {}",
            json["target"].as_str().unwrap_or_default(),
            run_line(&json["run"])
        );
        std::fs::write(
            dir.join("latency.html"),
            openloop::latency_html("mo2fa bench http", &subtitle, &curves),
        )?;
    }
    Ok(rows)
}

/// "2026-12-01T10:11:47.000Z on host (2 cores), commit abc123".
fn run_line(run: &serde_json::Value) -> String {
    format!(
        "{} on {} ({} cores), commit {}",
        run["timestamp"].as_str().unwrap_or_default(),
        run["host"].as_str().unwrap_or_default(),
        run["cores"],
        run["git_commit"].as_str().unwrap_or_default()
    )
}

/// Every step of each endpoint's saturation search, with the rule that ended it.
fn search_json(searches: &[(Endpoint, Search)]) -> serde_json::Value {
    let endpoints: Vec<serde_json::Value> = searches
        .iter()
        .map(|(endpoint, s)| {
            let steps: Vec<serde_json::Value> = s
                .steps
                .iter()
                .map(|t| {
                    serde_json::json!({
                        "offered_per_s": t.offered, "achieved_per_s": t.achieved,
                        "p99_ms": t.p99_ms, "kept_up": t.kept_up(),
                    })
                })
                .collect();
            serde_json::json!({
                "endpoint": endpoint.name(),
                "stopped_by": if s.saturated() { "failed twice in a row" } else { "max_rate" },
                "steps": steps,
                "spread": describe_spread(s),
            })
        })
        .collect();
    serde_json::json!({
        "rule": format!(
            "double the offered rate while a step achieves >= {}% of it with p99 <= {P99_LIMIT_MS} ms; \
             re-run a failing step; stop after {FAILURES_TO_STOP} failing steps in a row",
            KEPT_UP * 100.0
        ),
        "endpoints": endpoints,
    })
}

/// The table as JSON (`bench.json` beside the histograms), for tracking runs over time.
pub fn summary(opts: &BenchOptions, rows: &[Row]) -> serde_json::Value {
    let target = match &opts.server {
        Server::InProcess { store } => format!("in-process ({store})"),
        Server::Remote { addr, .. } => format!("http://{addr}"),
    };
    let endpoints: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let errors: serde_json::Map<String, serde_json::Value> = r
                .error_kinds
                .iter()
                .map(|(status, n)| {
                    let kind = status.map_or("no_answer".to_string(), |s| s.to_string());
                    (kind, (*n).into())
                })
                .collect();
            serde_json::json!({
                "endpoint": r.endpoint.name(),
                "saturation_per_s": r.saturation,
                "offered_per_s": r.offered,
                "achieved_per_s": r.achieved,
                "succeeded": r.succeeded,
                "errors": r.errors,
                "errors_by_status": errors,
                "latency_ms": {"p50": r.p50_ms, "p99": r.p99_ms, "p99_9": r.p999_ms, "max": r.max_ms},
            })
        })
        .collect();
    serde_json::json!({
        "target": target,
        "connections": opts.connections,
        "measure_seconds": opts.measure.as_secs_f64(),
        "fraction_of_saturation": opts.rate.is_none().then_some(opts.fraction),
        "endpoints": endpoints,
    })
}

/// The printed table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "endpoint  saturation/s   offered/s  achieved/s   p50 ms   p99 ms  p99.9 ms   max ms  errors\n",
    );
    for r in rows {
        let sat = r.saturation.map_or("-".to_string(), |s| format!("{s:.0}"));
        let _ = writeln!(
            out,
            "{:8} {:>13} {:>11} {:>11.0} {:>8.3} {:>8.3} {:>9.3} {:>8.3} {:>7}",
            r.endpoint.name(),
            sat,
            r.offered,
            r.achieved,
            r.p50_ms,
            r.p99_ms,
            r.p999_ms,
            r.max_ms,
            r.errors
        );
    }
    for r in rows.iter().filter(|r| !r.error_kinds.is_empty()) {
        let _ = writeln!(out, "{} errors: {}", r.endpoint.name(), r.describe_errors());
    }
    out
}

impl Row {
    /// "300 answered 401, 2 got no answer".
    pub fn describe_errors(&self) -> String {
        let kinds: Vec<String> = self
            .error_kinds
            .iter()
            .map(|(status, n)| match status {
                Some(code) => format!("{n} answered {code}"),
                None => format!("{n} got no answer"),
            })
            .collect();
        kinds.join(", ")
    }
}

/// Endpoints where not one request succeeded: their latencies time error answers (a wrong
/// secret, a target that is not a verifier), so the run measured nothing it claims to.
pub fn failed_endpoints(rows: &[Row]) -> Option<String> {
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| r.succeeded == 0 && r.errors > 0)
        .map(|r| format!("{} ({})", r.endpoint.name(), r.describe_errors()))
        .collect();
    (!failed.is_empty()).then(|| failed.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_urls_give_their_host_and_port() {
        for (url, addr) in [
            ("http://127.0.0.1:8080", "127.0.0.1:8080"),
            ("http://127.0.0.1:8080/", "127.0.0.1:8080"),
            ("http://verifier.internal:80", "verifier.internal:80"),
            ("http://[::1]:9000", "[::1]:9000"),
        ] {
            assert_eq!(target_addr(url).unwrap(), addr, "{url}");
        }
    }

    #[test]
    fn target_urls_are_refused_naming_the_option() {
        for url in [
            "",
            "127.0.0.1:8080",
            "https://127.0.0.1:8080",
            "http://",
            "http://127.0.0.1",
            "http://:8080",
            "http://127.0.0.1:0",
            "http://127.0.0.1:65536",
            "http://127.0.0.1:http",
            "http://127.0.0.1:8080/2fa",
            "http://127.0.0.1:8080?x=1",
            "http://user@127.0.0.1:8080",
            "http://exa mple:8080",
            "http://::1:8080",
            "http://[::1:8080",
            "http://[nope]:8080",
        ] {
            let e = target_addr(url).expect_err(url).to_string();
            assert!(e.starts_with("--target: "), "{url}: {e}");
        }
    }

    #[test]
    fn start_answers_give_id_and_code_or_say_what_came_back() {
        assert_eq!(
            started(201, br#"{"id":"ch_1","code":"ABC234","link":"x"}"#),
            Ok(("ch_1".into(), "ABC234".into()))
        );
        let e = started(404, b"{\"error\":\"no route for /2fa/start\"}").unwrap_err();
        assert!(e.contains("404") && e.contains("no route"), "{e}");
        let e = started(201, b"<html>hello</html>").unwrap_err();
        assert!(e.contains("201") && e.contains("<html>"), "{e}");
        let long = vec![b'x'; 10_000];
        assert!(started(500, &long).unwrap_err().len() < 300);
        // Invalid UTF-8 and a body cut inside a character are quoted, not a panic.
        assert!(started(502, &[0xff, 0xe2, 0x82]).is_err());
    }

    #[test]
    fn deliveries_pass_the_check_of_a_server_with_the_same_secret() {
        use mo2fa_core::webhook::SignatureHeaders;
        for scheme in [Scheme::Blooio, Scheme::Standard] {
            let secret = Secret::new(scheme, "s3cret").unwrap();
            let raw = delivery(
                "verifier.internal:8080",
                &secret,
                PayloadShape::V2,
                "bench_1_2_3",
                "ABC234",
                1_700_000_000,
            );
            let text = String::from_utf8(raw).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let header = |name: &str| {
                head.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            };
            let headers = SignatureHeaders {
                blooio_signature: header("X-Blooio-Signature"),
                webhook_id: header("webhook-id"),
                webhook_timestamp: header("webhook-timestamp"),
                webhook_signature: header("webhook-signature"),
            };
            assert_eq!(
                secret.verify(&headers, body.as_bytes(), 1_700_000_000, 300),
                Ok(()),
                "{scheme:?}"
            );
            assert!(body.contains("\"message_id\":\"bench_1_2_3\""));
            assert!(body.contains("\"external_id\":\"+15550100001\""), "{body}");
            assert_eq!(header("X-Blooio-Message-Id"), Some("bench_1_2_3"));
            assert_eq!(header("X-Blooio-Event"), Some("message.received"));
            // A proxy in front of the target routes by it.
            assert_eq!(header("Host"), Some("verifier.internal:8080"));
        }
    }

    /// A fake server: `kept_up` answers for each step in turn.
    fn fake(kept_up: &[bool]) -> Search {
        let mut answers = kept_up.iter();
        search(1_000, 1_000_000, |rate| {
            let ok = *answers
                .next()
                .expect("the search ran more steps than expected");
            Ok::<_, ()>(Step {
                offered: rate,
                achieved: rate as f64 * if ok { 1.0 } else { 0.99 },
                p99_ms: if ok { 1.0 } else { 80.0 },
            })
        })
        .unwrap()
    }

    #[test]
    fn one_spike_does_not_stop_the_search_two_in_a_row_do() {
        // 1k, 2k pass; 4k spikes once, passes when repeated; 8k passes; 16k fails twice.
        let s = fake(&[true, true, false, true, true, false, false]);
        let rates: Vec<u64> = s.steps.iter().map(|t| t.offered).collect();
        assert_eq!(rates, [1_000, 2_000, 4_000, 4_000, 8_000, 16_000, 16_000]);
        assert!(s.saturated());
        assert_eq!(s.next_rate(), None);
        assert_eq!(s.saturation(), 16_000.0 * 0.99);
        // The repeated rates are reported with their spread.
        let spread = describe_spread(&s);
        assert_eq!(spread.len(), 2, "{spread:?}");
        assert_eq!(
            spread[0],
            "offered 4000/s ×2: achieved 3960–4000/s, p99 1.00–80.00 ms"
        );
        // Spikes at every other step never stop it: it ends at max_rate.
        let s = fake(&[false, true].repeat(11));
        assert!(!s.saturated());
        assert_eq!(s.steps.last().map(|t| t.offered), Some(512_000));
    }

    #[test]
    fn a_step_fails_on_throughput_or_on_p99() {
        let step = |achieved, p99_ms| Step {
            offered: 1000,
            achieved,
            p99_ms,
        };
        assert!(step(900.0, 50.0).kept_up());
        assert!(!step(899.0, 1.0).kept_up());
        assert!(!step(1000.0, 50.1).kept_up());
    }

    #[test]
    fn provenance_names_time_commit_host_and_cores() {
        let p = provenance();
        let t = p["timestamp"].as_str().unwrap();
        assert!(
            t.len() == 24 && t.ends_with('Z') && t.as_bytes()[10] == b'T',
            "{t}"
        );
        let commit = p["git_commit"].as_str().unwrap();
        assert!(commit == "unknown" || commit.len() == 40, "{commit}");
        assert!(!p["host"].as_str().unwrap().is_empty());
        assert!(p["cores"].as_u64().unwrap() >= 1);
    }

    #[test]
    fn only_an_endpoint_without_one_success_fails_the_run_and_errors_are_named() {
        let row = |endpoint, succeeded, error_kinds: Vec<(Option<u16>, u64)>| Row {
            endpoint,
            saturation: None,
            offered: 100,
            achieved: succeeded as f64,
            succeeded,
            p50_ms: 0.1,
            p99_ms: 0.2,
            p999_ms: 0.3,
            max_ms: 0.4,
            errors: error_kinds.iter().map(|(_, n)| n).sum(),
            error_kinds,
        };
        let overloaded = row(Endpoint::Start, 97, vec![(Some(503), 3)]);
        let clean = row(Endpoint::Healthz, 100, vec![]);
        assert_eq!(failed_endpoints(&[overloaded.clone(), clean.clone()]), None);
        let refused = row(Endpoint::Webhook, 0, vec![(Some(401), 60), (None, 40)]);
        assert_eq!(
            failed_endpoints(&[overloaded, refused.clone(), clean]).as_deref(),
            Some("webhook (60 answered 401, 40 got no answer)")
        );
        // bench.json says the same.
        let opts = BenchOptions {
            endpoints: vec![Endpoint::Webhook],
            connections: 4,
            step: Duration::from_secs(1),
            measure: Duration::from_secs(1),
            fraction: 0.5,
            rate: Some(100),
            max_rate: 1000,
            out: None,
            server: Server::Remote {
                addr: "127.0.0.1:8080".into(),
                secret: None,
            },
            scheme: Scheme::Blooio,
            shape: PayloadShape::V2,
        };
        let json = summary(&opts, &[refused]);
        assert_eq!(json["target"], "http://127.0.0.1:8080");
        assert_eq!(json["fraction_of_saturation"], serde_json::Value::Null);
        assert_eq!(
            json["endpoints"][0]["errors_by_status"],
            serde_json::json!({"401": 60, "no_answer": 40})
        );
    }
}
