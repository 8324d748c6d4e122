//! The JSON the server answers with: core values mapped to their wire form in one place. The
//! core's types stay plain Rust; field names and spellings seen by clients are decided here
//! (and described in `openapi.yaml`).

use mo2fa_core::sms_otp::CheckOutcome;
use mo2fa_core::store::{ChallengeId, ID_TEXT_LEN, Status};
use mo2fa_core::verifier::ReceiveOutcome;
use serde::Serialize;

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
/// straight into bytes: it is the hottest answer, and a `serde_json::Value` would cost a map and
/// its allocations.
pub fn receive_answer(outcome: &ReceiveOutcome, duplicate: bool) -> Vec<u8> {
    let mut out = serde_json::to_vec(&Answer::from(outcome)).unwrap_or_else(|_| b"{}".to_vec());
    out.pop();
    if out.len() > 1 {
        out.push(b',');
    }
    out.extend_from_slice(if duplicate {
        br#""duplicate":true}"#
    } else {
        br#""duplicate":false}"#
    });
    out
}

/// A challenge's status as `GET /2fa/status/{id}` names it.
pub fn status(s: Status) -> &'static str {
    match s {
        Status::Pending => "pending",
        Status::Verified => "verified",
        Status::Expired => "expired",
        Status::Locked => "locked",
    }
}

/// `POST /sms/check`'s answer.
pub fn check_answer(o: CheckOutcome) -> serde_json::Value {
    match o {
        CheckOutcome::Verified => serde_json::json!({"result": "verified"}),
        CheckOutcome::WrongCode { attempts_left } => {
            serde_json::json!({"result": "wrong_code", "attempts_left": attempts_left})
        }
        CheckOutcome::NoChallenge => serde_json::json!({"result": "no_challenge"}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(
                String::from_utf8(receive_answer(&outcome, false)).unwrap(),
                want
            );
        }
        let dup = receive_answer(&ReceiveOutcome::Expired { id }, true);
        assert!(dup.ends_with(br#","duplicate":true}"#));
        assert!(dup.starts_with(br#"{"result":"expired","id":"#));
        assert_eq!(status(Status::Locked), "locked");
    }
}
