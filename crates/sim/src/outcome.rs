//! What a run counted, as the reports read it: the timeline (one [`Row`] of counters per
//! report interval), per-attacker, per-country and per-carrier statistics, what the SMS
//! defences did, and the [`Outcome`] that holds them with the run's costs and billing.
//!
//! The timeline's columns are listed once, in the `timeline!` invocation below: it declares
//! the [`Row`] fields, their order in `timeline.csv`, how rows add up and how a cell is printed,
//! so a new counter is one new line.
//!
//! This module depends only on `flow` and `billing`: the engine fills it, `costs` prices it
//! and the reports print it.

use crate::flow::Flow;
use mo2fa_cost::observed::ObservedCost;

/// Both flows priced by the cost model from what the run actually sent: list prices plus
/// carrier and Verify fees, inbound-SMS fallback, iMessage lines sized by the busiest simulated
/// day, fixed fees, all prorated to the simulated period. `None` for a flow the scenario did
/// not run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowCosts {
    pub sms: Option<ObservedCost>,
    pub reverse: Option<ObservedCost>,
}

/// Declares [`Row`] from one list of columns: whole-number counts first, then USD amounts.
macro_rules! timeline {
    (counts { $($count:ident,)* } usd { $($usd:ident,)* }) => {
        /// Counts per report interval. Field order is the CSV column order.
        #[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
        pub struct Row {
            $(pub $count: u64,)*
            $(pub $usd: f64,)*
        }

        impl Row {
            /// The counter columns of `timeline.csv`, in order.
            pub const COLUMNS: &'static [&'static str] =
                &[$(stringify!($count),)* $(stringify!($usd),)*];

            /// Adds `o`'s counters to this row's.
            pub fn add(&mut self, o: &Row) {
                $(self.$count += o.$count;)*
                $(self.$usd += o.$usd;)*
            }

            /// The row's cells in column order, as `timeline.csv` prints them (USD amounts
            /// with four decimals).
            pub fn cells(&self) -> Vec<String> {
                vec![$(self.$count.to_string(),)* $(format!("{:.4}", self.$usd),)*]
            }
        }
    };
}

timeline! {
    counts {
        legit_starts,
        legit_verified_reverse,
        legit_verified_sms,
        legit_refused,
        sms_legit_smsflow,
        sms_legit_reverse,
        pumped_sms_smsflow,
        pumped_sms_reverse,
        blocked_sms,
        pumping_absorbed,
        guess_messages,
        guess_hits,
        hijacks,
        flood_starts,
        flood_refused,
        forged_rejected,
        replays_rejected,
        replays_deduped,
        phishing_successes,
        duplicate_deliveries,
        blocked_sms_smsflow,
        blocked_sms_reverse,
        legit_blocked_smsflow,
        legit_blocked_reverse,
        pumped_verified_smsflow,
        pumped_verified_reverse,
        captcha_blocked_legit,
        captcha_blocked_pumping,
    }
    usd {
        usd_sms_flow,
        usd_reverse_flow,
        usd_captcha_sms_flow,
        usd_captcha_reverse_flow,
    }
}

/// Picks the column of `flow` from a pair of per-flow columns.
macro_rules! per_flow {
    ($(#[$doc:meta] $name:ident => $sms:ident, $reverse:ident;)*) => {
        $(
            #[$doc]
            pub fn $name(&mut self, flow: Flow) -> &mut u64 {
                match flow {
                    Flow::Sms => &mut self.$sms,
                    Flow::Reverse => &mut self.$reverse,
                }
            }
        )*
    };
}

impl Row {
    per_flow! {
        /// Legit users' codes sent.
        sms_legit_in => sms_legit_smsflow, sms_legit_reverse;
        /// Pumped SMS sent.
        pumped_sms_in => pumped_sms_smsflow, pumped_sms_reverse;
        /// Sends the SMS defences refused.
        blocked_sms_in => blocked_sms_smsflow, blocked_sms_reverse;
        /// Legit users' sends the SMS defences refused.
        legit_blocked_in => legit_blocked_smsflow, legit_blocked_reverse;
        /// Legit users' texted codes verified.
        legit_verified_in => legit_verified_sms, legit_verified_reverse;
        /// Codes the attackers submitted that verified.
        pumped_verified_in => pumped_verified_smsflow, pumped_verified_reverse;
    }

    /// What the flow's SMS cost, USD.
    pub fn usd_in(&mut self, flow: Flow) -> &mut f64 {
        match flow {
            Flow::Sms => &mut self.usd_sms_flow,
            Flow::Reverse => &mut self.usd_reverse_flow,
        }
    }

    /// What the flow's CAPTCHA checks cost, USD.
    pub fn usd_captcha_in(&mut self, flow: Flow) -> &mut f64 {
        match flow {
            Flow::Sms => &mut self.usd_captcha_sms_flow,
            Flow::Reverse => &mut self.usd_captcha_reverse_flow,
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

/// What a flow's SMS defences did over the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
}

impl FlowDefences {
    /// Monitor-mode alerts over all rules.
    pub fn alerts(&self) -> u64 {
        self.alerts_by_rule.values().sum()
    }
}

/// Everything a run counted.
pub struct Outcome {
    pub rows: Vec<Row>,
    pub totals: Row,
    pub attackers: Vec<AttackerStats>,
    pub countries: Vec<CountryStats>,
    /// Every country's carriers (one per country unless the scenario lists carriers).
    pub carriers: Vec<CarrierStats>,
    /// Challenges that answered `verified` twice (must stay 0).
    pub double_verified: u64,
    pub legit_users: u64,
    pub legit_sent_reverse: u64,
    pub events: u64,
    pub interrupted: bool,
    /// Conversion-rule blocks, per world.
    pub blocks_sms: Vec<Block>,
    pub blocks_reverse: Vec<Block>,
    pub peak_pending: usize,
    /// Legit iMessage contacts per simulated day (they size the iMessage lines).
    pub imessage_per_day: Vec<u64>,
    /// Verifications through the reverse flow's outbound-SMS fallback.
    pub fallback_sms_verified: u64,
    /// Both flows priced by the cost model from these counts, once, at the end of the run.
    pub costs: FlowCosts,
    /// The flows' provider accounts under `[billing.balance]` (none without it).
    pub billing: crate::billing::Accounts,
    /// What the SMS defences did, per flow: the sms flow, then the reverse flow's fallback.
    pub defences: [FlowDefences; 2],
}
