//! `mo2fa soak --target URL --profile NAME|FILE`: the soak's flows against a running verifier,
//! through its profile. Each check is made only where the profile can see its effect; the
//! others are counted as not seen and listed. The target's memory is another process's and is
//! not sampled.

use super::{Counts, SoakOptions, SoakReport};
use crate::client::{self, Conn};
use crate::error::HarnessError;
use crate::retry::RetryPolicy;
use mo2fa_core::webhook::{Inbound, Secret};
use mo2fa_target::profile::{Issued, Profile, Seen};
use rand::Rng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A running verifier and how to reach it.
#[derive(Clone, Debug)]
pub struct SoakTarget {
    /// `host:port`.
    pub addr: String,
    pub profile: Profile,
    /// The target's webhook secret; `None` when the profile's deliveries are unsigned.
    pub secret: Option<Secret>,
}

/// What the flows share.
struct Run {
    target: SoakTarget,
    ttl_secs: u64,
    retry: RetryPolicy,
    /// Makes senders and message ids unique to this run (a target remembers earlier ones).
    stamp: u128,
    counts: Counts,
    problems: Mutex<Vec<String>>,
}

impl Run {
    fn note(&self, p: String) {
        self.counts.violations.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut v) = self.problems.lock()
            && v.len() < 20
        {
            v.push(p);
        }
    }

    fn unseen(&self) {
        self.counts.unobserved.fetch_add(1, Ordering::Relaxed);
    }

    fn profile(&self) -> &Profile {
        &self.target.profile
    }

    fn delivery(&self, id: &str, sender: &str, code: &str) -> Vec<u8> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let m = Inbound {
            message_id: id,
            sender,
            text: code,
            protocol: "imessage",
            received_at_ms: now_ms,
        };
        let w = &self.profile().webhook;
        let t = (now_ms / 1000) as i64;
        let secret = self.target.secret.as_ref();
        client::delivery(&self.target.addr, &w.path, secret, w.shape, &m, t)
    }

    /// Sends a delivery under the retry policy; no answer at all is a transport error.
    async fn deliver(&self, conn: &mut Conn, request: &[u8], key: u64) -> std::io::Result<u16> {
        let (status, took) = self.retry.send(conn, &self.target.addr, request, key).await;
        self.counts.took(took);
        status.ok_or_else(|| {
            std::io::Error::other(format!("no answer after {} attempt(s)", took.sent))
        })
    }

    /// One flow: start, then (by a roll) stay silent, deliver once, be redelivered, or send
    /// the code twice; then read the status where the profile can.
    async fn flow(&self, conn: &mut Conn, n: u64) -> std::io::Result<()> {
        let c = &self.counts;
        c.flows.fetch_add(1, Ordering::Relaxed);
        let host = &self.target.addr;
        let sender = format!("+1555{:07}", (self.stamp as u64 + n) % 10_000_000);
        let p = &self.profile().start;
        let request = match self.profile().start_body(&sender, self.ttl_secs) {
            Some(body) => client::request(
                host,
                &p.method,
                &p.path,
                &[("Content-Type", p.content_type.as_str())],
                body.as_bytes(),
            ),
            None => client::request(host, &p.method, &p.path, &[], b""),
        };
        let status = conn.send(&request).await?;
        let issued = match serde_json::from_slice(conn.body()) {
            Ok(json) if (200..300).contains(&status) => self.profile().read_start(&json),
            _ => Err(format!(
                "the start answered {status} {:?}",
                String::from_utf8_lossy(&conn.body()[..conn.body().len().min(200)])
            )),
        };
        let issued = match issued {
            Ok(i) => i,
            Err(why) => {
                self.note(format!("flow {n}: {why}"));
                return Ok(());
            }
        };
        let roll: f64 = rand::rng().random();
        if roll < 0.10 {
            c.silent.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        c.sent.fetch_add(1, Ordering::Relaxed);
        let first = self.delivery(&format!("soak_{}_{n}", self.stamp), &sender, &issued.code);
        let status = self.deliver(conn, &first, 2 * n).await?;
        let answer = conn.body().to_vec();
        let said = self.profile().read_webhook_answer(status, &answer);
        if let Seen::Not(why) = &said {
            self.note(format!(
                "flow {n}: the first delivery did not verify ({why})"
            ));
            return Ok(());
        }
        if roll < 0.15 {
            c.redelivered.fetch_add(1, Ordering::Relaxed);
            self.deliver(conn, &first, 2 * n).await?;
            self.redelivered(n, &answer, conn.body());
        } else if roll < 0.18 {
            c.second_messages.fetch_add(1, Ordering::Relaxed);
            let again = format!("soak_{}_{n}_again", self.stamp);
            let again = self.delivery(&again, &sender, &issued.code);
            let status = self.deliver(conn, &again, 2 * n + 1).await?;
            match self.profile().read_webhook_answer(status, conn.body()) {
                Seen::Verified => self.note(format!("flow {n}: a second message verified again")),
                Seen::Not(_) => {}
                Seen::Unseen => self.unseen(),
            }
        }
        self.final_status(conn, n, &issued, said).await
    }

    /// A provider's retry must be answered as the first delivery was, marked duplicate where
    /// the profile says so.
    fn redelivered(&self, n: u64, first: &[u8], again: &[u8]) {
        let p = self.profile();
        match p.read_duplicate(again) {
            Some(true) => {}
            Some(false) => self.note(format!("flow {n}: the redelivery is not marked duplicate")),
            None => self.unseen(),
        }
        match (p.webhook_outcome(first), p.webhook_outcome(again)) {
            (Some(a), Some(b)) if a != b => self.note(format!(
                "flow {n}: the redelivery answered {b:?}, the delivery {a:?}"
            )),
            (Some(_), Some(_)) => {}
            _ => self.unseen(),
        }
    }

    /// Verified exactly once: by the status route, else by the first delivery's answer.
    async fn final_status(
        &self,
        conn: &mut Conn,
        n: u64,
        issued: &Issued,
        said: Seen,
    ) -> std::io::Result<()> {
        let c = &self.counts;
        let seen = match self.profile().status_path(issued) {
            Some(Ok(path)) => {
                let status = conn
                    .send(&client::request(&self.target.addr, "GET", &path, &[], b""))
                    .await?;
                match serde_json::from_slice(conn.body()) {
                    Ok(json) if (200..300).contains(&status) => self.profile().read_status(&json).0,
                    _ => Seen::Not(format!("status answered {status}")),
                }
            }
            Some(Err(why)) => Seen::Not(why),
            None => said,
        };
        match seen {
            Seen::Verified => {
                c.verified.fetch_add(1, Ordering::Relaxed);
            }
            Seen::Not(why) => self.note(format!("flow {n}: not verified after delivery ({why})")),
            Seen::Unseen => self.unseen(),
        }
        Ok(())
    }
}

/// Runs the soak's flows against `target` for `opts.duration`.
pub(super) fn run(
    opts: &SoakOptions,
    target: &SoakTarget,
    progress: &dyn Fn(u64, &Counts, usize),
) -> Result<SoakReport, HarnessError> {
    if target.secret.is_none() && target.profile.webhook.signature.core().is_some() {
        return Err(HarnessError::NoSecret);
    }
    let run = Arc::new(Run {
        target: target.clone(),
        ttl_secs: opts.ttl_secs.max(1),
        retry: opts.retry,
        stamp: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis()),
        counts: Counts::default(),
        problems: Mutex::new(Vec::new()),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        Conn::connect(&target.addr)
            .await
            .map_err(|source| HarnessError::Unreachable {
                target: target.addr.clone(),
                source,
            })
    })?;
    let start = Instant::now();
    let end = start + opts.duration;
    rt.block_on(async {
        let workers = opts.connections.max(1);
        let gap = Duration::from_secs_f64(workers as f64 / opts.rate_per_s.max(0.001));
        let mut tasks = Vec::new();
        for w in 0..workers {
            let run = run.clone();
            tasks.push(tokio::spawn(async move {
                let addr = run.target.addr.clone();
                let Ok(mut conn) = Conn::connect(&addr).await else {
                    run.counts.errors.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                let mut next = Instant::now() + gap.mul_f64(w as f64 / workers as f64);
                let mut n = w as u64;
                while next < end {
                    tokio::time::sleep_until(next.into()).await;
                    if run.flow(&mut conn, n).await.is_err() {
                        run.counts.errors.fetch_add(1, Ordering::Relaxed);
                        match Conn::connect(&addr).await {
                            Ok(c) => conn = c,
                            Err(_) => return,
                        }
                    }
                    n += workers as u64;
                    next += gap;
                }
            }));
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        while Instant::now() < end {
            tick.tick().await;
            progress(start.elapsed().as_secs(), &run.counts, 0);
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let run = Arc::try_unwrap(run)
        .map_err(|_| HarnessError::Runtime("soak tasks outlived the run".into()))?;
    Ok(judge(target, run))
}

/// The problems seen, and what could not be checked.
fn judge(target: &SoakTarget, run: Run) -> SoakReport {
    let mut problems = run.problems.into_inner().unwrap_or_else(|e| e.into_inner());
    let c = run.counts;
    let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mut not_checked = vec![format!(
        "memory and pending challenges: the target ({}) is another process",
        target.addr
    )];
    not_checked.extend(target.profile.unobservable().into_iter().filter(|u| {
        u.starts_with("whether a delivery verified") || u.starts_with("what a single delivery")
    }));
    if g(&c.unobserved) > 0 {
        not_checked.push(format!(
            "{} checks could not be seen through profile {}",
            g(&c.unobserved),
            target.profile.name
        ));
    }
    if g(&c.errors) > 0 {
        problems.push(format!("{} transport errors", g(&c.errors)));
    }
    SoakReport {
        counts: c,
        samples: Vec::new(),
        problems,
        rss_bound: 0,
        not_checked,
    }
}
