//! The counters a run accumulates while it runs ([`Accounts`]), turned into the
//! [`Outcome`] (crate::outcome) at the end.

use super::time;
use crate::outcome::{
    AttackerStats, Block, CarrierStats, CountryStats, FlowCosts, FlowDefences, Outcome, Row,
    TimeToVerify,
};

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
    /// Time to verify per country (in country order) and flow.
    pub time_to_verify: Vec<[TimeToVerify; 2]>,
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
            time_to_verify: vec![Default::default(); countries.len()],
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
            time_to_verify: self.time_to_verify,
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
