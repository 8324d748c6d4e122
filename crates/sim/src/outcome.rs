//! What a run counted, as the reports read it: the timeline (one [`Row`] of counters per
//! report interval), per-attacker, per-country and per-carrier statistics, what the SMS
//! defences did, and the [`Outcome`] that holds them with the run's costs and billing.
//!
//! The timeline's columns are listed once, in the `timeline!` invocation below: it declares
//! the [`Row`] groups (by concern), the columns' order in `timeline.csv`, how rows add up and
//! how a cell is printed, so a new counter is a field and a line.
//!
//! This module depends only on `flow` and `billing`: the engine fills it, `costs` prices it
//! and the reports print it.

use crate::flow::Flow;
use mo2fa_cost::observed::ObservedCost;

/// Both flows priced by the cost model from what the run actually sent: list prices plus
/// carrier and Verify fees, inbound-SMS fallback, iMessage lines sized by the busiest simulated
/// day, fixed fees, all prorated to the simulated period. `None` for a flow the scenario did
/// not run.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowCosts {
    pub sms: Option<ObservedCost>,
    pub reverse: Option<ObservedCost>,
    /// The headline: each flow's cost of the period, in named parts (`None` for a flow the
    /// scenario did not run).
    pub period: crate::flow::PerFlow<Option<PeriodCost>>,
}

/// **The cost of the period**, one flow's headline cost: everything the SMS provider (Twilio)
/// and the messaging provider would bill for the simulated period, plus what the defender paid
/// for its own checks (CAPTCHA). Every other money figure of a run is one of these parts.
///
/// Each part is held in whole cents, so the parts the reports print add up to the total they
/// print, to the cent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeriodCost {
    /// Legit users' outbound SMS at each carrier's (else its country's) list price per segment.
    pub legit_sms_list_cents: i64,
    /// Pumped outbound SMS at list price.
    pub pumped_sms_list_cents: i64,
    /// Per-segment carrier fees on top of the list price (e.g. US carrier pass-through fees),
    /// legit and pumped.
    pub carrier_fees_cents: i64,
    /// Per-verification fees (Twilio Verify's per successful verification).
    pub verify_fees_cents: i64,
    /// Inbound SMS the users sent (the reverse flow's inbound fallback).
    pub inbound_sms_cents: i64,
    /// iMessage lines sized by the busiest day, prorated to the period.
    pub imessage_lines_cents: i64,
    /// Fixed monthly fees (registrations), prorated to the period.
    pub fixed_fees_cents: i64,
    /// The defender's CAPTCHA checks.
    pub captcha_cents: i64,
    /// The SMS defences' own fees (AWS's AIT evaluation, Twilio Messaging's pumping
    /// protection outside US/CA; assumed prices, crate::fees).
    pub defence_fees_cents: i64,
    /// What a vendor would credit back (Twilio's Fraud Guard Promise at Max): claimable
    /// afterwards, so its own line, **not** a part and not taken off the total.
    pub vendor_credit_cents: i64,
}

/// Whole cents of a USD amount (rounded half away from zero).
pub fn cents(usd: f64) -> i64 {
    // Amounts are far below 2^53 cents; a non-finite amount counts as 0.
    if usd.is_finite() {
        (usd * 100.0).round() as i64
    } else {
        0
    }
}

impl PeriodCost {
    /// The parts: summary.json key, label, amount in cents. Their sum is [`Self::total_cents`].
    pub fn parts(&self) -> [(&'static str, &'static str, i64); 9] {
        [
            (
                "legit_sms_list_price",
                "legit SMS at list price",
                self.legit_sms_list_cents,
            ),
            (
                "pumped_sms_list_price",
                "pumped SMS at list price",
                self.pumped_sms_list_cents,
            ),
            (
                "carrier_fees",
                "carrier fees per segment",
                self.carrier_fees_cents,
            ),
            (
                "verify_fees",
                "Verify fees per verification",
                self.verify_fees_cents,
            ),
            (
                "inbound_sms",
                "inbound SMS (users' fallback)",
                self.inbound_sms_cents,
            ),
            (
                "imessage_lines",
                "iMessage lines, prorated",
                self.imessage_lines_cents,
            ),
            ("fixed_fees", "fixed fees, prorated", self.fixed_fees_cents),
            ("captcha", "CAPTCHA checks (defender)", self.captcha_cents),
            (
                "defence_fees",
                "SMS defences' fees (assumed prices)",
                self.defence_fees_cents,
            ),
        ]
    }

    /// The cost of the period, cents: the sum of the parts.
    pub fn total_cents(&self) -> i64 {
        self.parts().iter().map(|p| p.2).sum()
    }

    /// The cost of the period, USD.
    pub fn total_usd(&self) -> f64 {
        self.total_cents() as f64 / 100.0
    }
}

/// Declares [`Row`]: its groups (one struct each, by concern), then every column of
/// `timeline.csv` in order as `group.column`: whole-number counts first, then USD amounts.
/// A compile-time check makes every group field a column.
macro_rules! timeline {
    (
        groups { $($(#[$gdoc:meta])* $group:ident: $Group:ident { $($gf:ident: $gt:ty,)* })* }
        counts { $($cg:ident.$count:ident,)* }
        usd { $($ug:ident.$usd:ident,)* }
    ) => {
        $(
            $(#[$gdoc])*
            #[derive(Clone, Debug, Default, PartialEq)]
            pub struct $Group {
                $(pub $gf: $gt,)*
            }
        )*

        /// Counts per report interval, by concern. [`Row::COLUMNS`] is the CSV column order.
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct Row {
            $(pub $group: $Group,)*
        }

        impl Row {
            /// The counter columns of `timeline.csv`, in order.
            pub const COLUMNS: &'static [&'static str] =
                &[$(stringify!($count),)* $(stringify!($usd),)*];

            /// Adds `o`'s counters to this row's.
            pub fn add(&mut self, o: &Row) {
                $(self.$cg.$count += o.$cg.$count;)*
                $(self.$ug.$usd += o.$ug.$usd;)*
            }

            /// The row's cells in column order, as `timeline.csv` prints them (USD amounts
            /// with four decimals).
            pub fn cells(&self) -> Vec<String> {
                vec![$(self.$cg.$count.to_string(),)* $(format!("{:.4}", self.$ug.$usd),)*]
            }
        }

        // Every field of every group is a column, once.
        const _: () = assert!(
            [$($(stringify!($gf),)*)*].len() == [$(stringify!($count),)* $(stringify!($usd),)*].len()
        );
    };
}

timeline! {
    groups {
        /// Legit users: starts, verifications, refusals and the codes texted to them.
        legit: LegitCounts {
            legit_starts: u64,
            legit_verified_reverse: u64,
            legit_verified_sms: u64,
            legit_refused: u64,
            sms_legit_smsflow: u64,
            sms_legit_reverse: u64,
            legit_blocked_smsflow: u64,
            legit_blocked_reverse: u64,
            captcha_blocked_legit: u64,
        }
        /// SMS pumping: pumped sends, what the defences refused and the codes typed back.
        pumping: PumpingCounts {
            pumped_sms_smsflow: u64,
            pumped_sms_reverse: u64,
            blocked_sms: u64,
            pumping_absorbed: u64,
            blocked_sms_smsflow: u64,
            blocked_sms_reverse: u64,
            pumped_verified_smsflow: u64,
            pumped_verified_reverse: u64,
            captcha_blocked_pumping: u64,
        }
        /// The reverse flow's webhook: attacks on it and the provider's duplicates.
        webhook: WebhookCounts {
            guess_messages: u64,
            guess_hits: u64,
            hijacks: u64,
            flood_starts: u64,
            flood_refused: u64,
            forged_rejected: u64,
            replays_rejected: u64,
            replays_deduped: u64,
            phishing_successes: u64,
            duplicate_deliveries: u64,
        }
        /// Money per flow: the SMS sent and the defender's CAPTCHA checks, USD.
        usd: UsdCounts {
            usd_sms_flow: f64,
            usd_reverse_flow: f64,
            usd_captcha_sms_flow: f64,
            usd_captcha_reverse_flow: f64,
        }
    }
    counts {
        legit.legit_starts,
        legit.legit_verified_reverse,
        legit.legit_verified_sms,
        legit.legit_refused,
        legit.sms_legit_smsflow,
        legit.sms_legit_reverse,
        pumping.pumped_sms_smsflow,
        pumping.pumped_sms_reverse,
        pumping.blocked_sms,
        pumping.pumping_absorbed,
        webhook.guess_messages,
        webhook.guess_hits,
        webhook.hijacks,
        webhook.flood_starts,
        webhook.flood_refused,
        webhook.forged_rejected,
        webhook.replays_rejected,
        webhook.replays_deduped,
        webhook.phishing_successes,
        webhook.duplicate_deliveries,
        pumping.blocked_sms_smsflow,
        pumping.blocked_sms_reverse,
        legit.legit_blocked_smsflow,
        legit.legit_blocked_reverse,
        pumping.pumped_verified_smsflow,
        pumping.pumped_verified_reverse,
        legit.captcha_blocked_legit,
        pumping.captcha_blocked_pumping,
    }
    usd {
        usd.usd_sms_flow,
        usd.usd_reverse_flow,
        usd.usd_captcha_sms_flow,
        usd.usd_captcha_reverse_flow,
    }
}

/// Picks the column of `flow` from a pair of per-flow columns.
macro_rules! per_flow {
    ($(#[$doc:meta] $name:ident => $($sms:ident).+, $($reverse:ident).+;)*) => {
        $(
            #[$doc]
            pub fn $name(&mut self, flow: Flow) -> &mut u64 {
                match flow {
                    Flow::Sms => &mut self.$($sms).+,
                    Flow::Reverse => &mut self.$($reverse).+,
                }
            }
        )*
    };
}

impl Row {
    per_flow! {
        /// Legit users' codes sent.
        sms_legit_in => legit.sms_legit_smsflow, legit.sms_legit_reverse;
        /// Pumped SMS sent.
        pumped_sms_in => pumping.pumped_sms_smsflow, pumping.pumped_sms_reverse;
        /// Sends the SMS defences refused.
        blocked_sms_in => pumping.blocked_sms_smsflow, pumping.blocked_sms_reverse;
        /// Legit users' sends the SMS defences refused.
        legit_blocked_in => legit.legit_blocked_smsflow, legit.legit_blocked_reverse;
        /// Legit users' texted codes verified.
        legit_verified_in => legit.legit_verified_sms, legit.legit_verified_reverse;
        /// Codes the attackers submitted that verified.
        pumped_verified_in => pumping.pumped_verified_smsflow, pumping.pumped_verified_reverse;
    }

    /// What the flow's SMS cost, USD.
    pub fn usd_in(&mut self, flow: Flow) -> &mut f64 {
        match flow {
            Flow::Sms => &mut self.usd.usd_sms_flow,
            Flow::Reverse => &mut self.usd.usd_reverse_flow,
        }
    }

    /// What the flow's CAPTCHA checks cost, USD.
    pub fn usd_captcha_in(&mut self, flow: Flow) -> &mut f64 {
        match flow {
            Flow::Sms => &mut self.usd.usd_captcha_sms_flow,
            Flow::Reverse => &mut self.usd.usd_captcha_reverse_flow,
        }
    }
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct AttackerStats {
    pub label: String,
    pub kind: &'static str,
    pub attempts: u64,
    pub blocked: u64,
    pub succeeded: u64,
    pub attacker_cost_usd: f64,
    pub attacker_revenue_usd: f64,
    /// Times an adaptive attacker changed course (`adapt`).
    pub adaptations: u64,
    /// Accounts a pumping attacker signed up (`sms_per_account` requests each).
    pub accounts: u64,
    /// Per flow (sms, reverse): when a defence first refused one of this attacker's requests
    /// (virtual ms since the run's start).
    pub first_block_ms: [Option<u64>; 2],
    /// Per flow (sms, reverse): the attacker's revenue share of what got through, USD.
    pub revenue_usd_by_flow: [f64; 2],
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CountryStats {
    pub iso: String,
    pub usd_per_segment: f64,
    pub sms_legit_smsflow: u64,
    pub sms_legit_reverse: u64,
    pub pumped_smsflow: u64,
    pub pumped_reverse: u64,
    /// Inbound-SMS fallback messages users sent (reverse flow).
    pub inbound_sms_reverse: u64,
}

impl CountryStats {
    per_flow! {
        /// Legit users' codes sent.
        sms_legit_in => sms_legit_smsflow, sms_legit_reverse;
        /// Pumped SMS sent.
        pumped_in => pumped_smsflow, pumped_reverse;
    }
}

/// One carrier's counts, per flow (`smsflow`: the SMS flow; `reverse`: the reverse flow's
/// outbound-SMS fallback). `verified` counts codes checked correct, the attackers' submitted
/// ones included; `blocked` counts requests a defence (CAPTCHA, limits, rules) refused.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CarrierStats {
    pub iso: String,
    pub name: String,
    pub share: f64,
    pub usd_per_segment: f64,
    pub sms_legit_smsflow: u64,
    pub sms_legit_reverse: u64,
    pub pumped_smsflow: u64,
    pub pumped_reverse: u64,
    pub verified_smsflow: u64,
    pub verified_reverse: u64,
    pub blocked_smsflow: u64,
    pub blocked_reverse: u64,
}

impl CarrierStats {
    per_flow! {
        /// Legit users' codes sent.
        sms_legit_in => sms_legit_smsflow, sms_legit_reverse;
        /// Pumped SMS sent.
        pumped_in => pumped_smsflow, pumped_reverse;
        /// Codes checked correct.
        verified_in => verified_smsflow, verified_reverse;
        /// Requests a defence refused.
        blocked_in => blocked_smsflow, blocked_reverse;
    }
}

/// A block of the SMS conversion rule: from and until (virtual ms), and the country.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub from_ms: u64,
    pub until_ms: u64,
    pub iso: String,
}

/// What one rule did in one flow.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleEffect {
    /// Requests of attackers the rule refused.
    pub attack_blocked: u64,
    /// Legit users' requests the rule refused.
    pub legit_blocked: u64,
    /// Legit users the rule refused who never verified in the flow afterwards, counted per
    /// user when the user's last event has run.
    pub legit_users_lost: u64,
    /// What the refused sends would have cost at list price, USD.
    pub sms_usd_blocked: f64,
    /// The rule's first refusal (virtual ms since the run's start).
    pub first_block_ms: Option<u64>,
    /// Monitor-mode alerts on attackers' and on legit users' requests.
    pub attack_alerts: u64,
    pub legit_alerts: u64,
}

/// What a flow's SMS defences did over the run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowDefences {
    /// Virtual time of the first refused send.
    pub first_block_ms: Option<u64>,
    /// Refusals, and the legit users' sends among them.
    pub blocked: u64,
    pub legit_blocked: u64,
    /// Refusals and monitor-mode alerts (sends a rule would have refused), per rule name.
    pub blocked_by_rule: std::collections::BTreeMap<&'static str, u64>,
    pub alerts_by_rule: std::collections::BTreeMap<&'static str, u64>,
    /// Billable events of the defences' paid features, and SMS a vendor credits back, per
    /// name (`SmsGuard::report`; priced in `fees`).
    pub fees: std::collections::BTreeMap<&'static str, u64>,
    pub credits: std::collections::BTreeMap<&'static str, u64>,
    /// Per rule, split by whose request it was.
    pub rules: std::collections::BTreeMap<&'static str, RuleEffect>,
    /// What every refused send would have cost at list price, USD.
    pub sms_usd_blocked: f64,
    /// The attackers' revenue share of what got through in this flow, USD.
    pub attacker_revenue_left_usd: f64,
}

impl FlowDefences {
    /// Legit users refused who never verified in this flow, over all rules.
    pub fn legit_users_lost(&self) -> u64 {
        self.rules.values().map(|r| r.legit_users_lost).sum()
    }

    /// Monitor-mode alerts on attackers' requests, over all rules.
    pub fn attack_alerts(&self) -> u64 {
        self.rules.values().map(|r| r.attack_alerts).sum()
    }

    /// Monitor-mode alerts on legit users' requests, over all rules.
    pub fn legit_alerts(&self) -> u64 {
        self.rules.values().map(|r| r.legit_alerts).sum()
    }
}

impl FlowDefences {
    /// Monitor-mode alerts over all rules.
    pub fn alerts(&self) -> u64 {
        self.alerts_by_rule.values().sum()
    }
}

/// What the legit users did, over the run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserCounts {
    /// Legit users who arrived.
    pub legit: u64,
    /// Legit users who sent their code (reverse flow).
    pub sent_reverse: u64,
    /// Challenges that answered `verified` twice (must stay 0).
    pub double_verified: u64,
    /// Verifications through the reverse flow's outbound-SMS fallback.
    pub fallback_sms_verified: u64,
    /// The most challenges pending at once.
    pub peak_pending: usize,
    /// Legit iMessage contacts per simulated day (they size the iMessage lines).
    pub imessage_per_day: Vec<u64>,
}

/// What one takeover attack kind did (`sim_swap`, `relay_phishing`, `spoofed_sender`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TakeoverCounts {
    /// Victims the attack went after.
    pub victims: u64,
    /// Victims lost before either flow: swaps the carrier refused, lures the victim ignored.
    pub failed_before: u64,
    /// Accounts taken over, per flow (sms, reverse).
    pub taken: [u64; 2],
    /// Takeover attempts a flow refused or that came to nothing, per flow (sms, reverse).
    pub refused: [u64; 2],
    /// `spoofed_sender` against the reverse flow: deliveries the webhook's signature check
    /// refused, and messages the sender binding refused (the provider attested another sender).
    pub refused_signature: u64,
    pub refused_sender: u64,
}

/// The takeover attacks' counts, per kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Takeovers {
    pub sim_swap: TakeoverCounts,
    pub relay: TakeoverCounts,
    pub spoof: TakeoverCounts,
}

/// What a run counted, finished: the typed record the engine hands over when the run ends,
/// which [`crate::costs::flow_costs`] prices and the [`Outcome`] holds.
#[derive(Clone, Debug)]
pub struct Counts {
    /// The timeline, one row per report interval, and its sum.
    pub rows: Vec<Row>,
    pub totals: Row,
    pub attackers: Vec<AttackerStats>,
    pub countries: Vec<CountryStats>,
    /// Every country's carriers (one per country unless the scenario lists carriers).
    pub carriers: Vec<CarrierStats>,
    pub users: UserCounts,
    /// Conversion-rule blocks, per flow.
    pub blocks: crate::flow::PerFlow<Vec<Block>>,
    /// What the SMS defences did, per flow: the sms flow, then the reverse flow's fallback.
    pub defences: [FlowDefences; 2],
    /// Time to verify per country (in country order) and flow (sms, reverse).
    pub time_to_verify: Vec<[TimeToVerify; 2]>,
    /// What the takeover attacks did.
    pub takeovers: Takeovers,
}

/// Everything a run produced, built once when it ended: what it counted, how far it got,
/// what that cost and the provider accounts.
pub struct Outcome {
    pub counts: Counts,
    /// Events the run handled, and whether it was interrupted before its end.
    pub events: u64,
    pub interrupted: bool,
    /// Both flows priced by the cost model from the counts.
    pub costs: FlowCosts,
    /// The flows' provider accounts under `[billing.balance]` (none without it).
    pub billing: crate::billing::Accounts,
}

/// Why a legit user never verified in a flow (time to verify, docs/metrics.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum Unverified {
    /// The user never sent (reverse) or entered (SMS) the code.
    #[default]
    NeverSent = 0,
    /// The SMS (or the user's message, reverse) was lost and never delivered.
    NotDelivered = 1,
    /// The SMS arrived after the code's TTL.
    AfterTtl = 2,
    /// A defence (a rule, the CAPTCHA, the verifier's start limits) refused the request.
    Blocked = 3,
    /// The provider account was suspended or out of funds (`[billing.balance]`).
    Suspended = 4,
    /// Anything else (typos that used up the attempts, a code superseded by a resend).
    Other = 5,
}

impl Unverified {
    /// Every cause, in the order of [`TimeToVerify::causes`], with its summary.json key.
    pub const ALL: [(Unverified, &'static str); 6] = [
        (Unverified::NotDelivered, "sms_not_delivered"),
        (Unverified::AfterTtl, "after_ttl"),
        (Unverified::NeverSent, "never_sent_or_entered"),
        (Unverified::Blocked, "blocked_by_defence"),
        (Unverified::Suspended, "refused_by_suspended_account"),
        (Unverified::Other, "other"),
    ];
}

/// Buckets per factor of e in [`TimeToVerify`]: 1 % resolution.
const TTV_PER_E: f64 = 100.0;
/// Bucket count: up to e^(2000/100) ms, far beyond any run.
const TTV_BUCKETS: usize = 2_000;

/// Time from a legit user's start to verified, as a log-bucketed histogram (1 % resolution),
/// and the users who never verified, by cause.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimeToVerify {
    buckets: Vec<u64>,
    /// Users who verified.
    pub verified: u64,
    /// Users who never verified, per [`Unverified`] (indexed by its value).
    pub causes: [u64; 6],
}

impl TimeToVerify {
    /// One user verified `ms` after starting.
    pub fn record(&mut self, ms: u64) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; TTV_BUCKETS];
        }
        let b = ((ms.max(1) as f64).ln() * TTV_PER_E) as usize;
        self.buckets[b.min(TTV_BUCKETS - 1)] += 1;
        self.verified += 1;
    }

    /// One user never verified, for `cause`.
    pub fn unverified(&mut self, cause: Unverified) {
        self.causes[cause as usize] += 1;
    }

    /// Users who started: verified or not.
    pub fn users(&self) -> u64 {
        self.verified + self.causes.iter().sum::<u64>()
    }

    /// The `q` quantile of the verified users' times, ms (the bucket's lower bound, within
    /// 1 %); `None` when nobody verified.
    pub fn quantile_ms(&self, q: f64) -> Option<u64> {
        if self.verified == 0 {
            return None;
        }
        let rank = ((q * self.verified as f64).ceil() as u64).clamp(1, self.verified);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some((i as f64 / TTV_PER_E).exp().round() as u64);
            }
        }
        None
    }

    /// Adds `o`'s users to these.
    pub fn add(&mut self, o: &TimeToVerify) {
        if !o.buckets.is_empty() {
            if self.buckets.is_empty() {
                self.buckets = vec![0; TTV_BUCKETS];
            }
            for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
                *a += b;
            }
        }
        self.verified += o.verified;
        for (a, b) in self.causes.iter_mut().zip(o.causes) {
            *a += b;
        }
    }
}
