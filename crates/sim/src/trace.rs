//! What a virtual run did at the HTTP boundary, step by step, for replaying it live.
//!
//! The engine records one [`Step`] per request a real deployment would have received, at its
//! virtual time, with the answer the core gave in the virtual run. Steps refer to each other
//! by *key* instead of carrying codes: a live server draws its own codes, so a webhook step
//! says "the code the start with key 7 got back" and the live replayer fills it in. The
//! recorded answers are what the live answers are compared against.

use crate::flow::Flow;
use mo2fa_core::sms_otp::CheckOutcome;
use mo2fa_core::store::Status;
use mo2fa_core::verifier::ReceiveOutcome;

/// The text of an inbound message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Text {
    /// The code issued to the start with this key.
    Code(u32),
    /// That code mistyped (see [`typo`]).
    Typo(u32),
    /// Fixed text (guesses).
    Literal(Box<str>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `POST /2fa/start`; with a key, later steps use its id and code.
    Start {
        key: Option<u32>,
        expected_sender: Option<u64>,
    },
    /// A genuine, signed delivery of message `msg` (a redelivery repeats `msg`).
    Webhook {
        msg: u32,
        sender: u64,
        text: Text,
        protocol: &'static str,
    },
    /// A delivery signed with a secret the attacker made up.
    Forged { n: u64, code: Box<str> },
    /// The exact bytes of genuine delivery `msg`, sent again by an attacker.
    Replay { msg: u32 },
    /// `GET /2fa/status/{id}` of the start with this key, after delivery `after` was answered.
    Poll { key: u32, after: u32 },
    /// `POST /sms/start`; `country` indexes [`Trace::countries`].
    SmsStart {
        world: Flow,
        key: Option<u32>,
        number: u64,
        country: u16,
    },
    /// The handset reads the code texted by the SMS start `key` and types it in (`/sms/check`).
    SmsRead { world: Flow, key: u32, number: u64 },
}

impl Action {
    /// The endpoint this step is measured under.
    pub fn endpoint(&self) -> Endpoint {
        match self {
            Self::Start { .. } => Endpoint::Start,
            Self::Webhook { .. } | Self::Forged { .. } | Self::Replay { .. } => Endpoint::Webhook,
            Self::Poll { .. } => Endpoint::Status,
            Self::SmsStart { .. } => Endpoint::SmsStart,
            Self::SmsRead { .. } => Endpoint::SmsCheck,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Endpoint {
    Start,
    Webhook,
    Status,
    SmsStart,
    SmsCheck,
}

impl Endpoint {
    pub const ALL: [Endpoint; 5] = [
        Self::Start,
        Self::Webhook,
        Self::Status,
        Self::SmsStart,
        Self::SmsCheck,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Webhook => "webhook",
            Self::Status => "status",
            Self::SmsStart => "sms_start",
            Self::SmsCheck => "sms_check",
        }
    }
}

/// One request and the answer the virtual run gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Virtual milliseconds from the start of the run.
    pub at_ms: u64,
    pub action: Action,
    /// The virtual answer, named like the HTTP answer's `result`/`status`
    /// ([`Answer::name`]).
    pub expect: &'static str,
}

#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// In time order (the engine's event order).
    pub steps: Vec<Step>,
    /// ISO codes by country index.
    pub countries: Vec<String>,
    /// Keys run from 0 to `keys - 1`; messages from 1 to `messages`.
    pub keys: u32,
    pub messages: u32,
    /// At most this many steps are recorded.
    pub max_steps: usize,
    /// Steps beyond `max_steps` were not recorded: the trace is unusable for a replay.
    pub truncated: bool,
}

/// The CLI's `max_steps`: about 1 GiB of trace; a run that makes more requests is too long to
/// replay live anyway.
pub const MAX_STEPS: usize = 20_000_000;

/// The answer the virtual run gave a request: the one place that names them, as the HTTP
/// answers' `result`/`status` fields do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A start made a challenge.
    Created,
    /// A start or an SMS send was refused.
    Refused,
    /// An SMS code was sent.
    Sent,
    Verified,
    /// An SMS check with the wrong code.
    WrongCode,
    /// An SMS check without a pending code.
    NoChallenge,
    SenderMismatch,
    Expired,
    NoMatch,
    NoCode,
    Ignored,
    /// A delivery the dedupe cache had seen.
    Duplicate,
    /// A delivery whose signature failed.
    Rejected,
    /// A forged delivery whose signature passed.
    Accepted,
    /// Status answers.
    Pending,
    Locked,
    Unknown,
}

impl Answer {
    pub fn name(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Refused => "refused",
            Self::Sent => "sent",
            Self::Verified => "verified",
            Self::WrongCode => "wrong_code",
            Self::NoChallenge => "no_challenge",
            Self::SenderMismatch => "sender_mismatch",
            Self::Expired => "expired",
            Self::NoMatch => "no_match",
            Self::NoCode => "no_code",
            Self::Ignored => "ignored",
            Self::Duplicate => "duplicate",
            Self::Rejected => "rejected",
            Self::Accepted => "accepted",
            Self::Pending => "pending",
            Self::Locked => "locked",
            Self::Unknown => "unknown",
        }
    }

    /// A start's answer: created, or refused.
    pub fn created(ok: bool) -> Self {
        if ok { Self::Created } else { Self::Refused }
    }

    /// An SMS send's answer: sent, or refused.
    pub fn sent(ok: bool) -> Self {
        if ok { Self::Sent } else { Self::Refused }
    }

    /// The webhook's `result` for `outcome`.
    pub fn of_receive(outcome: &ReceiveOutcome) -> Self {
        match outcome {
            ReceiveOutcome::Verified { .. } => Self::Verified,
            ReceiveOutcome::SenderMismatch { .. } => Self::SenderMismatch,
            ReceiveOutcome::Expired { .. } => Self::Expired,
            ReceiveOutcome::NoMatch { .. } => Self::NoMatch,
            ReceiveOutcome::NoCode => Self::NoCode,
            ReceiveOutcome::Ignored { .. } => Self::Ignored,
        }
    }

    /// The SMS check's answer for `outcome`.
    pub fn of_check(outcome: &CheckOutcome) -> Self {
        match outcome {
            CheckOutcome::Verified => Self::Verified,
            CheckOutcome::WrongCode { .. } => Self::WrongCode,
            CheckOutcome::NoChallenge => Self::NoChallenge,
        }
    }

    /// The status answer for a challenge in `status` (`None`: unknown).
    pub fn of_status(status: Option<Status>) -> Self {
        match status {
            Some(Status::Pending) => Self::Pending,
            Some(Status::Verified) => Self::Verified,
            Some(Status::Expired) => Self::Expired,
            Some(Status::Locked) => Self::Locked,
            None => Self::Unknown,
        }
    }
}

/// A mistyped code: the first two symbols swapped, or the first changed if they are equal.
pub fn typo(code: &str) -> String {
    let mut b = code.as_bytes().to_vec();
    if b.len() < 2 || !b.is_ascii() {
        return code.to_string();
    }
    if b[0] != b[1] {
        b.swap(0, 1);
    } else {
        b[0] = if b[0] == b'2' { b'3' } else { b'2' };
    }
    String::from_utf8(b).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_differ_from_the_code() {
        assert_eq!(typo("ABC7"), "BAC7");
        assert_eq!(typo("22X9"), "32X9");
        assert_eq!(typo("AAX9"), "2AX9");
        for code in ["ABCD", "2222", "Z9Z9"] {
            assert_ne!(typo(code), code);
        }
    }
}
