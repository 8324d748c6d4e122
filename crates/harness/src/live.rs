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
//!
//! The replay also watches how far behind schedule it sends ([`Schedule`]). A request sent
//! late reaches a server whose clock has moved on by the lag times `speed`, and once that
//! shift is a sizeable part of the scenario's timing windows, answers move for that reason
//! alone. So when a request goes out later than its scheduled time by more than
//! [`Behind::budget`] (a quarter of the shortest timing window, in wall time at this speed,
//! and at least [`MIN_LAG_BUDGET`]), the replay says so at once and stops: the report covers
//! what was sent and names a speed the servers sustained.

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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// Steps sent (or answered without sending) before an interruption or a stop for falling
    /// behind (all of them otherwise).
    pub released: usize,
    pub steps: usize,
    /// The largest send lag behind schedule seen.
    pub max_lag: Duration,
    /// The lag the replay may reach before it stops.
    pub budget: Duration,
    /// Set when the replay fell behind schedule and stopped.
    pub behind: Option<Behind>,
}

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

    /// Why the replay cannot stand as a comparison, if it cannot: it fell behind schedule, or
    /// its verifications differ from the virtual run's. Interruptions are the caller's.
    pub fn problem(&self) -> Option<String> {
        if let Some(b) = &self.behind {
            return Some(b.short());
        }
        let (v, l) = self.verified();
        (v != l).then(|| {
            format!(
                "the live replay's verifications DIFFER from the virtual run's (virtual {v}, live {l}) \
                 although it kept to its schedule (largest lag {:.1} ms); live/live.md lists the answers \
                 that moved",
                self.max_lag.as_secs_f64() * 1000.0
            )
        })
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

/// The scenario's shortest timing window in virtual time (the challenge and SMS code TTLs,
/// the webhook signature tolerance), with its name.
fn shortest_window(sc: &Scenario) -> Result<(Duration, &'static str), mo2fa_sim::SimError> {
    let core = engine::core_config(sc)?;
    let mut windows = vec![
        (core.verifier.default_ttl_ms, "challenge TTL"),
        (TOLERANCE_S as u64 * 1000, "webhook signature tolerance"),
    ];
    if sc.flows.contains(&Flow::Sms) {
        windows.push((core.sms.ttl_ms, "SMS code TTL"));
    }
    let (ms, name) = windows
        .into_iter()
        .min_by_key(|w| w.0)
        .unwrap_or((300_000, "challenge TTL"));
    Ok((Duration::from_millis(ms), name))
}

/// Runs the live servers, replays `trace` on them and reports. `on_behind` is called at once
/// (from another thread) if the replay falls behind schedule; the replay then stops.
pub fn replay(
    sc: &Scenario,
    trace: Trace,
    opts: LiveOptions,
    interrupt: &AtomicBool,
    progress: &(dyn Fn(u64) + Sync),
    on_behind: &(dyn Fn(&Behind) + Sync),
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
    let window = shortest_window(sc)?;
    let (told, tell) = std::sync::mpsc::channel::<()>();
    let schedule = Arc::new(Schedule {
        budget: window.0.div_f64(4.0 * speed).max(MIN_LAG_BUDGET),
        window,
        speed,
        origin,
        // Requests per virtual second over the trace, to turn a throughput into a speed.
        trace_rate: steps as f64
            / (trace.steps.last().map_or(0, |s| s.at_ms) as f64 / 1000.0).max(1.0),
        max_lag_us: AtomicU64::new(0),
        completed: AtomicU64::new(0),
        behind: std::sync::OnceLock::new(),
        tell: parking_lot::Mutex::new(Some(told)),
    });
    let shared = Arc::new(Shared {
        pools: addrs.map(|a| a.map(|addr| Pool::new(addr, opts.connections, schedule.clone()))),
        schedule: schedule.clone(),
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
        // Says at once that the replay fell behind; ends when the sender is dropped.
        let watched = &schedule;
        scope.spawn(move || {
            if tell.recv().is_ok()
                && let Some(b) = watched.behind.get()
            {
                on_behind(b);
            }
        });
        let dispatcher = {
            let shared = shared.clone();
            scope.spawn(move || {
                openloop::precise_sleeps();
                let mut released = 0usize;
                for (i, step) in shared.trace.steps.iter().enumerate() {
                    let when = shared.wall(step.at_ms);
                    openloop::sleep_until(when);
                    if interrupt.load(Ordering::Relaxed)
                        || shared.schedule.stopped()
                        || release_tx.send((i, when)).is_err()
                    {
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
        let released = dispatcher.join().unwrap_or(0);
        // Ends the watcher if the replay kept up.
        schedule.tell.lock().take();
        (released, report)
    });
    let (released, (load, outcomes, unsent)) = released;
    for s in servers {
        s.stop();
    }
    Ok(LiveReport {
        load,
        outcomes,
        speed,
        released: released.saturating_sub(unsent),
        steps,
        max_lag: Duration::from_micros(schedule.max_lag_us.load(Ordering::Relaxed)),
        budget: schedule.budget,
        behind: schedule.behind.get().cloned(),
    })
}

/// How far behind schedule requests go out, and the stop when it is too far.
struct Schedule {
    /// The largest lag allowed.
    budget: Duration,
    window: (Duration, &'static str),
    speed: f64,
    origin: Instant,
    /// Trace requests per virtual second.
    trace_rate: f64,
    max_lag_us: AtomicU64,
    /// Requests answered so far.
    completed: AtomicU64,
    behind: std::sync::OnceLock<Behind>,
    /// Taken (and sent on) once: wakes the thread that reports falling behind.
    tell: parking_lot::Mutex<Option<std::sync::mpsc::Sender<()>>>,
}

impl Schedule {
    fn stopped(&self) -> bool {
        self.behind.get().is_some()
    }

    /// Notes that a request due at `due` goes out at `now`.
    fn sending(&self, due: Instant, now: Instant) {
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
fn suggest(sustained: f64, speed: f64) -> f64 {
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
    schedule: Arc<Schedule>,
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
    schedule: Arc<Schedule>,
}

/// One answer: status (`None` on a connection error), body, and the time from the send.
#[derive(Default)]
struct Answer {
    status: Option<u16>,
    body: Vec<u8>,
    service: Duration,
    /// False when nothing was sent: the replay had stopped, or the step was skipped.
    sent: bool,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

impl Pool {
    fn new(addr: String, connections: usize, schedule: Arc<Schedule>) -> Self {
        Self {
            addr,
            permits: Semaphore::new(connections.max(1)),
            idle: parking_lot::Mutex::new(Vec::new()),
            schedule,
        }
    }

    /// Sends `request`, due at `due`, unless the replay has stopped for falling behind.
    async fn send(&self, due: Instant, request: &[u8]) -> Answer {
        let Ok(_permit) = self.permits.acquire().await else {
            return Answer::default();
        };
        if self.schedule.stopped() {
            return Answer::default();
        }
        let sent = Instant::now();
        self.schedule.sending(due, sent);
        let mut answer = Answer {
            sent: true,
            ..Answer::default()
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
        self.schedule.completed.fetch_add(1, Ordering::Relaxed);
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

/// Replays what is released; returns the load report, the outcomes and the number of
/// released steps left unsent because the replay stopped for falling behind.
async fn drive(
    shared: Arc<Shared>,
    mut releases: tokio::sync::mpsc::UnboundedReceiver<(usize, Instant)>,
) -> (Report, Outcomes, usize) {
    // `None`: step `i` was not sent because the replay had stopped.
    type Done = (usize, Option<(Sample, String)>);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Done>();
    let collector = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let names: Vec<&str> = Endpoint::ALL.iter().map(|e| e.name()).collect();
            let mut recorder = Recorder::new(&names, Duration::from_secs(1));
            let mut outcomes = Outcomes::new();
            let mut unsent = 0;
            while let Some((i, done)) = done_rx.recv().await {
                let Some((sample, got)) = done else {
                    unsent += 1;
                    continue;
                };
                if got != SKIPPED {
                    recorder.record(&sample);
                }
                let step = &shared.trace.steps[i];
                *outcomes
                    .entry((step.action.endpoint(), step.expect, got))
                    .or_default() += 1;
            }
            (recorder, outcomes, unsent)
        })
    };
    while let Some((i, when)) = releases.recv().await {
        let shared = shared.clone();
        let done = done_tx.clone();
        tokio::spawn(async move {
            let (answer, got) = perform(&shared, i).await;
            if !answer.sent && shared.schedule.stopped() {
                let _ = done.send((i, None));
                return;
            }
            let finished = Instant::now();
            let sample = Sample {
                endpoint: endpoint_index(shared.trace.steps[i].action.endpoint()),
                scheduled: when.saturating_duration_since(shared.origin),
                finished: finished.saturating_duration_since(shared.origin),
                latency_us: finished.saturating_duration_since(when).as_micros() as u64,
                service_us: answer.service.as_micros() as u64,
                status: answer.status,
            };
            let _ = done.send((i, Some((sample, got))));
        });
    }
    // The dispatcher is done (or interrupted): nothing more will settle a key.
    shared.settle_all();
    drop(done_tx);
    let (recorder, outcomes, unsent) = collector.await.unwrap_or_else(|_| {
        (
            Recorder::new(&[], Duration::from_secs(1)),
            Outcomes::new(),
            0,
        )
    });
    (
        recorder.finish(Instant::now().saturating_duration_since(shared.origin)),
        outcomes,
        unsent,
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
    (Answer::default(), SKIPPED.into())
}

/// Sends step `i` (after what it depends on) and names the answer.
async fn perform(shared: &Shared, i: usize) -> (Answer, String) {
    let step = &shared.trace.steps[i];
    let due = shared.wall(step.at_ms);
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
                .send(
                    due,
                    &client::request(&pool.addr, "POST", "/2fa/start", headers, body.as_bytes()),
                )
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
            let a = pool.send(due, &request).await;
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
                .send(due, &signed(&pool.addr, &shared.forger, shared.shape, &m))
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
            let a = pool.send(due, &request).await;
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
                .send(due, &client::request(&pool.addr, "GET", &path, &[], b""))
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
            let a = pool
                .send(due, &post_json(&pool.addr, "/sms/start", &body))
                .await;
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
                .send(due, &client::request(&pool.addr, "GET", &outbox, &[], b""))
                .await;
            if read.status != Some(200) {
                let got = format!("outbox_{}", read.status.unwrap_or(0));
                return (read, got);
            }
            let code = read.json()["code"].as_str().unwrap_or_default().to_string();
            let body = serde_json::json!({ "phone": phone(*number), "code": code }).to_string();
            let mut a = pool
                .send(due, &post_json(&pool.addr, "/sms/check", &body))
                .await;
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
/// `latency.html` plotting them, an HdrHistogram interval log, throughput per second, and
/// `live.json` / `live.md`.
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
    let curves: Vec<openloop::Curve<'_>> = r
        .load
        .endpoints
        .iter()
        .map(|e| openloop::Curve {
            name: &e.name,
            latency: &e.latency,
            service: &e.service,
        })
        .collect();
    let (v, l) = r.verified();
    let subtitle = format!(
        "live replay at {}x: {} of {} steps; verified: virtual {v}, live {l} ({}){}",
        r.speed,
        r.released,
        r.steps,
        if v == l { "agree" } else { "DIFFER" },
        if r.behind.is_some() {
            "; fell behind schedule and stopped"
        } else {
            ""
        }
    );
    std::fs::write(
        dir.join("latency.html"),
        openloop::latency_html("mo2fa run --live", &subtitle, &curves),
    )?;
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
        "max_lag_ms": r.max_lag.as_secs_f64() * 1000.0,
        "lag_budget_ms": r.budget.as_secs_f64() * 1000.0,
        "behind": r.behind.as_ref().map(|b| serde_json::json!({
            "lag_s": b.lag.as_secs_f64(),
            "at_virtual_s": b.at_ms as f64 / 1000.0,
            "window": b.window.1,
            "window_s": b.window.0.as_secs_f64(),
            "sustained_speed": b.sustained,
            "suggested_speed": b.suggested_speed,
        })),
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
    let _ = writeln!(
        out,
        "\nlargest send lag behind schedule: {:.1} ms (limit {:.1} ms)",
        r.max_lag.as_secs_f64() * 1000.0,
        r.budget.as_secs_f64() * 1000.0
    );
    if let Some(b) = &r.behind {
        let _ = writeln!(out, "\nFELL BEHIND: {b}");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggested_speeds_are_round_and_below_what_was_sustained() {
        assert_eq!(suggest(3_158.0, 5_000.0), 1_000.0);
        assert_eq!(suggest(600.0, 1e9), 200.0);
        assert_eq!(suggest(1e6, 400.0), 200.0);
        assert_eq!(suggest(10.0, 1e9), 5.0);
        assert_eq!(suggest(0.5, 100.0), 0.2);
        assert_eq!(suggest(0.0, 100.0), 0.001);
    }

    fn report(outcomes: &[(&'static str, &str, u64)], behind: Option<Behind>) -> LiveReport {
        LiveReport {
            load: Recorder::new(&[], Duration::from_secs(1)).finish(Duration::from_secs(1)),
            outcomes: outcomes
                .iter()
                .map(|&(expect, got, n)| ((Endpoint::Webhook, expect, got.to_string()), n))
                .collect(),
            speed: 5000.0,
            released: 10,
            steps: 10,
            max_lag: Duration::from_millis(3),
            budget: MIN_LAG_BUDGET,
            behind,
        }
    }

    #[test]
    fn differing_verifications_or_falling_behind_fail_the_replay() {
        // Answers that trade places without changing the totals still stand.
        let swapped = report(
            &[("verified", "duplicate", 1), ("duplicate", "verified", 1)],
            None,
        );
        assert_eq!(swapped.problem(), None);
        let lost = report(
            &[("verified", "verified", 7), ("verified", "http_503", 2)],
            None,
        );
        let p = lost.problem().unwrap();
        assert!(
            p.contains("DIFFER") && p.contains("virtual 9, live 7"),
            "{p}"
        );
        let behind = Behind {
            lag: Duration::from_millis(4200),
            budget: Duration::from_millis(20),
            window: (Duration::from_secs(300), "challenge TTL"),
            at_ms: 36_000_000,
            speed: 5000.0,
            sustained: 3158.0,
            suggested_speed: suggest(3158.0, 5000.0),
        };
        let p = report(&[("verified", "verified", 9)], Some(behind.clone()))
            .problem()
            .unwrap();
        assert_eq!(
            p,
            "the live replay fell 4.2 s behind schedule at 5000x; try --speed 1000"
        );
        let long = behind.to_string();
        assert!(
            long.contains("challenge TTL, 300 s") && long.contains("20 ms"),
            "{long}"
        );
    }
}
