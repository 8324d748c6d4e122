//! The JSON the server answers with: core values mapped to their wire form in one place. The
//! core's types stay plain Rust; field names and spellings seen by clients are decided here
//! (and described in `openapi.yaml`).

use mo2fa_core::sms_otp::CheckOutcome;
use mo2fa_core::store::{ChallengeId, ID_TEXT_LEN, Status};
use mo2fa_core::timefmt::rfc3339_ms;
use mo2fa_core::verifier::{ReceiveOutcome, Started, StatusView};
use serde::{Deserialize, Serialize};

/// A challenge id in its textual form, written without allocating.
struct Id<'a>(&'a ChallengeId);

impl Serialize for Id<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut text = [0u8; ID_TEXT_LEN];
        self.0.encode_into(&mut text);
        // base64url is ASCII.
        s.serialize_str(std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?)
    }
}

#[derive(Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
enum Answer<'a> {
    Verified { id: Id<'a> },
    SenderMismatch { id: Id<'a>, locked: bool },
    Expired { id: Id<'a> },
    NoMatch { candidates_tried: usize },
    NoCode,
    Ignored { reason: &'a str },
}

impl<'a> From<&'a ReceiveOutcome> for Answer<'a> {
    fn from(o: &'a ReceiveOutcome) -> Self {
        match o {
            ReceiveOutcome::Verified { id } => Answer::Verified { id: Id(id) },
            ReceiveOutcome::SenderMismatch { id, locked } => Answer::SenderMismatch {
                id: Id(id),
                locked: *locked,
            },
            ReceiveOutcome::Expired { id } => Answer::Expired { id: Id(id) },
            ReceiveOutcome::NoMatch { candidates_tried } => Answer::NoMatch {
                candidates_tried: *candidates_tried,
            },
            ReceiveOutcome::NoCode => Answer::NoCode,
            ReceiveOutcome::Ignored { reason } => Answer::Ignored { reason },
        }
    }
}

/// The webhook's answer: `{"result": ..., <the outcome's fields>, "duplicate": bool}`, written
/// straight into bytes: it is the hottest answer. Each outcome but `ignored` is a few fixed
/// pieces around the id, joined into one allocation of exactly their length (serde_json's
/// writer cost some 1,400 instructions a delivery; `json_bytes` then needed a second
/// allocation for a vector with spare capacity). `ignored` carries free text and goes through
/// serde_json, which escapes it.
pub fn receive_answer(outcome: &ReceiveOutcome, duplicate: bool) -> Vec<u8> {
    let tail: &[u8] = if duplicate {
        br#""duplicate":true}"#
    } else {
        br#""duplicate":false}"#
    };
    let mut id_text = [0u8; ID_TEXT_LEN];
    let count;
    let parts: [&[u8]; 3] = match outcome {
        ReceiveOutcome::Verified { id } => {
            id.encode_into(&mut id_text);
            [br#"{"result":"verified","id":""#, &id_text, br#"","#]
        }
        ReceiveOutcome::SenderMismatch { id, locked } => {
            id.encode_into(&mut id_text);
            let rest: &[u8] = if *locked {
                br#"","locked":true,"#
            } else {
                br#"","locked":false,"#
            };
            [br#"{"result":"sender_mismatch","id":""#, &id_text, rest]
        }
        ReceiveOutcome::Expired { id } => {
            id.encode_into(&mut id_text);
            [br#"{"result":"expired","id":""#, &id_text, br#"","#]
        }
        ReceiveOutcome::NoMatch { candidates_tried } => {
            count = candidates_tried.to_string();
            [
                br#"{"result":"no_match","candidates_tried":"#,
                count.as_bytes(),
                b",",
            ]
        }
        ReceiveOutcome::NoCode => [br#"{"result":"no_code","#, b"", b""],
        ReceiveOutcome::Ignored { .. } => {
            let mut out =
                serde_json::to_vec(&Answer::from(outcome)).unwrap_or_else(|_| b"{}".to_vec());
            out.pop();
            if out.len() > 1 {
                out.push(b',');
            }
            out.extend_from_slice(tail);
            return out;
        }
    };
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + tail.len());
    for part in parts {
        out.extend_from_slice(part);
    }
    out.extend_from_slice(tail);
    out
}

/// A challenge's status as `GET /2fa/status/{id}` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeStatus {
    Pending,
    Verified,
    Expired,
    Locked,
}

impl From<Status> for ChallengeStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Pending => Self::Pending,
            Status::Verified => Self::Verified,
            Status::Expired => Self::Expired,
            Status::Locked => Self::Locked,
        }
    }
}

impl ChallengeStatus {
    /// The name as it is written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Verified => "verified",
            Self::Expired => "expired",
            Self::Locked => "locked",
        }
    }
}

/// A challenge's status as `GET /2fa/status/{id}` names it.
pub fn status(s: Status) -> &'static str {
    ChallengeStatus::from(s).as_str()
}

/// `POST /2fa/start`'s answer (201).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartAnswer {
    pub id: String,
    /// The code as the user types it (the configured alphabet and length).
    pub code: String,
    /// The deep link that pre-fills the code in the user's Messages app.
    pub link: String,
    /// RFC 3339, milliseconds, UTC.
    pub expires_at: String,
}

impl StartAnswer {
    /// `code` is the formatted code, `link` its deep link.
    pub fn new(s: &Started, code: &str, link: String) -> Self {
        Self {
            id: s.id.encode(),
            code: code.to_string(),
            link,
            expires_at: rfc3339_ms(s.expires_at),
        }
    }
}

/// `GET /2fa/status/{id}`'s answer (200).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusAnswer {
    pub status: ChallengeStatus,
    /// Who sent the code; only once verified.
    pub sender: Option<String>,
    /// RFC 3339; only once verified.
    pub verified_at: Option<String>,
    pub expires_at: String,
}

impl From<StatusView> for StatusAnswer {
    fn from(v: StatusView) -> Self {
        Self {
            status: v.status.into(),
            sender: v.sender,
            verified_at: v.verified_at.map(rfc3339_ms),
            expires_at: rfc3339_ms(v.expires_at),
        }
    }
}

/// `/healthz` (`ok`) and `/readyz` (`ready`) when they answer 200.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Ok,
    Ready,
}

/// `/healthz`'s and `/readyz`'s answer: `{"status": "ok" | "ready"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthAnswer {
    pub status: Health,
}

/// Every 4xx and 5xx answer: `{"error": "..."}`, the text naming the problem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorAnswer {
    pub error: String,
}

/// `GET /sms/outbox/{phone}`'s answer: the last code sent there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxAnswer {
    pub code: String,
}

/// `POST /sms/check`'s answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum CheckAnswer {
    Verified,
    WrongCode { attempts_left: u8 },
    NoChallenge,
}

/// `POST /sms/check`'s answer.
pub fn check_answer(o: CheckOutcome) -> CheckAnswer {
    match o {
        CheckOutcome::Verified => CheckAnswer::Verified,
        CheckOutcome::WrongCode { attempts_left } => CheckAnswer::WrongCode { attempts_left },
        CheckOutcome::NoChallenge => CheckAnswer::NoChallenge,
    }
}

/// The webhook's answer as a client reads it: the outcome's name, the challenge it names (if
/// any) and whether the delivery was seen before. `receive_answer` writes it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ReceivedAnswer {
    pub result: ReceiveResult,
    #[serde(default)]
    pub id: Option<String>,
    pub duplicate: bool,
}

/// The `result` names of the webhook's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiveResult {
    Verified,
    SenderMismatch,
    Expired,
    NoMatch,
    NoCode,
    Ignored,
}

impl ReceiveResult {
    /// The name as it is written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::SenderMismatch => "sender_mismatch",
            Self::Expired => "expired",
            Self::NoMatch => "no_match",
            Self::NoCode => "no_code",
            Self::Ignored => "ignored",
        }
    }
}

impl CheckAnswer {
    /// The `result` as it is written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::WrongCode { .. } => "wrong_code",
            Self::NoChallenge => "no_challenge",
        }
    }
}

/// `body` read as the answer `T`; `None` when it is not that answer.
pub fn read<T: serde::de::DeserializeOwned>(body: &[u8]) -> Option<T> {
    serde_json::from_slice(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer as serde_json writes it from [`Answer`]: what the hand-written pieces of
    /// `receive_answer` must equal, byte for byte.
    fn by_serde(outcome: &ReceiveOutcome, duplicate: bool) -> Vec<u8> {
        let mut v = serde_json::to_value(Answer::from(outcome)).unwrap();
        v.as_object_mut()
            .unwrap()
            .insert("duplicate".into(), duplicate.into());
        // serde_json's map keeps insertion order only with preserve_order; compare as values
        // and check the key order by hand below.
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn the_written_answer_is_what_serde_would_write() {
        let ids = ["AgAAACn7G3z9_knn0j_wa8QcsB0", "AAAAAAAAAAAAAAAAAAAAAAAAAAA"];
        for id in ids.map(|t| ChallengeId::parse(t).expect("id")) {
            for duplicate in [false, true] {
                for outcome in [
                    ReceiveOutcome::Verified { id },
                    ReceiveOutcome::SenderMismatch { id, locked: false },
                    ReceiveOutcome::SenderMismatch { id, locked: true },
                    ReceiveOutcome::Expired { id },
                    ReceiveOutcome::NoMatch {
                        candidates_tried: 0,
                    },
                    ReceiveOutcome::NoMatch {
                        candidates_tried: 12,
                    },
                    ReceiveOutcome::NoCode,
                ] {
                    let written = receive_answer(&outcome, duplicate);
                    let as_value: serde_json::Value = serde_json::from_slice(&written).unwrap();
                    let want: serde_json::Value =
                        serde_json::from_slice(&by_serde(&outcome, duplicate)).unwrap();
                    assert_eq!(as_value, want, "{outcome:?}");
                    // Same order as serde's: result first, duplicate last.
                    let text = String::from_utf8(written.clone()).unwrap();
                    assert!(text.starts_with(r#"{"result":""#), "{text}");
                    let dup = format!(r#""duplicate":{duplicate}}}"#);
                    assert!(text.ends_with(&dup), "{text}");
                    assert_eq!(written.len(), written.capacity(), "{text}");
                }
            }
        }
    }

    #[test]
    fn answers_keep_their_wire_names() {
        let id = ChallengeId::parse("AgAAACn7G3z9_knn0j_wa8QcsB0").expect("a well-formed id");
        let cases = [
            (
                ReceiveOutcome::Verified { id },
                r#"{"result":"verified","id":"AgAAACn7G3z9_knn0j_wa8QcsB0","duplicate":false}"#,
            ),
            (
                ReceiveOutcome::SenderMismatch { id, locked: true },
                r#"{"result":"sender_mismatch","id":"AgAAACn7G3z9_knn0j_wa8QcsB0","locked":true,"duplicate":false}"#,
            ),
            (
                ReceiveOutcome::SenderMismatch { id, locked: false },
                r#"{"result":"sender_mismatch","id":"AgAAACn7G3z9_knn0j_wa8QcsB0","locked":false,"duplicate":false}"#,
            ),
            (
                ReceiveOutcome::Expired { id },
                r#"{"result":"expired","id":"AgAAACn7G3z9_knn0j_wa8QcsB0","duplicate":false}"#,
            ),
            (
                ReceiveOutcome::NoMatch {
                    candidates_tried: 2,
                },
                r#"{"result":"no_match","candidates_tried":2,"duplicate":false}"#,
            ),
            (
                ReceiveOutcome::NoCode,
                r#"{"result":"no_code","duplicate":false}"#,
            ),
            (
                ReceiveOutcome::Ignored {
                    reason: "a \"b\"".into(),
                },
                r#"{"result":"ignored","reason":"a \"b\"","duplicate":false}"#,
            ),
        ];
        for (outcome, want) in cases {
            let written = receive_answer(&outcome, false);
            assert_eq!(String::from_utf8(written.clone()).unwrap(), want);
            // Clients read it back through the same module.
            let read: ReceivedAnswer = read(&written).expect("the answer reads back");
            assert!(want.contains(&format!("\"result\":\"{}\"", read.result.as_str())));
            assert!(!read.duplicate);
        }
        let dup = receive_answer(&ReceiveOutcome::Expired { id }, true);
        assert!(dup.ends_with(br#","duplicate":true}"#));
        assert!(dup.starts_with(br#"{"result":"expired","id":"#));
        assert_eq!(status(Status::Locked), "locked");
        let back: ReceivedAnswer = read(&dup).unwrap();
        assert_eq!(
            (back.result, back.duplicate),
            (ReceiveResult::Expired, true)
        );
        assert_eq!(back.id.as_deref(), Some("AgAAACn7G3z9_knn0j_wa8QcsB0"));
        let check = serde_json::to_vec(&CheckAnswer::WrongCode { attempts_left: 2 }).unwrap();
        assert_eq!(read::<CheckAnswer>(&check).unwrap().as_str(), "wrong_code");
    }
}
