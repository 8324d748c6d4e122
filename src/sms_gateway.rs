//! The HTTP server's side of the traditional flow: [`SmsOtp`] plus a simulated SMS gateway
//! that "sends" each code by billing it at the destination's list price, so a load test of
//! `/sms/start` shows what the same traffic would cost. Nothing leaves the machine.
//!
//! With the outbox on (`serve --sms-outbox`), sent codes can be read back at
//! `GET /sms/outbox/{phone}`, which is how tests and load generators play the handset. Never
//! turn it on in front of real users: it hands out the codes.

use crate::clock::Millis;
use crate::cost::prices::{PriceSnapshot, PriceTable};
use crate::sender::Sender;
use crate::sms_otp::{CheckOutcome, SmsCode, SmsOtp, SmsOtpConfig, SmsOtpError};
use parking_lot::Mutex;
use rand::Rng;
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Twilio's price for destinations it does not list, used if the table cannot be read.
const FALLBACK_USD: f64 = 0.10;

pub struct SmsGateway {
    pub otp: SmsOtp,
    prices: Option<PriceSnapshot>,
    sent: AtomicU64,
    spend_micro_usd: AtomicU64,
    outbox: Option<Mutex<FxHashMap<u64, u32>>>,
}

/// What one send cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Sent {
    pub code: SmsCode,
    pub usd: f64,
    /// The destination the price is for; `None` if the caller named none (fallback price).
    pub country: Option<String>,
}

impl SmsGateway {
    pub fn new(outbox: bool) -> Self {
        Self::with_otp(
            SmsOtp::new(SmsOtpConfig::default()).expect("default SMS-OTP settings are valid"),
            outbox,
        )
    }

    pub fn with_otp(otp: SmsOtp, outbox: bool) -> Self {
        Self {
            otp,
            prices: PriceTable::builtin().and_then(|t| t.snapshot(None)).ok(),
            sent: AtomicU64::new(0),
            spend_micro_usd: AtomicU64::new(0),
            outbox: outbox.then(|| Mutex::new(FxHashMap::default())),
        }
    }

    /// Draws a code for `phone` and bills one segment to `country` (ISO code, if known).
    pub fn send<R: Rng + ?Sized>(
        &self,
        phone: &Sender,
        country: Option<&str>,
        now: Millis,
        rng: &mut R,
    ) -> Result<Sent, SmsOtpError> {
        let code = self.otp.start(phone, now, rng)?;
        let usd = match (&self.prices, country) {
            (Some(p), Some(iso)) => p.quote(iso).usd_per_segment,
            (Some(p), None) => p.fallback_usd(),
            (None, _) => FALLBACK_USD,
        };
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.spend_micro_usd
            .fetch_add((usd * 1e6).round() as u64, Ordering::Relaxed);
        if let Some(outbox) = &self.outbox {
            outbox.lock().insert(code.phone, code.code);
        }
        Ok(Sent {
            code,
            usd,
            country: country.map(str::to_string),
        })
    }

    pub fn check(&self, phone: &Sender, code: &str, now: Millis) -> CheckOutcome {
        self.otp.check(phone, code, now)
    }

    /// The last code sent to `phone`, if the outbox is on.
    pub fn outbox(&self, phone: &Sender) -> Option<Option<String>> {
        let outbox = self.outbox.as_ref()?;
        let Sender::Phone(n) = phone else {
            return Some(None);
        };
        Some(outbox.lock().get(n).map(|&c| self.otp.format(c)))
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    pub fn spend_usd(&self) -> f64 {
        self.spend_micro_usd.load(Ordering::Relaxed) as f64 / 1e6
    }
}
