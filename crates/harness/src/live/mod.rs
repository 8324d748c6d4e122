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

mod agree;
mod foreign;
mod order;
mod report;
mod schedule;
mod send;

pub use agree::{Outcomes, UNOBSERVED};
pub use foreign::Foreign;
pub use report::{table, write};
pub use schedule::{Behind, MIN_LAG_BUDGET};

use crate::error::HarnessError;
use crate::openloop::Report;
use crate::pace;
use crate::server::{self, InProcess, JustTheServer, ServerSpec, StoreUrl};
use mo2fa_core::clock::ScaledClock;
use mo2fa_core::sms_otp::SmsOtp;
use mo2fa_core::webhook::{PayloadShape, Scheme, Secret};
use mo2fa_server::http::HttpConfig;
use mo2fa_server::sms_gateway::SmsGateway;
use mo2fa_sim::engine::{self, FORGER_SECRET, SIM_SECRET, TOLERANCE_S};
use mo2fa_sim::scenario::{Flow, Scenario};
use mo2fa_sim::trace::{Action, Trace};
use schedule::Schedule;
use send::{Pool, Shared};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::SetOnce;

pub struct LiveOptions {
    /// Virtual seconds per wall second.
    pub speed: f64,
    /// Keep-alive connections per server.
    pub connections: usize,
    /// The body shape of deliveries; `None`: the scenario's `emitter.shape`.
    pub shape: Option<PayloadShape>,
    /// The reverse flow's steps go to this running verifier (`host:port`) through its
    /// profile instead of an in-process server; the SMS flow is then not replayed.
    pub target: Option<(String, Foreign)>,
}

/// What the live replay saw.
pub struct LiveReport {
    /// Per endpoint, in [`Endpoint::ALL`](mo2fa_sim::trace::Endpoint::ALL) order; throughput
    /// per wall second.
    pub load: Report,
    /// (endpoint, virtual answer, live answer) → count.
    pub outcomes: Outcomes,
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
    /// `http://host:port (profile NAME)` when the reverse flow went to a `--target`.
    pub target: Option<String>,
    /// What could not be compared against the target, one sentence each.
    pub unobservable: Vec<String>,
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
) -> Result<LiveReport, HarnessError> {
    let speed = opts.speed;
    if !(speed.is_finite() && speed > 0.0) {
        return Err(HarnessError::Speed(speed));
    }
    if trace.truncated {
        return Err(HarnessError::TraceTooLong(trace.steps.len()));
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
    let (mut target, mut unobservable) = (None, Vec::new());
    if let Some((addr, foreign)) = &opts.target {
        target = Some(format!("http://{addr} (profile {})", foreign.profile.name));
        unobservable = foreign.unobservable();
        if sc.run.flows.contains(&Flow::Sms) {
            unobservable
                .push("the SMS flow: it is mo2fa's own API, not replayed on a --target".into());
        }
        if sc.run.flows.contains(&Flow::Reverse) {
            addrs[1] = Some(addr.clone());
        }
    } else {
        for (i, flow) in [Flow::Sms, Flow::Reverse].into_iter().enumerate() {
            if sc.run.flows.contains(&flow) {
                let server = start_server(sc, clock, flow)?;
                addrs[i] = Some(server.addr.clone());
                servers.push(server);
            }
        }
    }
    let steps = trace.steps.len();
    let (told, tell) = std::sync::mpsc::channel::<()>();
    let schedule = Arc::new(schedule_for(sc, &trace, origin, speed, told)?);
    let shared = Arc::new(shared(sc, trace, opts, addrs, &schedule, clock)?);
    let (released, (load, outcomes, unsent)) =
        dispatch(&shared, &schedule, tell, interrupt, progress, on_behind)?;
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
        target,
        unobservable,
    })
}

/// The schedule `trace` is sent on, and its lag budget.
fn schedule_for(
    sc: &Scenario,
    trace: &Trace,
    origin: Instant,
    speed: f64,
    told: std::sync::mpsc::Sender<()>,
) -> Result<Schedule, HarnessError> {
    let window = schedule::shortest_window(sc)?;
    Ok(Schedule {
        budget: window.0.div_f64(4.0 * speed).max(MIN_LAG_BUDGET),
        window,
        speed,
        origin,
        // Requests per virtual second over the trace, to turn a throughput into a speed.
        trace_rate: trace.steps.len() as f64
            / (trace.steps.last().map_or(0, |s| s.at_ms) as f64 / 1000.0).max(1.0),
        max_lag_us: AtomicU64::new(0),
        completed: AtomicU64::new(0),
        behind: std::sync::OnceLock::new(),
        tell: parking_lot::Mutex::new(Some(told)),
    })
}

/// What the sending tasks share: the pools to each server, and the trace's cells.
fn shared(
    sc: &Scenario,
    trace: Trace,
    opts: LiveOptions,
    addrs: [Option<String>; 2],
    schedule: &Arc<Schedule>,
    clock: ScaledClock,
) -> Result<Shared, HarnessError> {
    Ok(Shared {
        pools: addrs.map(|a| a.map(|addr| Pool::new(addr, opts.connections, schedule.clone()))),
        schedule: schedule.clone(),
        keys: (0..trace.keys).map(|_| SetOnce::new()).collect(),
        delivered: (0..=trace.messages).map(|_| SetOnce::new()).collect(),
        predecessors: order::predecessors(&trace),
        answered: (0..trace.steps.len()).map(|_| SetOnce::new()).collect(),
        captured: parking_lot::Mutex::new(rustc_hash::FxHashMap::default()),
        capture: trace
            .steps
            .iter()
            .any(|s| matches!(s.action, Action::Replay { .. })),
        secret: Secret::new(Scheme::Blooio, SIM_SECRET)?,
        forger: Secret::new(Scheme::Blooio, FORGER_SECRET)?,
        shape: opts.shape.unwrap_or(sc.emitter.shape),
        foreign: opts.target.map(|(_, f)| f),
        trace,
        origin: clock.origin,
        at_origin: clock.at_origin,
        speed: clock.speed,
    })
}

/// Releases every step at its time on this thread's helper while the sending tasks run;
/// returns the steps released and what [`send::drive`] collected.
fn dispatch(
    shared: &Arc<Shared>,
    schedule: &Arc<Schedule>,
    tell: std::sync::mpsc::Receiver<()>,
    interrupt: &AtomicBool,
    progress: &(dyn Fn(u64) + Sync),
    on_behind: &(dyn Fn(&Behind) + Sync),
) -> Result<(usize, (Report, Outcomes, usize)), HarnessError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (release_tx, release_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    Ok(std::thread::scope(|scope| {
        // Says at once that the replay fell behind; ends when the sender is dropped.
        scope.spawn(move || {
            if tell.recv().is_ok()
                && let Some(b) = schedule.behind.get()
            {
                on_behind(b);
            }
        });
        let dispatcher = scope.spawn(move || {
            pace::precise_sleeps();
            let mut released = 0usize;
            for (i, step) in shared.trace.steps.iter().enumerate() {
                let when = shared.wall(step.at_ms);
                pace::sleep_until(when);
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
        });
        let report = runtime.block_on(send::drive(shared.clone(), release_rx));
        let released = dispatcher.join().unwrap_or(0);
        // Ends the watcher if the replay kept up.
        schedule.tell.lock().take();
        (released, report)
    }))
}

/// One company's server: the scenario's core on the sped-up clock, answering `/sms/*` too.
fn start_server(sc: &Scenario, clock: ScaledClock, world: Flow) -> Result<InProcess, HarnessError> {
    let core = engine::core_config(sc)?;
    let url = sc.run.store.as_ref().map_or("memory", |s| s.url.as_str());
    let mut http = HttpConfig::new(
        "verify@example.com",
        Secret::new(Scheme::Blooio, SIM_SECRET)?,
    );
    http.tolerance_secs = TOLERANCE_S;
    // Sweep once a virtual second, as the virtual run does.
    http.sweep_interval = Duration::from_secs_f64((1.0 / clock.speed).max(0.001));
    // The replayer plays every handset, so it reads texted codes from the outbox.
    http.sms_outbox = true;
    // A prefix of this run's own, per company: old runs' keys just expire.
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let spec = ServerSpec {
        store: StoreUrl::parse("store.url", url)?,
        runtime: Default::default(),
        verifier: core.verifier,
        memory: core.store,
        redis_prefix: format!("mo2fa-live:{stamp}:{world:?}:"),
        clock,
        http,
        sms: Some(SmsGateway::with_otp(SmsOtp::new(core.sms)?, true)),
    };
    server::start(spec, JustTheServer)
}

#[cfg(test)]
mod tests;
