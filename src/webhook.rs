//! Webhook signatures and the provider's event format.
//!
//! The signature is checked on the raw body *before* anything is parsed: an unsigned body is
//! attacker input and never reaches the JSON parser or the verifier.
//!
//! Two schemes:
//! * **Blooio**: header `Blooio-Signature` (or `x-blooio-signature`) =
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Default)]
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
            .ok_or(SignatureError::Missing("Blooio-Signature"))?;
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
            Scheme::Blooio => vec![("Blooio-Signature", self.sign_blooio(t, body))],
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

/// A provider event. Unknown fields are allowed: providers add fields without notice.
/// Strings borrow from the body unless they contain escapes.
#[derive(Debug, Deserialize)]
pub struct Event<'a> {
    #[serde(borrow)]
    pub event: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    pub message_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    pub sender: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    pub text: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    pub protocol: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
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
    #[error("message.received event lacks field {0:?}")]
    Missing(&'static str),
}

impl<'a> Event<'a> {
    /// Events are JSON objects; serde would also read a struct from an array, positionally.
    pub fn parse(body: &'a [u8]) -> Result<Self, EventError> {
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(EventError::Json("the event must be a JSON object".into()));
        }
        serde_json::from_slice(body).map_err(|e| EventError::Json(e.to_string()))
    }

    pub fn is_message_received(&self) -> bool {
        self.event == MESSAGE_RECEIVED
    }

    /// The message to verify; errors name the first missing field.
    pub fn message(&self) -> Result<InboundMessage<'_>, EventError> {
        Ok(InboundMessage {
            sender: self
                .sender
                .as_deref()
                .ok_or(EventError::Missing("sender"))?,
            text: self.text.as_deref().ok_or(EventError::Missing("text"))?,
            protocol: self.protocol.as_deref(),
        })
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
        assert!(matches!(e.event, Cow::Borrowed("message.received")));
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
            Err(SignatureError::Missing("Blooio-Signature"))
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
        assert_eq!(e.message().unwrap_err(), EventError::Missing("sender"));
        assert!(matches!(Event::parse(b"{"), Err(EventError::Json(_))));
        assert!(matches!(
            Event::parse(br#"{"text":"x"}"#),
            Err(EventError::Json(_))
        ));
        let positional = br#"["message.received","m1","+15550100001","ABC234","imessage",null]"#;
        assert!(matches!(Event::parse(positional), Err(EventError::Json(_))));
        let e = Event::parse(br#"{"event":"message.sent","extra":[1,2]}"#).unwrap();
        assert!(!e.is_message_received());
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
