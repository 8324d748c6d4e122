//! Defences replayed on the imported traffic: each `[defences.sms]` table (a scenario's, a
//! defences file or a vendor preset) drives its own `mo2fa_core::sms_defences::SmsGuard`, the
//! guard `/sms/start` and the simulator run, over the log's sends in time order.
//!
//! - Order: the sends go through a reorder buffer of [`REORDER_ROWS`] sends (pages of an API
//!   come newest first, files in any order); a send older than one already replayed is
//!   replayed at once and counted as `late`.
//! - Outcome: a send the guard allows whose code the log says was converted is reported to the
//!   guard as verified, at the time the log gives for it (the generic CSV's `verified_at`, a
//!   converted attempt's `date_updated`) or else at its send time; a blocked send is never verified (its code was never
//!   sent). The replay is counterfactual: attackers and users who were refused do not retry or
//!   adapt here as they would have.
//! - A send without a client address is replayed from an address of its own per number
//!   ([`no_address`]): the core's per-address rules know no "unknown address", and address 0
//!   for every send would make a log without addresses look like one client.
//! - Warm-up (`--warmup 15d`): the log's first days are replayed to build the rules' history
//!   (baselines, busiest hours, verified counts) and are left out of the figures.

use crate::analysis::Agg;
use crate::scan::Sent;
use crate::time::DAY_MS;
use mo2fa_core::sms_defences::{Attempt, SmsDefences, SmsGuard};
use rustc_hash::{FxHashMap, FxHashSet};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// Sends held to put a log back in time order.
pub const REORDER_ROWS: usize = 262_144;
/// Distinct converted numbers remembered to count the legit users a defence hit.
pub const MAX_LEGIT_NUMBERS: usize = 1_000_000;
/// Blocks (from, until, country) listed per defence.
pub const MAX_SPANS: usize = 1_000;

/// One defence configuration to replay.
pub struct Defence {
    /// What the report calls it: the preset's name, or the file's.
    pub name: String,
    pub cfg: SmsDefences,
}

/// What one rule refused.
#[derive(Clone, Debug, Default)]
pub struct RuleStats {
    pub blocked: Agg,
    pub first_ms: u64,
    pub last_ms: u64,
}

/// One defence's replay and what it did.
pub struct Replay {
    pub name: String,
    guard: SmsGuard,
    /// Sends replayed after the warm-up, allowed or not.
    pub judged: Agg,
    pub blocked: Agg,
    pub by_rule: BTreeMap<&'static str, RuleStats>,
    pub blocked_by_day: BTreeMap<u64, Agg>,
    pub legit_numbers: FxHashSet<u64>,
    pub legit_numbers_capped: bool,
    pub warmup: Agg,
    pub warmup_blocked: u64,
    /// Blocks that took effect (from, until, country index), the first [`MAX_SPANS`].
    pub spans: Vec<(u64, u64, usize)>,
    pub spans_total: u64,
}

impl Replay {
    /// Monitor-mode alerts per rule.
    pub fn alerts(&self) -> &BTreeMap<&'static str, u64> {
        &self.guard.stats.alerts
    }

    /// Judges one send; `true` when its code was used later (at `s.verified_ms`), which the
    /// caller then reports to the guard at that time.
    fn judge(&mut self, s: &Sent, a: &Attempt, warm: bool) -> bool {
        let verdict = self.guard.check(a);
        for span in self.guard.blocks.drain(..) {
            self.spans_total += 1;
            if self.spans.len() < MAX_SPANS && !warm {
                self.spans.push(span);
            }
        }
        match verdict {
            Ok(()) => {
                let later = s.verified_ms.is_some_and(|t| t > a.now);
                if s.converted == Some(true) && !later {
                    self.guard.verified(a);
                }
                if warm {
                    self.warmup.add(s);
                } else {
                    self.judged.add(s);
                }
                return s.converted == Some(true) && later;
            }
            Err(_) if warm => {
                self.warmup.add(s);
                self.warmup_blocked += 1;
            }
            Err(b) => {
                self.judged.add(s);
                self.blocked.add(s);
                let r = self.by_rule.entry(b.name()).or_insert_with(|| RuleStats {
                    first_ms: s.ts_ms,
                    ..RuleStats::default()
                });
                r.blocked.add(s);
                r.last_ms = s.ts_ms;
                self.blocked_by_day
                    .entry(s.ts_ms / DAY_MS)
                    .or_default()
                    .add(s);
                if s.converted == Some(true) {
                    if self.legit_numbers.len() < MAX_LEGIT_NUMBERS {
                        self.legit_numbers.insert(s.number);
                    } else if !self.legit_numbers.contains(&s.number) {
                        self.legit_numbers_capped = true;
                    }
                }
            }
        }
        false
    }
}

#[derive(Clone, Copy, Debug)]
struct Queued {
    seq: u64,
    sent: Sent,
    /// A use of the code of `sent` (at `sent.ts_ms`), for this replay only.
    verify: Option<usize>,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.sent.ts_ms, self.seq) == (o.sent.ts_ms, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.sent.ts_ms, self.seq).cmp(&(o.sent.ts_ms, o.seq))
    }
}

/// Every defence's replay over one stream of sends.
pub struct Replays {
    heap: BinaryHeap<Reverse<Queued>>,
    seq: u64,
    last_ms: u64,
    /// Sends older than one already replayed.
    pub late: u64,
    pub replays: Vec<Replay>,
    warmup_ms: u64,
    warm_until: Option<u64>,
    /// Carrier network index per (mcc, mnc), 1-based (0: unknown), as `Attempt::network`.
    networks: FxHashMap<(u16, u16), u32>,
}

impl Replays {
    pub fn new(defences: Vec<Defence>, countries: &[String], warmup_ms: u64) -> Self {
        let replays = defences
            .into_iter()
            .map(|d| Replay {
                name: d.name,
                guard: SmsGuard::new(&d.cfg, countries),
                judged: Agg::default(),
                blocked: Agg::default(),
                by_rule: BTreeMap::new(),
                blocked_by_day: BTreeMap::new(),
                legit_numbers: FxHashSet::default(),
                legit_numbers_capped: false,
                warmup: Agg::default(),
                warmup_blocked: 0,
                spans: Vec::new(),
                spans_total: 0,
            })
            .collect();
        Replays {
            heap: BinaryHeap::new(),
            seq: 0,
            last_ms: 0,
            late: 0,
            replays,
            warmup_ms,
            warm_until: None,
            networks: FxHashMap::default(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.replays.is_empty()
    }

    pub fn push(&mut self, s: &Sent) {
        if self.replays.is_empty() {
            return;
        }
        self.seq += 1;
        self.heap.push(Reverse(Queued {
            seq: self.seq,
            sent: *s,
            verify: None,
        }));
        if self.heap.len() > REORDER_ROWS {
            self.pop();
        }
    }

    /// Replays what is left in the buffer.
    pub fn finish(&mut self) {
        while !self.heap.is_empty() {
            self.pop();
        }
    }

    fn pop(&mut self) {
        let Some(Reverse(q)) = self.heap.pop() else {
            return;
        };
        let s = q.sent;
        if let Some(i) = q.verify {
            let a = self.attempt(&s, s.ts_ms);
            self.replays[i].guard.verified(&a);
            return;
        }
        if s.ts_ms < self.last_ms {
            self.late += 1;
        }
        self.last_ms = self.last_ms.max(s.ts_ms);
        let until = *self
            .warm_until
            .get_or_insert(s.ts_ms.saturating_add(self.warmup_ms));
        let warm = s.ts_ms < until;
        let a = self.attempt(&s, self.last_ms);
        for i in 0..self.replays.len() {
            if self.replays[i].judge(&s, &a, warm) {
                let at = s.verified_ms.unwrap_or(s.ts_ms);
                self.seq += 1;
                self.heap.push(Reverse(Queued {
                    seq: self.seq,
                    sent: Sent { ts_ms: at, ..s },
                    verify: Some(i),
                }));
            }
        }
    }

    /// The guard's view of `s` at `now`.
    fn attempt(&mut self, s: &Sent, now: u64) -> Attempt {
        let next = self.networks.len() as u32 + 1;
        let network = s
            .carrier
            .map_or(0, |c| *self.networks.entry(c).or_insert(next));
        Attempt {
            country: usize::from(s.country),
            network,
            number: s.number,
            ip: s.ip.map_or_else(|| no_address(s.number), |ip| ip.bits),
            account: s.account,
            now,
        }
    }
}

/// The address a send without one is replayed from: one of its own per number, outside the
/// IPv4 range and spread over the IPv6 space, so per-address rules (which have no notion of an
/// unknown address) cannot lump a log's address-less sends together as one client.
fn no_address(number: u64) -> u128 {
    // An odd multiplier is a bijection on u64: distinct numbers, distinct addresses.
    (u128::from(number.wrapping_mul(0x9E37_79B9_7F4A_7C15)) << 64) | 1
}
