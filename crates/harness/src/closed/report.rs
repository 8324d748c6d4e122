//! What a load run reports: per-transaction and per-request figures from goose's metrics, the
//! server's counters from two `/metrics` scrapes, and the printed table.

use super::Mix;
use goose::metrics::GooseMetrics;
use serde::Serialize;
use std::fmt::Write as _;

/// Per-transaction figures from goose's metrics.
#[derive(Debug, Clone, Serialize)]
pub struct TransactionRow {
    pub name: String,
    pub weight: usize,
    pub count: usize,
    pub failures: usize,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Per-request figures from goose's metrics (one row per method and named path).
#[derive(Debug, Clone, Serialize)]
pub struct RequestRow {
    pub name: String,
    pub count: usize,
    pub failures: usize,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// The server's counters over the run: the difference of two `/metrics` scrapes.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ServerCounters {
    pub starts: u64,
    pub messages: u64,
    pub verifications: u64,
    pub duplicates: u64,
    pub no_match: u64,
    pub sender_mismatches: u64,
    pub bad_signatures: u64,
}

impl ServerCounters {
    /// Reads the counters out of the Prometheus text format; absent ones stay 0.
    pub fn parse(text: &str) -> Self {
        let mut c = Self::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let mut it = line.split_whitespace();
            let (Some(name), Some(value)) = (it.next(), it.next()) else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let value = value.max(0.0) as u64;
            let slot = match name {
                "mo2fa_starts_total" => &mut c.starts,
                "mo2fa_messages_total" => &mut c.messages,
                "mo2fa_verifications_total" => &mut c.verifications,
                "mo2fa_duplicate_deliveries_total" => &mut c.duplicates,
                "mo2fa_no_match_total" => &mut c.no_match,
                "mo2fa_sender_mismatches_total" => &mut c.sender_mismatches,
                "mo2fa_bad_signatures_total" => &mut c.bad_signatures,
                _ => continue,
            };
            *slot = value;
        }
        c
    }

    pub(super) fn since(&self, before: &Self) -> Self {
        Self {
            starts: self.starts.saturating_sub(before.starts),
            messages: self.messages.saturating_sub(before.messages),
            verifications: self.verifications.saturating_sub(before.verifications),
            duplicates: self.duplicates.saturating_sub(before.duplicates),
            no_match: self.no_match.saturating_sub(before.no_match),
            sender_mismatches: self
                .sender_mismatches
                .saturating_sub(before.sender_mismatches),
            bad_signatures: self.bad_signatures.saturating_sub(before.bad_signatures),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// "in-process" or the target URL.
    pub target: String,
    /// The target's profile (none in process).
    pub profile: Option<String>,
    pub users: usize,
    pub hatch_rate: f64,
    pub run_time_secs: usize,
    pub mix: Mix,
    /// Seconds from the first user's start to the last user's stop: the span the counts
    /// cover, since metrics are not reset after hatching.
    pub duration_secs: f64,
    pub transactions: Vec<TransactionRow>,
    pub requests: Vec<RequestRow>,
    /// `None` when the target has no mo2fa `/metrics` (see `not_checked`).
    pub server: Option<ServerCounters>,
    /// Successful `flow` transactions, to compare with `server.verifications`.
    pub flows_verified: usize,
    /// Delivery attempts sent again under the provider's retry policy (`--retries`).
    pub delivery_retries: u64,
    /// Stopped early by Ctrl-C: the figures cover the part that ran.
    pub interrupted: bool,
    /// Broken expectations; for the in-process target, a non-empty list fails the run.
    pub problems: Vec<String>,
    /// What could not be checked (through the target's profile, or without its counters).
    pub not_checked: Vec<String>,
}

impl LoadReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The table printed after goose's own summary, and the body of load.md.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "mo2fa load: {} users (hatch {}/s), {} s, target {}, {:.1} s measured",
            self.users, self.hatch_rate, self.run_time_secs, self.target, self.duration_secs
        );
        let _ = writeln!(
            s,
            "  {:<14} {:>6} {:>10} {:>8} {:>10} {:>9} {:>9} {:>9}",
            "transaction", "weight", "count", "failed", "per s", "p50 ms", "p99 ms", "max ms"
        );
        for t in &self.transactions {
            let _ = writeln!(
                s,
                "  {:<14} {:>6} {:>10} {:>8} {:>10.1} {:>9.2} {:>9.2} {:>9.2}",
                t.name, t.weight, t.count, t.failures, t.rps, t.p50_ms, t.p99_ms, t.max_ms
            );
        }
        let _ = writeln!(
            s,
            "  {:<26} {:>10} {:>8} {:>10} {:>9} {:>9}",
            "request", "count", "failed", "per s", "p50 ms", "p99 ms"
        );
        for r in &self.requests {
            let _ = writeln!(
                s,
                "  {:<26} {:>10} {:>8} {:>10.1} {:>9.2} {:>9.2}",
                r.name, r.count, r.failures, r.rps, r.p50_ms, r.p99_ms
            );
        }
        if let Some(c) = &self.server {
            let _ = writeln!(s, "  server counters over the run (GET /metrics):");
            for (label, v) in [
                ("starts", c.starts),
                ("messages", c.messages),
                ("verifications", c.verifications),
                ("duplicates", c.duplicates),
                ("no_match", c.no_match),
                ("sender_mismatches", c.sender_mismatches),
                ("bad_signatures", c.bad_signatures),
            ] {
                let _ = writeln!(s, "    {label:<20} {v:>12}");
            }
        }
        let _ = writeln!(s, "  flows verified         {:>12}", self.flows_verified);
        if self.delivery_retries > 0 {
            let _ = writeln!(s, "  deliveries sent again  {:>12}", self.delivery_retries);
        }
        if self.interrupted {
            let _ = writeln!(s, "  INTERRUPTED: the figures cover the part that ran");
        }
        for p in &self.problems {
            let _ = writeln!(s, "  PROBLEM: {p}");
        }
        for n in &self.not_checked {
            let _ = writeln!(s, "  NOT CHECKED: {n}");
        }
        s
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

pub(super) fn rows(
    metrics: &GooseMetrics,
    mix: &Mix,
    duration: f64,
) -> (Vec<TransactionRow>, Vec<RequestRow>) {
    let per_s = |n: usize| n as f64 / duration.max(1e-9);
    let mut transactions = Vec::new();
    for (name, weight) in mix.weights() {
        let found = metrics
            .transactions
            .iter()
            .flatten()
            .find(|t| t.transaction_name.name_for_transaction() == name);
        let row = match found {
            Some(t) => {
                let count = t.success_count + t.fail_count;
                TransactionRow {
                    name: name.to_string(),
                    weight,
                    count,
                    failures: t.fail_count,
                    rps: per_s(count),
                    p50_ms: ms(t.run_times.percentile_us(0.5)),
                    p99_ms: ms(t.run_times.percentile_us(0.99)),
                    max_ms: ms(t.run_times.maximum_time_us),
                }
            }
            None => TransactionRow {
                name: name.to_string(),
                weight,
                count: 0,
                failures: 0,
                rps: 0.0,
                p50_ms: 0.0,
                p99_ms: 0.0,
                max_ms: 0.0,
            },
        };
        transactions.push(row);
    }
    let mut requests: Vec<RequestRow> = metrics
        .requests
        .iter()
        .map(|(key, r)| {
            let count = r.success_count + r.fail_count;
            RequestRow {
                name: key.clone(),
                count,
                failures: r.fail_count,
                rps: per_s(count),
                p50_ms: ms(r.raw_data.percentile_us(0.5)),
                p99_ms: ms(r.raw_data.percentile_us(0.99)),
            }
        })
        .collect();
    requests.sort_by(|a, b| a.name.cmp(&b.name));
    (transactions, requests)
}
