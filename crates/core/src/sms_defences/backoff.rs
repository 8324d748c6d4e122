//! Auth0's SMS fraud protection: exponential backoff per user (here: per app account).
//!
//! An account gets its first send and `free` immediate retries; after that each send makes the
//! next one wait `base × 2^k` (k = 0, 1, …), at most `max`, varied by ± `jitter` (a fixed
//! function of the account and the step, so runs are reproducible and the core draws no
//! randomness). An account quiet for `reset_after` starts afresh. Auth0 sends no SMS without a
//! user identifier: an attempt without an account is keyed on its destination number (the
//! identifier of a passwordless SMS user), so an attacker asking without signing up is limited
//! per number he pumps.

use super::util::{full, mix, unit};
use super::{Attempt, Backoff as Config, Blocked, Mode, Rule, Span};
use rustc_hash::FxHashMap;

/// Defaults where neither the preset nor the file says (docs/defences.md: base and max are
/// Auth0's published numbers; free, jitter and reset_after are assumptions).
pub const FREE: u32 = 3;
pub const BASE_MS: u64 = 60_000;
pub const MAX_MS: u64 = 32 * 60_000;
pub const JITTER: f64 = 0.2;
pub const RESET_MS: u64 = 3_600_000;

#[derive(Clone, Copy)]
struct State {
    streak: u32,
    last: u64,
    next: u64,
}

pub struct Backoff {
    free: u32,
    base: u64,
    max: u64,
    jitter: f64,
    reset: u64,
    mode: Mode,
    max_keys: usize,
    accounts: FxHashMap<u64, State>,
}

/// The user a send is for: its account, else its destination number (tagged apart).
fn user(a: &Attempt) -> u64 {
    if a.account != 0 {
        a.account
    } else {
        mix(a.number ^ 0x5053_4d53_0000_0000).max(1)
    }
}

impl Backoff {
    pub fn new(c: &Config, mode: Mode, max_keys: usize) -> Self {
        Self {
            free: c.free.unwrap_or(FREE),
            base: c.base.map_or(BASE_MS, |d| d.ms()),
            max: c.max.map_or(MAX_MS, |d| d.ms()),
            jitter: c.jitter.map_or(JITTER, |p| p.0),
            reset: c.reset_after.map_or(RESET_MS, |d| d.ms()),
            mode,
            max_keys,
            accounts: FxHashMap::default(),
        }
    }

    /// The wait after the `streak`-th send in a row of `account`.
    pub fn wait_ms(&self, account: u64, streak: u32) -> u64 {
        if streak <= self.free {
            return 0;
        }
        let k = (streak - self.free - 1).min(40);
        let plain = self.base.saturating_mul(1u64 << k).min(self.max);
        let swing = 1.0 + self.jitter * (2.0 * unit(account ^ (u64::from(streak) << 48)) - 1.0);
        ((plain as f64 * swing).round() as u64).min(self.max)
    }

    fn live(&self, s: &State, now: u64) -> bool {
        now.saturating_sub(s.last) < self.reset
    }
}

impl Rule for Backoff {
    fn judge(&mut self, a: &Attempt, _: &mut Vec<Span>) -> Option<Blocked> {
        let u = user(a);
        if let Some(s) = self.accounts.get(&u) {
            return (self.live(s, a.now) && a.now < s.next).then_some(Blocked::Backoff);
        }
        if full(&self.accounts, &u, self.max_keys) {
            let reset = self.reset;
            self.accounts
                .retain(|_, s| a.now.saturating_sub(s.last) < reset);
        }
        full(&self.accounts, &u, self.max_keys).then_some(Blocked::Full)
    }

    fn sent(&mut self, a: &Attempt) {
        let u = user(a);
        let streak = match self.accounts.get(&u) {
            Some(s) if self.live(s, a.now) => s.streak.saturating_add(1),
            Some(_) => 1,
            None if self.accounts.len() >= self.max_keys => return,
            None => 1,
        };
        let next = a.now.saturating_add(self.wait_ms(u, streak));
        self.accounts.insert(
            u,
            State {
                streak,
                last: a.now,
                next,
            },
        );
    }

    fn retry_after(&self, b: Blocked, a: &Attempt) -> Option<u64> {
        (b == Blocked::Backoff).then(|| {
            self.accounts
                .get(&user(a))
                .map_or(0, |s| s.next.saturating_sub(a.now))
        })
    }

    fn mode(&self) -> Mode {
        self.mode
    }

    fn keys(&self) -> usize {
        self.accounts.len()
    }
}
