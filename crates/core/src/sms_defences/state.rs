//! The SMS guard's state as an ordered log of its inputs, so that a store can hold it
//! (`serve --store redis://…`: shared by every instance, surviving restarts) while the rules
//! stay in one place, this crate.
//!
//! A guard is a pure function of the attempts and verifications it was given, in order, with
//! their times. So the store keeps that order, not the rules' tables: an instance appends its
//! [`Event`] to the log atomically (one append, which also hands back every event it has not
//! applied yet), applies the events in log order to its [`Replica`], and reads the verdict of
//! its own event at its position. Every replica that applies the same log reaches the same
//! verdicts: no rule is written a second time in the store's language, and no two instances
//! can both admit the send that a limit of one allows, because the log orders them.
//!
//! Times: events carry the appending instance's clock; a replica applies `max(now, the latest
//! time applied)`, so the rules never see time run backwards and every replica clamps alike.
//!
//! **Warm-up.** A rule that learns from history (Fraud Guard's baseline, Plivo's caps,
//! Authgear's 14-day maximum, the never-sent-to auto-block: [`learns`]) sits at its floor on an
//! empty account, where a handful of requests trips it for hours (issue 22). A replica given
//! no [`History`] therefore runs those rules in monitor mode from the log's first event until
//! `warmup_ms` later (default [`super::history::DAYS`] days, the history the rules read), and
//! blocking after that; a replica given a history seeds the rules from it at the log's first
//! event and blocks at once. An operator can set `warmup_ms = 0` to block from the start.
//! The start of the log is the store's (kept with the log), so every instance agrees on it.

use super::history::{self, History};
use super::{Attempt, Blocked, SentAttempts, SmsDefences, SmsGuard};
use std::collections::VecDeque;

/// How long a send's attempt is kept for its verification when the table is full (a code
/// lives far less).
pub const KEEP_SENT_MS: u64 = 3_600_000;
/// Verdicts kept after they were applied, for the requests that wait for theirs (far more
/// than the requests one instance has in flight).
pub const VERDICTS_KEPT: usize = 65_536;
/// Encoded size of an [`Event::Attempt`].
pub const ATTEMPT_BYTES: usize = 47;

/// One input of the guard, as the log holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// "Send a code": decided by the guard and counted if allowed.
    Attempt(Attempt),
    /// The code sent to `number` was verified at `now`.
    Verified { number: u64, now: u64 },
}

impl Event {
    pub fn now(&self) -> u64 {
        match self {
            Event::Attempt(a) => a.now,
            Event::Verified { now, .. } => *now,
        }
    }

    /// Bytes for the log: a tag, then fixed-width little-endian fields.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ATTEMPT_BYTES);
        match self {
            Event::Attempt(a) => {
                out.push(b'A');
                let country = u16::try_from(a.country).unwrap_or(u16::MAX);
                out.extend_from_slice(&country.to_le_bytes());
                out.extend_from_slice(&a.network.to_le_bytes());
                out.extend_from_slice(&a.number.to_le_bytes());
                out.extend_from_slice(&a.ip.to_le_bytes());
                out.extend_from_slice(&a.account.to_le_bytes());
                out.extend_from_slice(&a.now.to_le_bytes());
            }
            Event::Verified { number, now } => {
                out.push(b'V');
                out.extend_from_slice(&number.to_le_bytes());
                out.extend_from_slice(&now.to_le_bytes());
            }
        }
        out
    }

    /// The event [`Self::encode`] wrote; `None` for anything else.
    pub fn decode(b: &[u8]) -> Option<Self> {
        fn take<const N: usize>(b: &mut &[u8]) -> Option<[u8; N]> {
            let (head, rest) = b.split_first_chunk::<N>()?;
            *b = rest;
            Some(*head)
        }
        let (&tag, mut rest) = b.split_first()?;
        let ev = match tag {
            b'A' => Event::Attempt(Attempt {
                country: usize::from(u16::from_le_bytes(take(&mut rest)?)),
                network: u32::from_le_bytes(take(&mut rest)?),
                number: u64::from_le_bytes(take(&mut rest)?),
                ip: u128::from_le_bytes(take(&mut rest)?),
                account: u64::from_le_bytes(take(&mut rest)?),
                now: u64::from_le_bytes(take(&mut rest)?),
            }),
            b'V' => Event::Verified {
                number: u64::from_le_bytes(take(&mut rest)?),
                now: u64::from_le_bytes(take(&mut rest)?),
            },
            _ => return None,
        };
        rest.is_empty().then_some(ev)
    }
}

/// Whether a refusal comes from a rule that learns its threshold from the account's history
/// (these start in monitor mode, see the module doc).
pub fn learns(b: Blocked) -> bool {
    matches!(
        b,
        Blocked::FraudGuard
            | Blocked::CountryCap
            | Blocked::HighRisk
            | Blocked::CountryDaily
            | Blocked::CountryHourly
    )
}

/// How a replica's learning rules start.
#[derive(Clone, Debug)]
pub struct Start {
    /// The account's history before the log's first event (seeds the learning rules).
    pub history: Option<History>,
    /// Without a history: learning rules only alert for this long after the log's first
    /// event.
    pub warmup_ms: u64,
}

impl Default for Start {
    fn default() -> Self {
        Self {
            history: None,
            warmup_ms: u64::from(history::DAYS) * 86_400_000,
        }
    }
}

/// What the guard decided for one [`Event::Attempt`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub result: Result<(), Blocked>,
    /// Until the refusing rule lets the same attempt through (0: cannot say).
    pub retry_after_ms: u64,
    /// The time the guard decided at (the event's, clamped), which `retry_after_ms` counts
    /// from.
    pub at: u64,
}

/// A guard kept up to date from a log.
pub struct Replica {
    defences: SmsDefences,
    countries: Vec<String>,
    start: Start,
    guard: SmsGuard,
    sent: SentAttempts,
    /// Index of the next event to apply.
    next: u64,
    /// The latest time applied (times never run backwards, see the module doc).
    last_now: u64,
    /// The log's first event's time, once known.
    origin: Option<u64>,
    verdicts: VecDeque<(u64, Verdict)>,
}

/// The replica was asked to apply an event past a gap (the log dropped events it had not
/// applied); call [`Replica::rebuild`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the log skips from event {next} to {got}")]
pub struct Gap {
    pub next: u64,
    pub got: u64,
}

impl Replica {
    pub fn new(defences: &SmsDefences, countries: &[String], start: Start) -> Self {
        Self {
            guard: SmsGuard::new(defences, countries),
            sent: SentAttempts::new(defences.max_keys() as usize),
            defences: defences.clone(),
            countries: countries.to_vec(),
            start,
            next: 0,
            last_now: 0,
            origin: None,
            verdicts: VecDeque::new(),
        }
    }

    /// The index of the next event this replica needs.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// Starts over from event `from` (the oldest a log still holds): what the log no longer
    /// holds is forgotten.
    pub fn rebuild(&mut self, from: u64) {
        let mut fresh = Self::new(&self.defences, &self.countries, self.start.clone());
        fresh.next = from;
        *self = fresh;
    }

    /// Applies event `at` of a log whose first event was at `origin` (ms). Events before
    /// [`Self::next`] were applied already and are skipped.
    pub fn apply(&mut self, at: u64, ev: &Event, origin: u64) -> Result<(), Gap> {
        if at < self.next {
            return Ok(());
        }
        if at > self.next {
            return Err(Gap {
                next: self.next,
                got: at,
            });
        }
        if self.origin.is_none() {
            self.begin(origin.min(ev.now()));
        }
        self.next += 1;
        let now = ev.now().max(self.last_now);
        self.last_now = now;
        match *ev {
            Event::Attempt(a) => {
                let a = Attempt { now, ..a };
                let result = self.guard.check(&a);
                self.guard.blocks.clear(); // the timeline is the simulator's
                let retry_after_ms = match result {
                    Ok(()) => {
                        self.sent.insert(a, KEEP_SENT_MS);
                        0
                    }
                    Err(b) => self.guard.retry_after(b, &a),
                };
                if self.verdicts.len() >= VERDICTS_KEPT {
                    self.verdicts.pop_front();
                }
                let v = Verdict {
                    result,
                    retry_after_ms,
                    at: now,
                };
                self.verdicts.push_back((at, v));
            }
            Event::Verified { number, .. } => {
                // The attempt the send was counted under (rebuilt from the number if it was
                // not kept).
                let sent = self.sent.take(number).unwrap_or_else(|| Attempt {
                    country: country_index(number),
                    number,
                    ..Attempt::default()
                });
                self.guard.verified(&Attempt { now, ..sent });
            }
        }
        Ok(())
    }

    fn begin(&mut self, origin: u64) {
        self.origin = Some(origin);
        self.last_now = self.last_now.max(origin);
        match &self.start.history {
            Some(h) => self.guard.seed_history(h, origin),
            None => self
                .guard
                .monitor_learning_until(origin.saturating_add(self.start.warmup_ms)),
        }
    }

    /// The verdict of event `at`, if it was an attempt applied recently.
    pub fn verdict(&self, at: u64) -> Option<Verdict> {
        let first = self.verdicts.front()?.0;
        let i = usize::try_from(at.checked_sub(first)?).ok()?;
        // Indices are increasing but not contiguous (verifications have no verdict).
        let guess = self.verdicts.get(i.min(self.verdicts.len() - 1))?;
        if guess.0 == at {
            return Some(guess.1);
        }
        self.verdicts
            .binary_search_by_key(&at, |(i, _)| *i)
            .ok()
            .map(|i| self.verdicts[i].1)
    }

    /// A log in this process (the memory store): appends `ev` and applies it; its verdict if
    /// it was an attempt.
    pub fn push(&mut self, ev: Event) -> Option<Verdict> {
        let at = self.next;
        let origin = self.origin.unwrap_or(ev.now());
        // Cannot fail: `at` is the next index.
        self.apply(at, &ev, origin).ok()?;
        self.verdict(at)
    }

    /// The guard (for its stats and key counts).
    pub fn guard(&self) -> &SmsGuard {
        &self.guard
    }
}

/// The guard's country index of `number` (its calling code's country, else "unknown"): the
/// server's country space is every two-letter code, then "unknown" ([`countries`]).
pub fn country_index(number: u64) -> usize {
    let iso = crate::dialing::country_of_number(number).map(|i| i.country);
    match iso.map(str::as_bytes) {
        Some([a @ b'A'..=b'Z', b @ b'A'..=b'Z']) => {
            usize::from(a - b'A') * 26 + usize::from(b - b'A')
        }
        _ => 26 * 26,
    }
}

/// The server's country space: every two-letter code in order, then "unknown" (the empty
/// name).
pub fn countries() -> Vec<String> {
    let mut all: Vec<String> = (b'A'..=b'Z')
        .flat_map(|a| (b'A'..=b'Z').map(move |b| String::from_utf8_lossy(&[a, b]).into_owned()))
        .collect();
    all.push(String::new());
    all
}

#[cfg(test)]
mod tests;
