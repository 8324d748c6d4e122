//! Webhook signatures and the provider's event format.
//!
//! The signature is checked on the raw body *before* anything is parsed: an unsigned body is
//! attacker input and never reaches the JSON parser or the verifier.
//!
//! Two schemes:
//! * **Blooio**: header `X-Blooio-Signature` (or `Blooio-Signature`, which the `blooio` crate
//!   sends) =
//!   `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`; several `v1` values may be
//!   present (secret rotation) and any match passes. The secret's bytes are the key as given.
//! * **Standard Webhooks**: headers `webhook-id`, `webhook-timestamp`, `webhook-signature`
//!   (`v1,<base64>` entries separated by spaces) over `"<id>.<timestamp>.<body>"`; a secret of
//!   the form `whsec_<base64>` is base64-decoded, as the reference libraries do.
//!
//! Both reject timestamps more than the tolerance (300 s) away from now, in either direction,
//! and compare MACs in constant time.

use crate::verifier::InboundMessage;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde::de::{Deserializer, Visitor};
use sha2::Sha256;
use std::borrow::Cow;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Scheme {
    #[default]
    Blooio,
    Standard,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("missing signature header {0}")]
    Missing(&'static str),
    #[error("malformed signature header: {0}")]
    Malformed(&'static str),
    #[error("signature timestamp is outside the {0}-second tolerance")]
    Stale(i64),
    #[error("signature does not match")]
    Mismatch,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("webhook secret is empty")]
    Empty,
    #[error("a whsec_ secret must be base64 after the prefix")]
    Base64,
}

/// The key material for one scheme, prepared once at start-up: the HMAC is keyed here, so a
/// delivery costs no key schedule (two SHA-256 blocks saved per request).
#[derive(Clone)]
pub struct Secret {
    scheme: Scheme,
    keyed: HmacSha256,
    key_len: usize,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({:?}, {} bytes)", self.scheme, self.key_len)
    }
}

/// The request headers a scheme may need, looked up case-insensitively by the caller.
#[derive(Default, Debug, Clone, Copy)]
pub struct SignatureHeaders<'a> {
    pub blooio_signature: Option<&'a str>,
    pub webhook_id: Option<&'a str>,
    pub webhook_timestamp: Option<&'a str>,
    pub webhook_signature: Option<&'a str>,
}

impl Secret {
    pub fn new(scheme: Scheme, secret: &str) -> Result<Self, SecretError> {
        if secret.is_empty() {
            return Err(SecretError::Empty);
        }
        let key = match (scheme, secret.strip_prefix("whsec_")) {
            (Scheme::Standard, Some(b64)) => {
                STANDARD.decode(b64).map_err(|_| SecretError::Base64)?
            }
            _ => secret.as_bytes().to_vec(),
        };
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        // HMAC accepts keys of any length, so this cannot fail.
        let keyed = HmacSha256::new_from_slice(&key).map_err(|_| SecretError::Empty)?;
        Ok(Self {
            scheme,
            keyed,
            key_len: key.len(),
        })
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.keyed.clone();
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    /// Checks a delivery; `now_secs` is the caller's clock in Unix seconds.
    pub fn verify(
        &self,
        headers: &SignatureHeaders<'_>,
        body: &[u8],
        now_secs: i64,
        tolerance_secs: i64,
    ) -> Result<(), SignatureError> {
        match self.scheme {
            Scheme::Blooio => self.verify_blooio(headers, body, now_secs, tolerance_secs),
            Scheme::Standard => self.verify_standard(headers, body, now_secs, tolerance_secs),
        }
    }

    fn verify_blooio(
        &self,
        headers: &SignatureHeaders<'_>,
        body: &[u8],
        now_secs: i64,
        tolerance: i64,
    ) -> Result<(), SignatureError> {
        let header = headers
            .blooio_signature
            .ok_or(SignatureError::Missing("X-Blooio-Signature"))?;
        let mut timestamp = None;
        let mut candidates = Vec::new();
        for part in header.split(',') {
            let (k, v) = part
                .trim()
                .split_once('=')
                .ok_or(SignatureError::Malformed("expected key=value pairs"))?;
            match k.trim() {
                "t" if timestamp.is_none() => timestamp = Some(v.trim()),
                "t" => return Err(SignatureError::Malformed("more than one t")),
                "v1" => candidates.push(v.trim()),
                _ => {} // Other schemes' entries are ignored, as they are by Blooio's clients.
            }
        }
        let t_text = timestamp.ok_or(SignatureError::Malformed("no t= timestamp"))?;
        if candidates.is_empty() {
            return Err(SignatureError::Malformed("no v1= signature"));
        }
        let t = parse_timestamp(t_text)?;
        check_fresh(t, now_secs, tolerance)?;
        let expected = self.mac(&[t_text.as_bytes(), b".", body]);
        let mut any = subtle::Choice::from(0);
        for c in candidates {
            let mut got = [0u8; 32];
            if hex::decode_to_slice(c, &mut got).is_ok() {
                any |= got.ct_eq(&expected);
            }
        }
        matched(any)
    }

    fn verify_standard(
        &self,
        headers: &SignatureHeaders<'_>,
        body: &[u8],
        now_secs: i64,
        tolerance: i64,
    ) -> Result<(), SignatureError> {
        let id = headers
            .webhook_id
            .ok_or(SignatureError::Missing("webhook-id"))?;
        let ts = headers
            .webhook_timestamp
            .ok_or(SignatureError::Missing("webhook-timestamp"))?;
        let sigs = headers
            .webhook_signature
            .ok_or(SignatureError::Missing("webhook-signature"))?;
        let t = parse_timestamp(ts)?;
        check_fresh(t, now_secs, tolerance)?;
        let expected = self.mac(&[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
        let mut any = subtle::Choice::from(0);
        for entry in sigs.split_whitespace() {
            if let Some(b64) = entry.strip_prefix("v1,")
                && let Ok(got) = STANDARD.decode(b64)
                && got.len() == 32
            {
                any |= got.as_slice().ct_eq(&expected);
            }
        }
        matched(any)
    }

    /// The Blooio header value for a body signed at `t` (what the emitter sends).
    pub fn sign_blooio(&self, t: i64, body: &[u8]) -> String {
        let t = t.to_string();
        format!(
            "t={t},v1={}",
            hex::encode(self.mac(&[t.as_bytes(), b".", body]))
        )
    }

    /// The `webhook-signature` header value for the standard scheme.
    pub fn sign_standard(&self, id: &str, t: i64, body: &[u8]) -> String {
        let t = t.to_string();
        let mac = self.mac(&[id.as_bytes(), b".", t.as_bytes(), b".", body]);
        format!("v1,{}", STANDARD.encode(mac))
    }

    /// Every header a delivery of `body` with delivery id `id`, signed at `t`, carries under
    /// this secret's scheme (the Blooio scheme has no header for the id: it is in the body).
    pub fn signature_headers(&self, id: &str, t: i64, body: &[u8]) -> Vec<(&'static str, String)> {
        match self.scheme {
            Scheme::Blooio => vec![("X-Blooio-Signature", self.sign_blooio(t, body))],
            Scheme::Standard => vec![
                ("webhook-id", id.to_string()),
                ("webhook-timestamp", t.to_string()),
                ("webhook-signature", self.sign_standard(id, t, body)),
            ],
        }
    }
}

/// The verdict over all offered signatures, each compared in constant time.
fn matched(any: subtle::Choice) -> Result<(), SignatureError> {
    if bool::from(any) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn parse_timestamp(t: &str) -> Result<i64, SignatureError> {
    if t.is_empty() || t.len() > 12 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::Malformed("timestamp must be unix seconds"));
    }
    t.parse()
        .map_err(|_| SignatureError::Malformed("timestamp must be unix seconds"))
}

fn check_fresh(t: i64, now: i64, tolerance: i64) -> Result<(), SignatureError> {
    if (now - t).abs() > tolerance {
        return Err(SignatureError::Stale(tolerance));
    }
    Ok(())
}

/// The provider's `message.received` body as it arrives, in any documented shape (see
/// docs/provider.md): Blooio's v2 event (`event`, `message_id`, `external_id`, …), the older
/// shape with `sender` (the seed demo, the `blooio` crate), or a V4 envelope (`id`, `type`,
/// `data` holding the message fields). Unknown fields are allowed: providers add fields
/// without notice, and `attachments`, `timestamp`, `device_id`, `received_at` are not needed.
/// Strings borrow from the body unless they contain escapes.
#[derive(Debug, Deserialize)]
struct Wire<'a> {
    #[serde(borrow, default, deserialize_with = "borrowed")]
    event: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow, default, deserialize_with = "borrowed")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<Box<Wire<'a>>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    message_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    external_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    sender: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    protocol: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    internal_id: Option<Cow<'a, str>>,
}

/// Which documented shape a body had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A flat event with `event` at the top (v2 reference and the older `sender` shape).
    Flat,
    /// A V4 envelope: `type`, `id`, and the event's fields under `data`.
    Envelope,
}

/// A provider event, read from any documented shape.
#[derive(Debug)]
pub struct Event<'a> {
    pub format: Format,
    /// `event` of a flat body, `type` of an envelope.
    pub kind: Cow<'a, str>,
    /// The envelope's event id (`evt_…`); flat bodies have none.
    pub event_id: Option<Cow<'a, str>>,
    pub message_id: Option<Cow<'a, str>>,
    pub external_id: Option<Cow<'a, str>>,
    pub sender: Option<Cow<'a, str>>,
    pub text: Option<Cow<'a, str>>,
    pub protocol: Option<Cow<'a, str>>,
    pub internal_id: Option<Cow<'a, str>>,
}

/// An optional string, borrowed when it can be. serde's derive borrows a `Cow<str>` field but
/// not one inside an `Option`: that would copy every field of every delivery into a `String`.
fn borrowed<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct Text;
    impl<'de> Visitor<'de> for Text {
        type Value = Cow<'de, str>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v))
        }
    }
    struct MaybeText;
    impl<'de> Visitor<'de> for MaybeText {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(Text).map(Some)
        }
    }
    d.deserialize_option(MaybeText)
}

pub const MESSAGE_RECEIVED: &str = "message.received";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("the event has no field \"event\" (nor \"type\" with \"data\", as a V4 envelope)")]
    NoKind,
    #[error("message.received event lacks field {0:?}")]
    Missing(&'static str),
    #[error("message.received event lacks its sender: field \"external_id\" (or \"sender\")")]
    NoSender,
    #[error("field {0:?} is empty")]
    Empty(&'static str),
    #[error(
        "message.received event lacks field \"message_id\": the X-Blooio-Message-Id header is not signed, so it cannot name the delivery"
    )]
    UnsignedId,
    #[error("{0}")]
    Disagree(String),
}

impl<'a> Event<'a> {
    /// Events are JSON objects; serde would also read a struct from an array, positionally.
    pub fn parse(body: &'a [u8]) -> Result<Self, EventError> {
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(EventError::Json("the event must be a JSON object".into()));
        }
        let mut wire: Wire<'a> =
            serde_json::from_slice(body).map_err(|e| EventError::Json(e.to_string()))?;
        let (format, kind, event_id, m) = if let Some(event) = wire.event.take() {
            (Format::Flat, event, None, wire)
        } else if let (Some(kind), Some(data)) = (wire.kind.take(), wire.data.take()) {
            (Format::Envelope, kind, wire.id.take(), *data)
        } else {
            return Err(EventError::NoKind);
        };
        Ok(Event {
            format,
            kind,
            event_id,
            message_id: m.message_id,
            external_id: m.external_id,
            sender: m.sender,
            text: m.text,
            protocol: m.protocol,
            internal_id: m.internal_id,
        })
    }

    pub fn is_message_received(&self) -> bool {
        self.kind == MESSAGE_RECEIVED
    }

    /// The sender: `external_id` (the documented field) or `sender` (the older shape); both
    /// may be present only if they agree.
    pub fn sender(&self) -> Result<&str, EventError> {
        match (self.external_id.as_deref(), self.sender.as_deref()) {
            (Some(a), Some(b)) if a != b => Err(EventError::Disagree(format!(
                "external_id {a:?} and sender {b:?} disagree"
            ))),
            (Some(s), _) | (None, Some(s)) => Ok(s),
            (None, None) => Err(EventError::NoSender),
        }
    }

    /// The message to verify; errors name the first missing field.
    pub fn message(&self) -> Result<InboundMessage<'_>, EventError> {
        Ok(InboundMessage {
            sender: self.sender()?,
            text: self.text.as_deref().ok_or(EventError::Missing("text"))?,
            protocol: self.protocol.as_deref(),
        })
    }

    /// Which id this delivery is remembered by, checked against the request's headers.
    ///
    /// * Standard Webhooks: the signed `webhook-id` header.
    /// * Blooio: a V4 envelope's event `id`; a flat event's `message_id` (signed). The unsigned
    ///   `X-Blooio-Message-Id` header never names a delivery: a flat body without `message_id`
    ///   is refused ([`EventError::UnsignedId`]) whatever the header says. When body and header
    ///   both name the message they must agree, and `X-Blooio-Event` must agree with the
    ///   body's event.
    ///
    /// An empty id is refused like a missing one: as a dedupe key it would make unrelated
    /// deliveries share one answer. A replay (`X-Blooio-Replay: true`) names the event it
    /// repeats in `X-Original-Event-Id`; that id is only ever *looked up* (it is not signed),
    /// never used to record a new answer.
    pub fn delivery<'h>(
        &'h self,
        scheme: Scheme,
        h: &DeliveryHeaders<'h>,
    ) -> Result<Delivery<'h>, EventError> {
        if let Some(e) = h.event
            && e != self.kind
        {
            return Err(EventError::Disagree(format!(
                "header X-Blooio-Event {e:?} disagrees with the body's event {:?}",
                self.kind
            )));
        }
        let body_mid = non_empty(self.message_id.as_deref(), "message_id")?;
        let header_mid = non_empty(h.message_id, "X-Blooio-Message-Id")?;
        if let (Some(b), Some(hd)) = (body_mid, header_mid)
            && b != hd
        {
            return Err(EventError::Disagree(format!(
                "header X-Blooio-Message-Id {hd:?} disagrees with the body's message_id {b:?}"
            )));
        }
        let id =
            match scheme {
                Scheme::Standard => non_empty(h.webhook_id, "webhook-id")?
                    .ok_or(EventError::Missing("webhook-id"))?,
                Scheme::Blooio => match self.format {
                    Format::Envelope => non_empty(self.event_id.as_deref(), "id")?
                        .ok_or(EventError::Missing("id"))?,
                    // Only signed bytes choose the key: a captured body replayed under made-up
                    // header ids would otherwise be a new delivery each time.
                    Format::Flat => match (body_mid, header_mid) {
                        (Some(id), _) => id,
                        (None, Some(_)) => return Err(EventError::UnsignedId),
                        (None, None) => return Err(EventError::Missing("message_id")),
                    },
                },
            };
        let replay_of = match (
            h.replay,
            non_empty(h.original_event_id, "X-Original-Event-Id")?,
        ) {
            (true, Some(orig)) if orig != id => Some(orig),
            _ => None,
        };
        Ok(Delivery { id, replay_of })
    }
}

fn non_empty<'h>(v: Option<&'h str>, name: &'static str) -> Result<Option<&'h str>, EventError> {
    match v {
        Some("") => Err(EventError::Empty(name)),
        other => Ok(other),
    }
}

/// The delivery headers besides the signature, looked up case-insensitively by the caller.
#[derive(Default, Debug, Clone, Copy)]
pub struct DeliveryHeaders<'a> {
    /// `X-Blooio-Event`.
    pub event: Option<&'a str>,
    /// `X-Blooio-Message-Id`.
    pub message_id: Option<&'a str>,
    /// `X-Blooio-Replay: true`.
    pub replay: bool,
    /// `X-Original-Event-Id`.
    pub original_event_id: Option<&'a str>,
    /// Standard Webhooks' `webhook-id`.
    pub webhook_id: Option<&'a str>,
}

/// How a delivery is deduplicated: recorded under `id`; a replay first looks up `replay_of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery<'a> {
    pub id: &'a str,
    pub replay_of: Option<&'a str>,
}

/// The body shapes an emitter can send (docs/provider.md has the source of each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadShape {
    /// Blooio's v2 reference: `external_id`, `attachments`, `timestamp`, `device_id`,
    /// `received_at`, with the `X-Blooio-Event` and `X-Blooio-Message-Id` headers.
    #[default]
    V2,
    /// The older shape with `sender` (the seed demo and the `blooio` crate), no extra headers.
    Legacy,
    /// A V4 envelope (`id`, `type`, `created_at`, `organization_id`, `data`).
    V4,
}

/// One inbound message, as the provider would report it.
#[derive(Clone, Copy, Debug)]
pub struct Inbound<'a> {
    pub message_id: &'a str,
    pub sender: &'a str,
    pub text: &'a str,
    pub protocol: &'a str,
    /// When the device received it (Unix ms); the webhook is stamped 1 ms later.
    pub received_at_ms: u64,
}

/// The device id the emitters report (Blooio sends a hashed device identifier).
const EMITTER_DEVICE: &str = "MO2FA000";

impl PayloadShape {
    /// The `message.received` body for `m` in this shape: the one place a provider event is
    /// written (emitters, benches and tests all call it).
    pub fn body(self, m: &Inbound<'_>) -> Vec<u8> {
        use serde_json::json;
        let sent = m.received_at_ms + 1;
        let value = match self {
            PayloadShape::V2 => json!({
                "event": MESSAGE_RECEIVED,
                "message_id": m.message_id,
                "external_id": m.sender,
                "text": m.text,
                "attachments": [],
                "protocol": m.protocol,
                "timestamp": sent,
                "device_id": EMITTER_DEVICE,
                "received_at": m.received_at_ms,
            }),
            PayloadShape::Legacy => json!({
                "event": MESSAGE_RECEIVED,
                "message_id": m.message_id,
                "sender": m.sender,
                "text": m.text,
                "protocol": m.protocol,
            }),
            PayloadShape::V4 => json!({
                "id": format!("evt_{}", m.message_id),
                "type": MESSAGE_RECEIVED,
                "created_at": sent,
                "organization_id": "org_mo2fa",
                "data": {
                    "message_id": m.message_id,
                    "external_id": m.sender,
                    "text": m.text,
                    "attachments": [],
                    "protocol": m.protocol,
                    "timestamp": sent,
                    "device_id": EMITTER_DEVICE,
                    "received_at": m.received_at_ms,
                },
            }),
        };
        serde_json::to_vec(&value).unwrap_or_default()
    }

    /// The headers besides the signature that this shape's documentation lists.
    pub fn headers(self, m: &Inbound<'_>) -> Vec<(&'static str, String)> {
        match self {
            PayloadShape::V2 => vec![
                ("X-Blooio-Event", MESSAGE_RECEIVED.to_string()),
                ("X-Blooio-Message-Id", m.message_id.to_string()),
            ],
            PayloadShape::Legacy | PayloadShape::V4 => Vec::new(),
        }
    }

    /// A complete delivery of `m`: the body, then every header besides `Content-Type` (this
    /// shape's own and the signature's under `secret`'s scheme), signed at `t` (Unix seconds).
    pub fn signed(
        self,
        secret: &Secret,
        m: &Inbound<'_>,
        t: i64,
    ) -> (Vec<u8>, Vec<(&'static str, String)>) {
        let body = self.body(m);
        let mut headers = self.headers(m);
        headers.extend(secret.signature_headers(&self.delivery_id(m), t, &body));
        (body, headers)
    }

    /// The id a delivery of `m` in this shape is deduplicated by (Blooio scheme).
    pub fn delivery_id(self, m: &Inbound<'_>) -> String {
        match self {
            PayloadShape::V4 => format!("evt_{}", m.message_id),
            PayloadShape::V2 | PayloadShape::Legacy => m.message_id.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn event_strings_borrow_from_the_body_unless_escaped() {
        let e = Event::parse(
            br#"{"event":"message.received","message_id":"m_1","sender":"+15550100001","text":"code \"AB2\"","protocol":null}"#,
        )
        .expect("event");
        assert!(matches!(e.kind, Cow::Borrowed("message.received")));
        assert!(matches!(e.message_id, Some(Cow::Borrowed("m_1"))));
        assert!(matches!(e.sender, Some(Cow::Borrowed("+15550100001"))));
        assert!(matches!(&e.text, Some(Cow::Owned(t)) if t == "code \"AB2\""));
        assert_eq!(e.protocol, None);
        assert_eq!(e.internal_id, None);
        let wrong =
            Event::parse(br#"{"event":"message.received","sender":5}"#).expect_err("number");
        assert!(wrong.to_string().contains("expected a string"), "{wrong}");
    }
    const BODY: &[u8] = br#"{"event":"message.received","message_id":"m_1","sender":"+15550100001","text":"ABC234","protocol":"imessage"}"#;

    fn blooio(header: &str) -> SignatureHeaders<'_> {
        SignatureHeaders {
            blooio_signature: Some(header),
            ..Default::default()
        }
    }

    #[test]
    fn blooio_known_vector() {
        // HMAC-SHA256("whsec_example_secret", "1700000000.<body>") computed independently
        // with Python's hmac module.
        let s = Secret::new(Scheme::Blooio, "whsec_example_secret").unwrap();
        let body = br#"{"event":"message.received","message_id":"m_123","text":"Hi there!","sender":"+15555550123"}"#;
        let header =
            "t=1700000000,v1=a031050aeb41a7ef072aefefdece109e8ca7db26d85348b8b64a911dac4e2987";
        assert_eq!(s.sign_blooio(NOW, body), header);
        assert_eq!(s.verify(&blooio(header), body, NOW, 300), Ok(()));
    }

    #[test]
    fn blooio_round_trip_and_rejections() {
        let s = Secret::new(Scheme::Blooio, "topsecret").unwrap();
        let h = s.sign_blooio(NOW, BODY);
        assert_eq!(s.verify(&blooio(&h), BODY, NOW + 300, 300), Ok(()));
        assert_eq!(s.verify(&blooio(&h), BODY, NOW - 300, 300), Ok(()));
        assert_eq!(
            s.verify(&blooio(&h), BODY, NOW + 301, 300),
            Err(SignatureError::Stale(300))
        );
        let mut tampered = BODY.to_vec();
        tampered[60] ^= 1;
        assert_eq!(
            s.verify(&blooio(&h), &tampered, NOW, 300),
            Err(SignatureError::Mismatch)
        );
        let other = Secret::new(Scheme::Blooio, "othersecret").unwrap();
        assert_eq!(
            other.verify(&blooio(&h), BODY, NOW, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            s.verify(&SignatureHeaders::default(), BODY, NOW, 300),
            Err(SignatureError::Missing("X-Blooio-Signature"))
        );
        for bad in [
            "",
            "garbage",
            "t=abc,v1=00",
            "v1=00",
            "t=1700000000",
            "t=1,t=2,v1=00",
        ] {
            assert!(
                matches!(
                    s.verify(&blooio(bad), BODY, NOW, 300),
                    Err(SignatureError::Malformed(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn blooio_any_of_several_v1_passes() {
        let s = Secret::new(Scheme::Blooio, "new").unwrap();
        let good = s.sign_blooio(NOW, BODY);
        let v1 = good.split("v1=").nth(1).unwrap();
        let header = format!("t={NOW}, v1={}, v1={v1}", "0".repeat(64));
        assert_eq!(s.verify(&blooio(&header), BODY, NOW, 300), Ok(()));
        let header = format!("t={NOW},v1=nothex,v1={v1}");
        assert_eq!(s.verify(&blooio(&header), BODY, NOW, 300), Ok(()));
    }

    #[test]
    fn standard_scheme_round_trip_and_rejections() {
        let s = Secret::new(Scheme::Standard, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = s.sign_standard("msg_1", NOW, BODY);
        let ts = NOW.to_string();
        let h = SignatureHeaders {
            webhook_id: Some("msg_1"),
            webhook_timestamp: Some(&ts),
            webhook_signature: Some(&sig),
            ..Default::default()
        };
        assert_eq!(s.verify(&h, BODY, NOW, 300), Ok(()));
        let multi = format!("v1,AAAA {sig}");
        let h2 = SignatureHeaders {
            webhook_signature: Some(&multi),
            ..h
        };
        assert_eq!(s.verify(&h2, BODY, NOW, 300), Ok(()));
        let h3 = SignatureHeaders {
            webhook_id: Some("msg_2"),
            ..h
        };
        assert_eq!(s.verify(&h3, BODY, NOW, 300), Err(SignatureError::Mismatch));
        assert_eq!(
            s.verify(&h, BODY, NOW + 1000, 300),
            Err(SignatureError::Stale(300))
        );
        assert!(Secret::new(Scheme::Standard, "whsec_!!!").is_err());
    }

    #[test]
    fn standard_scheme_known_vector() {
        // The example from the Standard Webhooks specification.
        let s = Secret::new(Scheme::Standard, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            s.sign_standard("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn event_parsing() {
        let e = Event::parse(BODY).unwrap();
        assert!(e.is_message_received());
        let m = e.message().unwrap();
        assert_eq!(
            (m.sender, m.text, m.protocol),
            ("+15550100001", "ABC234", Some("imessage"))
        );
        let e = Event::parse(br#"{"event":"message.received","text":"x"}"#).unwrap();
        assert_eq!(e.message().unwrap_err(), EventError::NoSender);
        assert!(matches!(Event::parse(b"{"), Err(EventError::Json(_))));
        assert_eq!(
            Event::parse(br#"{"text":"x"}"#).unwrap_err(),
            EventError::NoKind
        );
        let positional = br#"["message.received","m1","+15550100001","ABC234","imessage",null]"#;
        assert!(matches!(Event::parse(positional), Err(EventError::Json(_))));
        let e = Event::parse(br#"{"event":"message.sent","extra":[1,2]}"#).unwrap();
        assert!(!e.is_message_received());
    }

    const DOC_V2: &[u8] = br#"{"event":"message.received","message_id":"CZIsqG9ZWd9gwjIEhZpHY","external_id":"+15551234567","text":"Hello","attachments":["https://cdn.example.com/a.pdf",{"odd":true},null],"protocol":"imessage","timestamp":1703123457474,"device_id":"A1B2C3D4","received_at":1703123456789}"#;
    const DOC_V4: &[u8] = br#"{"id":"evt_1","type":"message.received","created_at":1718000000000,"organization_id":"org_1","data":{"message_id":"m_9","external_id":"kate@example.com","text":"ABC234","attachments":[],"protocol":"rcs"}}"#;

    #[test]
    fn every_documented_shape_reads_as_one_message() {
        let v2 = Event::parse(DOC_V2).unwrap();
        assert_eq!((v2.format, v2.event_id.as_deref()), (Format::Flat, None));
        let m = v2.message().unwrap();
        assert_eq!(
            (m.sender, m.text, m.protocol),
            ("+15551234567", "Hello", Some("imessage"))
        );
        let v4 = Event::parse(DOC_V4).unwrap();
        assert!(v4.is_message_received());
        assert_eq!(
            (v4.format, v4.event_id.as_deref()),
            (Format::Envelope, Some("evt_1"))
        );
        let m = v4.message().unwrap();
        assert_eq!(
            (m.sender, m.text, m.protocol),
            ("kate@example.com", "ABC234", Some("rcs"))
        );
        // An envelope without data, or a body with neither event nor type, is refused.
        for bad in [
            &br#"{"id":"evt_1","type":"message.received"}"#[..],
            br#"{"data":{}}"#,
        ] {
            assert_eq!(Event::parse(bad).unwrap_err(), EventError::NoKind);
        }
        let v4_other = Event::parse(br#"{"id":"e","type":"message.read","data":{}}"#).unwrap();
        assert!(!v4_other.is_message_received());
    }

    #[test]
    fn sender_comes_from_external_id_or_sender_and_both_must_agree() {
        fn e(body: &str) -> Event<'_> {
            Event::parse(body.as_bytes()).unwrap()
        }
        let both =
            e(r#"{"event":"message.received","external_id":"+1555","sender":"+1555","text":"x"}"#);
        assert_eq!(both.sender(), Ok("+1555"));
        let legacy = e(r#"{"event":"message.received","sender":"+1666","text":"x"}"#);
        assert_eq!(legacy.sender(), Ok("+1666"));
        let differ =
            e(r#"{"event":"message.received","external_id":"+1555","sender":"+1666","text":"x"}"#);
        assert!(
            matches!(differ.sender(), Err(EventError::Disagree(m)) if m.contains("external_id"))
        );
    }

    #[test]
    fn delivery_ids_follow_the_shape_and_the_headers_must_agree() {
        let v2 = Event::parse(DOC_V2).unwrap();
        let mid = "CZIsqG9ZWd9gwjIEhZpHY";
        let none = DeliveryHeaders::default();
        assert_eq!(
            v2.delivery(Scheme::Blooio, &none),
            Ok(Delivery {
                id: mid,
                replay_of: None
            })
        );
        let agreeing = DeliveryHeaders {
            event: Some("message.received"),
            message_id: Some(mid),
            ..none
        };
        assert_eq!(v2.delivery(Scheme::Blooio, &agreeing).unwrap().id, mid);
        for bad in [
            DeliveryHeaders {
                message_id: Some("other"),
                ..none
            },
            DeliveryHeaders {
                event: Some("message.sent"),
                ..none
            },
        ] {
            assert!(
                matches!(
                    v2.delivery(Scheme::Blooio, &bad),
                    Err(EventError::Disagree(_))
                ),
                "{bad:?}"
            );
        }
        // The unsigned header never names the message when the body does not (a captured body
        // replayed under made-up ids would be a new delivery each time); empty ids are refused.
        let no_mid =
            Event::parse(br#"{"event":"message.received","external_id":"+1","text":"x"}"#).unwrap();
        assert_eq!(
            no_mid.delivery(Scheme::Blooio, &none),
            Err(EventError::Missing("message_id"))
        );
        let by_header = DeliveryHeaders {
            message_id: Some("h_1"),
            ..none
        };
        assert_eq!(
            no_mid.delivery(Scheme::Blooio, &by_header),
            Err(EventError::UnsignedId)
        );
        let empty_header = DeliveryHeaders {
            message_id: Some(""),
            ..none
        };
        assert_eq!(
            no_mid.delivery(Scheme::Blooio, &empty_header),
            Err(EventError::Empty("X-Blooio-Message-Id"))
        );
        let empty = Event::parse(
            br#"{"event":"message.received","message_id":"","external_id":"+1","text":"x"}"#,
        )
        .unwrap();
        assert_eq!(
            empty.delivery(Scheme::Blooio, &none),
            Err(EventError::Empty("message_id"))
        );
        // Standard Webhooks: the signed webhook-id, never empty.
        let std_id = DeliveryHeaders {
            webhook_id: Some("msg_7"),
            ..none
        };
        assert_eq!(v2.delivery(Scheme::Standard, &std_id).unwrap().id, "msg_7");
        let std_empty = DeliveryHeaders {
            webhook_id: Some(""),
            ..none
        };
        assert_eq!(
            v2.delivery(Scheme::Standard, &std_empty),
            Err(EventError::Empty("webhook-id"))
        );
        assert_eq!(
            v2.delivery(Scheme::Standard, &none),
            Err(EventError::Missing("webhook-id"))
        );
        // V4: the event id; a replay names its original, which is only looked up.
        let v4 = Event::parse(DOC_V4).unwrap();
        assert_eq!(v4.delivery(Scheme::Blooio, &none).unwrap().id, "evt_1");
        let replay = DeliveryHeaders {
            replay: true,
            original_event_id: Some("evt_0"),
            ..none
        };
        assert_eq!(
            v4.delivery(Scheme::Blooio, &replay),
            Ok(Delivery {
                id: "evt_1",
                replay_of: Some("evt_0")
            })
        );
        let not_replay = DeliveryHeaders {
            replay: false,
            ..replay
        };
        assert_eq!(
            v4.delivery(Scheme::Blooio, &not_replay).unwrap().replay_of,
            None
        );
    }

    #[test]
    fn emitted_shapes_parse_back_to_the_same_message_and_id() {
        let secret = Secret::new(Scheme::Blooio, "k").unwrap();
        let m = Inbound {
            message_id: "m_1",
            sender: "+15550100001",
            text: "code \"ABC234\"",
            protocol: "imessage",
            received_at_ms: NOW as u64 * 1000,
        };
        for shape in [PayloadShape::V2, PayloadShape::Legacy, PayloadShape::V4] {
            let (body, headers) = shape.signed(&secret, &m, NOW);
            let find = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.as_str())
            };
            let sig = SignatureHeaders {
                blooio_signature: find("X-Blooio-Signature"),
                ..Default::default()
            };
            assert_eq!(secret.verify(&sig, &body, NOW, 300), Ok(()), "{shape:?}");
            let e = Event::parse(&body).unwrap();
            let got = e.message().unwrap();
            assert_eq!(
                (got.sender, got.text, got.protocol),
                (m.sender, m.text, Some(m.protocol))
            );
            let h = DeliveryHeaders {
                event: find("X-Blooio-Event"),
                message_id: find("X-Blooio-Message-Id"),
                ..Default::default()
            };
            assert_eq!(
                e.delivery(Scheme::Blooio, &h).unwrap().id,
                shape.delivery_id(&m),
                "{shape:?}"
            );
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn parsing_never_panics(body in proptest::collection::vec(any::<u8>(), 0..400)) {
                if let Ok(e) = Event::parse(&body) {
                    let _ = e.message();
                }
            }

            #[test]
            fn verification_never_panics_and_rejects_garbage(header in ".{0,200}", body in ".{0,100}") {
                let s = Secret::new(Scheme::Blooio, "k").unwrap();
                prop_assert!(s.verify(&blooio(&header), body.as_bytes(), NOW, 300).is_err());
                let std = Secret::new(Scheme::Standard, "k").unwrap();
                let h = SignatureHeaders {
                    webhook_id: Some(&header),
                    webhook_timestamp: Some(&header),
                    webhook_signature: Some(&header),
                    ..Default::default()
                };
                prop_assert!(std.verify(&h, body.as_bytes(), NOW, 300).is_err());
            }

            /// Any single-bit change to a signed body is caught.
            #[test]
            fn any_bit_flip_is_rejected(body in proptest::collection::vec(any::<u8>(), 1..200), bit in any::<usize>()) {
                let s = Secret::new(Scheme::Blooio, "k").unwrap();
                let header = s.sign_blooio(NOW, &body);
                prop_assert_eq!(s.verify(&blooio(&header), &body, NOW, 300), Ok(()));
                let mut flipped = body.clone();
                let at = bit % (body.len() * 8);
                flipped[at / 8] ^= 1 << (at % 8);
                prop_assert_eq!(s.verify(&blooio(&header), &flipped, NOW, 300), Err(SignatureError::Mismatch));
            }
        }
    }
}
