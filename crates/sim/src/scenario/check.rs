//! Checks of a parsed scenario that need several keys, the price table or the raw TOML:
//! every missing required key at once, countries without a price, attackers and their
//! kinds' and shapes' keys, carriers. Each error names the file and the key.

use super::*;
use mo2fa_cost::prices::{Date, PriceTable};

/// Keys a scenario must have, as `parent.key` paths (`attacker[2].end`), all at once: serde
/// stops at the first. Sections that are absent are reported once, not key by key.
pub(super) fn missing_keys(t: &toml::Table) -> Vec<String> {
    fn need(t: &toml::Table, at: &str, keys: &[&str], out: &mut Vec<String>) {
        for k in keys {
            if !t.contains_key(*k) {
                out.push(if at.is_empty() {
                    (*k).to_string()
                } else {
                    format!("{at}.{k}")
                });
            }
        }
    }
    let mut out = Vec::new();
    need(
        t,
        "",
        &["seed", "duration", "interval", "flows", "legit", "emitter"],
        &mut out,
    );
    if let Some(legit) = t.get("legit").and_then(|v| v.as_table()) {
        need(
            legit,
            "legit",
            &["rate_per_s", "p_send", "send_delay_median", "countries"],
            &mut out,
        );
        for (iso, c) in legit
            .get("countries")
            .and_then(|v| v.as_table())
            .into_iter()
            .flatten()
        {
            if let Some(c) = c.as_table() {
                need(
                    c,
                    &format!("legit.countries.{iso}"),
                    &["weight", "fallback"],
                    &mut out,
                );
            }
        }
    }
    if let Some(emitter) = t.get("emitter").and_then(|v| v.as_table()) {
        need(emitter, "emitter", &["latency_median"], &mut out);
    }
    let attackers = t.get("attacker").and_then(|v| v.as_array());
    for (i, a) in attackers.into_iter().flatten().enumerate() {
        if let Some(a) = a.as_table() {
            // A ramp gives its rates in `ramp`; every other shape needs rate_per_s.
            let ramp = a.get("shape").and_then(|v| v.as_str()) == Some("ramp");
            let keys: &[&str] = if ramp {
                &["kind", "start", "end", "shape", "ramp"]
            } else {
                &["kind", "start", "end", "shape", "rate_per_s"]
            };
            need(a, &format!("attacker[{}]", i + 1), keys, &mut out);
        }
    }
    let conversion = t
        .get("defences")
        .and_then(|d| d.get("sms"))
        .and_then(|d| d.get("conversion"))
        .and_then(|v| v.as_table());
    if let Some(c) = conversion {
        need(
            c,
            "defences.sms.conversion",
            &["min_sent", "threshold", "block_for"],
            &mut out,
        );
    }
    if let Some(store) = t.get("store").and_then(|v| v.as_table()) {
        need(store, "store", &["url"], &mut out);
    }
    out
}

/// Codes people write for a country that ISO 3166-1 spells otherwise.
const LOOK_ALIKE_CODES: &[(&str, &str)] = &[
    ("UK", "GB"), // the United Kingdom
    ("EL", "GR"), // Greece, as the EU writes it
    ("KV", "XK"), // Kosovo (XK is user-assigned; not in the price table either)
    ("BU", "MM"), // Burma, withdrawn code
    ("ZR", "CD"), // Zaire, withdrawn code
    ("TP", "TL"), // East Timor, withdrawn code
];

/// Attackers one scenario may have (the engine's events carry their index in 16 bits).
pub const MAX_ATTACKERS: usize = u16::MAX as usize;

impl Scenario {
    pub(super) fn validate(&self, file: &str) -> Result<(), ScenarioError> {
        let bad = |key: &str, message: &str| ScenarioError::Invalid {
            file: file.to_string(),
            key: key.to_string(),
            message: message.to_string(),
        };
        if self.duration.ms() == 0 {
            return Err(bad("duration", "must be positive"));
        }
        if self.interval.ms() == 0 || self.duration.ms() / self.interval.ms() > 1_000_000 {
            return Err(bad(
                "interval",
                "must be positive and give at most 1,000,000 rows",
            ));
        }
        if self.flows.is_empty() {
            return Err(bad("flows", "name at least one of \"reverse\", \"sms\""));
        }
        if self.legit.countries.is_empty()
            || self.legit.countries.values().all(|c| c.weight.0 == 0.0)
        {
            return Err(bad(
                "legit.countries",
                "need at least one country with a positive weight",
            ));
        }
        if !(4..=12).contains(&self.verifier.code_len) {
            return Err(bad("verifier.code_len", "must be between 4 and 12"));
        }
        if !(1..=16).contains(&self.verifier.max_candidates) {
            return Err(bad("verifier.max_candidates", "must be between 1 and 16"));
        }
        if self.verifier.ttl.ms() == 0 || self.sms.ttl.ms() == 0 {
            return Err(bad("ttl", "challenge lifetimes must be positive"));
        }
        if self.sms.segments == 0 {
            return Err(bad("sms.segments", "must be at least 1"));
        }
        self.validate_carriers(file)?;
        self.check_countries_are_priced(file)?;
        if let Some(inc) = &self.incident {
            if !self.flows.contains(&inc.flow) {
                return Err(bad(
                    "incident.flow",
                    "names a flow the scenario does not run",
                ));
            }
            if inc.sms.is_none() && inc.blocked.is_none() && inc.bill_usd.is_none() {
                return Err(bad(
                    "incident",
                    "give at least one documented figure: sms, blocked or bill_usd",
                ));
            }
        }
        if self.raw_attackers.len() > MAX_ATTACKERS {
            return Err(bad(
                "attacker",
                &format!("at most {MAX_ATTACKERS} attackers (events carry a 16-bit index)"),
            ));
        }
        for (i, a) in self.raw_attackers.iter().enumerate() {
            self.validate_attacker(file, i, a)?;
        }
        Ok(())
    }

    /// One attacker's window, shape and kind's keys.
    fn validate_attacker(
        &self,
        file: &str,
        i: usize,
        a: &RawAttacker,
    ) -> Result<(), ScenarioError> {
        let bad = |k: &str, message: &str| attacker_invalid(file, i, k, message);
        if a.end <= a.start {
            return Err(bad("end", "must be after start"));
        }
        if a.end > self.duration {
            return Err(bad(
                "end",
                &format!(
                    "is past the scenario's duration ({}); end the attack by then",
                    self.duration
                ),
            ));
        }
        if a.shape == Shape::LowAndSlow {
            // Low-and-slow draws every number and address at random: keys that ask for
            // anything else would be ignored.
            if a.numbers == Some(Numbering::Sequential) {
                return Err(bad(
                    "numbers",
                    "shape low_and_slow draws numbers at random; remove the key or use another shape",
                ));
            }
            if a.rotate_every.is_some() {
                return Err(bad(
                    "rotate_every",
                    "shape low_and_slow draws an address from ip_pool for every request; remove the key or use another shape",
                ));
            }
        }
        if a.shape != Shape::Burst && (a.burst_on.is_some() || a.burst_off.is_some()) {
            return Err(bad(
                "burst_on",
                "only shape burst uses burst_on and burst_off",
            ));
        }
        if a.shape == Shape::Burst && (a.burst_on.is_none() || a.burst_off.is_none()) {
            return Err(bad("shape", "burst needs burst_on and burst_off"));
        }
        self.validate_shape(file, i, a)?;
        self.validate_kind_keys(file, i, a)
    }

    /// The keys of an attacker's kind, and only those.
    fn validate_kind_keys(
        &self,
        file: &str,
        i: usize,
        a: &RawAttacker,
    ) -> Result<(), ScenarioError> {
        let bad = |k: &str, message: &str| attacker_invalid(file, i, k, message);
        let sms_only = [
            ("targets", a.targets.is_some()),
            ("numbers", a.numbers.is_some()),
            ("range_size", a.range_size.is_some()),
            ("ip_pool", a.ip_pool.is_some()),
            ("rotate_every", a.rotate_every.is_some()),
            ("captcha_usd", a.captcha_usd.is_some()),
            ("revenue_share", a.revenue_share.is_some()),
            ("camouflage", a.camouflage.is_some()),
            ("sms_per_account", a.sms_per_account.is_some()),
            ("accounts", a.accounts.is_some()),
            ("sms_per_number", a.sms_per_number.is_some()),
            ("ranges", a.ranges.is_some()),
            ("carriers", a.carriers.is_some()),
            ("submit_codes", a.submit_codes.is_some()),
            ("adapt", a.adapt.is_some()),
            ("solver", a.solver.is_some()),
        ];
        let allowed: &[&str] = match a.kind {
            AttackKind::SmsPumping => &[
                "targets",
                "numbers",
                "range_size",
                "ip_pool",
                "rotate_every",
                "captcha_usd",
                "revenue_share",
                "camouflage",
                "sms_per_account",
                "accounts",
                "sms_per_number",
                "ranges",
                "carriers",
                "submit_codes",
                "adapt",
                "solver",
            ],
            AttackKind::CodeGuessing => &["sender_accounts", "candidates_per_message"],
            AttackKind::StartFlood => &["clients"],
            AttackKind::Replay => &["capture_age"],
            AttackKind::ReverseOtpPhishing => &["success"],
            AttackKind::WebhookForgery => &[],
        };
        let others = [
            ("sender_accounts", a.sender_accounts.is_some()),
            ("candidates_per_message", a.candidates_per_message.is_some()),
            ("clients", a.clients.is_some()),
            ("capture_age", a.capture_age.is_some()),
            ("success", a.success.is_some()),
        ];
        for (k, present) in sms_only.iter().chain(&others) {
            if *present && !allowed.contains(k) {
                return Err(bad(k, &format!("does not apply to kind {}", a.kind.name())));
            }
        }
        if a.kind == AttackKind::SmsPumping
            && a.targets
                .as_ref()
                .is_none_or(|t| t.values().all(|w| w.0 == 0.0))
        {
            return Err(bad(
                "targets",
                "sms_pumping needs target countries with weights",
            ));
        }
        if a.kind == AttackKind::WebhookForgery && !self.emitter.sign {
            return Err(bad("kind", "webhook_forgery needs emitter.sign = true"));
        }
        if a.candidates_per_message.is_some_and(|c| c == 0) || a.sender_accounts == Some(0) {
            return Err(bad("sender_accounts", "counts must be at least 1"));
        }
        if a.kind == AttackKind::SmsPumping {
            self.validate_pumping(file, i, a)?;
        }
        Ok(())
    }

    /// The rate keys each shape reads, and only those.
    fn validate_shape(&self, file: &str, i: usize, a: &RawAttacker) -> Result<(), ScenarioError> {
        let bad = |k: &str, message: String| attacker_invalid(file, i, k, message);
        let name = a.shape.name();
        let keys = [
            ("rate_per_s", a.rate_per_s.is_some(), a.shape != Shape::Ramp),
            ("burst_on", a.burst_on.is_some(), a.shape == Shape::Burst),
            ("burst_off", a.burst_off.is_some(), a.shape == Shape::Burst),
            ("ramp", a.ramp.is_some(), a.shape == Shape::Ramp),
            (
                "amplitude",
                a.amplitude.is_some(),
                a.shape == Shape::Diurnal,
            ),
            (
                "peak_hour",
                a.peak_hour.is_some(),
                a.shape == Shape::Diurnal,
            ),
        ];
        for (k, present, applies) in keys {
            if present && !applies {
                return Err(bad(k, format!("does not apply to shape {name}")));
            }
        }
        if a.shape != Shape::Ramp && a.rate_per_s.is_none() {
            return Err(bad("rate_per_s", format!("shape {name} needs rate_per_s")));
        }
        if a.shape == Shape::Ramp {
            let points = a.ramp.as_deref().unwrap_or_default();
            if points.is_empty() {
                return Err(bad(
                    "ramp",
                    "shape ramp needs ramp = [{ at = \"0h\", per_s = ... }, ...]".into(),
                ));
            }
            if points.windows(2).any(|w| w[1].at <= w[0].at) {
                return Err(bad("ramp", "the points' `at` must increase".into()));
            }
        }
        if a.peak_hour.is_some_and(|h| !(0.0..24.0).contains(&h)) {
            return Err(bad("peak_hour", "must be in [0, 24)".into()));
        }
        Ok(())
    }

    /// The numbering, account, carrier, adaptation and CAPTCHA keys of an `sms_pumping`
    /// attacker, against each other and the rest of the scenario.
    fn validate_pumping(&self, file: &str, i: usize, a: &RawAttacker) -> Result<(), ScenarioError> {
        let bad = |k: &str, message: String| attacker_invalid(file, i, k, message);
        for (k, v) in [
            ("sms_per_account", a.sms_per_account),
            ("accounts", a.accounts),
            ("sms_per_number", a.sms_per_number),
            ("ranges", a.ranges),
        ] {
            if v == Some(0) {
                return Err(bad(k, "must be at least 1".into()));
            }
        }
        if a.accounts.is_some() && a.sms_per_account.is_none() {
            return Err(bad("accounts", "needs sms_per_account".into()));
        }
        let targets: Vec<&Iso> = a
            .targets
            .iter()
            .flatten()
            .filter(|(_, w)| w.0 > 0.0)
            .map(|(iso, _)| iso)
            .collect();
        let ranges = u64::from(a.ranges.unwrap_or(1));
        self.validate_capacity(&bad, a, &targets)?;
        // Carriers the attacker may use in each target country.
        let mut candidates_max = 0;
        for iso in &targets {
            let of_country: Vec<&Carrier> = self
                .carriers
                .iter()
                .filter(|c| &&c.country == iso)
                .collect();
            let n = match &a.carriers {
                Some(names) => {
                    let n = of_country
                        .iter()
                        .filter(|c| names.contains(&c.name))
                        .count();
                    if n == 0 {
                        return Err(bad(
                            "carriers",
                            format!("target {} has none of these [[carrier]] names", iso.0),
                        ));
                    }
                    n
                }
                None => {
                    let shares: f64 = of_country.iter().map(|c| c.share.0).sum();
                    of_country.len() + usize::from(shares < 1.0 - SHARE_EPS)
                }
            };
            candidates_max = candidates_max.max(n);
        }
        if let Some(names) = &a.carriers
            && let Some(name) = names.iter().find(|n| {
                !self
                    .carriers
                    .iter()
                    .any(|c| &c.name == *n && targets.contains(&&c.country))
            })
        {
            return Err(bad(
                "carriers",
                format!("{name:?} is no [[carrier]] of a target country"),
            ));
        }
        if let Some(adapt) = &a.adapt {
            validate_adapt(&bad, adapt, ranges, targets.len(), candidates_max)?;
        }
        if a.solver.is_some() && self.defences.captcha.is_none() {
            return Err(bad(
                "solver",
                "there is no [defences.captcha] to solve".into(),
            ));
        }
        Ok(())
    }

    /// A pumping attacker's ranges fit the premium numbers of each target (a carrier's block,
    /// or the country's).
    fn validate_capacity(
        &self,
        bad: &dyn Fn(&str, String) -> ScenarioError,
        a: &RawAttacker,
        targets: &[&Iso],
    ) -> Result<(), ScenarioError> {
        let stride = range_stride(a.range_size.unwrap_or(DEFAULT_RANGE_SIZE));
        let ranges = u64::from(a.ranges.unwrap_or(1));
        for iso in targets {
            let cap = if self.carriers.iter().any(|c| &c.country == *iso) {
                CARRIER_PREMIUM_CAPACITY
            } else {
                COUNTRY_PREMIUM_CAPACITY
            };
            if stride.saturating_mul(ranges) > cap {
                return Err(bad(
                    if a.ranges.is_some() {
                        "ranges"
                    } else {
                        "range_size"
                    },
                    format!(
                        "{ranges} ranges of {stride} numbers do not fit the {cap} premium numbers of {}",
                        iso.0
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `[[carrier]]` tables: known countries, distinct names, shares that fit.
    fn validate_carriers(&self, file: &str) -> Result<(), ScenarioError> {
        let bad = |i: usize, k: &str, message: String| ScenarioError::Invalid {
            file: file.to_string(),
            key: format!("carrier[{}].{k}", i + 1),
            message,
        };
        for (i, c) in self.carriers.iter().enumerate() {
            let known = self.legit.countries.contains_key(&c.country)
                || self.raw_attackers.iter().any(|a| {
                    a.targets
                        .as_ref()
                        .is_some_and(|t| t.contains_key(&c.country))
                });
            if !known {
                return Err(bad(
                    i,
                    "country",
                    format!(
                        "{} is neither a legit country nor an attacker target",
                        c.country.0
                    ),
                ));
            }
            if c.name.trim().is_empty() || c.name == OTHER_CARRIER {
                return Err(bad(
                    i,
                    "name",
                    format!("must be a non-empty name other than {OTHER_CARRIER:?}"),
                ));
            }
            let same: Vec<&Carrier> = self.carriers[..=i]
                .iter()
                .filter(|o| o.country == c.country)
                .collect();
            if same[..same.len() - 1].iter().any(|o| o.name == c.name) {
                return Err(bad(
                    i,
                    "name",
                    format!("{} is listed twice for {}", c.name, c.country.0),
                ));
            }
            if c.share.0 <= 0.0 {
                return Err(bad(i, "share", "must be positive".into()));
            }
            if same.iter().map(|o| o.share.0).sum::<f64>() > 1.0 + SHARE_EPS {
                return Err(bad(
                    i,
                    "share",
                    format!(
                        "the shares of {}'s carriers sum to more than 1",
                        c.country.0
                    ),
                ));
            }
            if same.len() > MAX_CARRIERS_PER_COUNTRY {
                return Err(bad(
                    i,
                    "country",
                    format!("at most {MAX_CARRIERS_PER_COUNTRY} carriers per country"),
                ));
            }
        }
        Ok(())
    }

    /// Every country a scenario names (legit users' and attackers' targets) must have a row in
    /// the price table: an unknown code would be billed at Twilio's fallback price without a
    /// word, which is how `UK` (for `GB`) slips through.
    fn check_countries_are_priced(&self, file: &str) -> Result<(), ScenarioError> {
        let table =
            mo2fa_cost::prices::PriceTable::builtin().map_err(|e| ScenarioError::Invalid {
                file: file.to_string(),
                key: "legit.countries".into(),
                message: format!("cannot read the built-in price table: {e}"),
            })?;
        let legit = self
            .legit
            .countries
            .keys()
            .map(|iso| (format!("legit.countries.{}", iso.0), iso));
        let targets = self.raw_attackers.iter().enumerate().flat_map(|(i, a)| {
            a.targets
                .iter()
                .flatten()
                .map(move |(iso, _)| (format!("attacker[{}].targets.{}", i + 1, iso.0), iso))
        });
        for (key, iso) in legit.chain(targets) {
            if table.lists(&iso.0) {
                continue;
            }
            let hint = match LOOK_ALIKE_CODES.iter().find(|(wrong, _)| *wrong == iso.0) {
                Some((_, right)) if table.lists(right) => format!("; did you mean {right}?"),
                _ => String::new(),
            };
            return Err(ScenarioError::Invalid {
                file: file.to_string(),
                key,
                message: format!(
                    "{} is not in the price table (scenarios/data/sms_prices.csv), so it has no price{hint}",
                    iso.0
                ),
            });
        }
        Ok(())
    }
}

/// An adaptive pumping attacker's `adapt` against its ranges, targets and carriers (the most
/// any target offers).
/// An error about key `k` of the `i`-th attacker (counted from 0), named as the file numbers
/// them (`attacker[1].end`).
fn attacker_invalid(file: &str, i: usize, k: &str, message: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        file: file.to_string(),
        key: format!("attacker[{}].{k}", i + 1),
        message: message.into(),
    }
}

fn validate_adapt(
    bad: &dyn Fn(&str, String) -> ScenarioError,
    adapt: &RawAdapt,
    ranges: u64,
    targets: usize,
    candidates_max: usize,
) -> Result<(), ScenarioError> {
    if adapt.after_blocks == 0 {
        return Err(bad("adapt.after_blocks", "must be at least 1".into()));
    }
    if adapt.back_off.is_some() != (adapt.action == AdaptAction::BackOff) {
        return Err(bad(
            "adapt.back_off",
            "is required by action = \"back_off\" and refused by the others".into(),
        ));
    }
    if adapt.back_off.is_some_and(|d| d.ms() == 0) {
        return Err(bad("adapt.back_off", "must be positive".into()));
    }
    let (ok, why) = match adapt.action {
        AdaptAction::NextRange => (ranges >= 2, "needs ranges >= 2"),
        AdaptAction::NextCountry => (targets >= 2, "needs two targets or more"),
        AdaptAction::NextCarrier => (
            candidates_max >= 2,
            "needs a target with two carriers or more to choose from",
        ),
        AdaptAction::BackOff => (true, ""),
    };
    if !ok {
        return Err(bad("adapt.action", why.into()));
    }
    Ok(())
}

impl Scenario {
    /// Checks of the billing and report sections that need several keys, and of `sms.price_date`
    /// against the price table: errors name the scenario file, the line and the key.
    pub(super) fn validate_billing(&self, file: &str, text: &str) -> Result<(), ScenarioError> {
        let at = |section: &str, key: &str, message: String| {
            let line = line_of_key(text, section, key);
            if line == 0 {
                ScenarioError::Invalid {
                    file: file.to_string(),
                    key: format!("{section}.{key}"),
                    message,
                }
            } else {
                ScenarioError::Parse {
                    file: file.to_string(),
                    line,
                    message: format!("{section}.{key}: {message}"),
                }
            }
        };
        if let Some(d) = &self.sms.price_date {
            let date = d
                .parse::<Date>()
                .map_err(|m| at("sms", "price_date", format!("{m} (expected YYYY-MM-DD)")))?;
            let table = PriceTable::builtin()
                .map_err(|e| at("sms", "price_date", format!("the price table: {e}")))?;
            if let Some(oldest) = table.dates().iter().min()
                && date < *oldest
            {
                return Err(at(
                    "sms",
                    "price_date",
                    format!(
                        "{date} is before the oldest price snapshot, {oldest} \
                         (scenarios/data/sms_prices.csv)"
                    ),
                ));
            }
        }
        if let Some(b) = self.billing.as_ref().and_then(|b| b.balance.as_ref())
            && b.recharge_usd.0 <= 0.0
        {
            return Err(at(
                "billing.balance",
                "recharge_usd",
                "must be positive (use card_daily_limit_usd = 0 for no recharges)".into(),
            ));
        }
        Ok(())
    }
}

/// The 1-based line of the first `key = ...` line in `text` after the line `[section]`
/// (or anywhere, for a dotted `section.key`), or 0 when not found.
fn line_of_key(text: &str, section: &str, key: &str) -> usize {
    let mut in_section = false;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            in_section = l.trim_start_matches('[').trim_end_matches(']').trim() == section;
            continue;
        }
        let Some((k, _)) = l.split_once('=') else {
            continue;
        };
        let k = k.trim();
        if (in_section && k == key) || k == format!("{section}.{key}") {
            return i + 1;
        }
    }
    0
}
