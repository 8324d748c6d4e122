//! `mo2fa run --live`: replays a virtual run's requests against real HTTP servers.
//!
//! The virtual run records a [`Trace`]: every request a deployment would have served, at its
//! virtual time, with the answer the core gave. Here each simulated company gets a real
//! in-process server on 127.0.0.1 (port 0) whose clock is the virtual clock sped up by
//! `speed`, and every step is released at `at / speed` of wall time whatever the servers are
//! doing (open loop). Latency is measured from that scheduled time, so a stalled server is
//! charged for every request scheduled during the stall (no coordinated omission), including
//! any wait for an answer the step depends on (a webhook needs the code its start got back).
//!
//! Every live answer is compared with the recorded virtual one. When the servers keep up,
//! the verified counts must agree; where they don't, the table says which answers moved.

use crate::InProcess;
use crate::client::{self, Conn};
use crate::openloop::{self, Recorder, Report, Sample};
use mo2fa_core::clock::ScaledClock;
use mo2fa_core::sms_otp::SmsOtp;
use mo2fa_core::verifier::Verifier;
use mo2fa_core::webhook::{Inbound, PayloadShape, Scheme, Secret};
use mo2fa_server::http::{App, HttpConfig};
use mo2fa_server::redis::{RedisConfig, RedisStoreError, RedisVerifier};
use mo2fa_server::sms_gateway::SmsGateway;
use mo2fa_sim::engine::{self, FORGER_SECRET, SIM_SECRET, TOLERANCE_S};
use mo2fa_sim::scenario::{Flow, Scenario};
use mo2fa_sim::trace::{self, Action, Endpoint, Text, Trace};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SetOnce};

#[derive(Clone, Copy, Debug)]
pub struct LiveOptions {
    /// Virtual seconds per wall second.
    pub speed: f64,
    /// Keep-alive connections per server.
    pub connections: usize,
    /// The body shape of deliveries; `None`: the scenario's `emitter.shape`.
    pub shape: Option<PayloadShape>,
}

/// What the live replay saw.
pub struct LiveReport {
    /// Per endpoint, in [`Endpoint::ALL`] order; throughput per wall second.
    pub load: Report,
    /// (endpoint, virtual answer, live answer) → count.
    pub outcomes: BTreeMap<(Endpoint, &'static str, String), u64>,
    pub speed: f64,
    /// Steps released before an interruption (all of them otherwise).
    pub released: usize,
    pub steps: usize,
}

impl LiveReport {
    /// Verifications (webhooks and SMS checks answered `verified`): (virtual, live).
    pub fn verified(&self) -> (u64, u64) {
        let mut v = (0, 0);
        for ((ep, expect, got), n) in &self.outcomes {
            if matches!(ep, Endpoint::Webhook | Endpoint::SmsCheck) {
                v.0 += n * u64::from(*expect == "verified");
                v.1 += n * u64::from(got == "verified");
            }
        }
        v
    }

    /// Steps whose live answer equals the virtual one, and all steps answered.
    pub fn agreement(&self) -> (u64, u64) {
        self.outcomes
            .iter()
            .fold((0, 0), |(same, all), ((_, expect, got), n)| {
                (same + n * u64::from(expect == got), all + n)
            })
    }
}

/// Runs the live servers, replays `trace` on them and reports.
pub fn replay(
    sc: &Scenario,
    trace: Trace,
    opts: LiveOptions,
    interrupt: &AtomicBool,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<LiveReport, mo2fa_sim::SimError> {
    let speed = opts.speed;
    if !(speed.is_finite() && speed > 0.0) {
        return Err(mo2fa_sim::SimError::Config(format!(
            "--speed must be a positive number, got {speed}"
        )));
    }
    if trace.truncated {
        return Err(mo2fa_sim::SimError::Config(format!(
            "the scenario makes more than {} requests, too many to replay live; shorten it with --duration",
            trace.steps.len()
        )));
    }
    // The servers' clocks start a little ahead of the first release, so both sides agree on
    // time zero however long the servers take to come up.
    let origin = Instant::now() + Duration::from_millis(200);
    // Virtual time zero is now: a Redis store sets its expiry times from this clock.
    let clock = ScaledClock {
        origin,
        at_origin: mo2fa_core::clock::Clock::now_ms(&mo2fa_core::clock::SystemClock),
        speed,
    };
    let mut servers = Vec::new();
    let mut addrs = [None, None];
    for (i, flow) in [Flow::Sms, Flow::Reverse].into_iter().enumerate() {
        if !sc.flows.contains(&flow) {
            continue;
        }
        let server = start_server(sc, clock, flow)?;
        addrs[i] = Some(server.addr.clone());
        servers.push(server);
    }
    let steps = trace.steps.len();
    let shared = Arc::new(Shared {
        pools: addrs.map(|a| a.map(|addr| Pool::new(addr, opts.connections))),
        keys: (0..trace.keys).map(|_| SetOnce::new()).collect(),
        delivered: (0..=trace.messages).map(|_| SetOnce::new()).collect(),
        captured: parking_lot::Mutex::new(rustc_hash::FxHashMap::default()),
        capture: trace
            .steps
            .iter()
            .any(|s| matches!(s.action, Action::Replay { .. })),
        secret: Secret::new(Scheme::Blooio, SIM_SECRET)
            .map_err(|e| mo2fa_sim::SimError::Config(e.to_string()))?,
        forger: Secret::new(Scheme::Blooio, FORGER_SECRET)
            .map_err(|e| mo2fa_sim::SimError::Config(e.to_string()))?,
        shape: opts.shape.unwrap_or(sc.emitter.shape),
        trace,
        origin,
        at_origin: clock.at_origin,
        speed,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (release_tx, release_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let released = std::thread::scope(|scope| {
        let dispatcher = {
            let shared = shared.clone();
            scope.spawn(move || {
                openloop::precise_sleeps();
                let mut released = 0;
                for (i, step) in shared.trace.steps.iter().enumerate() {
                    let when = shared.wall(step.at_ms);
                    openloop::sleep_until(when);
                    if interrupt.load(Ordering::Relaxed) || release_tx.send((i, when)).is_err() {
                        break;
                    }
                    released += 1;
                    if i % 1024 == 0 {
                        progress(step.at_ms);
                    }
                }
                released
            })
        };
        let report = runtime.block_on(drive(shared.clone(), release_rx));
        (dispatcher.join().unwrap_or(0), report)
    });
    let (released, (load, outcomes)) = released;
    for s in servers {
        s.stop();
    }
    Ok(LiveReport {
        load,
        outcomes,
        speed,
        released,
        steps,
    })
}

fn start_server(
    sc: &Scenario,
    clock: ScaledClock,
    world: Flow,
) -> Result<InProcess, mo2fa_sim::SimError> {
    let core = engine::core_config(sc)?;
    let config = |e: &dyn std::fmt::Display| mo2fa_sim::SimError::Config(e.to_string());
    let secret = Secret::new(Scheme::Blooio, SIM_SECRET).map_err(|e| config(&e))?;
    let mut http = HttpConfig::new("verify@example.com", secret);
    http.tolerance_secs = TOLERANCE_S;
    // Sweep once a virtual second, as the virtual run does.
    http.sweep_interval = Duration::from_secs_f64((1.0 / clock.speed).max(0.001));
    // The replayer plays every handset, so it reads texted codes from the outbox.
    http.sms_outbox = true;
    let sms = SmsGateway::with_otp(SmsOtp::new(core.sms).map_err(|e| config(&e))?, true);
    let url = sc.store.as_ref().map_or("memory", |s| s.url.as_str());
    let started = if url == "memory" {
        let verifier = Verifier::in_memory(core.verifier, core.store).map_err(|e| config(&e))?;
        let mut app = App::new(verifier, clock, http);
        app.sms = sms;
        InProcess::start(Arc::new(app))
    } else {
        // A prefix of this run's own, per company: old runs' keys just expire.
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let redis = RedisConfig {
            prefix: format!("mo2fa-live:{stamp}:{world:?}:"),
            max_pending: core.store.max_pending,
            retention_ms: core.store.retention_ms,
            ..RedisConfig::new(url)
        };
        InProcess::start_with(|| {
            let verifier = RedisVerifier::new(core.verifier, redis)?;
            let mut app = App::new(verifier, clock, http);
            app.sms = sms;
            Ok::<_, RedisStoreError>(Arc::new(app))
        })
    };
    Ok(started?)
}

/// What a started challenge (or a sent SMS code) gave back.
struct Issued {
    id: String,
    code: String,
}

struct Shared {
    trace: Trace,
    /// By world: sms, reverse.
    pools: [Option<Pool>; 2],
    /// Set once the step creating the key has its answer (`None`: it failed).
    keys: Vec<SetOnce<Option<Issued>>>,
    /// Set once delivery `msg` has its answer.
    delivered: Vec<SetOnce<()>>,
    /// Request bytes of genuine deliveries, for replay attacks.
    captured: parking_lot::Mutex<rustc_hash::FxHashMap<u32, Arc<[u8]>>>,
    capture: bool,
    secret: Secret,
    forger: Secret,
    shape: PayloadShape,
    origin: Instant,
    /// The servers' clock reading at `origin`.
    at_origin: u64,
    speed: f64,
}

impl Shared {
    fn wall(&self, at_ms: u64) -> Instant {
        self.origin + Duration::from_secs_f64(at_ms as f64 / 1000.0 / self.speed)
    }

    fn pool(&self, world: Flow) -> Option<&Pool> {
        self.pools[usize::from(world == Flow::Reverse)].as_ref()
    }

    async fn issued(&self, key: u32) -> Option<&Issued> {
        self.keys.get(key as usize)?.wait().await.as_ref()
    }

    fn settle(&self, key: Option<u32>, issued: Option<Issued>) {
        if let Some(cell) = key.and_then(|k| self.keys.get(k as usize)) {
            let _ = cell.set(issued);
        }
    }

    /// Wakes everything still waiting after an interruption.
    fn settle_all(&self) {
        for k in &self.keys {
            let _ = k.set(None);
        }
        for d in &self.delivered {
            let _ = d.set(());
        }
    }
}

/// Keep-alive connections to one server, opened as needed up to a fixed number.
struct Pool {
    addr: String,
    permits: Semaphore,
    idle: parking_lot::Mutex<Vec<Conn>>,
}

/// One answer: status (`None` on a connection error), body, and the time from the send.
struct Answer {
    status: Option<u16>,
    body: Vec<u8>,
    service: Duration,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

impl Pool {
    fn new(addr: String, connections: usize) -> Self {
        Self {
            addr,
            permits: Semaphore::new(connections.max(1)),
            idle: parking_lot::Mutex::new(Vec::new()),
        }
    }

    async fn send(&self, request: &[u8]) -> Answer {
        let Ok(_permit) = self.permits.acquire().await else {
            return Answer {
                status: None,
                body: Vec::new(),
                service: Duration::ZERO,
            };
        };
        let sent = Instant::now();
        let mut answer = Answer {
            status: None,
            body: Vec::new(),
            service: Duration::ZERO,
        };
        // An idle connection may have been closed by the server (its header-read timeout also
        // covers idle keep-alive time) before it read anything: one retry on a fresh one.
        for attempt in 0..2 {
            let idle = if attempt == 0 {
                self.idle.lock().pop()
            } else {
                None
            };
            let reused = idle.is_some();
            let conn = match idle {
                Some(c) => Ok(c),
                None => Conn::connect(&self.addr).await,
            };
            let Ok(mut conn) = conn else { break };
            match conn.send(request).await {
                Ok(status) => {
                    answer.status = Some(status);
                    answer.body = conn.body().to_vec();
                    self.idle.lock().push(conn);
                    break;
                }
                Err(e) if reused && closed(&e) => continue,
                Err(_) => break,
            }
        }
        answer.service = sent.elapsed();
        answer
    }
}

fn closed(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), UnexpectedEof | ConnectionReset | BrokenPipe)
}

type Outcomes = BTreeMap<(Endpoint, &'static str, String), u64>;

fn endpoint_index(e: Endpoint) -> usize {
    Endpoint::ALL.iter().position(|x| *x == e).unwrap_or(0)
}

async fn drive(
    shared: Arc<Shared>,
    mut releases: tokio::sync::mpsc::UnboundedReceiver<(usize, Instant)>,
) -> (Report, Outcomes) {
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Sample, String)>();
    let collector = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let names: Vec<&str> = Endpoint::ALL.iter().map(|e| e.name()).collect();
            let mut recorder = Recorder::new(&names, Duration::from_secs(1));
            let mut outcomes = Outcomes::new();
            while let Some((i, sample, got)) = done_rx.recv().await {
                if got != SKIPPED {
                    recorder.record(&sample);
                }
                let step = &shared.trace.steps[i];
                *outcomes
                    .entry((step.action.endpoint(), step.expect, got))
                    .or_default() += 1;
            }
            (recorder, outcomes)
        })
    };
    while let Some((i, when)) = releases.recv().await {
        let shared = shared.clone();
        let done = done_tx.clone();
        tokio::spawn(async move {
            let (answer, got) = perform(&shared, i).await;
            let finished = Instant::now();
            let sample = Sample {
                endpoint: endpoint_index(shared.trace.steps[i].action.endpoint()),
                scheduled: when.saturating_duration_since(shared.origin),
                finished: finished.saturating_duration_since(shared.origin),
                latency_us: finished.saturating_duration_since(when).as_micros() as u64,
                service_us: answer.service.as_micros() as u64,
                status: answer.status,
            };
            let _ = done.send((i, sample, got));
        });
    }
    // The dispatcher is done (or interrupted): nothing more will settle a key.
    shared.settle_all();
    drop(done_tx);
    let (recorder, outcomes) = collector
        .await
        .unwrap_or_else(|_| (Recorder::new(&[], Duration::from_secs(1)), Outcomes::new()));
    (
        recorder.finish(Instant::now().saturating_duration_since(shared.origin)),
        outcomes,
    )
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn phone(number: u64) -> String {
    format!("+{number}")
}

/// Classifies a webhook answer like the virtual run names its outcomes.
fn webhook_result(a: &Answer) -> String {
    match a.status {
        Some(200) => {
            let v = a.json();
            if v["duplicate"] == true {
                "duplicate".into()
            } else {
                v["result"].as_str().unwrap_or("unreadable").to_string()
            }
        }
        Some(401) => "rejected".into(),
        Some(s) => format!("http_{s}"),
        None => "connection_error".into(),
    }
}

/// The answer of a step that could not be sent: what it depends on failed, or its server is
/// not running. Not a latency sample.
const SKIPPED: &str = "skipped";

fn skipped() -> (Answer, String) {
    (
        Answer {
            status: None,
            body: Vec::new(),
            service: Duration::ZERO,
        },
        SKIPPED.into(),
    )
}

/// Sends step `i` (after what it depends on) and names the answer.
async fn perform(shared: &Shared, i: usize) -> (Answer, String) {
    let step = &shared.trace.steps[i];
    let reverse = shared.pool(Flow::Reverse);
    match &step.action {
        Action::Start {
            key,
            expected_sender,
        } => {
            let Some(pool) = reverse else {
                return skipped();
            };
            let body = expected_sender
                .map(|n| serde_json::json!({ "expected_sender": phone(n) }).to_string())
                .unwrap_or_default();
            let headers: &[(&str, &str)] = if body.is_empty() { &[] } else { &[JSON] };
            let a = pool
                .send(&client::request(
                    &pool.addr,
                    "POST",
                    "/2fa/start",
                    headers,
                    body.as_bytes(),
                ))
                .await;
            let issued = (a.status == Some(201)).then(|| {
                let v = a.json();
                Issued {
                    id: v["id"].as_str().unwrap_or_default().to_string(),
                    code: v["code"].as_str().unwrap_or_default().to_string(),
                }
            });
            shared.settle(*key, issued);
            let got = match a.status {
                Some(201) => "created".to_string(),
                Some(503) => "refused".to_string(),
                Some(s) => format!("http_{s}"),
                None => "connection_error".to_string(),
            };
            (a, got)
        }
        Action::Webhook {
            msg,
            sender,
            text,
            protocol,
        } => {
            let Some(pool) = reverse else {
                return skipped();
            };
            let text = match text {
                Text::Code(k) | Text::Typo(k) => match shared.issued(*k).await {
                    Some(issued) if matches!(text, Text::Typo(_)) => trace::typo(&issued.code),
                    Some(issued) => issued.code.clone(),
                    None => {
                        let _ = shared.delivered[*msg as usize].set(());
                        return skipped();
                    }
                },
                Text::Literal(t) => t.to_string(),
            };
            let (id, sender) = (format!("m{msg}"), phone(*sender));
            let m = Inbound {
                message_id: &id,
                sender: &sender,
                text: &text,
                protocol,
                received_at_ms: shared.at_origin + step.at_ms,
            };
            let request = signed(&pool.addr, &shared.secret, shared.shape, &m);
            if shared.capture {
                shared
                    .captured
                    .lock()
                    .entry(*msg)
                    .or_insert_with(|| request.clone().into());
            }
            let a = pool.send(&request).await;
            if let Some(d) = shared.delivered.get(*msg as usize) {
                let _ = d.set(());
            }
            let got = webhook_result(&a);
            (a, got)
        }
        Action::Forged { n, code } => {
            let Some(pool) = reverse else {
                return skipped();
            };
            let id = format!("forged{n}");
            let m = Inbound {
                message_id: &id,
                sender: "+15550000000",
                text: code.as_ref(),
                protocol: "imessage",
                received_at_ms: shared.at_origin + step.at_ms,
            };
            let a = pool
                .send(&signed(&pool.addr, &shared.forger, shared.shape, &m))
                .await;
            let got = match webhook_result(&a).as_str() {
                "rejected" => "rejected".to_string(),
                "connection_error" => "connection_error".to_string(),
                _ => "accepted".to_string(),
            };
            (a, got)
        }
        Action::Replay { msg } => {
            let Some(pool) = reverse else {
                return skipped();
            };
            if let Some(d) = shared.delivered.get(*msg as usize) {
                d.wait().await;
            }
            let request = shared.captured.lock().get(msg).cloned();
            let Some(request) = request else {
                return skipped();
            };
            let a = pool.send(&request).await;
            let got = webhook_result(&a);
            (a, got)
        }
        Action::Poll { key, after } => {
            let Some(pool) = reverse else {
                return skipped();
            };
            if let Some(d) = shared.delivered.get(*after as usize) {
                d.wait().await;
            }
            let Some(issued) = shared.issued(*key).await else {
                return skipped();
            };
            let path = format!("/2fa/status/{}", issued.id);
            let a = pool
                .send(&client::request(&pool.addr, "GET", &path, &[], b""))
                .await;
            let got = match a.status {
                Some(200) => a.json()["status"]
                    .as_str()
                    .unwrap_or("unreadable")
                    .to_string(),
                Some(404) => "unknown".to_string(),
                Some(s) => format!("http_{s}"),
                None => "connection_error".to_string(),
            };
            (a, got)
        }
        Action::SmsStart {
            world,
            key,
            number,
            country,
        } => {
            let Some(pool) = shared.pool(*world) else {
                return skipped();
            };
            let iso = shared.trace.countries.get(usize::from(*country));
            let body = serde_json::json!({ "phone": phone(*number), "country": iso }).to_string();
            let a = pool.send(&post_json(&pool.addr, "/sms/start", &body)).await;
            let ok = a.status == Some(202);
            shared.settle(
                *key,
                ok.then(|| Issued {
                    id: String::new(),
                    code: String::new(),
                }),
            );
            let got = match a.status {
                Some(202) => "sent".to_string(),
                Some(s) => format!("http_{s}"),
                None => "connection_error".to_string(),
            };
            (a, got)
        }
        Action::SmsRead { world, key, number } => {
            let Some(pool) = shared.pool(*world) else {
                return skipped();
            };
            if shared.issued(*key).await.is_none() {
                return skipped();
            }
            // The handset: read the texted code, then type it in.
            let outbox = format!("/sms/outbox/%2B{number}");
            let read = pool
                .send(&client::request(&pool.addr, "GET", &outbox, &[], b""))
                .await;
            if read.status != Some(200) {
                let got = format!("outbox_{}", read.status.unwrap_or(0));
                return (read, got);
            }
            let code = read.json()["code"].as_str().unwrap_or_default().to_string();
            let body = serde_json::json!({ "phone": phone(*number), "code": code }).to_string();
            let mut a = pool.send(&post_json(&pool.addr, "/sms/check", &body)).await;
            a.service += read.service;
            let got = match a.status {
                Some(200) => a.json()["result"]
                    .as_str()
                    .unwrap_or("unreadable")
                    .to_string(),
                Some(s) => format!("http_{s}"),
                None => "connection_error".to_string(),
            };
            (a, got)
        }
    }
}

fn post_json(host: &str, path: &str, body: &str) -> Vec<u8> {
    client::request(host, "POST", path, &[JSON], body.as_bytes())
}

/// A delivery of `m` signed by `secret` at the server time it was received.
fn signed(host: &str, secret: &Secret, shape: PayloadShape, m: &Inbound<'_>) -> Vec<u8> {
    client::delivery(host, secret, shape, m, (m.received_at_ms / 1000) as i64)
}

/// Writes `live/`: per-endpoint `.hgrm` tables (from the scheduled time, and service time),
/// an HdrHistogram interval log, throughput per second, and `live.json` / `live.md`.
pub fn write(dir: &std::path::Path, r: &LiveReport) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for e in r.load.endpoints.iter().filter(|e| !e.latency.is_empty()) {
        std::fs::write(
            dir.join(format!("{}.hgrm", e.name)),
            openloop::hgrm(&e.latency),
        )?;
        std::fs::write(
            dir.join(format!("{}.service.hgrm", e.name)),
            openloop::hgrm(&e.service),
        )?;
    }
    std::fs::write(dir.join("latency.hlog"), openloop::interval_log(&r.load)?)?;
    let mut csv = String::from("second,completed\n");
    for (i, n) in r.load.throughput.iter().enumerate() {
        csv.push_str(&format!("{i},{n}\n"));
    }
    std::fs::write(dir.join("throughput.csv"), csv)?;
    let json = serde_json::to_string_pretty(&summary_json(r)).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("live.json"), json + "\n")?;
    std::fs::write(dir.join("live.md"), table(r))
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn summary_json(r: &LiveReport) -> serde_json::Value {
    let (v, l) = r.verified();
    let (same, all) = r.agreement();
    let endpoints: Vec<_> = r
        .load
        .endpoints
        .iter()
        .map(|e| {
            let q = |p: f64| ms(e.latency.value_at_quantile(p));
            serde_json::json!({
                "endpoint": e.name, "ok": e.ok, "non_2xx": e.non_2xx, "errors": e.errors,
                "p50_ms": q(0.5), "p99_ms": q(0.99), "p999_ms": q(0.999), "max_ms": ms(e.latency.max()),
                "service_p99_ms": ms(e.service.value_at_quantile(0.99)),
            })
        })
        .collect();
    let outcomes: Vec<_> = r
        .outcomes
        .iter()
        .map(|((ep, expect, got), n)| {
            serde_json::json!({"endpoint": ep.name(), "virtual": expect, "live": got, "count": n})
        })
        .collect();
    serde_json::json!({
        "speed": r.speed,
        "steps": r.steps,
        "released": r.released,
        "elapsed_s": r.load.elapsed.as_secs_f64(),
        "verified": {"virtual": v, "live": l, "agree": v == l},
        "answers_agreeing": same,
        "answers": all,
        "endpoints": endpoints,
        "outcomes": outcomes,
    })
}

/// The human summary: latency per endpoint, then every answer that moved.
pub fn table(r: &LiveReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let elapsed = r.load.elapsed.as_secs_f64().max(1e-9);
    let _ = writeln!(
        out,
        "live replay at {}x: {} of {} steps in {:.1} s ({:.0} requests/s)\n",
        r.speed,
        r.released,
        r.steps,
        elapsed,
        r.load.completed() as f64 / elapsed
    );
    let _ = writeln!(
        out,
        "| endpoint | requests | non-2xx | errors | p50 ms | p99 ms | p99.9 ms | max ms |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for e in r
        .load
        .endpoints
        .iter()
        .filter(|e| e.ok + e.non_2xx + e.errors > 0)
    {
        let q = |p: f64| ms(e.latency.value_at_quantile(p));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
            e.name,
            e.ok + e.non_2xx + e.errors,
            e.non_2xx,
            e.errors,
            q(0.5),
            q(0.99),
            q(0.999),
            ms(e.latency.max())
        );
    }
    let (v, l) = r.verified();
    let (same, all) = r.agreement();
    let _ = writeln!(
        out,
        "\nlatency is measured from each request's scheduled time (open loop).\n\nverified: virtual {v}, live {l} ({})\nanswers agreeing with the virtual run: {same} of {all}",
        if v == l { "agree" } else { "DIFFER" }
    );
    let moved: Vec<_> = r.outcomes.iter().filter(|((_, e, g), _)| e != g).collect();
    if !moved.is_empty() {
        let _ = writeln!(
            out,
            "\n| endpoint | virtual | live | count |\n|---|---|---|---:|"
        );
        for ((ep, expect, got), n) in moved {
            let _ = writeln!(out, "| {} | {expect} | {got} | {n} |", ep.name());
        }
    }
    out
}
