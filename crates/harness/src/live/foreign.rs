//! The reverse flow's steps sent to a `--target` through its profile (`run --live --target URL
//! --profile NAME|FILE`): starts, deliveries, forgeries, replays and polls on the routes the
//! profile names, each answer named like the virtual run names it where the profile can see
//! it, and [`UNOBSERVED`] where it cannot, so nothing is counted as agreeing that was not seen.
//!
//! The target keeps its own clock (it is not sped up): deliveries are signed with the wall
//! clock, and starts ask for the profile's lifetime.

use super::agree::UNOBSERVED;
use super::send::{Answer, Issued, Pool, Shared, phone, skipped};
use crate::client;
use mo2fa_core::webhook::{Inbound, Secret};
use mo2fa_sim::scenario::Flow;
use mo2fa_sim::trace::{Action, Text};
use mo2fa_target::profile::{Profile, Seen};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A start without an expected sender, through a profile whose start binds one, is bound to
/// this phone, which sends nothing: its deliveries then come from another sender.
const UNBOUND: &str = "+15550000999";

/// The target of a live replay and how to reach it.
pub struct Foreign {
    pub profile: Profile,
    /// The target's secret; `None` when the profile's deliveries are unsigned.
    pub secret: Option<Secret>,
    /// The simulated forger's secret, under the profile's scheme.
    pub forger: Option<Secret>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Foreign {
    /// What this profile cannot compare, one sentence each (for the report).
    pub fn unobservable(&self) -> Vec<String> {
        let p = &self.profile;
        let mut out = Vec::new();
        if p.webhook.answer.is_none() {
            out.push(format!(
                "what a delivery did: the webhook's answer says nothing (profile {})",
                p.name
            ));
        }
        if p.status.is_none() {
            out.push(format!(
                "a challenge's status: profile {} has no status route (polls are not sent)",
                p.name
            ));
        }
        if p.webhook.duplicate.is_none() {
            out.push(
                "whether a delivery was a duplicate: the profile names no duplicate_pointer".into(),
            );
        }
        out
    }

    /// Sends reverse-flow step `i` as the profile says and names the answer.
    pub(super) async fn perform(&self, shared: &Shared, i: usize) -> (Answer, String) {
        let step = &shared.trace.steps[i];
        let due = shared.wall(step.at_ms);
        let Some(pool) = shared.pool(Flow::Reverse) else {
            return skipped();
        };
        let s = Send {
            shared,
            foreign: self,
            pool,
            due,
        };
        match &step.action {
            Action::Start {
                key,
                expected_sender,
            } => s.start(*key, *expected_sender).await,
            Action::Webhook {
                msg,
                sender,
                text,
                protocol,
            } => s.webhook(*msg, *sender, text, protocol).await,
            Action::Forged { n, code } => s.forged(*n, code).await,
            Action::Replay { msg } => s.replay(*msg).await,
            Action::Poll { key, after } => s.poll(*key, *after).await,
            // The SMS flow is mo2fa's own API, not the target's: not replayed.
            Action::SmsStart { .. } | Action::SmsRead { .. } => skipped(),
        }
    }

    /// Names a webhook answer: the virtual run's names where the profile can read them.
    fn webhook_result(&self, a: &Answer) -> String {
        let p = &self.profile;
        match a.status {
            Some(s @ 200..=299) => {
                if p.read_duplicate(&a.body) == Some(true) {
                    return "duplicate".into();
                }
                match p.read_webhook_answer(s, &a.body) {
                    Seen::Verified => "verified".into(),
                    Seen::Not(_) => p
                        .webhook_outcome(&a.body)
                        .unwrap_or_else(|| "unreadable".into()),
                    Seen::Unseen => UNOBSERVED.into(),
                }
            }
            Some(401 | 403) => "rejected".into(),
            Some(s) => format!("http_{s}"),
            None => "connection_error".into(),
        }
    }
}

/// One step on its way to the target.
struct Send<'a> {
    shared: &'a Shared,
    foreign: &'a Foreign,
    pool: &'a Pool,
    due: Instant,
}

impl Send<'_> {
    fn profile(&self) -> &Profile {
        &self.foreign.profile
    }

    async fn start(&self, key: Option<u32>, sender: Option<u64>) -> (Answer, String) {
        let p = &self.profile().start;
        let sender = sender.map_or_else(|| UNBOUND.to_string(), phone);
        let request = match self.profile().start_body(&sender, p.ttl_seconds) {
            Some(body) => client::request(
                &self.pool.addr,
                &p.method,
                &p.path,
                &[("Content-Type", p.content_type.as_str())],
                body.as_bytes(),
            ),
            None => client::request(&self.pool.addr, &p.method, &p.path, &[], b""),
        };
        let a = self.pool.send(self.due, &request).await;
        let ok = a.status.is_some_and(|s| (200..300).contains(&s));
        let issued: Option<Issued> = ok
            .then(|| serde_json::from_slice(&a.body).ok())
            .flatten()
            .and_then(|json| self.profile().read_start(&json).ok());
        let got = match (a.status, &issued) {
            (Some(503), _) => "refused".to_string(),
            (_, Some(_)) => "created".to_string(),
            (Some(200..=299), None) => "unreadable".to_string(),
            _ => a.named(0, |_| String::new()),
        };
        self.shared.settle(key, issued);
        (a, got)
    }

    /// A delivery of `m`'s text, signed now (the target's clock is the wall clock).
    fn delivery(&self, secret: Option<&Secret>, m: Inbound<'_>) -> Vec<u8> {
        let now = now_ms();
        let m = Inbound {
            received_at_ms: now,
            ..m
        };
        let p = self.profile();
        let t = (now / 1000) as i64;
        client::delivery(
            &self.pool.addr,
            &p.webhook.path,
            secret,
            p.webhook.shape,
            &m,
            t,
        )
    }

    async fn webhook(
        &self,
        msg: u32,
        sender: u64,
        text: &Text,
        protocol: &str,
    ) -> (Answer, String) {
        let shared = self.shared;
        let Some(text) = shared.message_text(msg, text).await else {
            return skipped();
        };
        let (id, sender) = (format!("m{msg}_{}", shared.at_origin), phone(sender));
        let m = Inbound {
            message_id: &id,
            sender: &sender,
            text: &text,
            protocol,
            received_at_ms: 0,
        };
        let request = self.delivery(self.foreign.secret.as_ref(), m);
        if shared.capture {
            shared
                .captured
                .lock()
                .entry(msg)
                .or_insert_with(|| request.clone().into());
        }
        let a = self.pool.send(self.due, &request).await;
        shared.deliver(msg);
        let got = self.foreign.webhook_result(&a);
        (a, got)
    }

    async fn forged(&self, n: u64, code: &str) -> (Answer, String) {
        let id = format!("forged{n}_{}", self.shared.at_origin);
        let m = Inbound {
            message_id: &id,
            sender: "+15550000000",
            text: code,
            protocol: "imessage",
            received_at_ms: 0,
        };
        let request = self.delivery(self.foreign.forger.as_ref(), m);
        let a = self.pool.send(self.due, &request).await;
        let got = match a.status {
            Some(200..=299) => "accepted".to_string(),
            Some(400..=499) => "rejected".to_string(),
            _ => a.named(0, |_| String::new()),
        };
        (a, got)
    }

    async fn replay(&self, msg: u32) -> (Answer, String) {
        self.shared.wait_delivered(msg).await;
        let request = self.shared.captured.lock().get(&msg).cloned();
        let Some(request) = request else {
            return skipped();
        };
        let a = self.pool.send(self.due, &request).await;
        let got = self.foreign.webhook_result(&a);
        (a, got)
    }

    async fn poll(&self, key: u32, after: u32) -> (Answer, String) {
        self.shared.wait_delivered(after).await;
        let Some(issued) = self.shared.issued(key).await else {
            return skipped();
        };
        let Some(Ok(path)) = self.profile().status_path(issued) else {
            // No status route, or no id to ask it with: nothing is sent.
            return (Answer::default(), UNOBSERVED.into());
        };
        let a = self.pool.get(self.due, &path).await;
        let got = match a.status {
            Some(404) => "unknown".to_string(),
            Some(200..=299) => match serde_json::from_slice(&a.body) {
                Ok(json) => match self.profile().read_status(&json).0 {
                    Seen::Verified => "verified".to_string(),
                    _ => self
                        .profile()
                        .status
                        .as_ref()
                        .and_then(|st| mo2fa_target::profile::value_at(&json, &st.pointer))
                        .unwrap_or_else(|| "unreadable".into()),
                },
                Err(_) => "unreadable".to_string(),
            },
            _ => a.named(0, |_| String::new()),
        };
        (a, got)
    }
}
