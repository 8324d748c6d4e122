//! The counters a run accumulates while it runs ([`Accounts`]), turned into the
//! finished [`Counts`] (crate::outcome) at the end.

use super::time;
use crate::flow::PerFlow;
use crate::outcome::{
    AttackerStats, Block, CarrierStats, CountryStats, Counts, FlowDefences, Row, Takeovers,
    TimeToVerify, UserCounts,
};

/// The counters a run accumulates while it runs, turned into [`Counts`] at the end.
pub struct Accounts {
    interval_ms: u64,
    pub rows: Vec<Row>,
    pub countries: Vec<CountryStats>,
    pub carriers: Vec<CarrierStats>,
    pub attackers: Vec<AttackerStats>,
    pub users: UserCounts,
    /// Per flow (sms, reverse): first block and refusals; the rules' counts are added at the end.
    pub defences: [FlowDefences; 2],
    /// Time to verify per country (in country order) and flow.
    pub time_to_verify: Vec<[TimeToVerify; 2]>,
    /// What the takeover attacks did.
    pub takeovers: Takeovers,
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
            users: UserCounts {
                imessage_per_day: vec![0; time::buckets(duration_ms, time::MS_PER_DAY)],
                ..UserCounts::default()
            },
            defences: Default::default(),
            takeovers: Takeovers::default(),
        }
    }

    /// The row of the interval holding `now_ms`; the drain after the end counts in the last.
    pub fn row(&mut self, now_ms: u64) -> &mut Row {
        let i = time::bucket(now_ms, self.interval_ms, self.rows.len());
        &mut self.rows[i]
    }

    /// One legit iMessage contact the provider received at `now_ms`.
    pub fn imessage_contact(&mut self, now_ms: u64) {
        let per_day = &mut self.users.imessage_per_day;
        let day = time::bucket(now_ms, time::MS_PER_DAY, per_day.len());
        per_day[day] += 1;
    }

    /// Notes the number of pending challenges.
    pub fn pending(&mut self, pending: usize) {
        self.users.peak_pending = self.users.peak_pending.max(pending);
    }

    /// What the run counted, finished: the totals added up and the conversion-rule blocks
    /// of each flow.
    pub fn finish(self, blocks: PerFlow<Vec<Block>>) -> Counts {
        let mut totals = Row::default();
        for r in &self.rows {
            totals.add(r);
        }
        Counts {
            totals,
            rows: self.rows,
            attackers: self.attackers,
            countries: self.countries,
            carriers: self.carriers,
            users: self.users,
            blocks,
            defences: self.defences,
            time_to_verify: self.time_to_verify,
            takeovers: self.takeovers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_unique_and_in_csv_order() {
        let mut sorted = Row::COLUMNS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), Row::COLUMNS.len(), "no column twice");
        assert_eq!(Row::COLUMNS.len(), Row::default().cells().len());
        assert_eq!(Row::COLUMNS.len(), 32);
        assert_eq!(Row::COLUMNS[0], "legit_starts");
        assert_eq!(Row::COLUMNS[20], "blocked_sms_smsflow");
        assert_eq!(Row::COLUMNS.last(), Some(&"usd_captcha_reverse_flow"));
    }

    #[test]
    fn rows_add_every_column() {
        let mut a = Row::default();
        a.webhook.hijacks = 2;
        a.usd.usd_sms_flow = 0.5;
        let mut b = Row::default();
        b.webhook.hijacks = 3;
        b.webhook.duplicate_deliveries = 7;
        b.usd.usd_sms_flow = 0.25;
        b.usd.usd_reverse_flow = 1.0;
        b.pumping.captcha_blocked_pumping = 4;
        a.add(&b);
        assert_eq!((a.webhook.hijacks, a.webhook.duplicate_deliveries), (5, 7));
        assert_eq!((a.usd.usd_sms_flow, a.usd.usd_reverse_flow), (0.75, 1.0));
        let cells = a.cells();
        let cell = |name: &str| &cells[Row::COLUMNS.iter().position(|c| *c == name).unwrap()];
        assert_eq!(cell("hijacks"), "5");
        assert_eq!(cell("captcha_blocked_pumping"), "4");
        assert_eq!(cell("usd_sms_flow"), "0.7500");
    }

    #[test]
    fn counts_land_in_their_interval_and_totals_add_up() {
        let mut acc = Accounts::new(3_600_000, 600_000, Vec::new(), Vec::new(), Vec::new());
        assert_eq!(acc.rows.len(), 6);
        acc.row(0).legit.legit_starts += 1;
        acc.row(599_999).legit.legit_starts += 1;
        acc.row(600_000).legit.legit_starts += 1;
        acc.row(3_900_000).legit.legit_starts += 1; // draining after the end: last row
        acc.imessage_contact(5);
        acc.imessage_contact(3_599_999);
        acc.pending(3);
        acc.pending(1);
        let o = acc.finish(PerFlow::default());
        let starts: Vec<u64> = o.rows.iter().map(|r| r.legit.legit_starts).collect();
        assert_eq!(starts, [2, 1, 0, 0, 0, 1]);
        assert_eq!(o.totals.legit.legit_starts, 4);
        assert_eq!(o.users.imessage_per_day, [2]);
        assert_eq!(o.users.peak_pending, 3);
    }
}
