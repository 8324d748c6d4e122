//! Sending the trace's steps: the servers' connection pools, the state steps share (the codes
//! starts got back, the deliveries answered, the requests replay attacks capture), and one
//! function per kind of step that sends it and names its answer like the virtual run does.

use super::agree::{Outcomes, SKIPPED, UNOBSERVED, endpoint_index};
use super::foreign::Foreign;
use super::schedule::Schedule;
use crate::client::{self, Conn};
use crate::openloop::{Recorder, Report, Sample};
use mo2fa_core::webhook::{Inbound, PayloadShape, Secret};
use mo2fa_server::wire::{
    self, CheckAnswer, OutboxAnswer, ReceivedAnswer, StartAnswer, StatusAnswer,
};
use mo2fa_sim::scenario::Flow;
use mo2fa_sim::trace::{self, Action, Endpoint, Text, Trace};
pub(super) use mo2fa_target::profile::Issued;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SetOnce};

pub(super) struct Shared {
    pub trace: Trace,
    pub schedule: Arc<Schedule>,
    /// By world: sms, reverse.
    pub pools: [Option<Pool>; 2],
    /// Set once the step creating the key has its answer (`None`: it failed).
    pub keys: Vec<SetOnce<Option<Issued>>>,
    /// Set once delivery `msg` has its answer.
    pub delivered: Vec<SetOnce<()>>,
    /// Per step, the earlier steps on the same state it waits for ([`super::order`]).
    pub predecessors: Vec<[Option<u32>; 2]>,
    /// Set once step `i` has its answer (or is skipped or unsent).
    pub answered: Vec<SetOnce<()>>,
    /// Request bytes of genuine deliveries, for replay attacks.
    pub captured: parking_lot::Mutex<rustc_hash::FxHashMap<u32, Arc<[u8]>>>,
    pub capture: bool,
    pub secret: Secret,
    pub forger: Secret,
    pub shape: PayloadShape,
    /// Set when the reverse flow's server is a `--target` spoken to through a profile.
    pub foreign: Option<Foreign>,
    pub origin: Instant,
    /// The servers' clock reading at `origin`.
    pub at_origin: u64,
    pub speed: f64,
}

impl Shared {
    pub fn wall(&self, at_ms: u64) -> Instant {
        self.origin + Duration::from_secs_f64(at_ms as f64 / 1000.0 / self.speed)
    }

    pub(super) fn pool(&self, world: Flow) -> Option<&Pool> {
        self.pools[usize::from(world == Flow::Reverse)].as_ref()
    }

    pub(super) async fn issued(&self, key: u32) -> Option<&Issued> {
        self.keys.get(key as usize)?.wait().await.as_ref()
    }

    pub(super) fn settle(&self, key: Option<u32>, issued: Option<Issued>) {
        if let Some(cell) = key.and_then(|k| self.keys.get(k as usize)) {
            let _ = cell.set(issued);
        }
    }

    /// The text of delivery `msg`: the issued code (or its typo) a trace key names, once the
    /// start that issues it has answered. `None`, with the delivery marked answered, when that
    /// start issued nothing: the delivery is skipped.
    pub(super) async fn message_text(&self, msg: u32, text: &Text) -> Option<String> {
        Some(match text {
            Text::Code(k) | Text::Typo(k) => match self.issued(*k).await {
                Some(issued) if matches!(text, Text::Typo(_)) => trace::typo(&issued.code),
                Some(issued) => issued.code.clone(),
                None => {
                    self.deliver(msg);
                    return None;
                }
            },
            Text::Literal(t) => t.to_string(),
        })
    }

    /// Marks delivery `msg` answered: replays and polls waiting on it may go.
    pub(super) fn deliver(&self, msg: u32) {
        if let Some(d) = self.delivered.get(msg as usize) {
            let _ = d.set(());
        }
    }

    pub(super) async fn wait_delivered(&self, msg: u32) {
        if let Some(d) = self.delivered.get(msg as usize) {
            d.wait().await;
        }
    }

    /// Waits until the earlier steps on step `i`'s state have their answers.
    async fn after_predecessors(&self, i: usize) {
        for p in self.predecessors[i].into_iter().flatten() {
            if let Some(cell) = self.answered.get(p as usize) {
                cell.wait().await;
            }
        }
    }

    fn answer(&self, i: usize) {
        if let Some(cell) = self.answered.get(i) {
            let _ = cell.set(());
        }
    }

    /// Wakes everything still waiting after an interruption.
    fn settle_all(&self) {
        for a in &self.answered {
            let _ = a.set(());
        }
        for k in &self.keys {
            let _ = k.set(None);
        }
        for d in &self.delivered {
            let _ = d.set(());
        }
    }
}

/// Keep-alive connections to one server, opened as needed up to a fixed number.
pub(super) struct Pool {
    pub(super) addr: String,
    permits: Semaphore,
    idle: parking_lot::Mutex<Vec<Conn>>,
    schedule: Arc<Schedule>,
}

/// One answer: status (`None` on a connection error), body, and the time from the send.
#[derive(Default)]
pub(super) struct Answer {
    pub(super) status: Option<u16>,
    pub(super) body: Vec<u8>,
    pub(super) service: Duration,
    /// False when nothing was sent: the replay had stopped, or the step was skipped.
    pub(super) sent: bool,
}

impl Answer {
    /// The body as the server's answer `T` (its `wire` type); `None` when it is not one.
    fn read<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        wire::read(&self.body)
    }

    /// `name` for a 2xx answer `ok`, else `http_<status>` or `connection_error`.
    pub(super) fn named(&self, ok: u16, name: impl FnOnce(&Self) -> String) -> String {
        match self.status {
            Some(s) if s == ok => name(self),
            Some(s) => format!("http_{s}"),
            None => "connection_error".to_string(),
        }
    }
}

impl Pool {
    pub fn new(addr: String, connections: usize, schedule: Arc<Schedule>) -> Self {
        Self {
            addr,
            permits: Semaphore::new(connections.max(1)),
            idle: parking_lot::Mutex::new(Vec::new()),
            schedule,
        }
    }

    /// Sends `request`, due at `due`, unless the replay has stopped for falling behind.
    pub(super) async fn send(&self, due: Instant, request: &[u8]) -> Answer {
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

    pub(super) async fn get(&self, due: Instant, path: &str) -> Answer {
        self.send(due, &client::request(&self.addr, "GET", path, &[], b""))
            .await
    }

    async fn post_json(&self, due: Instant, path: &str, body: &serde_json::Value) -> Answer {
        let body = body.to_string();
        self.send(
            due,
            &client::request(&self.addr, "POST", path, &[JSON], body.as_bytes()),
        )
        .await
    }
}

fn closed(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), UnexpectedEof | ConnectionReset | BrokenPipe)
}

/// Replays what is released; returns the load report, the outcomes and the number of
/// released steps left unsent because the replay stopped for falling behind.
pub(super) async fn drive(
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
                // Not latency samples: steps skipped, and polls a profile could not send.
                let unsent = got == UNOBSERVED && sample.status.is_none();
                if got != SKIPPED && !unsent {
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
    let mut released = 0usize;
    while let Some((i, when)) = releases.recv().await {
        released += 1;
        let shared = shared.clone();
        let done = done_tx.clone();
        tokio::spawn(async move {
            shared.after_predecessors(i).await;
            let (answer, got) = perform(&shared, i).await;
            shared.answer(i);
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
    // Interrupted or stopped: steps never released will settle nothing, so wake whatever waits
    // on them. When every step was released, each one answers in turn; waking the waiters now
    // would let the last steps overtake the ones they wait for (a final poll sent before the
    // delivery it follows was answered).
    if released < shared.trace.steps.len() {
        shared.settle_all();
    }
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

pub(super) fn phone(number: u64) -> String {
    format!("+{number}")
}

/// Names a webhook answer like the virtual run names its outcomes.
fn webhook_result(a: &Answer) -> String {
    match a.status {
        Some(200) => match a.read::<ReceivedAnswer>() {
            Some(r) if r.duplicate => "duplicate".into(),
            Some(r) => r.result.as_str().into(),
            None => "unreadable".into(),
        },
        Some(401) => "rejected".into(),
        Some(s) => format!("http_{s}"),
        None => "connection_error".into(),
    }
}

pub(super) fn skipped() -> (Answer, String) {
    (Answer::default(), SKIPPED.into())
}

/// A delivery of `m` signed by `secret` at the server time it was received.
fn signed(host: &str, secret: &Secret, shape: PayloadShape, m: &Inbound<'_>) -> Vec<u8> {
    let t = (m.received_at_ms / 1000) as i64;
    client::delivery(host, "/webhook/blooio", Some(secret), shape, m, t)
}

/// Sends step `i` (after what it depends on) and names the answer.
async fn perform(shared: &Shared, i: usize) -> (Answer, String) {
    let step = &shared.trace.steps[i];
    if let Some(foreign) = &shared.foreign {
        return foreign.perform(shared, i).await;
    }
    let s = Step {
        shared,
        due: shared.wall(step.at_ms),
        at_ms: step.at_ms,
    };
    let reverse = shared.pool(Flow::Reverse);
    let sms = |world: &Flow| shared.pool(*world);
    match (&step.action, reverse) {
        (
            Action::Start {
                key,
                expected_sender,
            },
            Some(pool),
        ) => s.start(pool, *key, *expected_sender).await,
        (
            Action::Webhook {
                msg,
                sender,
                text,
                protocol,
            },
            Some(pool),
        ) => s.webhook(pool, *msg, *sender, text, protocol).await,
        (Action::Forged { n, code }, Some(pool)) => s.forged(pool, *n, code).await,
        (Action::Replay { msg }, Some(pool)) => s.replay(pool, *msg).await,
        (Action::Poll { key, after }, Some(pool)) => s.poll(pool, *key, *after).await,
        (
            Action::SmsStart {
                world,
                key,
                number,
                country,
            },
            _,
        ) => match sms(world) {
            Some(pool) => s.sms_start(pool, *key, *number, *country).await,
            None => skipped(),
        },
        (Action::SmsRead { world, key, number }, _) => match sms(world) {
            Some(pool) => s.sms_read(pool, *key, *number).await,
            None => skipped(),
        },
        // A reverse-flow step without a reverse server.
        (_, None) => skipped(),
    }
}

/// One step being sent: when it is due, and at what virtual time.
struct Step<'a> {
    shared: &'a Shared,
    due: Instant,
    at_ms: u64,
}

impl Step<'_> {
    async fn start(&self, pool: &Pool, key: Option<u32>, sender: Option<u64>) -> (Answer, String) {
        let body = sender
            .map(|n| serde_json::json!({ "expected_sender": phone(n) }).to_string())
            .unwrap_or_default();
        let headers: &[(&str, &str)] = if body.is_empty() { &[] } else { &[JSON] };
        let request = client::request(&pool.addr, "POST", "/2fa/start", headers, body.as_bytes());
        let a = pool.send(self.due, &request).await;
        let issued = (a.status == Some(201)).then(|| {
            let s = a.read::<StartAnswer>();
            Issued {
                id: s.as_ref().map(|s| s.id.clone()),
                code: s.map(|s| s.code).unwrap_or_default(),
                link: None,
            }
        });
        self.shared.settle(key, issued);
        let got = match a.status {
            Some(503) => "refused".to_string(),
            _ => a.named(201, |_| "created".to_string()),
        };
        (a, got)
    }

    async fn webhook(
        &self,
        pool: &Pool,
        msg: u32,
        sender: u64,
        text: &Text,
        protocol: &str,
    ) -> (Answer, String) {
        let shared = self.shared;
        let Some(text) = shared.message_text(msg, text).await else {
            return skipped();
        };
        let (id, sender) = (format!("m{msg}"), phone(sender));
        let m = Inbound {
            message_id: &id,
            sender: &sender,
            text: &text,
            protocol,
            received_at_ms: shared.at_origin + self.at_ms,
        };
        let request = signed(&pool.addr, &shared.secret, shared.shape, &m);
        if shared.capture {
            shared
                .captured
                .lock()
                .entry(msg)
                .or_insert_with(|| request.clone().into());
        }
        let a = pool.send(self.due, &request).await;
        shared.deliver(msg);
        let got = webhook_result(&a);
        (a, got)
    }

    async fn forged(&self, pool: &Pool, n: u64, code: &str) -> (Answer, String) {
        let id = format!("forged{n}");
        let m = Inbound {
            message_id: &id,
            sender: "+15550000000",
            text: code,
            protocol: "imessage",
            received_at_ms: self.shared.at_origin + self.at_ms,
        };
        let request = signed(&pool.addr, &self.shared.forger, self.shared.shape, &m);
        let a = pool.send(self.due, &request).await;
        let got = match webhook_result(&a).as_str() {
            "rejected" => "rejected".to_string(),
            "connection_error" => "connection_error".to_string(),
            _ => "accepted".to_string(),
        };
        (a, got)
    }

    async fn replay(&self, pool: &Pool, msg: u32) -> (Answer, String) {
        self.shared.wait_delivered(msg).await;
        let request = self.shared.captured.lock().get(&msg).cloned();
        let Some(request) = request else {
            return skipped();
        };
        let a = pool.send(self.due, &request).await;
        let got = webhook_result(&a);
        (a, got)
    }

    async fn poll(&self, pool: &Pool, key: u32, after: u32) -> (Answer, String) {
        self.shared.wait_delivered(after).await;
        let Some(issued) = self.shared.issued(key).await else {
            return skipped();
        };
        let id = issued.id.as_deref().unwrap_or_default();
        let a = pool.get(self.due, &format!("/2fa/status/{id}")).await;
        let got = match a.status {
            Some(404) => "unknown".to_string(),
            _ => a.named(200, |a| {
                a.read::<StatusAnswer>()
                    .map_or("unreadable", |s| s.status.as_str())
                    .to_string()
            }),
        };
        (a, got)
    }

    async fn sms_start(
        &self,
        pool: &Pool,
        key: Option<u32>,
        number: u64,
        country: u16,
    ) -> (Answer, String) {
        let iso = self.shared.trace.countries.get(usize::from(country));
        let body = serde_json::json!({ "phone": phone(number), "country": iso });
        let a = pool.post_json(self.due, "/sms/start", &body).await;
        let ok = a.status == Some(202);
        self.shared.settle(
            key,
            ok.then(|| Issued {
                id: None,
                code: String::new(),
                link: None,
            }),
        );
        let got = a.named(202, |_| "sent".to_string());
        (a, got)
    }

    async fn sms_read(&self, pool: &Pool, key: u32, number: u64) -> (Answer, String) {
        if self.shared.issued(key).await.is_none() {
            return skipped();
        }
        // The handset: read the texted code, then type it in.
        let read = pool
            .get(self.due, &format!("/sms/outbox/%2B{number}"))
            .await;
        if read.status != Some(200) {
            let got = format!("outbox_{}", read.status.unwrap_or(0));
            return (read, got);
        }
        let code = read
            .read::<OutboxAnswer>()
            .map(|o| o.code)
            .unwrap_or_default();
        let body = serde_json::json!({ "phone": phone(number), "code": code });
        let mut a = pool.post_json(self.due, "/sms/check", &body).await;
        a.service += read.service;
        let got = a.named(200, |a| {
            a.read::<CheckAnswer>()
                .map_or("unreadable", CheckAnswer::as_str)
                .to_string()
        });
        (a, got)
    }
}
