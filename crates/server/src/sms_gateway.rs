//! The HTTP server's side of the traditional flow: [`SmsOtp`] plus a simulated SMS gateway
//! that "sends" each code by billing it at the destination's list price, so a load test of
//! `/sms/start` shows what the same traffic would cost. Nothing leaves the machine.
//!
//! With the outbox on (`serve --sms-outbox`), sent codes can be read back at
//! `GET /sms/outbox/{phone}`, which is how tests and load generators play the handset. Never
//! turn it on in front of real users: it hands out the codes.
//!
//! The price follows the destination: the country of the number's calling code
//! ([`mo2fa_core::dialing`]), else Twilio's fallback ("Unknown") price. A caller's `country`
//! never overrides it (the route ignores and reports one that disagrees): pumping bots send
//! numbers, and a bot that could name the country would pick the cheapest price and a new
//! country for every per-country cap.

use mo2fa_core::clock::Millis;
use mo2fa_core::dialing;
use mo2fa_core::sender::Sender;
use mo2fa_core::sms_otp::{CheckOutcome, SmsCode, SmsOtp, SmsOtpConfig, SmsOtpError};
use mo2fa_cost::prices::{PriceSnapshot, PriceTable};
use parking_lot::Mutex;
use rand::Rng;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

/// Twilio's price for destinations it does not list, used if the table cannot be read.
const FALLBACK_USD: f64 = 0.10;

pub struct SmsGateway {
    pub otp: SmsOtp,
    prices: Option<PriceSnapshot>,
    /// Sends and spend by billed country (`None`: fallback price), the one record the totals
    /// are summed from. A surge towards a few premium destinations is what pumping looks like,
    /// so `/metrics` shows the split. At most one entry per ISO code, so the map stays small.
    billed: Mutex<BTreeMap<Option<String>, Billed>>,
    outbox: Option<Mutex<FxHashMap<u64, u32>>>,
    /// Sends whose request named a country the number's calling code disagrees with (the
    /// request's country was ignored and echoed back as `country_ignored`).
    country_ignored: std::sync::atomic::AtomicU64,
}

/// What was billed to one destination.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Billed {
    pub sent: u64,
    /// In millionths of a dollar, so that sums are exact.
    pub micro_usd: u64,
    /// Codes to this destination checked correct: with `sent`, its conversion, the signal
    /// pumping shows (codes sent to numbers nobody reads).
    pub verified: u64,
}

impl Billed {
    pub fn usd(&self) -> f64 {
        self.micro_usd as f64 / 1e6
    }
}

/// What one send cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Sent {
    pub code: SmsCode,
    pub usd: f64,
    /// The destination the price is for; `None` if neither named nor inferred (fallback price).
    pub country: Option<String>,
    /// Where `country` came from.
    pub source: CountrySource,
}

/// Where the billed country came from, so an answer can show how sure the price is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountrySource {
    /// Read off the number's calling code; `shared` if other countries use the same code, so
    /// the country is the code's primary and may be wrong.
    CallingCode { shared: bool },
    /// Neither named nor inferable; priced at the fallback row.
    Unknown,
}

impl CountrySource {
    /// The name used in API answers.
    pub fn as_str(self) -> &'static str {
        match self {
            CountrySource::CallingCode { .. } => "calling_code",
            CountrySource::Unknown => "unknown",
        }
    }
}

/// The destination country of a send, from the number's calling code alone, and how sure it is.
pub fn destination(phone: &Sender) -> (Option<&'static str>, CountrySource) {
    match phone {
        Sender::Phone(n) => match dialing::country_of_number(*n) {
            Some(i) => (
                Some(i.country),
                CountrySource::CallingCode { shared: i.shared() },
            ),
            None => (None, CountrySource::Unknown),
        },
        Sender::Email(_) => (None, CountrySource::Unknown),
    }
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
            billed: Mutex::new(BTreeMap::new()),
            outbox: outbox.then(|| Mutex::new(FxHashMap::default())),
            country_ignored: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Draws a code for `phone` and bills one segment to the country of the number's calling
    /// code, else at the fallback price.
    pub fn send<R: Rng + ?Sized>(
        &self,
        phone: &Sender,
        now: Millis,
        rng: &mut R,
    ) -> Result<Sent, SmsOtpError> {
        let code = self.otp.start(phone, now, rng)?;
        Ok(self.bill(phone, code))
    }

    /// Bills the send of `code` to `phone` (whichever store keeps the code).
    pub fn bill(&self, phone: &Sender, code: SmsCode) -> Sent {
        let (country, source) = destination(phone);
        let usd = match (&self.prices, country) {
            (Some(p), Some(iso)) => p.quote(iso).usd_per_segment,
            (Some(p), None) => p.fallback_usd(),
            (None, _) => FALLBACK_USD,
        };
        {
            let mut billed = self.billed.lock();
            let b = billed.entry(country.map(str::to_string)).or_default();
            b.sent += 1;
            b.micro_usd += (usd * 1e6).round() as u64;
        }
        if let Some(outbox) = &self.outbox {
            outbox.lock().insert(code.phone, code.code);
        }
        Sent {
            code,
            usd,
            country: country.map(str::to_string),
            source,
        }
    }

    pub fn check(&self, phone: &Sender, code: &str, now: Millis) -> CheckOutcome {
        let outcome = self.otp.check(phone, code, now);
        if outcome == CheckOutcome::Verified {
            let country = destination(phone).0.map(str::to_string);
            self.billed.lock().entry(country).or_default().verified += 1;
        }
        outcome
    }

    /// The last code sent to `phone`, if the outbox is on.
    pub fn outbox(&self, phone: &Sender) -> Option<Option<String>> {
        let outbox = self.outbox.as_ref()?;
        let Sender::Phone(n) = phone else {
            return Some(None);
        };
        Some(outbox.lock().get(n).map(|&c| self.otp.format(c)))
    }

    /// Sends and spend by billed country, ISO codes in order after the fallback (`None`).
    pub fn billed(&self) -> Vec<(Option<String>, Billed)> {
        self.billed
            .lock()
            .iter()
            .map(|(c, b)| (c.clone(), *b))
            .collect()
    }

    /// Counts a send whose request's country disagreed with the number (`country_ignored`).
    pub fn note_country_ignored(&self) {
        self.country_ignored
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn country_ignored(&self) -> u64 {
        self.country_ignored
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn sent(&self) -> u64 {
        self.billed.lock().values().map(|b| b.sent).sum()
    }

    pub fn spend_usd(&self) -> f64 {
        let micro: u64 = self.billed.lock().values().map(|b| b.micro_usd).sum();
        micro as f64 / 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn send(g: &SmsGateway, phone: &str) -> Sent {
        let phone = Sender::parse(phone).expect("valid phone");
        g.send(&phone, 0, &mut ChaCha8Rng::seed_from_u64(1))
            .expect("sent")
    }

    fn price(iso: &str) -> f64 {
        let table = PriceTable::builtin().expect("built-in table");
        table
            .snapshot(None)
            .expect("newest")
            .quote(iso)
            .usd_per_segment
    }

    #[test]
    fn overlays_are_billed_at_their_own_country() {
        let g = SmsGateway::new(false);
        for (phone, iso) in [
            ("+16585550100", "JM"),
            ("+17875550100", "PR"),
            ("+77012345678", "KZ"),
            ("+447624123456", "IM"),
        ] {
            let s = send(&g, phone);
            assert_eq!(s.country.as_deref(), Some(iso), "{phone}");
            assert_eq!(s.usd, price(iso), "{phone}");
        }
        assert!(
            price("JM") > 10.0 * price("US"),
            "why it matters: JM lists far above US"
        );
    }

    #[test]
    fn without_a_country_the_calling_code_is_billed() {
        let g = SmsGateway::new(false);
        let s = send(&g, "+2348031234567");
        assert_eq!(s.country.as_deref(), Some("NG"));
        assert_eq!(s.source, CountrySource::CallingCode { shared: false });
        assert_eq!(s.usd, price("NG"));
        let s = send(&g, "+14155550100");
        assert_eq!(s.country.as_deref(), Some("US"));
        assert_eq!(s.source, CountrySource::CallingCode { shared: true });
        assert_eq!(s.usd, price("US"));
    }

    #[test]
    fn an_unlisted_calling_code_is_billed_at_the_fallback_price() {
        let g = SmsGateway::new(false);
        let s = send(&g, "+88212345678");
        assert_eq!((s.country, s.source), (None, CountrySource::Unknown));
        let fallback = PriceTable::builtin()
            .and_then(|t| t.snapshot(None))
            .expect("newest")
            .fallback_usd();
        assert_eq!(s.usd, fallback);
        assert_eq!(g.sent(), 1);
    }

    #[test]
    fn sends_and_spend_are_tallied_by_billed_country() {
        let g = SmsGateway::new(false);
        send(&g, "+447700900123");
        send(&g, "+447700900124");
        send(&g, "+33612345678");
        send(&g, "+88212345678");
        let billed = g.billed();
        let get = |c: Option<&str>| {
            billed
                .iter()
                .find(|(k, _)| k.as_deref() == c)
                .map(|(_, b)| *b)
                .unwrap_or_default()
        };
        assert_eq!(get(Some("GB")).sent, 2);
        assert_eq!(get(Some("FR")).sent, 1);
        assert_eq!(get(Some("NG")).sent, 0);
        assert_eq!(get(None).sent, 1);
        assert!((get(Some("GB")).usd() - 2.0 * price("GB")).abs() < 1e-9);
        let keys: Vec<_> = billed.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(
            keys,
            [None, Some("FR".into()), Some("GB".into())],
            "fallback first, then ISO order"
        );
        assert_eq!(g.sent(), 4);
        let total: f64 = billed.iter().map(|(_, b)| b.usd()).sum();
        assert!((g.spend_usd() - total).abs() < 1e-9);
    }

    #[test]
    fn correct_checks_are_tallied_by_the_number_s_country() {
        let g = SmsGateway::new(true);
        let phone = |p: &str| Sender::parse(p).expect("valid phone");
        let gb = send(&g, "+447700900123");
        send(&g, "+447700900124");
        send(&g, "+212612345678");
        let code = g.otp.format(gb.code.code);
        let wrong = if code.starts_with('0') { "1" } else { "0" }.repeat(code.len());
        assert_ne!(
            g.check(&phone("+447700900124"), &wrong, 0),
            CheckOutcome::Verified
        );
        assert_eq!(
            g.check(&phone("+447700900123"), &code, 0),
            CheckOutcome::Verified
        );
        // Used up: a second correct check verifies nothing and counts nothing.
        assert_ne!(
            g.check(&phone("+447700900123"), &code, 0),
            CheckOutcome::Verified
        );
        let billed = g.billed();
        let get = |c: &str| {
            billed
                .iter()
                .find(|(k, _)| k.as_deref() == Some(c))
                .map(|(_, b)| *b)
                .unwrap_or_default()
        };
        assert_eq!((get("GB").sent, get("GB").verified), (2, 1));
        assert_eq!((get("MA").sent, get("MA").verified), (1, 0));
    }
}
