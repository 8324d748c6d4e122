//! What the imported traffic cost and where it went: totals, spend by country, number range,
//! carrier (where the log has `mcc`/`mnc`), client address block and day, and the sends per
//! (hour, country) from which the likely pumping is told apart (see [`Suspects`]).
//!
//! Every table is bounded by a named limit; what does not fit is summed in an "other" row, so
//! totals stay exact whatever the log's length.

use crate::privacy::Addr;
use crate::scan::Sent;
use crate::time::{DAY_MS, HOUR_MS};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeMap;

/// Distinct number ranges (number / 10,000) kept apart; the rest go to "other".
pub const MAX_PREFIXES: usize = 200_000;
/// Distinct (mcc, mnc) pairs kept apart.
pub const MAX_CARRIERS: usize = 10_000;
/// Distinct /24 or /48 address blocks kept apart.
pub const MAX_IP_BLOCKS: usize = 200_000;
/// Distinct (hour, country) cells kept (400 days × 24 hours × 400 countries fit).
pub const MAX_BUCKETS: usize = 4_000_000;
/// Distinct days kept.
pub const MAX_DAYS: usize = 20_000;
/// Sends queued for [`Analysis::by_prefix`] before they are added in one loop: a log of many
/// numbers fills that table past the caches, and a probe of it that misses, made alone for
/// each row among the rest of the row's work, stalls the core; made back to back, the probes of
/// a batch overlap their misses.
const PREFIX_BATCH: usize = 64;

/// Conversion rule: a cell is suspect when at least [`SUSPECT_MIN_KNOWN`] of its sends have a
/// known outcome and their conversion is below this share of the whole log's.
pub const SUSPECT_CONVERSION_SHARE: f64 = 0.5;
pub const SUSPECT_MIN_KNOWN: u64 = 10;
/// The conversion rule is used when at least this many sends, and half of all, have a known
/// outcome; otherwise the volume rule.
pub const MIN_KNOWN_FOR_CONVERSION: u64 = 100;
/// Volume rule: a cell is suspect with at least [`SUSPECT_MIN_VOLUME`] sends and more than
/// this many times its country's median hour.
pub const SUSPECT_VOLUME_FACTOR: f64 = 5.0;
pub const SUSPECT_MIN_VOLUME: u64 = 50;

/// Sends, segments and spend, split by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Agg {
    pub sms: u64,
    pub segments: u64,
    pub spend_usd: f64,
    pub converted: u64,
    pub unconverted: u64,
    pub unconverted_spend_usd: f64,
}

impl Agg {
    pub fn add(&mut self, s: &Sent) {
        self.sms += 1;
        self.segments += u64::from(s.segments);
        self.spend_usd += s.price_usd;
        match s.converted {
            Some(true) => self.converted += 1,
            Some(false) => {
                self.unconverted += 1;
                self.unconverted_spend_usd += s.price_usd;
            }
            None => {}
        }
    }

    pub fn merge(&mut self, o: &Agg) {
        self.sms += o.sms;
        self.segments += o.segments;
        self.spend_usd += o.spend_usd;
        self.converted += o.converted;
        self.unconverted += o.unconverted;
        self.unconverted_spend_usd += o.unconverted_spend_usd;
    }

    pub fn unknown(&self) -> u64 {
        self.sms - self.converted - self.unconverted
    }

    /// Converted share of the sends whose outcome is known.
    pub fn conversion(&self) -> Option<f64> {
        let known = self.converted + self.unconverted;
        (known > 0).then(|| self.converted as f64 / known as f64)
    }
}

/// A table of at most `cap` keys with an overflow row.
#[derive(Clone, Debug)]
pub struct Capped<K> {
    pub map: FxHashMap<K, Agg>,
    pub other: Agg,
    cap: usize,
}

impl<K: std::hash::Hash + Eq + Copy + Ord> Capped<K> {
    fn new(cap: usize) -> Self {
        Capped {
            map: FxHashMap::default(),
            other: Agg::default(),
            cap,
        }
    }

    fn add(&mut self, k: K, s: &Sent) {
        if let Some(a) = self.map.get_mut(&k) {
            a.add(s);
        } else if self.map.len() < self.cap {
            self.map.entry(k).or_default().add(s);
        } else {
            self.other.add(s);
        }
    }

    /// The `n` largest by spend (ties by key), for reports.
    pub fn top(&self, n: usize) -> Vec<(K, Agg)> {
        let mut v: Vec<(K, Agg)> = self.map.iter().map(|(k, a)| (*k, *a)).collect();
        v.sort_by(|a, b| b.1.spend_usd.total_cmp(&a.1.spend_usd).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }
}

/// Everything counted over the log, in one pass.
#[derive(Clone, Debug)]
pub struct Analysis {
    pub total: Agg,
    pub by_country: Vec<Agg>,
    pub by_day: BTreeMap<u64, Agg>,
    pub day_other: Agg,
    by_prefix: Capped<u64>,
    /// Sends not yet in `by_prefix` (at most [`PREFIX_BATCH`]), in arrival order, keyed.
    prefix_queue: Vec<(u64, Sent)>,
    pub by_carrier: Capped<(u16, u16)>,
    pub by_ip: Capped<Addr>,
    /// Per (hour since the epoch, country).
    pub buckets: Capped<(u32, u16)>,
    pub first_ms: u64,
    pub last_ms: u64,
}

impl Analysis {
    pub fn new(countries: usize) -> Self {
        Analysis {
            total: Agg::default(),
            by_country: vec![Agg::default(); countries],
            by_day: BTreeMap::new(),
            day_other: Agg::default(),
            by_prefix: Capped::new(MAX_PREFIXES),
            prefix_queue: Vec::with_capacity(PREFIX_BATCH),
            by_carrier: Capped::new(MAX_CARRIERS),
            by_ip: Capped::new(MAX_IP_BLOCKS),
            buckets: Capped::new(MAX_BUCKETS),
            first_ms: u64::MAX,
            last_ms: 0,
        }
    }

    pub fn add(&mut self, s: &Sent) {
        self.total.add(s);
        self.by_country[usize::from(s.country)].add(s);
        let day = s.ts_ms / DAY_MS;
        if let Some(a) = self.by_day.get_mut(&day) {
            a.add(s);
        } else if self.by_day.len() < MAX_DAYS {
            self.by_day.entry(day).or_default().add(s);
        } else {
            self.day_other.add(s);
        }
        self.prefix_queue.push((s.number / 10_000, *s));
        if self.prefix_queue.len() == PREFIX_BATCH {
            self.add_queued();
        }
        if let Some(c) = s.carrier {
            self.by_carrier.add(c, s);
        }
        if let Some(ip) = s.ip {
            self.by_ip.add(ip.block(), s);
        }
        let hour = u32::try_from(s.ts_ms / HOUR_MS).unwrap_or(u32::MAX);
        self.buckets.add((hour, s.country), s);
        self.first_ms = self.first_ms.min(s.ts_ms);
        self.last_ms = self.last_ms.max(s.ts_ms);
    }

    /// Adds the queued sends to `by_prefix`, in the order they came (the table keeps the first
    /// [`MAX_PREFIXES`] ranges it sees, so the order decides which go to "other").
    fn add_queued(&mut self) {
        for (k, s) in &self.prefix_queue {
            self.by_prefix.add(*k, s);
        }
        self.prefix_queue.clear();
    }

    /// To be called once every send was added, before anything is read.
    pub fn finish(&mut self) {
        self.add_queued();
    }

    /// Spend by number range (a number without its last 4 digits).
    pub fn by_prefix(&self) -> &Capped<u64> {
        assert!(
            self.prefix_queue.is_empty(),
            "Analysis::finish was not called before reading by_prefix"
        );
        &self.by_prefix
    }

    /// Days the log covers (from its first to its last send, at least one hour).
    pub fn period_days(&self) -> f64 {
        if self.total.sms == 0 {
            return 0.0;
        }
        ((self.last_ms - self.first_ms).max(HOUR_MS)) as f64 / DAY_MS as f64
    }

    /// The cells that look like pumping, by the rule the log's data allows.
    pub fn suspects(&self) -> Suspects {
        let known = self.total.converted + self.total.unconverted;
        let by_conversion = known >= MIN_KNOWN_FOR_CONVERSION && known * 2 >= self.total.sms;
        let mut out = Suspects {
            rule: if by_conversion {
                Rule::Conversion
            } else {
                Rule::Volume
            },
            ..Suspects::default()
        };
        if by_conversion {
            let overall = self.total.conversion().unwrap_or(1.0);
            for (k, a) in &self.buckets.map {
                let known = a.converted + a.unconverted;
                let low = a
                    .conversion()
                    .is_some_and(|c| c < overall * SUSPECT_CONVERSION_SHARE);
                if known >= SUSPECT_MIN_KNOWN && low && a.unconverted > 0 {
                    out.cells
                        .insert(*k, (a.unconverted, a.unconverted_spend_usd));
                }
            }
        } else {
            let mut per_country: FxHashMap<u16, Vec<u64>> = FxHashMap::default();
            for ((_, c), a) in &self.buckets.map {
                per_country.entry(*c).or_default().push(a.sms);
            }
            let medians: FxHashMap<u16, u64> = per_country
                .into_iter()
                .map(|(c, mut v)| {
                    v.sort_unstable();
                    (c, v[v.len() / 2])
                })
                .collect();
            for (k, a) in &self.buckets.map {
                let median = medians.get(&k.1).copied().unwrap_or(0);
                if a.sms >= SUSPECT_MIN_VOLUME
                    && a.sms as f64 > SUSPECT_VOLUME_FACTOR * median as f64
                {
                    let excess = a.sms - median;
                    let spend = a.spend_usd * excess as f64 / a.sms as f64;
                    out.cells.insert(*k, (excess, spend));
                }
            }
        }
        out
    }
}

/// How likely pumping was told apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Rule {
    /// Hours whose conversion fell below half the log's: their unconverted sends.
    #[default]
    Conversion,
    /// The log has no conversion: hours far above their country's median: the excess.
    Volume,
}

impl Rule {
    pub fn describe(self) -> String {
        match self {
            Rule::Conversion => format!(
                "the unconverted sends of each (hour, country) with at least {SUSPECT_MIN_KNOWN} known outcomes whose conversion is below {SUSPECT_CONVERSION_SHARE} × the whole log's"
            ),
            Rule::Volume => format!(
                "the log has no conversion: the sends above the country's median hour in each (hour, country) with at least {SUSPECT_MIN_VOLUME} sends and more than {SUSPECT_VOLUME_FACTOR} × that median"
            ),
        }
    }
}

/// Suspect (hour, country) cells: the sends counted as likely pumping and their spend.
#[derive(Clone, Debug, Default)]
pub struct Suspects {
    pub rule: Rule,
    pub cells: FxHashMap<(u32, u16), (u64, f64)>,
}

impl Suspects {
    pub fn sms(&self) -> u64 {
        self.cells.values().map(|c| c.0).sum()
    }

    pub fn spend_usd(&self) -> f64 {
        let mut v: Vec<f64> = self.cells.values().map(|c| c.1).collect();
        v.sort_by(f64::total_cmp);
        // `+ 0.0`: an empty f64 sum is -0.0, which would print as "-0.00".
        v.iter().sum::<f64>() + 0.0
    }

    /// Sends and spend per country index.
    pub fn by_country(&self) -> BTreeMap<u16, (u64, f64)> {
        let mut m: BTreeMap<u16, (u64, f64)> = BTreeMap::new();
        let mut keys: Vec<_> = self.cells.iter().collect();
        keys.sort_by_key(|(k, _)| **k);
        for ((_, c), (n, usd)) in keys {
            let e = m.entry(*c).or_default();
            e.0 += n;
            e.1 += usd;
        }
        m
    }

    /// Sends and spend per day.
    pub fn by_day(&self) -> BTreeMap<u64, (u64, f64)> {
        let mut m: BTreeMap<u64, (u64, f64)> = BTreeMap::new();
        let mut keys: Vec<_> = self.cells.iter().collect();
        keys.sort_by_key(|(k, _)| **k);
        for ((h, _), (n, usd)) in keys {
            let e = m.entry(u64::from(*h) / 24).or_default();
            e.0 += n;
            e.1 += usd;
        }
        m
    }

    /// The suspect hours (hour since the epoch), sorted.
    pub fn hours(&self) -> Vec<u32> {
        let set: FxHashSet<u32> = self.cells.keys().map(|k| k.0).collect();
        let mut v: Vec<u32> = set.into_iter().collect();
        v.sort_unstable();
        v
    }
}
