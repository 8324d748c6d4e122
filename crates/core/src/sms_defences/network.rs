//! Vonage Verify's anti-fraud system: per carrier network, volume × conversion rate. A network
//! (country, carrier) that received at least `min_sent` codes in a fixed `window` of which a
//! share below `min_conversion` was verified is blocked from the window's end. Blocks escalate:
//! the k-th block of a network lasts `block_for[k]` (the last length repeats), and the block
//! after `permanent_after` is permanent (0 = never). Vonage publishes the shape, not the
//! numbers: every default here is an assumption (docs/defences.md).

use super::util::full;
use super::{Attempt, Blocked, Mode, NetworkConversion, Rule, Span};
use rustc_hash::FxHashMap;

pub const WINDOW_MS: u64 = 3_600_000;
pub const MIN_SENT: u32 = 20;
pub const MIN_CONVERSION: f64 = 0.3;
pub const BLOCKS_MS: [u64; 3] = [3_600_000, 6 * 3_600_000, 86_400_000];
pub const PERMANENT_AFTER: u32 = 4;

#[derive(Clone, Copy, Default)]
struct Net {
    window: u64,
    sent: u32,
    verified: u32,
    strikes: u32,
    blocked_until: u64,
}

pub struct Networks {
    window_ms: u64,
    min_sent: u32,
    min_conversion: f64,
    blocks_ms: Vec<u64>,
    permanent_after: u32,
    mode: Mode,
    max_keys: usize,
    nets: FxHashMap<u64, Net>,
}

fn key(a: &Attempt) -> u64 {
    ((a.country as u64) << 32) | u64::from(a.network)
}

impl Networks {
    pub fn new(c: &NetworkConversion, mode: Mode, max_keys: usize) -> Self {
        Self {
            window_ms: c.window.map_or(WINDOW_MS, |d| d.ms().max(1)),
            min_sent: c.min_sent.unwrap_or(MIN_SENT).max(1),
            min_conversion: c.min_conversion.map_or(MIN_CONVERSION, |p| p.0),
            blocks_ms: c
                .block_for
                .as_ref()
                .map_or(BLOCKS_MS.to_vec(), |v| v.iter().map(|d| d.ms()).collect()),
            permanent_after: c.permanent_after.unwrap_or(PERMANENT_AFTER),
            mode,
            max_keys,
            nets: FxHashMap::default(),
        }
    }

    /// Closes `k`'s finished window, if any: a strike and a block when it failed.
    fn settle(&mut self, k: u64, now: u64, spans: Option<&mut Vec<Span>>) {
        let w = now / self.window_ms;
        let Some(n) = self.nets.get_mut(&k) else {
            return;
        };
        if n.window == w {
            return;
        }
        if n.sent >= self.min_sent
            && f64::from(n.verified) < self.min_conversion * f64::from(n.sent)
        {
            n.strikes += 1;
            let from = (n.window + 1) * self.window_ms;
            let until = if self.permanent_after > 0 && n.strikes > self.permanent_after {
                u64::MAX
            } else {
                let i = (n.strikes as usize - 1).min(self.blocks_ms.len().saturating_sub(1));
                from.saturating_add(self.blocks_ms.get(i).copied().unwrap_or(0))
            };
            if until > n.blocked_until {
                n.blocked_until = until;
                if let Some(s) = spans {
                    s.push((from, until, (k >> 32) as usize));
                }
            }
        }
        n.window = w;
        n.sent = 0;
        n.verified = 0;
    }

    /// The strikes (blocks so far) of `a`'s network.
    pub fn strikes(&self, a: &Attempt) -> u32 {
        self.nets.get(&key(a)).map_or(0, |n| n.strikes)
    }
}

impl Rule for Networks {
    fn judge(&mut self, a: &Attempt, spans: &mut Vec<Span>) -> Option<Blocked> {
        let k = key(a);
        self.settle(k, a.now, Some(spans));
        if let Some(n) = self.nets.get(&k) {
            return (n.blocked_until > a.now).then_some(Blocked::Network);
        }
        if full(&self.nets, &k, self.max_keys) {
            let (now, w) = (a.now, a.now / self.window_ms);
            self.nets
                .retain(|_, n| n.blocked_until > now || n.strikes > 0 || n.window == w);
        }
        full(&self.nets, &k, self.max_keys).then_some(Blocked::Full)
    }

    fn sent(&mut self, a: &Attempt) {
        let k = key(a);
        self.settle(k, a.now, None);
        if !self.nets.contains_key(&k) && self.nets.len() >= self.max_keys {
            return;
        }
        let w = a.now / self.window_ms;
        let n = self.nets.entry(k).or_insert(Net {
            window: w,
            ..Net::default()
        });
        n.sent = n.sent.saturating_add(1);
    }

    fn verified(&mut self, a: &Attempt) {
        let k = key(a);
        self.settle(k, a.now, None);
        if let Some(n) = self.nets.get_mut(&k) {
            n.verified = n.verified.saturating_add(1);
        }
    }

    fn retry_after(&self, b: Blocked, a: &Attempt) -> Option<u64> {
        (b == Blocked::Network).then(|| {
            self.nets
                .get(&key(a))
                .map_or(0, |n| n.blocked_until.saturating_sub(a.now))
        })
    }

    fn mode(&self) -> Mode {
        self.mode
    }

    fn keys(&self) -> usize {
        self.nets.len()
    }
}
