//! Checks of a parsed scenario that need several keys, the price table or the raw TOML:
//! every missing required key at once, countries without a price, attackers and their
//! kinds' and shapes' keys, carriers. Every check runs, and each error it finds is pushed
//! into [`Found`] with the key's path (`attacker[2].end`); `Scenario::parse` gives each its
//! line in the file.

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

/// Attackers one scenario may have (the engine's events carry their index in 16 bits).
pub const MAX_ATTACKERS: usize = u16::MAX as usize;

/// One error a check found: the key it names, what is wrong, and the other keys the check
/// read (a check whose inputs failed to parse is not reported: it would judge a stand-in).
#[derive(Debug)]
pub(super) struct Check {
    pub(super) key: String,
    pub(super) message: String,
    pub(super) reads: Vec<String>,
}

/// The errors the checks found, in the order found.
#[derive(Debug, Default)]
pub(super) struct Found(pub(super) Vec<Check>);

impl Found {
    pub(super) fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.reading(key, &[], message);
    }

    /// An error about `key` from a check that also read `reads` (paths from the top).
    pub(super) fn reading(
        &mut self,
        key: impl Into<String>,
        reads: &[&str],
        message: impl Into<String>,
    ) {
        self.0.push(Check {
            key: key.into(),
            message: message.into(),
            reads: reads.iter().map(|r| (*r).to_string()).collect(),
        });
    }

    /// A pusher for the keys of the `i`-th attacker (counted from 0), named as the file
    /// numbers them (`attacker[1].end`). Its reads are keys of the same attacker, or of the
    /// scenario when they start with `/` (`/duration`).
    fn attacker(&mut self, i: usize) -> impl FnMut(&str, &[&str], String) + '_ {
        move |k, reads, message| {
            let at = |k: &str| match k.strip_prefix('/') {
                Some(top) => top.to_string(),
                None => format!("attacker[{}].{k}", i + 1),
            };
            let reads: Vec<String> = reads.iter().map(|r| at(r)).collect();
            self.0.push(Check {
                key: at(k),
                message,
                reads,
            });
        }
    }
}

/// What an attacker check reports through: the key it names (of this attacker), the other
/// keys it read, and what is wrong.
type Bad<'a> = dyn FnMut(&str, &[&str], String) + 'a;

impl Scenario {
    /// Every check that needs several keys; each error found is pushed into `found`.
    pub(super) fn validate(&self, found: &mut Found) {
        if self.run.duration.ms() == 0 {
            found.push("duration", "must be positive");
        }
        if self.run.interval.ms() == 0
            || self.run.duration.ms() / self.run.interval.ms().max(1) > 1_000_000
        {
            found.reading(
                "interval",
                &["duration"],
                "must be positive and give at most 1,000,000 rows",
            );
        }
        if self.run.flows.is_empty() {
            found.push("flows", "name at least one of \"reverse\", \"sms\"");
        }
        if self.legit.countries.is_empty()
            || self.legit.countries.values().all(|c| c.weight.0 == 0.0)
        {
            found.push(
                "legit.countries",
                "need at least one country with a positive weight",
            );
        }
        if !(4..=12).contains(&self.verifier.code_len) {
            found.push("verifier.code_len", "must be between 4 and 12");
        }
        if !(1..=16).contains(&self.verifier.max_candidates) {
            found.push("verifier.max_candidates", "must be between 1 and 16");
        }
        for (key, ttl) in [
            ("verifier.ttl", self.verifier.ttl),
            ("sms.ttl", self.sms.ttl),
        ] {
            if ttl.ms() == 0 {
                found.push(key, "challenge lifetimes must be positive");
            }
        }
        if self.sms.segments == 0 {
            found.push("sms.segments", "must be at least 1");
        }
        self.validate_carriers(found);
        self.check_countries_are_priced(found);
        if let Some(inc) = &self.criteria.incident {
            if !self.run.flows.contains(&inc.flow) {
                found.reading(
                    "incident.flow",
                    &["flows"],
                    "names a flow the scenario does not run",
                );
            }
            if inc.sms.is_none() && inc.blocked.is_none() && inc.bill_usd.is_none() {
                found.reading(
                    "incident",
                    &["incident.sms", "incident.blocked", "incident.bill_usd"],
                    "give at least one documented figure: sms, blocked or bill_usd",
                );
            }
        }
        if self.raw_attackers.len() > MAX_ATTACKERS {
            found.push(
                "attacker",
                format!("at most {MAX_ATTACKERS} attackers (events carry a 16-bit index)"),
            );
            return;
        }
        for (i, a) in self.raw_attackers.iter().enumerate() {
            self.validate_attacker(&mut found.attacker(i), a);
        }
    }

    /// One attacker's window, shape and kind's keys; `bad` names a key of this attacker.
    fn validate_attacker(&self, bad: &mut Bad, a: &RawAttacker) {
        if a.end <= a.start {
            bad("end", &["start"], "must be after start".into());
        }
        if a.end > self.run.duration {
            bad(
                "end",
                &["/duration"],
                format!(
                    "is past the scenario's duration ({}); end the attack by then",
                    self.run.duration
                ),
            );
        }
        if a.pace.shape == Shape::LowAndSlow {
            // Low-and-slow draws every number and address at random: keys that ask for
            // anything else would be ignored.
            if a.pumping.plan.numbers == Some(Numbering::Sequential) {
                bad(
                    "numbers",
                    &["shape"],
                    "shape low_and_slow draws numbers at random; remove the key or use another shape".into(),
                );
            }
            if a.pumping.client.rotate_every.is_some() {
                bad(
                    "rotate_every",
                    &["shape"],
                    "shape low_and_slow draws an address from ip_pool for every request; remove the key or use another shape".into(),
                );
            }
        }
        if a.pace.shape != Shape::Burst && (a.pace.burst_on.is_some() || a.pace.burst_off.is_some())
        {
            bad(
                "burst_on",
                &["shape", "burst_off"],
                "only shape burst uses burst_on and burst_off".into(),
            );
        }
        if a.pace.shape == Shape::Burst && (a.pace.burst_on.is_none() || a.pace.burst_off.is_none())
        {
            bad(
                "shape",
                &["burst_on", "burst_off"],
                "burst needs burst_on and burst_off".into(),
            );
        }
        self.validate_shape(bad, a);
        self.validate_kind_keys(bad, a);
    }

    /// The keys of an attacker's kind, and only those.
    fn validate_kind_keys(&self, bad: &mut Bad, a: &RawAttacker) {
        let sms_only = [
            ("targets", a.pumping.targets.is_some()),
            ("numbers", a.pumping.plan.numbers.is_some()),
            ("range_size", a.pumping.plan.range_size.is_some()),
            ("ip_pool", a.pumping.client.ip_pool.is_some()),
            ("rotate_every", a.pumping.client.rotate_every.is_some()),
            ("captcha_usd", a.pumping.client.captcha_usd.is_some()),
            ("revenue_share", a.pumping.revenue_share.is_some()),
            ("camouflage", a.pumping.camouflage.is_some()),
            (
                "sms_per_account",
                a.pumping.client.sms_per_account.is_some(),
            ),
            ("accounts", a.pumping.client.accounts.is_some()),
            ("sms_per_number", a.pumping.plan.sms_per_number.is_some()),
            ("ranges", a.pumping.plan.ranges.is_some()),
            ("carriers", a.pumping.plan.carriers.is_some()),
            ("submit_codes", a.pumping.submit_codes.is_some()),
            ("adapt", a.pumping.adapt.is_some()),
            ("solver", a.pumping.client.solver.is_some()),
        ];
        let others = [
            ("sender_accounts", a.reverse.sender_accounts.is_some()),
            (
                "candidates_per_message",
                a.reverse.candidates_per_message.is_some(),
            ),
            ("clients", a.reverse.clients.is_some()),
            ("capture_age", a.reverse.capture_age.is_some()),
            ("success", a.reverse.success.is_some()),
            ("swap_success", a.takeover.swap_success.is_some()),
            ("apple_id", a.takeover.apple_id.is_some()),
            ("relay_delay", a.takeover.relay_delay.is_some()),
            ("spoof_delivery", a.takeover.spoof_delivery.is_some()),
        ];
        let allowed: Vec<&str> = match a.kind {
            AttackKind::SmsPumping => sms_only.iter().map(|(k, _)| *k).collect(),
            AttackKind::CodeGuessing => vec!["sender_accounts", "candidates_per_message"],
            AttackKind::StartFlood => vec!["clients"],
            AttackKind::Replay => vec!["capture_age"],
            AttackKind::ReverseOtpPhishing => vec!["success"],
            AttackKind::SimSwap => vec!["swap_success", "apple_id"],
            AttackKind::RelayPhishing => vec!["success", "relay_delay"],
            AttackKind::SpoofedSender => vec!["success", "spoof_delivery"],
            AttackKind::WebhookForgery => vec![],
        };
        for (k, present) in sms_only.iter().chain(&others) {
            if *present && !allowed.contains(k) {
                bad(
                    k,
                    &["kind"],
                    format!("does not apply to kind {}", a.kind.name()),
                );
            }
        }
        if a.kind == AttackKind::SmsPumping
            && a.pumping
                .targets
                .as_ref()
                .is_none_or(|t| t.values().all(|w| w.0 == 0.0))
        {
            bad(
                "targets",
                &["kind"],
                "sms_pumping needs target countries with weights".into(),
            );
        }
        if a.kind == AttackKind::WebhookForgery && !self.emitter.sign {
            bad(
                "kind",
                &["/emitter.sign"],
                "webhook_forgery needs emitter.sign = true".into(),
            );
        }
        if a.reverse.candidates_per_message == Some(0) {
            bad(
                "candidates_per_message",
                &[],
                "counts must be at least 1".into(),
            );
        }
        if a.reverse.sender_accounts == Some(0) {
            bad("sender_accounts", &[], "counts must be at least 1".into());
        }
        if a.kind == AttackKind::SmsPumping {
            // Every check of a pumping attacker reads its kind.
            let mut pumping = |k: &str, reads: &[&str], message: String| {
                let mut reads = reads.to_vec();
                reads.push("kind");
                bad(k, &reads, message);
            };
            self.validate_pumping(&mut pumping, a);
        }
    }

    /// The rate keys each shape reads, and only those.
    fn validate_shape(&self, bad: &mut Bad, a: &RawAttacker) {
        let name = a.pace.shape.name();
        let keys = [
            (
                "rate_per_s",
                a.pace.rate_per_s.is_some(),
                a.pace.shape != Shape::Ramp,
            ),
            ("ramp", a.pace.ramp.is_some(), a.pace.shape == Shape::Ramp),
            (
                "amplitude",
                a.pace.amplitude.is_some(),
                a.pace.shape == Shape::Diurnal,
            ),
            (
                "peak_hour",
                a.pace.peak_hour.is_some(),
                a.pace.shape == Shape::Diurnal,
            ),
        ];
        for (k, present, applies) in keys {
            if present && !applies {
                bad(k, &["shape"], format!("does not apply to shape {name}"));
            }
        }
        if a.pace.shape != Shape::Ramp && a.pace.rate_per_s.is_none() {
            bad(
                "rate_per_s",
                &["shape"],
                format!("shape {name} needs rate_per_s"),
            );
        }
        if a.pace.shape == Shape::Ramp {
            let points = a.pace.ramp.as_deref().unwrap_or_default();
            if points.is_empty() {
                bad(
                    "ramp",
                    &["shape"],
                    "shape ramp needs ramp = [{ at = \"0h\", per_s = ... }, ...]".into(),
                );
            }
            if points.windows(2).any(|w| w[1].at <= w[0].at) {
                bad("ramp", &["shape"], "the points' `at` must increase".into());
            }
        }
        if a.pace.peak_hour.is_some_and(|h| !(0.0..24.0).contains(&h)) {
            bad("peak_hour", &[], "must be in [0, 24)".into());
        }
    }

    /// The numbering, account, carrier, adaptation and CAPTCHA keys of an `sms_pumping`
    /// attacker, against each other and the rest of the scenario.
    fn validate_pumping(&self, bad: &mut Bad, a: &RawAttacker) {
        for (k, v) in [
            ("sms_per_account", a.pumping.client.sms_per_account),
            ("accounts", a.pumping.client.accounts),
            ("sms_per_number", a.pumping.plan.sms_per_number),
            ("ranges", a.pumping.plan.ranges),
        ] {
            if v == Some(0) {
                bad(k, &[], "must be at least 1".into());
            }
        }
        if a.pumping.client.accounts.is_some() && a.pumping.client.sms_per_account.is_none() {
            bad(
                "accounts",
                &["sms_per_account"],
                "needs sms_per_account".into(),
            );
        }
        let targets: Vec<&Iso> = a
            .pumping
            .targets
            .iter()
            .flatten()
            .filter(|(_, w)| w.0 > 0.0)
            .map(|(iso, _)| iso)
            .collect();
        let ranges = u64::from(a.pumping.plan.ranges.unwrap_or(1));
        self.validate_capacity(bad, a, &targets);
        // Carriers the attacker may use in each target country.
        let mut candidates_max = 0;
        for iso in &targets {
            let of_country: Vec<&Carrier> = self
                .carriers
                .iter()
                .filter(|c| &&c.country == iso)
                .collect();
            let n = match &a.pumping.plan.carriers {
                Some(names) => {
                    let n = of_country
                        .iter()
                        .filter(|c| names.contains(&c.name))
                        .count();
                    if n == 0 {
                        bad(
                            "carriers",
                            &["targets", "/carrier"],
                            format!("target {} has none of these [[carrier]] names", iso.0),
                        );
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
        if let Some(names) = &a.pumping.plan.carriers
            && let Some(name) = names.iter().find(|n| {
                !self
                    .carriers
                    .iter()
                    .any(|c| &c.name == *n && targets.contains(&&c.country))
            })
        {
            bad(
                "carriers",
                &["targets", "/carrier"],
                format!("{name:?} is no [[carrier]] of a target country"),
            );
        }
        if let Some(adapt) = &a.pumping.adapt {
            validate_adapt(bad, adapt, ranges, targets.len(), candidates_max);
        }
        if a.pumping.client.solver.is_some() && self.defences.captcha.is_none() {
            bad(
                "solver",
                &["/defences.captcha"],
                "there is no [defences.captcha] to solve".into(),
            );
        }
    }

    /// A pumping attacker's ranges fit the premium numbers of each target (a carrier's block,
    /// or the country's).
    fn validate_capacity(&self, bad: &mut Bad, a: &RawAttacker, targets: &[&Iso]) {
        let stride = range_stride(a.pumping.plan.range_size.unwrap_or(DEFAULT_RANGE_SIZE));
        let ranges = u64::from(a.pumping.plan.ranges.unwrap_or(1));
        for iso in targets {
            let cap = if self.carriers.iter().any(|c| &c.country == *iso) {
                CARRIER_PREMIUM_CAPACITY
            } else {
                COUNTRY_PREMIUM_CAPACITY
            };
            if stride.saturating_mul(ranges) > cap {
                bad(
                    if a.pumping.plan.ranges.is_some() {
                        "ranges"
                    } else {
                        "range_size"
                    },
                    &["targets", "ranges", "range_size", "/carrier"],
                    format!(
                        "{ranges} ranges of {stride} numbers do not fit the {cap} premium numbers of {}",
                        iso.0
                    ),
                );
                return;
            }
        }
    }

    /// `[[carrier]]` tables: known countries, distinct names, shares that fit.
    fn validate_carriers(&self, found: &mut Found) {
        let mut bad = |i: usize, k: &str, reads: Vec<String>, message: String| {
            found.0.push(Check {
                key: format!("carrier[{}].{k}", i + 1),
                message,
                reads,
            });
        };
        // Where each country a carrier may name comes from.
        let mut countries = vec!["legit.countries".to_string()];
        countries.extend((1..=self.raw_attackers.len()).map(|j| format!("attacker[{j}].targets")));
        for (i, c) in self.carriers.iter().enumerate() {
            // The carriers up to this one: their countries, names and shares.
            let before = |keys: &[&str]| -> Vec<String> {
                (1..=i + 1)
                    .flat_map(|j| keys.iter().map(move |k| format!("carrier[{j}].{k}")))
                    .collect()
            };
            let known = self.legit.countries.contains_key(&c.country)
                || self.raw_attackers.iter().any(|a| {
                    a.pumping
                        .targets
                        .as_ref()
                        .is_some_and(|t| t.contains_key(&c.country))
                });
            if !known {
                bad(
                    i,
                    "country",
                    countries.clone(),
                    format!(
                        "{} is neither a legit country nor an attacker target",
                        c.country.0
                    ),
                );
            }
            if c.name.trim().is_empty() || c.name == OTHER_CARRIER {
                bad(
                    i,
                    "name",
                    Vec::new(),
                    format!("must be a non-empty name other than {OTHER_CARRIER:?}"),
                );
            }
            let same: Vec<&Carrier> = self.carriers[..=i]
                .iter()
                .filter(|o| o.country == c.country)
                .collect();
            if same[..same.len() - 1].iter().any(|o| o.name == c.name) {
                bad(
                    i,
                    "name",
                    before(&["country", "name"]),
                    format!("{} is listed twice for {}", c.name, c.country.0),
                );
            }
            if c.share.0 <= 0.0 {
                bad(i, "share", Vec::new(), "must be positive".into());
            }
            if same.iter().map(|o| o.share.0).sum::<f64>() > 1.0 + SHARE_EPS {
                bad(
                    i,
                    "share",
                    before(&["country", "share"]),
                    format!(
                        "the shares of {}'s carriers sum to more than 1",
                        c.country.0
                    ),
                );
            }
            if same.len() > MAX_CARRIERS_PER_COUNTRY {
                bad(
                    i,
                    "country",
                    before(&["country"]),
                    format!("at most {MAX_CARRIERS_PER_COUNTRY} carriers per country"),
                );
            }
        }
    }

    /// Every country a scenario names (legit users' and attackers' targets) must have a row in
    /// the price table: an unknown code would be billed at Twilio's fallback price without a
    /// word, which is how `UK` (for `GB`) slips through.
    fn check_countries_are_priced(&self, found: &mut Found) {
        let table = match mo2fa_cost::prices::PriceTable::builtin() {
            Ok(t) => t,
            Err(e) => {
                found.push(
                    "legit.countries",
                    format!("cannot read the built-in price table: {e}"),
                );
                return;
            }
        };
        let legit = self
            .legit
            .countries
            .keys()
            .map(|iso| (format!("legit.countries.{}", iso.0), iso));
        let targets = self.raw_attackers.iter().enumerate().flat_map(|(i, a)| {
            a.pumping
                .targets
                .iter()
                .flatten()
                .map(move |(iso, _)| (format!("attacker[{}].targets.{}", i + 1, iso.0), iso))
        });
        for (key, iso) in legit.chain(targets) {
            if table.lists(&iso.0) {
                continue;
            }
            // Every code here is assigned (`Iso`), so a look-alike such as `UK` was refused,
            // with the code meant, before this check (mo2fa_core::iso3166::suggest).
            found.push(
                key,
                format!(
                    "{} is not in the price table (scenarios/data/sms_prices.csv), so it has no price",
                    iso.0
                ),
            );
        }
    }
}

/// An adaptive pumping attacker's `adapt` against its ranges, targets and carriers (the most
/// any target offers).
fn validate_adapt(
    bad: &mut Bad,
    adapt: &RawAdapt,
    ranges: u64,
    targets: usize,
    candidates_max: usize,
) {
    if adapt.after_blocks == 0 {
        bad("adapt.after_blocks", &[], "must be at least 1".into());
    }
    if adapt.back_off.is_some() != (adapt.action == AdaptAction::BackOff) {
        bad(
            "adapt.back_off",
            &["adapt.action"],
            "is required by action = \"back_off\" and refused by the others".into(),
        );
    }
    if adapt.back_off.is_some_and(|d| d.ms() == 0) {
        bad("adapt.back_off", &[], "must be positive".into());
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
        bad(
            "adapt.action",
            &["ranges", "targets", "carriers", "/carrier"],
            why.into(),
        );
    }
}

impl Scenario {
    /// Checks of the billing and report sections that need several keys, and of
    /// `sms.price_date` against the price table.
    pub(super) fn validate_billing(&self, found: &mut Found) {
        if let Some(d) = &self.sms.price_date {
            match (d.parse::<Date>(), PriceTable::builtin()) {
                (Err(m), _) => found.push("sms.price_date", format!("{m} (expected YYYY-MM-DD)")),
                (_, Err(e)) => found.push("sms.price_date", format!("the price table: {e}")),
                (Ok(date), Ok(table)) => {
                    if let Some(oldest) = table.dates().iter().min()
                        && date < *oldest
                    {
                        found.push(
                            "sms.price_date",
                            format!(
                                "{date} is before the oldest price snapshot, {oldest} \
                                 (scenarios/data/sms_prices.csv)"
                            ),
                        );
                    }
                }
            }
        }
        if let Some(b) = self.money.billing.as_ref().and_then(|b| b.balance.as_ref())
            && b.recharge_usd.0 <= 0.0
        {
            found.push(
                "billing.balance.recharge_usd",
                "must be positive (use card_daily_limit_usd = 0 for no recharges)",
            );
        }
    }
}

/// [`Scenario::parse`]: every error at once, in file order, each as `file:line: key: message`.
/// The typed parse collects every key that fails ([`mo2fa_core::conf::collect`]), standing in
/// for the required ones, so the checks that need several keys run on everything else; a
/// check that read a key that failed is left out (it would judge the stand-in).
pub(super) fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let mut collected = mo2fa_core::conf::collect::<Scenario>(text);
    let keys = &collected.keys;
    // serde names only the first missing key of a table; these are all of them.
    let mut problems: Vec<Problem> = match text.parse::<toml::Table>() {
        Ok(table) => missing_keys(&table)
            .into_iter()
            .map(|key| {
                keys.problem(
                    key,
                    "required key is missing (scenarios/README.md lists every key)",
                )
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    for p in collected.problems.iter() {
        let again =
            p.message == "required key is missing" && problems.iter().any(|q| q.key == p.key);
        if !again {
            problems.push(p.clone());
        }
    }
    // Array indexes in the value are the file's only when no element was taken out.
    let renumbered = collected.renumbered;
    let Some(mut s) = collected.value.take().filter(|_| !renumbered) else {
        return Err(ScenarioError::problems(file, problems));
    };
    let mut found = Found::default();
    s.check_all(file, &mut found)?;
    // A check about a key that already failed, is missing, or read one, would only say it
    // again or judge a stand-in.
    let said: Vec<String> = problems.iter().map(|p| p.key.clone()).collect();
    problems.extend(
        found
            .0
            .into_iter()
            .filter(|c| {
                !said.contains(&c.key)
                    && !collected.touches_removed(&c.key)
                    && !c.reads.iter().any(|r| collected.touches_removed(r))
            })
            .map(|c| keys.problem(c.key, c.message)),
    );
    if !problems.is_empty() {
        return Err(ScenarioError::problems(file, problems));
    }
    s.attackers = std::mem::take(&mut s.raw_attackers)
        .into_iter()
        .map(|raw| Attacker::from_raw(raw, &s.defences))
        .collect();
    Ok(s)
}

impl Scenario {
    /// Every check of a parsed scenario, each error pushed into `found`.
    fn check_all(&mut self, file: &str, found: &mut Found) -> Result<(), ScenarioError> {
        // The checks written as single errors (the population's shares, history, incident).
        let single = [
            population::resolve(&mut self.legit, file),
            self.money
                .history
                .as_ref()
                .map_or(Ok(()), |h| h.check(file)),
            self.criteria
                .incident
                .as_ref()
                .map_or(Ok(()), |i| i.check(file)),
        ];
        for result in single {
            match result {
                Ok(()) => {}
                Err(ScenarioError::Invalid { key, message, .. }) => found.push(key, message),
                Err(e) => return Err(e),
            }
        }
        // A preset's rules merged under the section's own keys.
        match std::mem::take(&mut self.defences.sms).resolve() {
            Ok(sms) => self.defences.sms = sms,
            Err(all) => {
                for e in all {
                    found.push(format!("defences.sms.{}", e.key), e.message);
                }
            }
        }
        self.validate(found);
        self.validate_billing(found);
        Ok(())
    }
}
