//! Counters and a latency histogram, rendered in the Prometheus text format.
//!
//! Everything is a relaxed atomic: the numbers are for dashboards and reports, never for
//! decisions, so no ordering between them is promised.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// What the verifier core counts. The HTTP adapter adds its own counters next to these.
///
/// Each counter is a [`Count`]: kept per thread, so that the verifications and messages every
/// request counts do not move a shared cache line between the cores.
#[derive(Default, Debug)]
pub struct Counters {
    pub starts: Count,
    pub starts_refused: Count,
    pub messages: Count,
    pub verifications: Count,
    pub sender_mismatches: Count,
    pub locked: Count,
    pub expired: Count,
    pub no_match: Count,
    pub no_code: Count,
    pub ignored: Count,
    /// Messages carrying more candidate codes than may be tried.
    pub stuffed: Count,
    pub duplicates: Count,
    pub bad_signatures: Count,
    /// Requests answered 503 because the store did not answer in time. Such a request may still
    /// have taken effect (its script ran, the answer was lost); the other counters include it
    /// once it has.
    pub store_unavailable: Count,
}

/// A counter [`Counters::inc`] and [`Counters::add`] count into: a plain atomic, or a
/// [`Count`] kept per thread.
pub trait Counter {
    fn add(&self, n: u64);
}

impl Counter for AtomicU64 {
    #[inline]
    fn add(&self, n: u64) {
        self.fetch_add(n, Ordering::Relaxed);
    }
}

/// A count kept for a moment by one thread, to be added to a shared counter later (or not).
impl Counter for std::cell::Cell<u64> {
    #[inline]
    fn add(&self, n: u64) {
        self.set(self.get() + n);
    }
}

impl Counter for Count {
    #[inline]
    fn add(&self, n: u64) {
        self.fetch_add(n, Ordering::Relaxed);
    }
}

/// One counter kept once per thread ([`Sharded`]'s shards, each alone on its cache lines) and
/// added up when read. It reads like an `AtomicU64` for the uses the counters have: a sum
/// (`fetch_add`, `load`), or a running maximum (`fetch_max`, `load`; kept in one shard, since
/// a maximum does not add up), never both on one counter.
pub struct Count {
    shards: Box<[Padded<AtomicU64>]>,
}

impl Default for Count {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Padded(AtomicU64::new(0))).collect(),
        }
    }
}

impl std::fmt::Debug for Count {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.load(Ordering::Relaxed))
    }
}

impl Count {
    /// Adds `n` in the calling thread's shard; answers that shard's value before.
    #[inline]
    pub fn fetch_add(&self, n: u64, order: Ordering) -> u64 {
        self.shards[shard_index()].0.fetch_add(n, order)
    }

    /// The sum over the threads' shards.
    pub fn load(&self, order: Ordering) -> u64 {
        self.shards
            .iter()
            .map(|s| s.0.load(order))
            .fold(0u64, u64::wrapping_add)
    }

    /// Raises a counter used as a running maximum to `v`; answers the maximum before.
    pub fn fetch_max(&self, v: u64, order: Ordering) -> u64 {
        self.shards[0].0.fetch_max(v, order)
    }
}

impl Counters {
    #[inline]
    pub fn inc(c: &impl Counter) {
        c.add(1);
    }

    #[inline]
    pub fn add(c: &impl Counter, n: u64) {
        if n > 0 {
            c.add(n);
        }
    }

    /// Every name [`Counters::field`] knows, in the order of the fields.
    pub const FIELDS: [&'static str; 14] = [
        "starts",
        "starts_refused",
        "messages",
        "verifications",
        "sender_mismatches",
        "locked",
        "expired",
        "no_match",
        "no_code",
        "ignored",
        "stuffed",
        "duplicates",
        "bad_signatures",
        "store_unavailable",
    ];

    /// The counter named like its field (`"verifications"`, `"expired"`, ...), for stores that
    /// keep counts under those names (the Redis store's per-instance hash).
    pub fn field(&self, name: &str) -> Option<&Count> {
        Some(match name {
            "starts" => &self.starts,
            "starts_refused" => &self.starts_refused,
            "messages" => &self.messages,
            "verifications" => &self.verifications,
            "sender_mismatches" => &self.sender_mismatches,
            "locked" => &self.locked,
            "expired" => &self.expired,
            "no_match" => &self.no_match,
            "no_code" => &self.no_code,
            "ignored" => &self.ignored,
            "stuffed" => &self.stuffed,
            "duplicates" => &self.duplicates,
            "bad_signatures" => &self.bad_signatures,
            "store_unavailable" => &self.store_unavailable,
            _ => return None,
        })
    }

    /// (metric name, help, value) for every counter, in a fixed order.
    pub fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        let v = |c: &Count| c.load(Ordering::Relaxed);
        vec![
            ("mo2fa_starts_total", "Challenges started.", v(&self.starts)),
            (
                "mo2fa_starts_refused_total",
                "Start requests refused (bad input or full store).",
                v(&self.starts_refused),
            ),
            (
                "mo2fa_messages_total",
                "Inbound messages processed (duplicates excluded).",
                v(&self.messages),
            ),
            (
                "mo2fa_verifications_total",
                "Challenges verified.",
                v(&self.verifications),
            ),
            (
                "mo2fa_sender_mismatches_total",
                "Codes sent from a sender other than the bound one.",
                v(&self.sender_mismatches),
            ),
            (
                "mo2fa_locked_total",
                "Challenges locked after too many sender mismatches.",
                v(&self.locked),
            ),
            (
                "mo2fa_expired_total",
                "Challenges that expired unverified.",
                v(&self.expired),
            ),
            (
                "mo2fa_no_match_total",
                "Messages whose candidates matched no pending challenge.",
                v(&self.no_match),
            ),
            (
                "mo2fa_no_code_total",
                "Messages without any candidate code.",
                v(&self.no_code),
            ),
            (
                "mo2fa_ignored_total",
                "Messages not accepted for verification by policy.",
                v(&self.ignored),
            ),
            (
                "mo2fa_stuffed_messages_total",
                "Messages with more candidates than may be tried.",
                v(&self.stuffed),
            ),
            (
                "mo2fa_duplicate_deliveries_total",
                "Webhook redeliveries answered from the dedupe cache.",
                v(&self.duplicates),
            ),
            (
                "mo2fa_bad_signatures_total",
                "Webhook deliveries rejected for a bad or missing signature.",
                v(&self.bad_signatures),
            ),
            (
                "mo2fa_store_unavailable_total",
                "Requests answered 503 because the store did not answer in time (some may still \
                 have taken effect: a retry gets their first answer).",
                v(&self.store_unavailable),
            ),
        ]
    }
}

/// Shards a [`Sharded`] value keeps: more than the cores of the machines it runs on, so that
/// each serving thread has one of its own.
const SHARDS: usize = 16;

/// One shard, alone on its cache lines (two 64-byte lines: adjacent-line prefetchers fetch in
/// pairs), so that a thread writing its shard never takes a line another thread writes.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// This thread's shard: threads take the shards in turn as they first record, so the first
/// [`SHARDS`] threads each have one to themselves.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    INDEX.with(|i| *i)
}

/// A value of counters kept once per thread and added up when read: counting is then an
/// uncontended atomic add on the thread's own cache line, where one shared counter written by
/// every core moves its line between the cores on each request. Reads see every count made
/// before them (each shard's counters are atomics), so a sum over the shards is exact once
/// the writers are done, as a single counter is.
#[derive(Debug)]
pub struct Sharded<T> {
    shards: Box<[Padded<T>]>,
}

impl<T: Default> Default for Sharded<T> {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Padded(T::default())).collect(),
        }
    }
}

impl<T> Sharded<T> {
    /// The calling thread's shard, to count into.
    #[inline]
    pub fn local(&self) -> &T {
        &self.shards[shard_index()].0
    }

    /// The sum of one counter over all shards.
    pub fn sum(&self, counter: impl Fn(&T) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|s| counter(&s.0).load(Ordering::Relaxed))
            .fold(0u64, u64::wrapping_add)
    }
}

/// Upper bounds of the latency buckets, in seconds (Prometheus `le`).
const BOUNDS_S: [f64; 14] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0,
];

/// The same bounds in nanoseconds, for placing a duration without floating point.
const BOUNDS_NS: [u64; 14] = [
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
];

/// One thread's counts of a [`LatencyHistogram`].
#[derive(Debug, Default)]
struct HistogramShard {
    buckets: [AtomicU64; BOUNDS_S.len() + 1],
    sum_ns: AtomicU64,
    count: AtomicU64,
}

/// A fixed-bucket histogram: lock-free to record, cheap enough for every request. Each thread
/// records into a shard of its own ([`Sharded`]); rendering adds the shards up.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    shards: Sharded<HistogramShard>,
}

impl LatencyHistogram {
    pub fn record(&self, d: Duration) {
        let ns = d.as_nanos().min(u128::from(u64::MAX)) as u64;
        // A bound is the bucket's upper end, inclusive (`le`).
        let i = BOUNDS_NS.partition_point(|&b| b < ns);
        let shard = self.shards.local();
        shard.buckets[i].fetch_add(1, Ordering::Relaxed);
        shard.sum_ns.fetch_add(ns, Ordering::Relaxed);
        shard.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.shards.sum(|s| &s.count)
    }

    /// Appends this histogram as `name{labels,le=...}` lines (cumulative buckets).
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for i in 0..=BOUNDS_S.len() {
            cumulative += self.shards.sum(|s| &s.buckets[i]);
            let le = BOUNDS_S
                .get(i)
                .map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
            );
        }
        let sum = self.shards.sum(|s| &s.sum_ns) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count());
    }
}

/// Renders counters and gauges in the Prometheus text exposition format.
pub fn render_counters(out: &mut String, counters: &Counters) {
    for (name, help, value) in counters.snapshot() {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
}

/// One metric family with a sample per value of `label`. Label values are written as given:
/// callers pass only values that need no escaping (ISO codes, fixed words).
pub fn render_labelled(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    label: &str,
    samples: impl IntoIterator<Item = (String, f64)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (value, sample) in samples {
        let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {sample}");
    }
}

/// One counter (a total that only grows; Prometheus expects its name to end in `_total`).
pub fn render_counter(out: &mut String, name: &str, help: &str, value: f64) {
    debug_assert!(
        name.ends_with("_total"),
        "counter {name} must end in _total"
    );
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

/// One gauge (a value that goes up and down).
pub fn render_gauge(out: &mut String, name: &str, help: &str, value: f64) {
    debug_assert!(
        !name.ends_with("_total"),
        "gauge {name} must not end in _total"
    );
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = LatencyHistogram::default();
        h.record(Duration::from_micros(30));
        h.record(Duration::from_micros(700));
        h.record(Duration::from_secs(3));
        let mut out = String::new();
        h.render(&mut out, "lat", "route=\"x\"");
        assert!(
            out.contains("lat_bucket{route=\"x\",le=\"0.00005\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("lat_bucket{route=\"x\",le=\"0.001\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("lat_bucket{route=\"x\",le=\"1\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("lat_bucket{route=\"x\",le=\"+Inf\"} 3\n"),
            "{out}"
        );
        assert!(out.contains("lat_count{route=\"x\"} 3\n"), "{out}");
    }

    #[test]
    fn the_bounds_in_nanoseconds_are_the_bounds_in_seconds() {
        for (s, ns) in BOUNDS_S.iter().zip(BOUNDS_NS) {
            assert_eq!((s * 1e9).round() as u64, ns, "{s} s");
        }
        // A duration on a bound is in that bucket (`le`), one nanosecond more in the next.
        let h = LatencyHistogram::default();
        h.record(Duration::from_micros(100));
        h.record(Duration::from_nanos(100_001));
        let mut out = String::new();
        h.render(&mut out, "lat", "");
        assert!(out.contains("lat_bucket{le=\"0.0001\"} 1\n"), "{out}");
        assert!(out.contains("lat_bucket{le=\"0.00025\"} 2\n"), "{out}");
        assert!(out.contains("lat_sum{} 0.000200001\n"), "{out}");
    }

    #[test]
    fn a_count_adds_up_over_threads_and_keeps_a_maximum() {
        // More threads than shards: the sum is exact however they share the shards.
        let c = Counters::default();
        std::thread::scope(|s| {
            for t in 0..(SHARDS as u64 + 5) {
                let c = &c;
                s.spawn(move || {
                    for _ in 0..1000 {
                        Counters::inc(&c.verifications);
                    }
                    Counters::add(&c.messages, t);
                });
            }
        });
        let n = SHARDS as u64 + 5;
        assert_eq!(c.verifications.load(Ordering::Relaxed), n * 1000);
        assert_eq!(c.messages.load(Ordering::Relaxed), n * (n - 1) / 2);
        // As a running maximum (the Redis store's record of what it took in).
        assert_eq!(c.expired.fetch_max(7, Ordering::Relaxed), 0);
        assert_eq!(c.expired.fetch_max(3, Ordering::Relaxed), 7);
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(c.expired.fetch_max(9, Ordering::Relaxed), 7));
        });
        assert_eq!(c.expired.load(Ordering::Relaxed), 9);
    }

    #[test]
    fn counts_from_many_threads_add_up_exactly() {
        // More threads than shards, so some share one: every count must still be there.
        let h = LatencyHistogram::default();
        let c: Sharded<[AtomicU64; 2]> = Sharded::default();
        std::thread::scope(|s| {
            for t in 0..(SHARDS as u64 + 5) {
                let (h, c) = (&h, &c);
                s.spawn(move || {
                    for _ in 0..1000 {
                        h.record(Duration::from_micros(t));
                        c.local()[0].fetch_add(1, Ordering::Relaxed);
                        c.local()[1].fetch_add(t, Ordering::Relaxed);
                    }
                });
            }
        });
        let threads = SHARDS as u64 + 5;
        assert_eq!(h.count(), threads * 1000);
        assert_eq!(c.sum(|a| &a[0]), threads * 1000);
        assert_eq!(c.sum(|a| &a[1]), 1000 * threads * (threads - 1) / 2);
        let mut out = String::new();
        h.render(&mut out, "lat", "");
        // 0..=50 µs: threads 0 to 50 all land in the first bucket (all 21 threads here).
        assert!(
            out.contains(&format!(
                "lat_bucket{{le=\"0.00005\"}} {}\n",
                threads * 1000
            )),
            "{out}"
        );
    }

    #[test]
    fn counters_render_with_help_and_type() {
        let c = Counters::default();
        Counters::inc(&c.verifications);
        Counters::add(&c.expired, 4);
        let mut out = String::new();
        render_counters(&mut out, &c);
        assert!(
            out.contains("# TYPE mo2fa_verifications_total counter\nmo2fa_verifications_total 1\n")
        );
        assert!(out.contains("mo2fa_expired_total 4\n"));
    }

    #[test]
    fn every_counter_is_reachable_by_its_field_name() {
        let c = Counters::default();
        let names = Counters::FIELDS;
        for (i, name) in names.iter().enumerate() {
            Counters::add(c.field(name).unwrap(), i as u64 + 1);
        }
        // Each name reached a counter of its own: the snapshot holds 1..=n, each once.
        let mut values: Vec<u64> = c.snapshot().iter().map(|s| s.2).collect();
        values.sort_unstable();
        assert_eq!(values, (1..=names.len() as u64).collect::<Vec<_>>());
        assert!(c.field("nope").is_none());
    }
}
