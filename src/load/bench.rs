//! `mo2fa bench http`: saturation throughput of each endpoint on loopback, then latency
//! percentiles at a fixed fraction of it (or at a fixed offered rate).
//!
//! The verifier runs in-process on 127.0.0.1:0 on its own runtime; the load runs on another
//! thread. Saturation is found by doubling the offered rate until the server no longer keeps up
//! (achieved < 90 % of offered, or p99 above 50 ms); the best achieved rate is the saturation.

use super::client;
use super::openloop::{self, Planned, Report};
use crate::backend::Backend;
use crate::clock::SystemClock;
use crate::http::{App, HttpConfig};
use crate::store::MemoryStoreConfig;
use crate::store::redis::{RedisConfig, RedisStoreError, RedisVerifier};
use crate::verifier::{Config, StartRequest, Verifier};
use crate::webhook::{Scheme, Secret};
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
    /// `memory`, or a Redis URL for the challenge store.
    pub store: String,
}

/// One endpoint's result.
#[derive(Clone, Debug)]
pub struct Row {
    pub endpoint: Endpoint,
    pub saturation: Option<f64>,
    pub offered: u64,
    pub achieved: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
}

const SECRET: &str = "bench-http-secret";

struct Target<V: Backend> {
    addr: String,
    app: Arc<App<V, SystemClock>>,
    secret: Secret,
    status_ids: Vec<String>,
    delivery: u64,
}

impl<V: Backend> Target<V> {
    /// A fresh challenge's code (the store is asked through `rt`, as a server would).
    fn challenge(&self, rt: &tokio::runtime::Runtime) -> Option<(String, String)> {
        let started =
            self.app
                .verifier
                .start(&StartRequest::default(), self.app.now(), &mut rand::rng());
        let s = rt.block_on(started).ok()?;
        let code = self.app.verifier.config().code.format(s.code).to_string();
        Some((s.id.encode(), code))
    }

    fn plan(
        &mut self,
        rt: &tokio::runtime::Runtime,
        endpoint: Endpoint,
        rate: u64,
        duration: Duration,
    ) -> Vec<Planned> {
        let n = (rate as f64 * duration.as_secs_f64()).round() as u64;
        let gap = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
        let now_s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()) as i64;
        (0..n)
            .map(|i| {
                let request: Vec<u8> = match endpoint {
                    Endpoint::Healthz => client::request("GET", "/healthz", &[], b""),
                    Endpoint::Start => client::request("POST", "/2fa/start", &[], b""),
                    Endpoint::Status => {
                        let id = &self.status_ids[i as usize % self.status_ids.len()];
                        client::request("GET", &format!("/2fa/status/{id}"), &[], b"")
                    }
                    Endpoint::Webhook => {
                        // A fresh challenge and a unique, signed delivery carrying its code.
                        let code = self
                            .challenge(rt)
                            .map_or_else(|| "ZZZZZZ".into(), |(_, code)| code);
                        self.delivery += 1;
                        let body = serde_json::json!({
                            "event": "message.received",
                            "message_id": format!("bench_{}", self.delivery),
                            "sender": "+15550100001",
                            "text": code,
                            "protocol": "imessage",
                        })
                        .to_string();
                        let sig = self.secret.sign_blooio(now_s, body.as_bytes());
                        client::request(
                            "POST",
                            "/webhook/blooio",
                            &[
                                ("Content-Type", "application/json"),
                                ("Blooio-Signature", &sig),
                            ],
                            body.as_bytes(),
                        )
                    }
                };
                Planned {
                    at: gap * i as u32,
                    endpoint: 0,
                    request: request.into(),
                }
            })
            .collect()
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
    Config(#[from] crate::verifier::ConfigError),
    #[error(transparent)]
    Secret(#[from] crate::webhook::SecretError),
    #[error("--store: {0}")]
    Store(String),
}

/// Runs the benchmark; returns one row per endpoint.
pub fn run(opts: &BenchOptions) -> Result<Vec<Row>, BenchError> {
    let secret = Secret::new(Scheme::Blooio, SECRET)?;
    let http = HttpConfig::new("verify@example.com", secret.clone());
    if opts.store == "memory" {
        let verifier = Verifier::in_memory(
            Config::default(),
            MemoryStoreConfig {
                max_pending: 4_000_000,
                ..MemoryStoreConfig::default()
            },
        )?;
        run_on(
            opts,
            secret,
            Arc::new(App::new(verifier, SystemClock, http)),
        )
    } else {
        let redis = RedisConfig {
            max_pending: 4_000_000,
            // This run's own keys; they expire with their challenges.
            prefix: format!("mo2fa-bench:{}:", std::process::id()),
            ..RedisConfig::new(&opts.store)
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
        run_with_server(opts, secret, app, server)
    }
}

fn run_on<V: Backend>(
    opts: &BenchOptions,
    secret: Secret,
    app: Arc<App<V, SystemClock>>,
) -> Result<Vec<Row>, BenchError> {
    let server = super::InProcess::start(app.clone())?;
    run_with_server(opts, secret, app, server)
}

fn run_with_server<V: Backend>(
    opts: &BenchOptions,
    secret: Secret,
    app: Arc<App<V, SystemClock>>,
    server: super::InProcess,
) -> Result<Vec<Row>, BenchError> {
    let addr = server.addr.clone();
    let load_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut target = Target {
        addr,
        app,
        secret,
        status_ids: Vec::new(),
        delivery: 0,
    };
    target.status_ids = (0..10_000)
        .filter_map(|_| target.challenge(&load_rt).map(|(id, _)| id))
        .collect();
    if target.status_ids.is_empty() {
        return Err(BenchError::Store("no challenge could be started".into()));
    }
    let mut rows = Vec::new();
    for &endpoint in &opts.endpoints {
        let step =
            |rate: u64, duration: Duration, target: &mut Target<V>| -> std::io::Result<Report> {
                let plan = target.plan(&load_rt, endpoint, rate, duration);
                load_rt.block_on(openloop::run(
                    &target.addr,
                    opts.connections,
                    &[endpoint.name()],
                    plan,
                    Duration::from_secs(1),
                ))
            };
        let (saturation, offered) = match opts.rate {
            Some(r) => (None, r),
            None => {
                let mut best = 0f64;
                let mut rate = 4_000u64;
                while rate <= opts.max_rate {
                    let r = step(rate, opts.step, &mut target)?;
                    let e = &r.endpoints[0];
                    let achieved =
                        e.ok as f64 / r.elapsed.as_secs_f64().max(opts.step.as_secs_f64());
                    best = best.max(achieved);
                    eprintln!(
                        "  {:8} offered {:>7}/s achieved {:>9.0}/s p99 {:>8.2} ms",
                        endpoint.name(),
                        rate,
                        achieved,
                        ms(&e.latency, 0.99)
                    );
                    if achieved < 0.9 * rate as f64 || ms(&e.latency, 0.99) > 50.0 {
                        break;
                    }
                    rate *= 2;
                }
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
        }
        rows.push(Row {
            endpoint,
            saturation,
            offered,
            achieved: e.ok as f64 / opts.measure.as_secs_f64(),
            p50_ms: ms(&e.latency, 0.5),
            p99_ms: ms(&e.latency, 0.99),
            p999_ms: ms(&e.latency, 0.999),
            max_ms: e.latency.max() as f64 / 1000.0,
            errors: e.errors + e.non_2xx,
        });
    }
    server.stop();
    Ok(rows)
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
    out
}
