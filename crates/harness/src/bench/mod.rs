//! `mo2fa bench http`: saturation throughput of each endpoint on loopback, then latency
//! percentiles at a fixed fraction of it (or at a fixed offered rate).
//!
//! The verifier runs in-process on 127.0.0.1:0 on its own runtime, or is an already running
//! server (`--target`); the load runs on another thread. Saturation is found by doubling the
//! offered rate while the server keeps up ([`search::Search`]: a step fails when it achieves less than
//! 90 % of the offered rate or its p99 is above 50 ms; a failing step is run again at the same
//! rate, and only two failures in a row stop the doubling, so one latency spike does not; then
//! the search bisects between the last rate that kept up and the first that failed, to 1/32 of
//! it); the saturation is the highest rate achieved by a step that kept up. `bench.json` records when, where and from which commit
//! a run was made, and `latency.html` plots the percentile distributions.

mod challenges;
mod report;
mod search;

pub use report::{failed_endpoints, provenance, summary, table};
pub use search::{
    BISECT_RESOLUTION, FAILURES_TO_STOP, KEPT_UP, P99_LIMIT_MS, Search, Spread, Step,
    describe_spread, search,
};

use crate::client;
use crate::cpu;
use crate::error::HarnessError;
use crate::openloop::{self, Report};
use crate::retry::RetryPolicy;
use crate::server::{self, InProcess, Runtime, ServerSpec, StoreUrl, WithServer};
use challenges::{Challenges, InProcessChallenges, RemoteChallenges, Target};
use mo2fa_core::clock::SystemClock;
use mo2fa_core::store::MemoryStoreConfig;
use mo2fa_core::verifier::Config;
use mo2fa_core::webhook::{PayloadShape, Scheme, Secret};
use mo2fa_server::backend::Backend;
use mo2fa_server::http::{App, HttpConfig};
use mo2fa_target::profile::Profile;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// ...unless a fixed offered rate (requests per second) is given.
    pub rate_per_s: Option<u64>,
    pub max_rate_per_s: u64,
    pub out: Option<PathBuf>,
    pub server: Server,
    /// How webhook deliveries to the in-process server are signed (a target's profile says
    /// it for the target).
    pub scheme: Scheme,
    /// The body shape of webhook deliveries to the in-process server (Blooio's documented v2
    /// event by default; a target's profile says it for the target).
    pub shape: PayloadShape,
    /// This run's part of a sharded bench: it offers 1/N of each step's rate.
    pub shard: crate::shard::Shard,
    /// The provider's retry policy: each attempt's timeout, and what is sent again.
    pub retry: RetryPolicy,
}

/// One endpoint's result.
#[derive(Clone, Debug)]
pub struct Row {
    pub endpoint: Endpoint,
    /// The highest rate a search step reached while keeping up ([`Search::saturation`]);
    /// `None` with a fixed rate, or when no step kept up.
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
    /// Requests of the measured step's plan, and what the retry policy added to them.
    pub retried: Retried,
    /// For the webhook: what was seen of the deliveries' effect (verified challenges on the
    /// status route), or why it cannot be seen. A 2xx alone does not say a code verified.
    pub seen: Option<String>,
    /// CPU per answered request in the measured step, by party; `None` where `/proc` cannot be
    /// read.
    pub cpu: Option<cpu::PerRequest>,
}

/// What the retry policy did in a measured step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retried {
    /// Requests of the plan.
    pub planned: u64,
    /// Attempts sent again.
    pub retries: u64,
    /// Attempts that got no answer within the timeout.
    pub timeouts: u64,
    /// Requests whose last attempt failed with no retry left.
    pub gave_up: u64,
}

impl Retried {
    /// Requests sent per request of the plan (1: nothing was sent again).
    pub fn amplification(&self) -> f64 {
        (self.planned + self.retries) as f64 / self.planned.max(1) as f64
    }
}

/// The in-process server's webhook secret; only this process knows that server.
const SECRET: &str = "bench-http-secret";

/// Challenges made for the status endpoint to poll.
const STATUS_IDS: usize = 10_000;

/// Challenge starts written to the target before their answers are read: one round trip per
/// batch instead of per challenge, and few enough answers to fit in the socket buffers.
const START_BATCH: usize = 256;

/// The rate the saturation search starts at, per second.
const SEARCH_START_PER_S: u64 = 4_000;

/// The server under test.
#[derive(Clone, Debug)]
pub enum Server {
    /// Started in this process on 127.0.0.1:0.
    InProcess { store: StoreUrl, runtime: Runtime },
    /// Already running at `addr` (`host:port`, see [`crate::target::TargetUrl`]), spoken to
    /// as `profile` says. `secret` must be the one it checks webhook deliveries with; it is
    /// needed only for the webhook endpoint, and only when the profile signs deliveries.
    Remote {
        addr: String,
        secret: Option<String>,
        profile: Box<Profile>,
        /// The target's process id when it runs on this host (`--target-pid`): its CPU per
        /// request is then read too.
        pid: Option<u32>,
    },
}

/// Deliveries checked on the status route after the measured webhook step.
const CHECKED_DELIVERIES: usize = 200;

/// The endpoints `opts` asks for that its target cannot be measured on, and why.
pub fn not_measured(opts: &BenchOptions) -> Vec<(Endpoint, String)> {
    let Server::Remote { profile, .. } = &opts.server else {
        return Vec::new();
    };
    opts.endpoints
        .iter()
        .filter_map(|&e| cannot_measure(profile, e).map(|why| (e, why)))
        .collect()
}

/// Why `endpoint` cannot be measured on a target spoken to through `profile`, if it cannot.
fn cannot_measure(profile: &Profile, endpoint: Endpoint) -> Option<String> {
    let name = &profile.name;
    match endpoint {
        Endpoint::Healthz if profile.health.is_none() => Some(format!(
            "profile {name} names no health route ([health] path)"
        )),
        Endpoint::Status if profile.status.is_none() => {
            Some(format!("profile {name} has no status route"))
        }
        _ => None,
    }
}

/// Runs the benchmark; returns one row per endpoint.
pub fn run(opts: &BenchOptions) -> Result<Vec<Row>, HarnessError> {
    let (store, runtime) = match &opts.server {
        Server::InProcess { store, runtime } => (store.clone(), *runtime),
        Server::Remote {
            addr,
            secret,
            profile,
            pid,
        } => return run_remote(opts, addr, secret.as_deref(), profile, *pid),
    };
    let secret = Secret::new(opts.scheme, SECRET)?;
    let spec = ServerSpec {
        store,
        runtime,
        verifier: Config::default(),
        memory: MemoryStoreConfig {
            max_pending: 4_000_000,
            ..MemoryStoreConfig::default()
        },
        // This run's own keys; they expire with their challenges.
        redis_prefix: format!("mo2fa-bench:{}:", std::process::id()),
        clock: SystemClock,
        http: HttpConfig::new("verify@example.com", secret.clone()),
        sms: None,
    };
    server::start(spec, InProcessRun { opts, secret })?
}

/// Measures the in-process server once it is up.
struct InProcessRun<'a> {
    opts: &'a BenchOptions,
    secret: Secret,
}

impl WithServer<SystemClock> for InProcessRun<'_> {
    type Output = Result<Vec<Row>, HarnessError>;

    fn with<V: Backend>(self, app: Arc<App<V, SystemClock>>, server: InProcess) -> Self::Output {
        let rt = load_runtime()?;
        // The in-process server is mo2fa: its built-in profile names the routes, and starts
        // send no body (nothing bound), as a bench of the bare start has always done.
        let profile = Profile::builtin("mo2fa").ok_or(HarnessError::NoBuiltinProfile)?;
        let start = client::request(&server.addr, "POST", &profile.start.path, &[], b"");
        let target = Target::new(
            server.addr.clone(),
            InProcessChallenges { app },
            profile,
            Some(self.secret),
            self.opts.shape,
            start,
        );
        let parties = cpu::Parties {
            verifier: cpu::Verifier::InProcess,
            redis_pid: match &self.opts.server {
                Server::InProcess {
                    store: StoreUrl::Redis(url),
                    ..
                } => rt
                    .block_on(mo2fa_server::redis::conn::local_process_id(
                        url,
                        Duration::from_secs(1),
                    ))
                    .filter(|&pid| cpu::is_redis_server(pid)),
                _ => None,
            },
        };
        let rows = measure(self.opts, &rt, target, parties);
        server.stop();
        rows
    }
}

fn load_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Checks everything it can (the secret, the connection) before sending a request.
fn run_remote(
    opts: &BenchOptions,
    addr: &str,
    secret: Option<&str>,
    profile: &Profile,
    pid: Option<u32>,
) -> Result<Vec<Row>, HarnessError> {
    let scheme = profile.webhook.signature.core();
    let secret = match (scheme, secret) {
        (Some(scheme), Some(s)) => Some(Secret::new(scheme, s)?),
        (Some(_), None) if opts.endpoints.contains(&Endpoint::Webhook) => {
            return Err(HarnessError::NoSecret);
        }
        _ => None,
    };
    let rt = load_runtime()?;
    let conn =
        rt.block_on(client::Conn::connect(addr))
            .map_err(|source| HarnessError::Unreachable {
                target: addr.to_string(),
                source,
            })?;
    let start = challenges::start_request(addr, profile);
    let challenges = RemoteChallenges {
        addr: addr.to_string(),
        conn,
        profile: profile.clone(),
        request: start.clone(),
    };
    let target = Target::new(
        addr.to_string(),
        challenges,
        profile.clone(),
        secret,
        profile.webhook.shape,
        start,
    );
    let parties = cpu::Parties {
        verifier: pid.map_or(cpu::Verifier::Unread, cpu::Verifier::Process),
        redis_pid: None,
    };
    measure(opts, &rt, target, parties)
}

/// Every endpoint in turn: its search (unless a rate is given), then its measured step.
fn measure<C: Challenges>(
    opts: &BenchOptions,
    load_rt: &tokio::runtime::Runtime,
    mut target: Target<C>,
    parties: cpu::Parties,
) -> Result<Vec<Row>, HarnessError> {
    let endpoints: Vec<Endpoint> = opts
        .endpoints
        .iter()
        .copied()
        .filter(|&e| cannot_measure(&target.profile, e).is_none())
        .collect();
    if endpoints.contains(&Endpoint::Status) {
        let fresh = target.challenges.fresh(load_rt, STATUS_IDS)?;
        target.status_paths = fresh
            .iter()
            .filter_map(|c| target.profile.status_path(c)?.ok())
            .collect();
        if target.status_paths.is_empty() {
            return Err(HarnessError::Store(
                "no challenge could be started with an id to ask the status of".into(),
            ));
        }
    }
    let mut rows = Vec::new();
    let mut searches = Vec::new();
    let mut histograms = Vec::new();
    for &endpoint in &endpoints {
        let mut bench = Bench {
            opts,
            rt: load_rt,
            target: &mut target,
            endpoint,
            parties,
            cpu: None,
        };
        let (saturation, offered) = match opts.rate_per_s {
            Some(r) => (None, opts.shard.part(r)),
            None => {
                let found = bench.search()?;
                let best = found.saturation();
                // No step kept up: latency is measured below the best rate reached instead.
                let at = best.unwrap_or_else(|| {
                    eprintln!(
                        "  {:8} no step kept up: measuring at {} of the best rate reached",
                        endpoint.name(),
                        opts.fraction
                    );
                    found.best_achieved()
                });
                searches.push((endpoint, found));
                (best, (at * opts.fraction).round().max(1.0) as u64)
            }
        };
        let r = bench.step(offered, opts.measure)?;
        let e = &r.endpoints[0];
        if let Some(dir) = &opts.out {
            write_endpoint(dir, endpoint, &r)?;
            histograms.push((endpoint, e.latency.clone(), e.service.clone()));
        }
        let mut row = row(endpoint, saturation, offered, &r, opts.measure);
        row.cpu = bench.cpu;
        if endpoint == Endpoint::Webhook {
            row.seen = Some(match target.check_delivered(load_rt, CHECKED_DELIVERIES) {
                Ok((checked, verified)) => format!(
                    "{verified} of the first {checked} deliveries of the measured step verified \
                     their challenge (status route)"
                ),
                Err(why) => why,
            });
        }
        rows.push(row);
    }
    if let Some(dir) = &opts.out {
        write_run(dir, opts, &rows, &searches, &histograms)?;
    }
    Ok(rows)
}

/// One endpoint being measured.
struct Bench<'a, C: Challenges> {
    opts: &'a BenchOptions,
    rt: &'a tokio::runtime::Runtime,
    target: &'a mut Target<C>,
    endpoint: Endpoint,
    parties: cpu::Parties,
    /// CPU per answered request in the last step (its requests, not their preparation).
    cpu: Option<cpu::PerRequest>,
}

impl<C: Challenges> Bench<'_, C> {
    /// One open-loop step at `rate` per second for `duration`.
    fn step(&mut self, rate: u64, duration: Duration) -> Result<Report, HarnessError> {
        let plan = self.target.plan(self.rt, self.endpoint, rate, duration)?;
        // The provider retries its deliveries; the other endpoints' requests are the app's,
        // and only time out.
        let retry = match self.endpoint {
            Endpoint::Webhook => self.opts.retry,
            _ => RetryPolicy {
                retries: 0,
                ..self.opts.retry
            },
        };
        let before = cpu::Sample::take(&self.parties);
        let r = self.rt.block_on(openloop::run_with(
            &self.target.addr,
            self.opts.connections,
            &[self.endpoint.name()],
            plan,
            Duration::from_secs(1),
            &retry,
        ))?;
        let after = cpu::Sample::take(&self.parties);
        self.cpu = before
            .zip(after)
            .map(|(b, a)| b.per_request(&a, r.completed()));
        Ok(r)
    }

    /// The saturation search, each step printed to stderr as it ends.
    fn search(&mut self) -> Result<Search, HarnessError> {
        let (name, step_len) = (self.endpoint.name(), self.opts.step);
        let shard = self.opts.shard;
        let (start, max) = (SEARCH_START_PER_S, self.opts.max_rate_per_s);
        let found = search(shard.part(start), shard.part(max), |rate| {
            let r = self.step(rate, step_len)?;
            let e = &r.endpoints[0];
            let s = Step {
                offered: rate,
                achieved: e.ok as f64 / r.elapsed.as_secs_f64().max(step_len.as_secs_f64()),
                p99_ms: ms(&e.latency, 0.99),
            };
            eprintln!(
                "  {name:8} offered {rate:>7}/s achieved {:>9.0}/s p99 {:>8.2} ms{}",
                s.achieved,
                s.p99_ms,
                if s.kept_up() {
                    ""
                } else {
                    "  (did not keep up)"
                }
            );
            Ok::<_, HarnessError>(s)
        })?;
        for line in describe_spread(&found) {
            eprintln!("  {name:8} spread: {line}");
        }
        Ok(found)
    }
}

/// The row of `endpoint`'s measured step `r`.
fn row(
    endpoint: Endpoint,
    saturation: Option<f64>,
    offered: u64,
    r: &Report,
    measured: Duration,
) -> Row {
    let e = &r.endpoints[0];
    Row {
        endpoint,
        saturation,
        offered,
        achieved: e.ok as f64 / measured.as_secs_f64(),
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
        retried: Retried {
            planned: e.planned,
            retries: e.retries,
            timeouts: e.timeouts,
            gave_up: e.gave_up,
        },
        seen: None,
        cpu: None,
    }
}

/// Writes `dir/name`; an error names the file.
fn put(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> Result<(), HarnessError> {
    let path = dir.join(name);
    std::fs::write(&path, contents).map_err(HarnessError::write(path))
}

/// `<endpoint>.hgrm`, `.service.hgrm` and `.hlog` of the measured step.
fn write_endpoint(dir: &Path, endpoint: Endpoint, r: &Report) -> Result<(), HarnessError> {
    let e = &r.endpoints[0];
    let name = endpoint.name();
    std::fs::create_dir_all(dir).map_err(HarnessError::write(dir))?;
    put(dir, &format!("{name}.hgrm"), openloop::hgrm(&e.latency))?;
    put(
        dir,
        &format!("{name}.service.hgrm"),
        openloop::hgrm(&e.service),
    )?;
    put(dir, &format!("{name}.hlog"), openloop::interval_log(r)?)?;
    crate::shard::write_histograms(dir, name, &e.latency, &e.service)
}

type Histograms = [(
    Endpoint,
    hdrhistogram::Histogram<u64>,
    hdrhistogram::Histogram<u64>,
)];

/// `bench.json` and `latency.html`.
fn write_run(
    dir: &Path,
    opts: &BenchOptions,
    rows: &[Row],
    searches: &[(Endpoint, Search)],
    histograms: &Histograms,
) -> Result<(), HarnessError> {
    let mut json = summary(opts, rows);
    json["run"] = provenance();
    json["search"] = report::search_json(searches);
    put(dir, "bench.json", format!("{json:#}\n"))?;
    crate::shard::Manifest::bench(&crate::shard::bench_plan(opts), opts.shard).write(dir)?;
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
        report::run_line(&json["run"])
    );
    put(
        dir,
        "latency.html",
        openloop::latency_html("mo2fa bench http", &subtitle, &curves),
    )
}

fn ms(h: &hdrhistogram::Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

#[cfg(test)]
mod tests;
