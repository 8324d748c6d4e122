//! Webhook deliveries refused before they reached the verifier: counted by reason for
//! `/metrics` (`mo2fa_webhook_rejected_total{reason}`), and logged as one structured line at most
//! once a second (the reason, the delivery id the request claimed, and how many refusals the
//! line stands for). Never the secret, the signature or any of the body's text: a forger's
//! flood must not turn into a log flood, nor write into the logs what it likes.

use mo2fa_core::metrics::{self, Counters};
use mo2fa_core::webhook::SignatureError;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a delivery was refused: the `reason` label, one per kind of refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reason {
    NotJson,
    Body,
    SignatureMissing,
    SignatureMalformed,
    SignatureStale,
    SignatureMismatch,
    Event,
    Message,
    Delivery,
}

impl Reason {
    const ALL: [Reason; 9] = [
        Reason::NotJson,
        Reason::Body,
        Reason::SignatureMissing,
        Reason::SignatureMalformed,
        Reason::SignatureStale,
        Reason::SignatureMismatch,
        Reason::Event,
        Reason::Message,
        Reason::Delivery,
    ];

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Reason::NotJson => "not_json",
            Reason::Body => "body",
            Reason::SignatureMissing => "signature_missing",
            Reason::SignatureMalformed => "signature_malformed",
            Reason::SignatureStale => "signature_stale",
            Reason::SignatureMismatch => "signature_mismatch",
            Reason::Event => "event",
            Reason::Message => "message",
            Reason::Delivery => "delivery",
        }
    }

    pub(super) fn of_signature(e: &SignatureError) -> Self {
        match e {
            SignatureError::Missing(_) => Reason::SignatureMissing,
            SignatureError::Malformed(_) => Reason::SignatureMalformed,
            SignatureError::Stale(_) => Reason::SignatureStale,
            SignatureError::Mismatch => Reason::SignatureMismatch,
        }
    }
}

/// The longest delivery id a log line repeats (ids the provider sends are about 20 characters).
const LOGGED_ID_CHARS: usize = 64;

/// Refusals by reason, and the log's rate limit.
#[derive(Debug, Default)]
pub(super) struct Rejections {
    counts: [AtomicU64; Reason::ALL.len()],
    /// When the last line was written (ms), and refusals since then left unlogged.
    last_log_ms: AtomicU64,
    unlogged: AtomicU64,
}

impl Rejections {
    /// Counts one refusal; logs it unless a line was written less than a second ago.
    /// `delivery` is the id the request claimed (unverified when the signature failed).
    pub(super) fn record(&self, reason: Reason, delivery: Option<&str>, now_ms: u64) {
        Counters::inc(&self.counts[reason as usize]);
        let last = self.last_log_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) < 1000
            || self
                .last_log_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            Counters::inc(&self.unlogged);
            return;
        }
        let also = self.unlogged.swap(0, Ordering::Relaxed);
        let delivery: String = delivery
            .unwrap_or("")
            .chars()
            .take(LOGGED_ID_CHARS)
            .collect();
        tracing::warn!(
            reason = reason.as_str(),
            delivery = ?delivery,
            unlogged_since_last_line = also,
            "webhook delivery rejected"
        );
    }

    pub(super) fn render(&self, out: &mut String) {
        metrics::render_labelled(
            out,
            "mo2fa_webhook_rejected_total",
            "counter",
            "Webhook deliveries refused before the verifier saw them, by reason (not_json, body, signature_*, event, message, delivery).",
            "reason",
            Reason::ALL.iter().map(|r| {
                (
                    r.as_str().to_string(),
                    self.counts[*r as usize].load(Ordering::Relaxed) as f64,
                )
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_refusal_and_logs_at_most_once_a_second() {
        let r = Rejections::default();
        r.record(Reason::SignatureMismatch, Some("m_1"), 10_000);
        r.record(Reason::SignatureMismatch, Some("m_2"), 10_500);
        r.record(Reason::Event, None, 10_999);
        assert_eq!(r.unlogged.load(Ordering::Relaxed), 2);
        r.record(Reason::Event, Some(&"x".repeat(10_000)), 11_000);
        assert_eq!(
            r.unlogged.load(Ordering::Relaxed),
            0,
            "the line carried them"
        );
        let mut out = String::new();
        r.render(&mut out);
        assert!(out.contains("mo2fa_webhook_rejected_total{reason=\"signature_mismatch\"} 2\n"));
        assert!(out.contains("mo2fa_webhook_rejected_total{reason=\"event\"} 2\n"));
        assert!(out.contains("mo2fa_webhook_rejected_total{reason=\"not_json\"} 0\n"));
    }
}
