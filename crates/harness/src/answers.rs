//! The server's JSON answers as the harness reads them: typed, deserialized with serde, one
//! struct per answer (`openapi.yaml` describes them). A field a client may meet missing is an
//! `Option`, so an answer without it is still read and the caller says what it lacks.

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// `POST /2fa/start`, 201.
#[derive(Debug, Default, Deserialize)]
pub struct Started {
    pub id: Option<String>,
    pub code: Option<String>,
}

/// `GET /2fa/status/{id}`, 200.
#[derive(Debug, Default, Deserialize)]
pub struct Status {
    pub status: Option<String>,
}

/// `POST /webhooks/blooio`, 200: the outcome and whether this delivery was seen before.
#[derive(Debug, Default, Deserialize)]
pub struct Received {
    pub result: Option<String>,
    #[serde(default)]
    pub duplicate: bool,
}

/// `GET /sms/outbox/{phone}`, 200.
#[derive(Debug, Default, Deserialize)]
pub struct Outbox {
    pub code: Option<String>,
}

/// `POST /sms/check`, 200.
#[derive(Debug, Default, Deserialize)]
pub struct Checked {
    pub result: Option<String>,
}

/// `body` read as `T`; `None` when it is not that answer.
pub fn read<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    serde_json::from_slice(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_with_missing_fields_left_empty() {
        let r: Received = read(br#"{"result":"verified","id":"x","duplicate":true}"#).unwrap();
        assert_eq!(r.result.as_deref(), Some("verified"));
        assert!(r.duplicate);
        let r: Received = read(br#"{"result":"no_code"}"#).unwrap();
        assert!(!r.duplicate);
        let s: Started = read(br#"{"id":"ch_1","link":"imessage://x"}"#).unwrap();
        assert_eq!((s.id.as_deref(), s.code), (Some("ch_1"), None));
        assert!(read::<Status>(b"<html>").is_none());
        assert!(read::<Outbox>(br#"{"code":5}"#).is_none());
    }
}
