//! What a bench step sends: fresh challenges (from the in-process verifier, or started over
//! HTTP on a `--target` through its profile) and the planned requests of one step for one
//! endpoint, with the routes, bodies and signatures the target's profile names.

use super::{Endpoint, START_BATCH};
use crate::client;
use crate::error::HarnessError;
use crate::openloop::Planned;
use mo2fa_core::clock::SystemClock;
use mo2fa_core::verifier::StartRequest;
use mo2fa_core::webhook::{Inbound, PayloadShape, Secret};
use mo2fa_server::backend::Backend;
use mo2fa_server::http::App;
use mo2fa_target::profile::{Issued, Profile, Seen};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Every challenge the bench starts is bound (when the profile binds) to this phone, and every
/// delivery comes from it.
pub(super) const SENDER: &str = "+15550100001";

/// Where fresh challenges come from: straight from the in-process verifier, or over HTTP from
/// the target. The plans need nothing else from the server.
pub(super) trait Challenges {
    /// Up to `n` fresh challenges.
    fn fresh(
        &mut self,
        rt: &tokio::runtime::Runtime,
        n: usize,
    ) -> Result<Vec<Issued>, HarnessError>;
}

/// Starts that fail are left out (their deliveries then carry a code that matches nothing),
/// as an overloaded store refusing some is part of what is measured.
pub(super) struct InProcessChallenges<V: Backend> {
    pub(super) app: Arc<App<V, SystemClock>>,
}

impl<V: Backend> Challenges for InProcessChallenges<V> {
    /// The store is asked through `rt`, as a server would ask it: [`START_BATCH`] starts at a
    /// time, as concurrent requests would (a Redis store then sends them in batches rather
    /// than one round trip each, which made preparing a step longer than running it).
    fn fresh(
        &mut self,
        rt: &tokio::runtime::Runtime,
        n: usize,
    ) -> Result<Vec<Issued>, HarnessError> {
        Ok(rt.block_on(async {
            let mut issued = Vec::with_capacity(n);
            let mut left = n;
            while left > 0 {
                let batch = START_BATCH.min(left);
                left -= batch;
                let mut starts = tokio::task::JoinSet::new();
                for _ in 0..batch {
                    let app = Arc::clone(&self.app);
                    starts.spawn(async move {
                        let req = StartRequest::default();
                        let started = app.verifier.start(&req, app.now(), &mut rand::rng());
                        let s = started.await.ok()?;
                        Some(Issued {
                            code: app.verifier.config().code.format(s.code).to_string(),
                            id: Some(s.id.encode()),
                            link: None,
                        })
                    });
                }
                while let Some(done) = starts.join_next().await {
                    issued.extend(done.ok().flatten());
                }
            }
            issued
        }))
    }
}

/// The profile's start, pipelined on one keep-alive connection. Any answer but a 2xx whose
/// JSON holds a code where the profile says fails the run: against a server we do not
/// control, a guessed code would measure the wrong thing.
pub(super) struct RemoteChallenges {
    pub(super) addr: String,
    pub(super) conn: client::Conn,
    pub(super) profile: Profile,
    /// The start request, as every start of the run sends it.
    pub(super) request: Vec<u8>,
}

impl Challenges for RemoteChallenges {
    fn fresh(
        &mut self,
        rt: &tokio::runtime::Runtime,
        n: usize,
    ) -> Result<Vec<Issued>, HarnessError> {
        let fail = |problem: String| HarnessError::TargetStart {
            target: self.addr.clone(),
            route: format!("{} {}", self.profile.start.method, self.profile.start.path),
            problem,
        };
        let (conn, profile, request) = (&mut self.conn, &self.profile, &self.request);
        let addr = &self.addr;
        let mut out = Vec::with_capacity(n);
        rt.block_on(async {
            let mut reconnected = false;
            while out.len() < n {
                let batch = START_BATCH.min(n - out.len());
                let mut lost = conn.write(&request.repeat(batch)).await.err();
                let mut read = 0;
                while lost.is_none() && read < batch {
                    match conn.read().await {
                        Ok(status) => {
                            out.push(started(profile, status, conn.body()).map_err(fail)?);
                            read += 1;
                        }
                        Err(e) => lost = Some(e),
                    }
                }
                let Some(e) = lost else { continue };
                // The connection sat idle through the steps before this one, and the target
                // may have closed it (mo2fa serve closes a keep-alive connection idle for
                // 10 s, its header read timeout): once, before any answer, on a new one.
                if reconnected || !out.is_empty() {
                    return Err(fail(e.to_string()));
                }
                reconnected = true;
                *conn = client::Conn::connect(addr)
                    .await
                    .map_err(|e| fail(e.to_string()))?;
            }
            Ok(out)
        })
    }
}

/// The start request a profile describes, bound to [`SENDER`] with the profile's lifetime.
pub(super) fn start_request(host: &str, profile: &Profile) -> Vec<u8> {
    let p = &profile.start;
    match profile.start_body(SENDER, p.ttl_seconds) {
        Some(body) => client::request(
            host,
            &p.method,
            &p.path,
            &[("Content-Type", p.content_type.as_str())],
            body.as_bytes(),
        ),
        None => client::request(host, &p.method, &p.path, &[], b""),
    }
}

/// The challenge a start's answer gives through `profile`, or what was wrong with it.
pub(super) fn started(profile: &Profile, status: u16, body: &[u8]) -> Result<Issued, String> {
    let quoted = || {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
        format!("{:?}", text.trim())
    };
    if !(200..300).contains(&status) {
        return Err(format!("answered {status} {}", quoted()));
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Err(format!("answered {status} with no JSON: {}", quoted()));
    };
    profile
        .read_start(&json)
        .map_err(|why| format!("answered {status}, but {why}: {}", quoted()))
}

/// What the bench sends to, and how: the target's address, its profile and the requests
/// built from it.
pub(super) struct Target<C: Challenges> {
    pub(super) addr: String,
    pub(super) challenges: C,
    pub(super) profile: Profile,
    /// Signs webhook deliveries; `None` when the webhook endpoint is not measured or the
    /// profile says deliveries are unsigned.
    secret: Option<Secret>,
    shape: PayloadShape,
    /// What the start endpoint sends.
    start: Vec<u8>,
    /// The status paths the status endpoint polls in turn.
    pub(super) status_paths: Vec<String>,
    /// The challenges the last webhook plan delivers, in order.
    pub(super) delivered: Vec<Issued>,
    /// Delivery ids are `<run>_<n>`: unique across runs, because a long-running target
    /// remembers ids for deduplication and would not verify a repeated one.
    run: String,
    delivery: u64,
}

impl<C: Challenges> Target<C> {
    pub(super) fn new(
        addr: String,
        challenges: C,
        profile: Profile,
        secret: Option<Secret>,
        shape: PayloadShape,
        start: Vec<u8>,
    ) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Self {
            addr,
            challenges,
            profile,
            secret,
            shape,
            start,
            status_paths: Vec::new(),
            delivered: Vec::new(),
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
        if endpoint == Endpoint::Webhook {
            if self.secret.is_none() && self.profile.webhook.signature.core().is_some() {
                return Err(HarnessError::NoSecret);
            }
            self.delivered = self.challenges.fresh(rt, n as usize)?;
        }
        let health = self.profile.health.clone().unwrap_or_default();
        let mut plan = Vec::with_capacity(n as usize);
        for i in 0..n {
            let request: Vec<u8> = match endpoint {
                Endpoint::Healthz => client::request(&self.addr, "GET", &health, &[], b""),
                Endpoint::Start => self.start.clone(),
                Endpoint::Status => {
                    let path = &self.status_paths[i as usize % self.status_paths.len()];
                    client::request(&self.addr, "GET", path, &[], b"")
                }
                Endpoint::Webhook => {
                    let code = self
                        .delivered
                        .get(i as usize)
                        .map_or("ZZZZZZ", |c| c.code.as_str());
                    self.delivery += 1;
                    let id = format!("{}_{}", self.run, self.delivery);
                    let to = Delivery {
                        host: &self.addr,
                        path: &self.profile.webhook.path,
                        secret: self.secret.as_ref(),
                        shape: self.shape,
                    };
                    to.request(&id, code, now_s)
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

    /// After a measured webhook step: whether its first deliveries verified their challenges,
    /// read on the status route (at most `sample` of them). `Err` says why it cannot be seen.
    pub(super) fn check_delivered(
        &self,
        rt: &tokio::runtime::Runtime,
        sample: usize,
    ) -> Result<(usize, usize), String> {
        if self.profile.status.is_none() {
            return Err(format!(
                "whether the deliveries verified their challenges cannot be seen: profile {} \
                 has no status route{}",
                self.profile.name,
                if self.profile.webhook.answer.is_some() {
                    " (the bench does not read webhook answers)"
                } else {
                    " and its webhook answer says nothing"
                }
            ));
        }
        rt.block_on(async {
            let mut conn = client::Conn::connect(&self.addr)
                .await
                .map_err(|e| format!("status check: {e}"))?;
            let (mut checked, mut verified) = (0, 0);
            for issued in self.delivered.iter().take(sample) {
                let Some(Ok(path)) = self.profile.status_path(issued) else {
                    return Err("the start's answer had no id to ask the status of".into());
                };
                let req = client::request(&self.addr, "GET", &path, &[], b"");
                let status = conn
                    .send(&req)
                    .await
                    .map_err(|e| format!("status check: {e}"))?;
                checked += 1;
                let json = serde_json::from_slice(conn.body()).ok();
                let seen = match json {
                    Some(j) if (200..300).contains(&status) => self.profile.read_status(&j).0,
                    _ => Seen::Not(format!("answered {status}")),
                };
                verified += usize::from(seen.verified());
            }
            Ok((checked, verified))
        })
    }
}

/// Where and how deliveries are sent.
pub(super) struct Delivery<'a> {
    pub(super) host: &'a str,
    pub(super) path: &'a str,
    pub(super) secret: Option<&'a Secret>,
    pub(super) shape: PayloadShape,
}

impl Delivery<'_> {
    /// A `message.received` delivery of `code` from [`SENDER`] under message id `id`, signed
    /// at `t` (unsigned without a secret).
    pub(super) fn request(&self, id: &str, code: &str, t: i64) -> Vec<u8> {
        let m = Inbound {
            message_id: id,
            sender: SENDER,
            text: code,
            protocol: "imessage",
            received_at_ms: (t as u64).saturating_mul(1000),
        };
        client::delivery(self.host, self.path, self.secret, self.shape, &m, t)
    }
}
