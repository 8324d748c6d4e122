//! A client for any verifier through its profile: start a challenge, deliver a message as the
//! provider would (bodies and signatures from `mo2fa_core::webhook`, the one writer of them),
//! and read whether a challenge was verified, by its status route or the webhook's answer,
//! saying so when the profile gives no way to see it.

pub use crate::profile::Seen;
use crate::profile::{Profile, SignatureScheme};
use crate::wire::{Conn, Exchange, Request, Send};
use mo2fa_core::webhook::{Inbound, PayloadShape, Secret};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "the profile signs deliveries ({0}) but no webhook secret was given: set the target's \
         secret in the environment variable named by --secret-env"
    )]
    NoSecret(&'static str),
    #[error("the webhook secret is not usable: {0}")]
    Secret(#[from] mo2fa_core::webhook::SecretError),
}

/// A started challenge.
#[derive(Clone, Debug)]
pub struct Started {
    pub code: String,
    pub id: Option<String>,
    pub link: Option<String>,
    /// The sender it is bound to (when the profile binds) and that deliveries come from.
    pub sender: String,
}

/// Why a start did not give a challenge.
#[derive(Debug)]
pub struct StartFailed(pub String);

/// A delivery's body, its shape's headers and the id it is signed under, before signing.
#[derive(Clone, Debug)]
pub struct Built {
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    pub id: String,
}

/// One message as the provider would report it.
#[derive(Clone, Debug)]
pub struct Message {
    pub message_id: String,
    pub sender: String,
    pub text: String,
}

/// A verifier under test, reached through a pinned connection and described by a profile.
pub struct Target {
    pub conn: Conn,
    pub profile: Profile,
    secret: Option<Secret>,
    /// Makes ids and senders unique to this run (a target may remember earlier runs).
    nonce: u64,
    counter: AtomicU64,
}

impl Target {
    /// `secret` is the target's webhook secret; needed unless the profile's deliveries are
    /// unsigned.
    pub fn new(
        conn: Conn,
        profile: Profile,
        secret: Option<&str>,
        nonce: u64,
    ) -> Result<Self, ClientError> {
        let secret = match (profile.webhook.signature.core(), secret) {
            (None, _) => None,
            (Some(scheme), Some(s)) => Some(Secret::new(scheme, s)?),
            (Some(_), None) => {
                return Err(ClientError::NoSecret(profile.webhook.signature.as_str()));
            }
        };
        Ok(Self {
            conn,
            profile,
            secret,
            nonce: nonce % 1_000_000,
            counter: AtomicU64::new(0),
        })
    }

    pub fn secret(&self) -> Option<&Secret> {
        self.secret.as_ref()
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// A phone number no earlier run used: +1 555 then 10 digits from the run and a counter.
    pub fn new_sender(&self) -> String {
        format!("+1555{:04}{:04}", self.nonce % 10_000, self.next() % 10_000)
    }

    pub fn new_message_id(&self) -> String {
        format!("audit{}x{}", self.nonce, self.next())
    }

    pub async fn send(&self, req: &Request, how: Send) -> Exchange {
        self.conn.send(req, how).await
    }

    /// Starts a challenge bound (when the profile binds) to a new sender.
    pub async fn start(
        &self,
        ev: &mut Vec<Exchange>,
        ttl_seconds: Option<u64>,
    ) -> Result<Started, StartFailed> {
        let p = &self.profile.start;
        let sender = self.new_sender();
        let ttl = ttl_seconds.unwrap_or(p.ttl_seconds);
        let mut req = Request::new(&p.method, &p.path);
        if let Some(body) = self.profile.start_body(&sender, ttl) {
            req = req
                .header("Content-Type", p.content_type.clone())
                .body(body.into_bytes());
        }
        let ex = self.send(&req, Send::Normal).await;
        let got = match ex.answer() {
            Some(a) if a.is_success() => match a.json() {
                Some(json) => self.profile.read_start(&json).map(|i| Started {
                    code: i.code,
                    id: i.id,
                    link: i.link,
                    sender,
                }),
                None => Err("the start's answer is not JSON".to_string()),
            },
            _ => Err(format!("the start was answered {}", ex.outcome)),
        };
        ev.push(ex);
        got.map_err(StartFailed)
    }

    /// A message from `sender` with `text`, under a new message id.
    pub fn message(&self, sender: &str, text: &str) -> Message {
        Message {
            message_id: self.new_message_id(),
            sender: sender.to_string(),
            text: text.to_string(),
        }
    }

    /// The body of `m` in `shape` with that shape's headers (not yet signed), built once so
    /// that a retry can re-sign the very same bytes.
    pub fn build(&self, shape: PayloadShape, m: &Message) -> Built {
        let inbound = inbound(m);
        Built {
            body: shape.body(&inbound),
            headers: shape
                .headers(&inbound)
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            id: shape.delivery_id(&inbound),
        }
    }

    /// A webhook request with `body` and `headers` (Content-Type first).
    pub fn webhook_request(&self, body: Vec<u8>, headers: Vec<(String, String)>) -> Request {
        let mut req = Request::new("POST", &self.profile.webhook.path)
            .header("Content-Type", "application/json");
        req.headers.extend(headers);
        req.body(body)
    }

    /// `b` signed at `t` with the target's secret (unsigned when the profile says so).
    pub fn sign(&self, b: &Built, t: i64) -> Request {
        match &self.secret {
            Some(secret) => self.sign_with(secret, b, t),
            None => self.webhook_request(b.body.clone(), b.headers.clone()),
        }
    }

    /// `b` signed at `t` with `secret` (a forger's, say).
    pub fn sign_with(&self, secret: &Secret, b: &Built, t: i64) -> Request {
        let mut headers = b.headers.clone();
        let sig = secret.signature_headers(&b.id, t, &b.body);
        headers.extend(sig.into_iter().map(|(k, v)| (k.to_string(), v)));
        self.webhook_request(b.body.clone(), headers)
    }

    /// The delivery of `m` as the provider sends it: the profile's shape, signed at `t`.
    pub fn delivery(&self, m: &Message, t: i64) -> Request {
        self.delivery_in(self.profile.webhook.shape, m, t)
    }

    /// [`Target::delivery`] in another shape.
    pub fn delivery_in(&self, shape: PayloadShape, m: &Message, t: i64) -> Request {
        self.sign(&self.build(shape, m), t)
    }

    /// What the webhook's answer says about the delivery (the profile's answer pointer).
    pub fn answer_says(&self, ex: &Exchange) -> Seen {
        if self.profile.webhook.answer.is_none() {
            return Seen::Unseen;
        }
        match ex.answer() {
            None => Seen::Not(ex.outcome.clone()),
            Some(a) => self.profile.read_webhook_answer(a.status, &a.body),
        }
    }

    /// The challenge's state by the status route; `Unseen` without one.
    pub async fn status(&self, ev: &mut Vec<Exchange>, s: &Started) -> Seen {
        self.status_and_sender(ev, s).await.0
    }

    /// The status and, when the profile reads it, the sender the target recorded.
    pub async fn status_and_sender(
        &self,
        ev: &mut Vec<Exchange>,
        s: &Started,
    ) -> (Seen, Option<String>) {
        let issued = crate::profile::Issued {
            code: s.code.clone(),
            id: s.id.clone(),
            link: None,
        };
        let path = match self.profile.status_path(&issued) {
            None => return (Seen::Unseen, None),
            Some(Err(why)) => return (Seen::Not(why), None),
            Some(Ok(path)) => path,
        };
        let ex = self.send(&Request::new("GET", &path), Send::Normal).await;
        let got = match ex
            .answer()
            .filter(|a| a.is_success())
            .and_then(|a| a.json())
        {
            None => (Seen::Not(format!("status {}", ex.outcome)), None),
            Some(json) => self.profile.read_status(&json),
        };
        ev.push(ex);
        got
    }

    /// Whether `s` is verified after `delivery`: the status route when there is one, else the
    /// delivery's answer, else `Unseen`.
    pub async fn verified_after(
        &self,
        ev: &mut Vec<Exchange>,
        s: &Started,
        delivery: &Exchange,
    ) -> Seen {
        if self.profile.status.is_some() {
            self.status(ev, s).await
        } else {
            self.answer_says(delivery)
        }
    }

    /// Delivers `m` signed now and says whether `s` ended verified.
    pub async fn deliver_and_see(
        &self,
        ev: &mut Vec<Exchange>,
        s: &Started,
        m: &Message,
    ) -> (Exchange, Seen) {
        let ex = self.send(&self.delivery(m, now_secs()), Send::Normal).await;
        ev.push(ex.clone());
        let seen = self.verified_after(ev, s, &ex).await;
        (ex, seen)
    }

    /// The signature scheme deliveries use.
    pub fn scheme(&self) -> SignatureScheme {
        self.profile.webhook.signature
    }
}

fn inbound(m: &Message) -> Inbound<'_> {
    Inbound {
        message_id: &m.message_id,
        sender: &m.sender,
        text: &m.text,
        protocol: "imessage",
        received_at_ms: u64::try_from(now_secs()).unwrap_or(0) * 1000,
    }
}

/// The wall clock in Unix seconds: the target's clock is assumed to be the same.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
