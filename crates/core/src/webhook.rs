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
    #[error("webhook secret list has an empty entry (secrets are separated by commas)")]
    EmptyEntry,
    #[error("a whsec_ secret must be base64 after the prefix")]
    Base64,
}

/// The key material for one scheme, prepared once at start-up: the HMAC is keyed here, so a
/// delivery costs no key schedule (two SHA-256 blocks saved per request).
///
/// **Rotation.** Several secrets may be given, separated by commas (`new,old`): a delivery
/// signed with any of them passes, and signing uses the first. A rotation then drops no
/// delivery: give the new secret first and the old after it, rotate at the provider, and drop
/// the old one once its deliveries (and their retries) are over. (Blooio invalidates the old
/// secret as soon as it rotates, so deliveries signed with it stop at once; the list covers
/// the retries already on their way, and the order in which the provider and the servers
/// change.) With one secret, a delivery costs exactly what it did.
#[derive(Clone)]
pub struct Secret {
    scheme: Scheme,
    /// The first secret's key: signs, and is tried first.
    keyed: HmacSha256,
    /// The other secrets accepted (empty unless rotating: no allocation then).
    also: Box<[HmacSha256]>,
    key_len: usize,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Secret({:?}, {} bytes, {} more accepted)",
            self.scheme,
            self.key_len,
            self.also.len()
        )
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
    /// One secret, or several separated by commas (the first signs; any verifies).
    pub fn new(scheme: Scheme, secret: &str) -> Result<Self, SecretError> {
        if secret.is_empty() {
            return Err(SecretError::Empty);
        }
        let mut keys = Vec::new();
        for one in secret.split(',') {
            let one = one.trim();
            if one.is_empty() {
                return Err(SecretError::EmptyEntry);
            }
            keys.push(Self::one(scheme, one)?);
        }
        let (keyed, key_len) = keys.remove(0);
        Ok(Self {
            scheme,
            keyed,
            also: keys.into_iter().map(|(k, _)| k).collect(),
            key_len,
        })
    }

    /// One secret's keyed HMAC and its key length.
    fn one(scheme: Scheme, secret: &str) -> Result<(HmacSha256, usize), SecretError> {
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
        Ok((keyed, key.len()))
    }

    /// Every accepted key, the signing one first.
    fn keys(&self) -> impl Iterator<Item = &HmacSha256> {
        std::iter::once(&self.keyed).chain(self.also.iter())
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        mac_with(&self.keyed, parts)
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
        // The v1 values offered: a rotation offers two or three, which fit here without an
        // allocation; any beyond go to `more`.
        let mut first = [""; 4];
        let mut offered = 0;
        let mut more = Vec::new();
        for part in header.split(',') {
            let part = trim(part);
            let eq = part
                .bytes()
                .position(|b| b == b'=')
                .ok_or(SignatureError::Malformed("expected key=value pairs"))?;
            let (k, v) = (&part[..eq], &part[eq + 1..]);
            match trim(k) {
                "t" if timestamp.is_none() => timestamp = Some(trim(v)),
                "t" => return Err(SignatureError::Malformed("more than one t")),
                "v1" => {
                    match first.get_mut(offered) {
                        Some(slot) => *slot = trim(v),
                        None => more.push(trim(v)),
                    }
                    offered += 1;
                }
                _ => {} // Other schemes' entries are ignored, as they are by Blooio's clients.
            }
        }
        let t_text = timestamp.ok_or(SignatureError::Malformed("no t= timestamp"))?;
        if offered == 0 {
            return Err(SignatureError::Malformed("no v1= signature"));
        }
        let t = parse_timestamp(t_text)?;
        check_fresh(t, now_secs, tolerance)?;
        let candidates = || first[..offered.min(first.len())].iter().chain(&more);
        let mut any = subtle::Choice::from(0);
        for key in self.keys() {
            let expected = mac_with(key, &[t_text.as_bytes(), b".", body]);
            for c in candidates() {
                if let Some(got) = decode_mac(c) {
                    any |= mac_eq(&got, &expected);
                }
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
        let mut any = subtle::Choice::from(0);
        for key in self.keys() {
            let expected = mac_with(key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
            for entry in sigs.split_whitespace() {
                if let Some(b64) = entry.strip_prefix("v1,")
                    && let Ok(got) = STANDARD.decode(b64)
                    && let Ok(got) = <&[u8; 32]>::try_from(got.as_slice())
                {
                    any |= mac_eq(got, &expected);
                }
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

/// `s.trim()`, without its Unicode tables when there is nothing to trim: a string that starts
/// and ends with an ASCII byte that is not whitespace (as a signature header's pieces do) is
/// returned as it is, anything else goes to `str::trim`.
fn trim(s: &str) -> &str {
    let kept = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii() && !(*b as char).is_whitespace());
    let bytes = s.as_bytes();
    if kept(bytes.first()) && kept(bytes.last()) {
        s
    } else {
        s.trim()
    }
}

/// HMAC-SHA256 of the concatenated `parts` under an already keyed `key`.
fn mac_with(key: &HmacSha256, parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = key.clone();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Each byte's value as a hex digit (either case), or `0xFF` if it is not one.
const HEX_DIGIT: [u8; 256] = {
    let mut table = [0xFF; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// A hex MAC (either case, exactly 64 digits, as `hex::decode_to_slice` reads it), or `None`.
/// Read by table, without a branch per digit: the digits of a MAC are random, so a branch on
/// each (digit or letter?) was mispredicted about half the time, which cost more than the
/// whole HMAC on the real CPU.
fn decode_mac(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut bad = 0u8;
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let (hi, lo) = (HEX_DIGIT[pair[0] as usize], HEX_DIGIT[pair[1] as usize]);
        bad |= hi | lo;
        *byte = (hi << 4) | (lo & 0x0F);
    }
    (bad & 0x80 == 0).then_some(out)
}

/// Whether two MACs are equal, in constant time: the differences of their 8-byte words are
/// ORed together (no branch, no early exit) and only the total goes through `subtle`'s
/// optimisation barrier. `subtle`'s slice comparison put each of the 32 bytes through it, a
/// call with a volatile read and write per byte.
fn mac_eq(a: &[u8; 32], b: &[u8; 32]) -> subtle::Choice {
    let word = |c: &[u8]| {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        u64::from_le_bytes(w)
    };
    let diff = a
        .chunks_exact(8)
        .zip(b.chunks_exact(8))
        .fold(0u64, |d, (x, y)| d | (word(x) ^ word(y)));
    diff.ct_eq(&0)
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
/// Strings borrow from the body unless they contain escapes. Read by [`scan`] when the body is
/// plain JSON, else by serde.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(PartialEq))]
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
        let mut wire: Wire<'a> = match scan::wire(body) {
            Some(wire) => wire,
            None => serde_json::from_slice(body).map_err(|e| EventError::Json(e.to_string()))?,
        };
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

mod scan;

#[cfg(test)]
mod tests;
