//! Target profiles: how to talk to a reverse-2FA verifier whose API is not mo2fa's.
//!
//! A profile is a TOML file (docs/audit.md documents every key) saying how to start a
//! challenge and where its answer holds the code, the id and the link; how to read a
//! challenge's status, if the target can; where the webhook is, how the provider signs and
//! shapes its deliveries, and what the webhook's answer says, if anything. Two profiles are
//! compiled in: `mo2fa` (the default) and `blooio-demo` (a verifier written like the demo in
//! Blooio's article).
//!
//! Parsing is two steps: serde into `Raw*`, then checks that name the file and the key.
//! What a profile cannot observe is stated by [`Profile::unobservable`], so no tool built on it
//! reports a result it did not see.

use mo2fa_core::conf::{self, ConfigError};
use mo2fa_core::webhook::{PayloadShape, Scheme};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The compiled-in profiles, by name.
pub const BUILTINS: [(&str, &str); 2] = [
    ("mo2fa", include_str!("../profiles/mo2fa.toml")),
    ("blooio-demo", include_str!("../profiles/blooio-demo.toml")),
];

/// Longest path, template or pointer a profile may hold.
const MAX_TEXT: usize = 2048;
/// Longest challenge lifetime a profile may ask for, seconds (a day).
const MAX_TTL_SECONDS: u64 = 86_400;
/// Longest short lifetime (the expired-code case waits it out, so it bounds that case).
pub const MAX_SHORT_TTL_SECONDS: u64 = 60;

/// How the provider signs deliveries to this target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureScheme {
    /// `X-Blooio-Signature: t=…,v1=…` (Blooio's signature guide).
    Blooio,
    /// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    Standard,
    /// Deliveries are not signed: the signature cases cannot be run.
    None,
}

impl SignatureScheme {
    /// The core's scheme, which signs; `None` for unsigned deliveries.
    pub fn core(self) -> Option<Scheme> {
        match self {
            SignatureScheme::Blooio => Some(Scheme::Blooio),
            SignatureScheme::Standard => Some(Scheme::Standard),
            SignatureScheme::None => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SignatureScheme::Blooio => "blooio",
            SignatureScheme::Standard => "standard",
            SignatureScheme::None => "none",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: String,
    start: RawStart,
    status: Option<RawStatus>,
    webhook: RawWebhook,
    health: Option<RawHealth>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    path: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStart {
    #[serde(default = "post")]
    method: String,
    path: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default = "json_type")]
    content_type: String,
    code: String,
    id: Option<String>,
    link: Option<String>,
    #[serde(default = "default_ttl")]
    ttl_seconds: u64,
    short_ttl_seconds: Option<u64>,
}

fn post() -> String {
    "POST".into()
}
fn json_type() -> String {
    "application/json".into()
}
fn default_ttl() -> u64 {
    300
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatus {
    path: String,
    pointer: String,
    verified: String,
    sender: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    path: String,
    signature: SignatureScheme,
    #[serde(default)]
    shape: PayloadShape,
    answer_pointer: Option<String>,
    answer_verified: Option<String>,
    duplicate_pointer: Option<String>,
}

/// A checked profile.
#[derive(Clone, Debug)]
pub struct Profile {
    pub name: String,
    /// Where it came from: `built-in` or the file's path.
    pub source: String,
    pub start: Start,
    pub status: Option<Status>,
    pub webhook: Webhook,
    /// A cheap route that answers 2xx when the target is up (`bench http`'s `healthz`), if the
    /// target has one.
    pub health: Option<String>,
}

/// How to start a challenge.
#[derive(Clone, Debug)]
pub struct Start {
    pub method: String,
    pub path: String,
    /// The body template (`{sender}`, `{ttl_seconds}` are filled in); none sends no body.
    pub body: Option<String>,
    pub content_type: String,
    /// JSON pointers into the start's answer.
    pub code: String,
    pub id: Option<String>,
    pub link: Option<String>,
    /// The lifetime asked for when the template has `{ttl_seconds}`.
    pub ttl_seconds: u64,
    /// The lifetime the expired-code case asks for.
    pub short_ttl_seconds: Option<u64>,
}

/// Which value of a started challenge the status path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusKey {
    Id,
    Code,
}

/// How to read a challenge's status.
#[derive(Clone, Debug)]
pub struct Status {
    /// A template with `{id}` or `{code}`.
    pub path: String,
    pub key: StatusKey,
    /// JSON pointer to the status value, and the value that means verified.
    pub pointer: String,
    pub verified: String,
    /// JSON pointer to the sender the target recorded, if it reports one.
    pub sender: Option<String>,
}

/// The webhook, and how the provider's deliveries to it look.
#[derive(Clone, Debug)]
pub struct Webhook {
    pub path: String,
    pub signature: SignatureScheme,
    pub shape: PayloadShape,
    /// JSON pointer into the webhook's answer and the value meaning "this delivery verified a
    /// challenge"; none when the answer says nothing about it.
    pub answer: Option<(String, String)>,
    /// JSON pointer into the webhook's answer to `true` when the delivery was seen before (a
    /// provider's retry answered from the dedupe record); none when the answer does not say.
    pub duplicate: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "{0:?} is neither a built-in profile ({names}) nor a file",
        names = builtin_names()
    )]
    Unknown(String),
}

fn builtin_names() -> String {
    BUILTINS
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Profile {
    /// A built-in profile by name.
    pub fn builtin(name: &str) -> Option<Profile> {
        let (_, text) = BUILTINS.iter().find(|(n, _)| *n == name)?;
        // The built-ins are checked by a unit test, so this cannot fail in a release.
        Self::parse("built-in", text).ok()
    }

    /// A built-in name, else a file.
    pub fn resolve(name_or_file: &str) -> Result<Profile, ProfileError> {
        if let Some(p) = Self::builtin(name_or_file) {
            return Ok(p);
        }
        let path = Path::new(name_or_file);
        if !path.exists() {
            return Err(ProfileError::Unknown(name_or_file.to_string()));
        }
        Ok(Self::load(path)?)
    }

    pub fn load(path: &Path) -> Result<Profile, ConfigError> {
        let (file, text) = conf::read(path)?;
        Self::parse(&file, &text)
    }

    /// Parses and checks a profile; errors name `file`, the line or the key.
    pub fn parse(file: &str, text: &str) -> Result<Profile, ConfigError> {
        let raw: Raw = conf::parse_toml(file, text)?;
        let checked = check(raw).map_err(|(key, message)| ConfigError::Invalid {
            file: file.to_string(),
            key: key.to_string(),
            message,
        })?;
        Ok(Profile {
            source: file.to_string(),
            ..checked
        })
    }

    /// Whether a start can bind the challenge to the sender the audit will send from.
    pub fn binds_sender(&self) -> bool {
        self.start
            .body
            .as_deref()
            .is_some_and(|b| b.contains("{sender}"))
    }

    /// Whether the expired-code case can ask for a short lifetime.
    pub fn short_ttl(&self) -> Option<u64> {
        self.start.short_ttl_seconds
    }

    /// Whether anything tells whether a challenge was verified (a status route or the
    /// webhook's answer).
    pub fn observes_verification(&self) -> bool {
        self.status.is_some() || self.webhook.answer.is_some()
    }

    /// The start's body for a challenge bound to `sender` with lifetime `ttl_seconds`.
    pub fn start_body(&self, sender: &str, ttl_seconds: u64) -> Option<String> {
        self.start.body.as_ref().map(|b| {
            b.replace("{sender}", &json_escape(sender))
                .replace("{ttl_seconds}", &ttl_seconds.to_string())
        })
    }

    /// What this profile cannot observe, one sentence each (empty when it sees everything the
    /// audit asks about).
    pub fn unobservable(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.observes_verification() {
            out.push(
                "whether a delivery verified a challenge: there is no status route and the \
                 webhook's answer does not say"
                    .to_string(),
            );
        } else if self.status.is_none() {
            out.push(
                "a challenge's state apart from a delivery's answer: there is no status route"
                    .to_string(),
            );
        }
        if self.webhook.answer.is_none() {
            out.push(
                "what a single delivery did (its answer says nothing): duplicate, replay and \
                 race cases need it"
                    .to_string(),
            );
        }
        if !self.binds_sender() {
            out.push(
                "sender binding: the start's body has no {sender}, so a challenge is not bound \
                 to who may answer it"
                    .to_string(),
            );
        }
        if self.short_ttl().is_none() {
            out.push(
                "expiry: the profile gives no short lifetime (start.short_ttl_seconds) to wait out"
                    .to_string(),
            );
        }
        if self.status.as_ref().is_none_or(|s| s.sender.is_none()) {
            out.push("which sender the target recorded: status.sender is not set".to_string());
        }
        if self.webhook.signature == SignatureScheme::None {
            out.push("signature checks: the profile says deliveries are unsigned".to_string());
        }
        out
    }
}

/// What could be seen of a challenge or a delivery through a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    Verified,
    /// Not verified; what was seen instead.
    Not(String),
    /// The profile gives no way to see it.
    Unseen,
}

impl Seen {
    pub fn verified(&self) -> bool {
        *self == Seen::Verified
    }
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seen::Verified => f.write_str("verified"),
            Seen::Not(what) => write!(f, "not verified ({what})"),
            Seen::Unseen => f.write_str("cannot be seen"),
        }
    }
}

/// What a start's answer holds, read through the profile's pointers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    pub code: String,
    pub id: Option<String>,
    pub link: Option<String>,
}

/// A profile's reading of answers: the one place that applies its pointers, so the audit and
/// every load tool read a target alike.
impl Profile {
    /// The code, id and link of a start's 2xx answer `json`, or what it lacks.
    pub fn read_start(&self, json: &serde_json::Value) -> Result<Issued, String> {
        let p = &self.start;
        let code = value_at(json, &p.code).ok_or_else(|| {
            format!(
                "the start's answer has no code at {:?} (start.code)",
                p.code
            )
        })?;
        Ok(Issued {
            code,
            id: p.id.as_deref().and_then(|ptr| value_at(json, ptr)),
            link: p.link.as_deref().and_then(|ptr| value_at(json, ptr)),
        })
    }

    /// The status path of `issued`: `None` without a status route, `Err` when the start's
    /// answer lacked the id the path names.
    pub fn status_path(&self, issued: &Issued) -> Option<Result<String, String>> {
        let st = self.status.as_ref()?;
        let key = match st.key {
            StatusKey::Id => issued.id.as_deref(),
            StatusKey::Code => Some(issued.code.as_str()),
        };
        Some(match key {
            Some(key) => Ok(st.path.replace("{id}", key).replace("{code}", key)),
            None => Err("the start's answer had no id to ask the status of".into()),
        })
    }

    /// What a status route's 2xx answer `json` says, and the sender it names (when
    /// `status.sender` is set); `Unseen` without a status route.
    pub fn read_status(&self, json: &serde_json::Value) -> (Seen, Option<String>) {
        let Some(st) = &self.status else {
            return (Seen::Unseen, None);
        };
        let sender = st.sender.as_deref().and_then(|p| value_at(json, p));
        let seen = match value_at(json, &st.pointer) {
            Some(v) if v == st.verified => Seen::Verified,
            Some(v) => Seen::Not(format!("status {v:?}")),
            None => Seen::Not(format!("no status at {}", st.pointer)),
        };
        (seen, sender)
    }

    /// What a webhook's answer (status code and body) says about the delivery; `Unseen` when
    /// the profile's answer says nothing.
    pub fn read_webhook_answer(&self, status: u16, body: &[u8]) -> Seen {
        let Some((pointer, verified)) = &self.webhook.answer else {
            return Seen::Unseen;
        };
        if !(200..300).contains(&status) {
            return Seen::Not(format!("answered {status}"));
        }
        let json = serde_json::from_slice::<serde_json::Value>(body).ok();
        match json.as_ref().and_then(|j| value_at(j, pointer)) {
            Some(v) if v == *verified => Seen::Verified,
            Some(v) => Seen::Not(format!("{pointer} = {v:?}")),
            None => Seen::Not(format!("no value at {pointer}")),
        }
    }

    /// Whether a webhook's answer says the delivery was seen before; `None` when the profile's
    /// answer does not say.
    pub fn read_duplicate(&self, body: &[u8]) -> Option<bool> {
        let pointer = self.webhook.duplicate.as_ref()?;
        let json = serde_json::from_slice::<serde_json::Value>(body).ok()?;
        Some(value_at(&json, pointer).is_some_and(|v| v == "true"))
    }

    /// The value at the webhook's answer pointer (`None` without one, or when absent): two
    /// answers about the same delivery should name the same outcome.
    pub fn webhook_outcome(&self, body: &[u8]) -> Option<String> {
        let (pointer, _) = self.webhook.answer.as_ref()?;
        let json = serde_json::from_slice::<serde_json::Value>(body).ok()?;
        value_at(&json, pointer)
    }
}

/// A key and what is wrong with it.
type Bad = (&'static str, String);

fn at<T>(key: &'static str, r: Result<T, String>) -> Result<T, Bad> {
    r.map_err(|m| (key, m))
}

fn check(raw: Raw) -> Result<Profile, Bad> {
    if raw.name.trim().is_empty() || raw.name.len() > 64 {
        return Err(("name", "must be 1 to 64 characters".into()));
    }
    let start = check_start(raw.start)?;
    let status = raw.status.map(|s| check_status(s, &start)).transpose()?;
    at("webhook.path", check_path(&raw.webhook.path))?;
    if let Some(h) = &raw.health {
        at("health.path", check_path(&h.path))?;
    }
    if let Some(p) = &raw.webhook.answer_pointer {
        at("webhook.answer_pointer", check_pointer(p))?;
    }
    if let Some(p) = &raw.webhook.duplicate_pointer {
        at("webhook.duplicate_pointer", check_pointer(p))?;
    }
    let answer = match (raw.webhook.answer_pointer, raw.webhook.answer_verified) {
        (Some(p), Some(v)) => Some((p, v)),
        (None, None) => None,
        (Some(_), None) => {
            return Err((
                "webhook.answer_verified",
                "is needed with webhook.answer_pointer".into(),
            ));
        }
        (None, Some(_)) => {
            return Err((
                "webhook.answer_pointer",
                "is needed with webhook.answer_verified".into(),
            ));
        }
    };
    Ok(Profile {
        name: raw.name,
        source: String::new(),
        start,
        status,
        webhook: Webhook {
            path: raw.webhook.path,
            signature: raw.webhook.signature,
            shape: raw.webhook.shape,
            answer,
            duplicate: raw.webhook.duplicate_pointer,
        },
        health: raw.health.map(|h| h.path),
    })
}

fn check_start(raw: RawStart) -> Result<Start, Bad> {
    let method = raw.method.to_ascii_uppercase();
    if !["POST", "PUT", "GET"].contains(&method.as_str()) {
        return Err((
            "start.method",
            format!("{:?} is not POST, PUT or GET", raw.method),
        ));
    }
    at("start.path", check_path(&raw.path))?;
    at("start.content_type", check_header_value(&raw.content_type))?;
    at("start.code", check_pointer(&raw.code))?;
    for (key, p) in [("start.id", &raw.id), ("start.link", &raw.link)] {
        if let Some(p) = p {
            at(key, check_pointer(p))?;
        }
    }
    if !(1..=MAX_TTL_SECONDS).contains(&raw.ttl_seconds) {
        return Err((
            "start.ttl_seconds",
            format!("must be 1 to {MAX_TTL_SECONDS} seconds"),
        ));
    }
    let body = raw.body.filter(|b| !b.is_empty());
    if let Some(b) = &body {
        at("start.body", check_body(b, &raw.content_type))?;
    }
    let sets_ttl = body.as_deref().is_some_and(|b| b.contains("{ttl_seconds}"));
    if let Some(short) = raw.short_ttl_seconds {
        if !sets_ttl {
            return Err((
                "start.short_ttl_seconds",
                "needs {ttl_seconds} in start.body: the target must be told the lifetime".into(),
            ));
        }
        if !(1..=MAX_SHORT_TTL_SECONDS).contains(&short) || short >= raw.ttl_seconds {
            return Err((
                "start.short_ttl_seconds",
                format!("must be 1 to {MAX_SHORT_TTL_SECONDS} seconds and below start.ttl_seconds"),
            ));
        }
    }
    Ok(Start {
        method,
        path: raw.path,
        body,
        content_type: raw.content_type,
        code: raw.code,
        id: raw.id,
        link: raw.link,
        ttl_seconds: raw.ttl_seconds,
        short_ttl_seconds: raw.short_ttl_seconds,
    })
}

fn check_status(s: RawStatus, start: &Start) -> Result<Status, Bad> {
    at("status.pointer", check_pointer(&s.pointer))?;
    if let Some(p) = &s.sender {
        at("status.sender", check_pointer(p))?;
    }
    let key = match (s.path.contains("{id}"), s.path.contains("{code}")) {
        (true, false) => StatusKey::Id,
        (false, true) => StatusKey::Code,
        _ => {
            return Err((
                "status.path",
                "must hold exactly one of {id} or {code}".into(),
            ));
        }
    };
    at("status.path", check_path(&s.path))?;
    if key == StatusKey::Id && start.id.is_none() {
        return Err((
            "status.path",
            "uses {id}, so start.id must say where the start's answer holds it".into(),
        ));
    }
    Ok(Status {
        path: s.path,
        key,
        pointer: s.pointer,
        verified: s.verified,
        sender: s.sender,
    })
}

fn check_path(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!("{p:?} must start with /"));
    }
    if p.len() > MAX_TEXT || p.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!(
            "{p:?} must be at most {MAX_TEXT} bytes with no spaces or control characters"
        ));
    }
    Ok(())
}

fn check_header_value(v: &str) -> Result<(), String> {
    if v.is_empty() || v.len() > 200 || v.bytes().any(|b| b < b' ' || b == 0x7f) {
        return Err(format!("{v:?} is not a header value"));
    }
    Ok(())
}

/// A JSON pointer (RFC 6901): empty (the whole document) or starting with `/`.
fn check_pointer(p: &str) -> Result<(), String> {
    if !(p.is_empty() || p.starts_with('/')) || p.len() > MAX_TEXT {
        return Err(format!(
            "{p:?} is not a JSON pointer (empty, or starting with /, e.g. \"/code\")"
        ));
    }
    Ok(())
}

fn check_body(b: &str, content_type: &str) -> Result<(), String> {
    if b.len() > MAX_TEXT {
        return Err(format!("is longer than {MAX_TEXT} bytes"));
    }
    if content_type.contains("json") {
        let sample = b
            .replace("{sender}", "+15550100000")
            .replace("{ttl_seconds}", "300");
        serde_json::from_str::<serde_json::Value>(&sample).map_err(|e| {
            format!("is not JSON once {{sender}} and {{ttl_seconds}} are filled in: {e}")
        })?;
    }
    Ok(())
}

/// `s` as it goes between the quotes of a JSON string.
fn json_escape(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_default()
        .to_string()
}

/// The value at `pointer` in `json`, as text: a string as it is, anything else as JSON.
pub fn value_at(json: &serde_json::Value, pointer: &str) -> Option<String> {
    match json.pointer(pointer)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests;
