//! HTTP test helpers both end-to-end test binaries use (this crate's and the `mo2fa` binary's,
//! which includes this file with `#[path]`): a parsed HTTP answer, provider event bodies and a
//! checked text replacement.
#![allow(dead_code)]

/// 2023-11-14T22:13:20Z: the time event bodies say they were received (and the in-process
/// server's manual clock starts at).
pub const T0: u64 = 1_700_000_000_000;

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn parse(raw: &[u8]) -> Self {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Self {
            status,
            headers,
            body: body.to_string(),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the status and that the body is a JSON error naming `needle`.
    pub fn assert_error(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "{self:?}");
        let msg = self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            msg.to_lowercase().contains(&needle.to_lowercase()),
            "error {msg:?} should mention {needle:?}"
        );
    }
}

/// A `message.received` body in Blooio's documented v2 shape (`external_id`).
pub fn message_event(message_id: &str, sender: &str, text: &str, protocol: &str) -> String {
    shaped_event(
        mo2fa_core::webhook::PayloadShape::V2,
        message_id,
        sender,
        text,
        protocol,
    )
}

/// A `message.received` body in `shape`, received at [`T0`].
pub fn shaped_event(
    shape: mo2fa_core::webhook::PayloadShape,
    message_id: &str,
    sender: &str,
    text: &str,
    protocol: &str,
) -> String {
    let m = mo2fa_core::webhook::Inbound {
        message_id,
        sender,
        text,
        protocol,
        received_at_ms: T0,
    };
    String::from_utf8(shape.body(&m)).unwrap()
}

/// `text` with every `from` replaced by `to`; panics if `from` is not there, so a test built on
/// a variant can never run on the unchanged original by mistake.
pub fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} is not in {text:?}");
    text.replace(from, to)
}
