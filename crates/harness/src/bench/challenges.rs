//! What a bench step sends: fresh challenges (from the in-process verifier, or started over
//! HTTP on a `--target`) and the planned requests of one step for one endpoint.

use super::{Endpoint, START_BATCH};
use crate::answers::{self, Started};
use crate::client;
use crate::error::HarnessError;
use crate::openloop::Planned;
use mo2fa_core::clock::SystemClock;
use mo2fa_core::verifier::StartRequest;
use mo2fa_core::webhook::{Inbound, PayloadShape, Secret};
use mo2fa_server::backend::Backend;
use mo2fa_server::http::App;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where fresh challenges come from: straight from the in-process verifier, or over HTTP from
/// the target. The plans need nothing else from the server.
pub(super) trait Challenges {
    /// Up to `n` fresh challenges as `(id, code)`.
    fn fresh(
        &mut self,
        rt: &tokio::runtime::Runtime,
        n: usize,
    ) -> Result<Vec<(String, String)>, HarnessError>;
}

/// Starts that fail are left out (their deliveries then carry a code that matches nothing),
/// as an overloaded store refusing some is part of what is measured.
pub(super) struct InProcessChallenges<V: Backend> {
    pub(super) app: Arc<App<V, SystemClock>>,
}

impl<V: Backend> Challenges for InProcessChallenges<V> {
    /// The store is asked through `rt`, as a server would ask it.
    fn fresh(
        &mut self,
        rt: &tokio::runtime::Runtime,
        n: usize,
    ) -> Result<Vec<(String, String)>, HarnessError> {
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
pub(super) struct RemoteChallenges {
    pub(super) addr: String,
    pub(super) conn: client::Conn,
}

impl Challenges for RemoteChallenges {
    fn fresh(
        &mut self,
        rt: &tokio::runtime::Runtime,
        n: usize,
    ) -> Result<Vec<(String, String)>, HarnessError> {
        let fail = |problem: String| HarnessError::TargetStart {
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
pub(super) fn started(status: u16, body: &[u8]) -> Result<(String, String), String> {
    let quoted = || {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
        format!("{:?}", text.trim())
    };
    if status != 201 {
        return Err(format!("answered {status} {}", quoted()));
    }
    match answers::read::<Started>(body) {
        Some(Started {
            id: Some(id),
            code: Some(code),
        }) => Ok((id, code)),
        _ => Err(format!(
            "answered 201 without an \"id\" and a \"code\": {}",
            quoted()
        )),
    }
}

pub(super) struct Target<C: Challenges> {
    pub(super) addr: String,
    pub(super) challenges: C,
    /// Signs webhook deliveries; `None` only when the webhook endpoint is not measured.
    secret: Option<Secret>,
    shape: PayloadShape,
    pub(super) status_ids: Vec<String>,
    /// Delivery ids are `<run>_<n>`: unique across runs, because a long-running target
    /// remembers ids for deduplication and would not verify a repeated one.
    run: String,
    delivery: u64,
}

impl<C: Challenges> Target<C> {
    pub(super) fn new(
        addr: String,
        challenges: C,
        secret: Option<Secret>,
        shape: PayloadShape,
    ) -> Self {
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

    pub(super) fn plan(
        &mut self,
        rt: &tokio::runtime::Runtime,
        endpoint: Endpoint,
        rate: u64,
        duration: Duration,
    ) -> Result<Vec<Planned>, HarnessError> {
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
                    let secret = self.secret.as_ref().ok_or(HarnessError::NoSecret)?;
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
pub(super) fn delivery(
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
