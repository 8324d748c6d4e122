//! The traditional SMS-OTP routes (`/sms/start`, `/sms/check`, the test outbox), with the
//! simulator's SMS defences enforced when `serve --sms-defences` configured them.

use super::App;
use super::answer::{ApiError, Resp, error, json_response, too_many};
use crate::backend::Backend;
use crate::sms_gateway::{self, CountrySource};
use crate::wire;
use bytes::Bytes;
use hyper::StatusCode;
use hyper::body::Body;
use hyper::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use mo2fa_core::clock::Clock;
use mo2fa_core::limits;
use mo2fa_core::sender::Sender;
use mo2fa_core::sms_defences::state::{self, Event, Replica, Start, Verdict};
use mo2fa_core::sms_defences::{Attempt, Blocked, SmsDefences, account_key};
use mo2fa_core::sms_otp::{CheckOutcome, SmsOtpError};
use mo2fa_core::store::Unavailable;
use serde::Deserialize;
use serde_json::json;
use std::net::IpAddr;

/// The `--sms-defences` guard: a replica of the guard's log (in this process with the memory
/// store; kept in step with the shared log in Redis, see `redis::sms`).
pub(super) struct SmsDefence {
    replica: parking_lot::Mutex<Replica>,
    /// Keys of the hash that turns an `account` name into a number, drawn at start (with
    /// Redis, the first instance's draw is every instance's).
    account_keys: [u64; 2],
}

impl SmsDefence {
    pub(super) fn new(d: &SmsDefences, start: Start) -> Self {
        Self {
            replica: parking_lot::Mutex::new(Replica::new(d, &state::countries(), start)),
            account_keys: [rand::random(), rand::random()],
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SmsStartBody {
    phone: String,
    /// The country the caller thinks the number is in. Only checked and reported: the
    /// destination is always the number's calling code's country (a named country that
    /// disagrees is ignored and echoed back as `country_ignored`).
    country: Option<String>,
    /// The app account asking (for per-account defences); hashed, never stored as given.
    account: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SmsCheckBody {
    phone: String,
    code: String,
}

impl<V: Backend, C: Clock> App<V, C> {
    pub(super) async fn sms_start<B>(&self, parts: &hyper::http::request::Parts, body: B) -> Resp
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let headers = &parts.headers;
        let req: SmsStartBody = match self.json_body(headers, body).await {
            Ok(r) => r,
            Err(r) => return r,
        };
        if let Some(c) = &req.country
            && let Err(e) = mo2fa_core::conf::Iso::parse(c)
        {
            return error(StatusCode::UNPROCESSABLE_ENTITY, format!("country: {e}"));
        }
        let phone = match Sender::parse(&req.phone) {
            Ok(p @ Sender::Phone(_)) => p,
            Ok(_) => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "phone: must be a phone number",
                );
            }
            Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, format!("phone: {e}")),
        };
        // Every per-country rule and the bill key on the number's own country, never on the
        // request's `country` (issue 22: a Nigerian number sent as "US").
        let (dest, _) = sms_gateway::destination(&phone);
        let ignored = req.country.filter(|c| Some(c.as_str()) != dest);
        if let Some(guard) = &self.sms_guard
            && let Some(r) = self
                .sms_defend(guard, &phone, dest, req.account.as_deref(), parts)
                .await
        {
            return r;
        }
        let now = self.now();
        let sent = match (self.verifier.shared(), &phone) {
            (Some(shared), Sender::Phone(number)) => {
                // Drawn before the await: the thread's RNG must not live across it.
                let code = self.sms.otp.draw(now, &mut rand::rng());
                match shared.code_start(&self.sms.otp, *number, code, now).await {
                    Ok(started) => started.map(|c| self.sms.bill(&phone, c)),
                    Err(e) => return ApiError::Unavailable(e).response(),
                }
            }
            _ => self.sms.send(&phone, now, &mut rand::rng()),
        };
        match sent {
            Ok(sent) => {
                let mut answer = json!({
                    "status": "sent",
                    "country": sent.country,
                    "usd": sent.usd,
                    "country_source": sent.source.as_str(),
                });
                if sent.source == (CountrySource::CallingCode { shared: true }) {
                    answer["country_shared"] = true.into();
                }
                if let Some(c) = ignored {
                    self.sms.note_country_ignored();
                    answer["country_ignored"] = c.into();
                }
                json_response(StatusCode::ACCEPTED, &answer)
            }
            // The pending-code bound: like a full challenge store, 503 and when to retry.
            Err(e @ SmsOtpError::Full { retry_after_ms, .. }) => {
                let mut r = error(StatusCode::SERVICE_UNAVAILABLE, &e);
                let secs = retry_after_ms.div_ceil(1000).max(1);
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    r.headers_mut().insert(RETRY_AFTER, v);
                }
                r
            }
            Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e),
        }
    }

    pub(super) async fn sms_check<B>(&self, headers: &HeaderMap, body: B) -> Resp
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let req: SmsCheckBody = match self.json_body(headers, body).await {
            Ok(r) => r,
            Err(r) => return r,
        };
        let phone = match Sender::parse(&req.phone) {
            Ok(p) => p,
            Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, format!("phone: {e}")),
        };
        let now = self.now();
        let outcome = match (self.verifier.shared(), &phone) {
            (Some(shared), Sender::Phone(n)) => {
                match shared.code_check(&self.sms.otp, *n, &req.code, now).await {
                    Ok(o) => o,
                    Err(e) => return ApiError::Unavailable(e).response(),
                }
            }
            _ => self.sms.check(&phone, &req.code, now),
        };
        if let (CheckOutcome::Verified, Some(guard), Sender::Phone(n)) =
            (outcome, &self.sms_guard, &phone)
        {
            // Feeds the rules that watch conversion, under the attempt the send was counted
            // for (the replica keeps it).
            let ev = Event::Verified { number: *n, now };
            if let Err(e) = self.sms_event(guard, ev).await {
                // The code was verified; only the defences' conversion count missed it.
                tracing::warn!("SMS guard: a verification was not recorded: {e}");
            }
        }
        json_response(StatusCode::OK, &wire::check_answer(outcome))
    }

    /// Decides `ev` on the guard: in this process, or through the shared log.
    async fn sms_event(&self, d: &SmsDefence, ev: Event) -> Result<Option<Verdict>, Unavailable> {
        match self.verifier.shared() {
            Some(shared) => shared.decide(&d.replica, ev).await,
            None => Ok(d.replica.lock().push(ev)),
        }
    }

    /// Runs the `--sms-defences` guard on one send to `iso`, the number's calling code's
    /// country (`None`: unlisted code): 403 for a destination the rules forbid
    /// (geo allow-list, country rules), 429 with Retry-After for the rest, each naming the rule
    /// (its TOML key) that refused it; `None` if the send may go.
    pub(super) async fn sms_defend(
        &self,
        guard: &SmsDefence,
        phone: &Sender,
        iso: Option<&str>,
        account: Option<&str>,
        parts: &hyper::http::request::Parts,
    ) -> Option<Resp> {
        let Sender::Phone(number) = *phone else {
            return None;
        };
        let ip = match self.client_ip(parts) {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => limits::client_key(IpAddr::V6(v6)),
        };
        let keys = match self.verifier.shared() {
            Some(shared) => match shared.account_keys(guard.account_keys).await {
                Ok(k) => k,
                Err(e) => return Some(ApiError::Unavailable(e).response()),
            },
            None => guard.account_keys,
        };
        let now = self.now();
        let attempt = Attempt {
            country: state::country_index(number),
            network: 0,
            number,
            ip,
            account: account.map_or(0, |a| account_key(keys, a)),
            now,
        };
        let verdict = match self.sms_event(guard, Event::Attempt(attempt)).await {
            Ok(Some(v)) => v,
            Ok(None) => {
                return Some(ApiError::Unavailable(Unavailable("no verdict".into())).response());
            }
            Err(e) => return Some(ApiError::Unavailable(e).response()),
        };
        let blocked = match verdict.result {
            Ok(()) => return None,
            Err(b) => b,
        };
        // Counted from the time the guard decided at, which another instance's clock may
        // have set ahead of ours.
        let retry_ms = (verdict.at + verdict.retry_after_ms).saturating_sub(now);
        self.count_limited(&format!("sms_{}", blocked.name()));
        let dest = iso.unwrap_or("unknown");
        let rule = blocked.name();
        Some(match blocked {
            Blocked::Geo => error(
                StatusCode::FORBIDDEN,
                format!("sms defences: geo_allow: destination {dest} is not on the allow-list"),
            ),
            b if b.is_forbidden() => error(
                StatusCode::FORBIDDEN,
                format!("sms defences: {rule}: destination {dest} is blocked"),
            ),
            Blocked::Country => too_many(
                format!(
                    "sms defences: conversion: destination {dest} is blocked for low conversion"
                ),
                retry_ms,
            ),
            Blocked::Number | Blocked::Ip | Blocked::Prefix | Blocked::Full => too_many(
                format!("sms defences: {rule}: limit reached for this window"),
                retry_ms,
            ),
            _ => too_many(
                format!("sms defences: {rule}: refused for now, retry later"),
                retry_ms,
            ),
        })
    }

    pub(super) fn sms_outbox(&self, phone: &str) -> Resp {
        let decoded = percent_encoding::percent_decode_str(phone).decode_utf8_lossy();
        match Sender::parse(&decoded)
            .ok()
            .and_then(|p| self.sms.outbox(&p))
            .flatten()
        {
            Some(code) => json_response(StatusCode::OK, &json!({"code": code})),
            None => error(StatusCode::NOT_FOUND, "no code was sent to that phone"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_sms_rule_has_a_metric_label() {
        for name in mo2fa_core::sms_defences::RULE_NAMES {
            let label = format!("sms_{name}");
            assert!(super::super::LIMITED.contains(&label.as_str()), "{label}");
        }
    }
}
