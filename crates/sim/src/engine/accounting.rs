//! What a run counts: the timeline (one [`Row`] of counters per report interval), per-attacker
//! and per-country statistics, and the [`Outcome`] a run hands to the reports.
//!
//! The timeline's columns are listed once, in the `timeline!` invocation below: it declares
//! the [`Row`] fields, their order in `timeline.csv`, how rows add up and how a cell is printed,
//! so a new counter is one new line.

use super::time;
use crate::costs::FlowCosts;

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

/// The counters a run accumulates while it runs, turned into an [`Outcome`] at the end.
pub struct Accounts {
    interval_ms: u64,
    pub rows: Vec<Row>,
    pub countries: Vec<CountryStats>,
    pub carriers: Vec<CarrierStats>,
    pub attackers: Vec<AttackerStats>,
    pub double_verified: u64,
    pub legit_users: u64,
    pub legit_sent_reverse: u64,
    pub peak_pending: usize,
    pub imessage_per_day: Vec<u64>,
    pub fallback_sms_verified: u64,
    /// Per flow (sms, reverse): first block and refusals; the rules' counts are added at the end.
    pub defences: [FlowDefences; 2],
}

impl Accounts {
    /// Counters for a run of `duration_ms` reported every `interval_ms`.
    pub fn new(
        duration_ms: u64,
        interval_ms: u64,
        countries: Vec<CountryStats>,
        carriers: Vec<CarrierStats>,
        attackers: Vec<AttackerStats>,
    ) -> Self {
        Self {
            interval_ms,
            rows: vec![Row::default(); time::buckets(duration_ms, interval_ms)],
            countries,
            carriers,
            attackers,
            double_verified: 0,
            legit_users: 0,
            legit_sent_reverse: 0,
            peak_pending: 0,
            imessage_per_day: vec![0; time::buckets(duration_ms, time::MS_PER_DAY)],
            fallback_sms_verified: 0,
            defences: Default::default(),
        }
    }

    /// The row of the interval holding `now_ms`; the drain after the end counts in the last.
    pub fn row(&mut self, now_ms: u64) -> &mut Row {
        let i = time::bucket(now_ms, self.interval_ms, self.rows.len());
        &mut self.rows[i]
    }

    /// One legit iMessage contact the provider received at `now_ms`.
    pub fn imessage_contact(&mut self, now_ms: u64) {
        let day = time::bucket(now_ms, time::MS_PER_DAY, self.imessage_per_day.len());
        self.imessage_per_day[day] += 1;
    }

    /// Notes the number of pending challenges.
    pub fn pending(&mut self, pending: usize) {
        self.peak_pending = self.peak_pending.max(pending);
    }

    /// The outcome, with the run's event count and blocks.
    pub fn finish(
        self,
        events: u64,
        interrupted: bool,
        blocks_sms: Vec<Block>,
        blocks_reverse: Vec<Block>,
    ) -> Outcome {
        let mut totals = Row::default();
        for r in &self.rows {
            totals.add(r);
        }
        Outcome {
            totals,
            rows: self.rows,
            attackers: self.attackers,
            countries: self.countries,
            carriers: self.carriers,
            double_verified: self.double_verified,
            legit_users: self.legit_users,
            legit_sent_reverse: self.legit_sent_reverse,
            events,
            interrupted,
            blocks_sms,
            blocks_reverse,
            peak_pending: self.peak_pending,
            imessage_per_day: self.imessage_per_day,
            fallback_sms_verified: self.fallback_sms_verified,
            costs: FlowCosts::default(),
            billing: crate::billing::Accounts::default(),
            defences: self.defences,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_match_the_fields_in_order() {
        let json = serde_json::to_value(Row::default()).unwrap();
        let fields: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut sorted = Row::COLUMNS.to_vec();
        sorted.sort_unstable();
        assert_eq!(fields, sorted, "serde_json sorts keys");
        assert_eq!(Row::COLUMNS.len(), Row::default().cells().len());
        assert_eq!(Row::COLUMNS[0], "legit_starts");
        assert_eq!(Row::COLUMNS.last(), Some(&"usd_captcha_reverse_flow"));
    }

    #[test]
    fn rows_add_every_column() {
        let mut a = Row {
            hijacks: 2,
            usd_sms_flow: 0.5,
            ..Row::default()
        };
        let b = Row {
            hijacks: 3,
            duplicate_deliveries: 7,
            usd_sms_flow: 0.25,
            usd_reverse_flow: 1.0,
            ..Row::default()
        };
        a.add(&b);
        assert_eq!((a.hijacks, a.duplicate_deliveries), (5, 7));
        assert_eq!((a.usd_sms_flow, a.usd_reverse_flow), (0.75, 1.0));
        let cells = a.cells();
        assert_eq!(
            cells[Row::COLUMNS.iter().position(|c| *c == "hijacks").unwrap()],
            "5"
        );
        let usd = Row::COLUMNS
            .iter()
            .position(|c| *c == "usd_sms_flow")
            .unwrap();
        assert_eq!(cells[usd], "0.7500");
    }

    #[test]
    fn counts_land_in_their_interval_and_totals_add_up() {
        let mut acc = Accounts::new(3_600_000, 600_000, Vec::new(), Vec::new(), Vec::new());
        assert_eq!(acc.rows.len(), 6);
        acc.row(0).legit_starts += 1;
        acc.row(599_999).legit_starts += 1;
        acc.row(600_000).legit_starts += 1;
        acc.row(3_900_000).legit_starts += 1; // draining after the end: last row
        acc.imessage_contact(5);
        acc.imessage_contact(3_599_999);
        acc.pending(3);
        acc.pending(1);
        let o = acc.finish(9, false, Vec::new(), Vec::new());
        let starts: Vec<u64> = o.rows.iter().map(|r| r.legit_starts).collect();
        assert_eq!(starts, [2, 1, 0, 0, 0, 1]);
        assert_eq!(o.totals.legit_starts, 4);
        assert_eq!(o.imessage_per_day, [2]);
        assert_eq!(o.peak_pending, 3);
        assert_eq!(o.events, 9);
    }
}
