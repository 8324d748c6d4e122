//! A provider account's prepaid balance with auto-recharge from a card that has a daily limit:
//! a small pure state machine, fed one paid send at a time by the engine.
//!
//! Amounts are whole micro-dollars (`i64`), so the books balance exactly: at every step
//! `start + recharged - spent == balance`, and the balance never goes below zero (a send the
//! balance cannot pay is refused, never overdrawn).
//!
//! The rules, checked at each paid send of `c`:
//! 1. a suspended account refuses everything;
//! 2. if the balance is below `recharge_below` or below `c`, the card is charged `recharge`
//!    once, or as many times as it takes to cover `c`, within what the card's daily limit still
//!    allows (the limit resets at each virtual midnight);
//! 3. if the card refused a recharge it was asked for, `suspend` suspends the account for good
//!    (this send is refused too), `stop_sending` refuses only the sends the balance cannot pay;
//! 4. otherwise the send is paid from the balance.

use serde::Deserialize;

/// Micro-dollars per dollar.
pub const MICROS_PER_USD: f64 = 1_000_000.0;
/// Virtual milliseconds per card day.
const MS_PER_DAY: u64 = 86_400_000;

/// Whole micro-dollars of a non-negative USD amount (saturating).
pub fn micros(usd: f64) -> i64 {
    let v = (usd * MICROS_PER_USD).round();
    if v.is_finite() && v > 0.0 {
        // Saturates at i64::MAX for absurd values.
        v.min(9.0e18) as i64
    } else {
        0
    }
}

/// Dollars of `micros`.
pub fn usd(micros: i64) -> f64 {
    micros as f64 / MICROS_PER_USD
}

/// What happens when the card refuses a recharge.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnLimit {
    /// The provider suspends the account: every later outbound SMS is refused, legit or not.
    #[default]
    Suspend,
    /// The account stays open; sends the balance cannot pay are refused until the card's daily
    /// limit resets at midnight.
    StopSending,
}

impl OnLimit {
    pub fn name(self) -> &'static str {
        match self {
            OnLimit::Suspend => "suspend",
            OnLimit::StopSending => "stop_sending",
        }
    }
}

/// The account's rules, in micro-dollars.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    pub start: i64,
    pub recharge_below: i64,
    /// Amount of one recharge; at least 1.
    pub recharge: i64,
    pub card_daily_limit: i64,
    pub on_limit: OnLimit,
}

/// Recharges made at one send: when, how many, how much in all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recharge {
    pub at_ms: u64,
    pub times: u32,
    pub micros: i64,
}

/// At most this many recharge records are kept (their count and total are always exact).
pub const MAX_RECHARGE_RECORDS: usize = 10_000;

/// The account: balance, the card's use today, suspension, and the record.
#[derive(Clone, Debug, PartialEq)]
pub struct Account {
    rules: Rules,
    balance: i64,
    day: u64,
    card_today: i64,
    suspended_at_ms: Option<u64>,
    recharges: Vec<Recharge>,
    recharge_count: u64,
    recharged: i64,
    spent: i64,
    paid: u64,
    refused: u64,
    /// When the card first refused a recharge (either rule).
    first_declined_ms: Option<u64>,
}

impl Account {
    pub fn new(rules: Rules) -> Self {
        let rules = Rules {
            start: rules.start.max(0),
            recharge_below: rules.recharge_below.max(0),
            recharge: rules.recharge.max(1),
            card_daily_limit: rules.card_daily_limit.max(0),
            on_limit: rules.on_limit,
        };
        Self {
            rules,
            balance: rules.start,
            day: 0,
            card_today: 0,
            suspended_at_ms: None,
            recharges: Vec::new(),
            recharge_count: 0,
            recharged: 0,
            spent: 0,
            paid: 0,
            refused: 0,
            first_declined_ms: None,
        }
    }

    /// One paid send of `cost` micro-dollars at virtual `now_ms` (non-decreasing): `true` if it
    /// was paid, `false` if refused.
    pub fn charge(&mut self, now_ms: u64, cost: i64) -> bool {
        let cost = cost.max(0);
        if self.suspended_at_ms.is_some() {
            self.refused += 1;
            return false;
        }
        let day = now_ms / MS_PER_DAY;
        if day != self.day {
            self.day = day;
            self.card_today = 0;
        }
        let mut declined = false;
        if self.balance < self.rules.recharge_below || self.balance < cost {
            let r = self.rules.recharge;
            // Recharges needed: one, or enough to cover the send.
            let short = cost.saturating_sub(self.balance).max(0);
            let needed = (short.saturating_add(r - 1) / r).max(1);
            let allowed = (self.rules.card_daily_limit - self.card_today).max(0) / r;
            let times = needed.min(allowed);
            if times > 0 {
                let amount = times.saturating_mul(r);
                self.balance = self.balance.saturating_add(amount);
                self.card_today = self.card_today.saturating_add(amount);
                self.recharged = self.recharged.saturating_add(amount);
                self.recharge_count += times.unsigned_abs();
                if self.recharges.len() < MAX_RECHARGE_RECORDS {
                    self.recharges.push(Recharge {
                        at_ms: now_ms,
                        times: u32::try_from(times).unwrap_or(u32::MAX),
                        micros: amount,
                    });
                }
            }
            declined = times < needed;
        }
        if declined {
            self.first_declined_ms.get_or_insert(now_ms);
            if self.rules.on_limit == OnLimit::Suspend {
                self.suspended_at_ms = Some(now_ms);
                self.refused += 1;
                return false;
            }
        }
        if self.balance < cost {
            self.refused += 1;
            return false;
        }
        self.balance -= cost;
        self.spent = self.spent.saturating_add(cost);
        self.paid += 1;
        true
    }

    pub fn rules(&self) -> Rules {
        self.rules
    }
    pub fn balance(&self) -> i64 {
        self.balance
    }
    pub fn suspended_at_ms(&self) -> Option<u64> {
        self.suspended_at_ms
    }
    pub fn first_declined_ms(&self) -> Option<u64> {
        self.first_declined_ms
    }
    /// Recharge records, in time order (at most [`MAX_RECHARGE_RECORDS`]).
    pub fn recharges(&self) -> &[Recharge] {
        &self.recharges
    }
    pub fn recharge_count(&self) -> u64 {
        self.recharge_count
    }
    pub fn recharged(&self) -> i64 {
        self.recharged
    }
    pub fn spent(&self) -> i64 {
        self.spent
    }
    pub fn paid(&self) -> u64 {
        self.paid
    }
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USD: i64 = 1_000_000;
    const DAY: u64 = MS_PER_DAY;

    /// Healthchecks.io's shape: $250 recharges below $50, a card limited to $1,000 a day.
    fn healthchecks(on_limit: OnLimit) -> Account {
        Account::new(Rules {
            start: 100 * USD,
            recharge_below: 50 * USD,
            recharge: 250 * USD,
            card_daily_limit: 1_000 * USD,
            on_limit,
        })
    }

    #[test]
    fn recharges_250_at_a_time_until_the_card_limit_then_suspends() {
        let mut a = healthchecks(OnLimit::Suspend);
        let sms = 220_000; // $0.22
        let mut t = 0;
        while a.charge(t, sms) {
            t += 1_000;
        }
        // $100 + 4 × $250 = $1,100 paid 5,000 SMS at $0.22; the fifth recharge was declined.
        assert_eq!(a.recharge_count(), 4);
        assert_eq!(a.recharged(), 1_000 * USD);
        assert_eq!(a.paid(), 4_773);
        assert!(a.balance() < 50 * USD);
        assert_eq!(a.suspended_at_ms(), Some(t));
        assert!(a.recharges().iter().all(|r| r.micros == 250 * USD));
        // Suspended for good: the next day too, and a free send.
        assert!(!a.charge(t + 2 * DAY, sms));
        assert!(!a.charge(t + 2 * DAY, 0));
        assert_eq!(a.refused(), 3);
    }

    #[test]
    fn stop_sending_refuses_what_it_cannot_pay_and_resumes_the_next_day() {
        let mut a = Account::new(Rules {
            start: 0,
            recharge_below: 0,
            recharge: 10 * USD,
            card_daily_limit: 10 * USD,
            on_limit: OnLimit::StopSending,
        });
        assert!(a.charge(0, 6 * USD), "one recharge covers it");
        assert!(
            !a.charge(1, 6 * USD),
            "$4 left, the card is spent for today"
        );
        assert!(
            a.charge(2, 4 * USD),
            "what the balance covers is still paid"
        );
        assert_eq!(a.suspended_at_ms(), None);
        assert_eq!(a.first_declined_ms(), Some(1));
        assert!(a.charge(DAY, 6 * USD), "a new day, a new card limit");
        assert_eq!((a.paid(), a.refused(), a.recharge_count()), (3, 1, 2));
    }

    #[test]
    fn a_send_dearer_than_one_recharge_takes_several() {
        let mut a = Account::new(Rules {
            start: 0,
            recharge_below: 0,
            recharge: USD,
            card_daily_limit: 100 * USD,
            on_limit: OnLimit::Suspend,
        });
        assert!(a.charge(0, 3 * USD + 1));
        assert_eq!(
            a.recharges(),
            [Recharge {
                at_ms: 0,
                times: 4,
                micros: 4 * USD
            }]
        );
        assert_eq!(a.balance(), USD - 1);
    }

    #[test]
    fn no_card_means_the_start_balance_is_all_there_is() {
        let mut a = Account::new(Rules {
            start: USD,
            recharge_below: 0,
            recharge: USD,
            card_daily_limit: 0,
            on_limit: OnLimit::StopSending,
        });
        assert!(a.charge(0, USD / 2));
        assert!(a.charge(0, USD / 2));
        assert!(!a.charge(0, 1));
        assert_eq!(a.balance(), 0);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn rules() -> impl Strategy<Value = Rules> {
            (
                0i64..500,
                0i64..300,
                1i64..300,
                0i64..2_000,
                prop_oneof![Just(OnLimit::Suspend), Just(OnLimit::StopSending)],
            )
                .prop_map(|(start, below, recharge, limit, on_limit)| Rules {
                    start: start * 10_000,
                    recharge_below: below * 10_000,
                    recharge: recharge * 10_000,
                    card_daily_limit: limit * 10_000,
                    on_limit,
                })
        }

        proptest! {
            /// The balance never goes below zero, the books always balance (no charge lost or
            /// made up), the card never pays more than its daily limit, and a suspended account
            /// never pays again.
            #[test]
            fn the_books_balance_and_the_rules_hold(
                rules in rules(),
                sends in prop::collection::vec((0u64..4 * 3_600_000, 0i64..2_000_000), 0..300),
            ) {
                let mut a = Account::new(rules);
                let mut now = 0u64;
                let mut paid_total = 0i64;
                let mut card_by_day = std::collections::BTreeMap::<u64, i64>::new();
                let mut was_suspended = false;
                let mut recharges_seen = 0;
                for (gap, cost) in sends {
                    now += gap;
                    let paid = a.charge(now, cost);
                    if paid {
                        paid_total += cost;
                        prop_assert!(!was_suspended, "a suspended account paid");
                    }
                    was_suspended |= a.suspended_at_ms().is_some();
                    for r in &a.recharges()[recharges_seen..] {
                        *card_by_day.entry(r.at_ms / MS_PER_DAY).or_default() += r.micros;
                    }
                    recharges_seen = a.recharges().len();
                    prop_assert!(a.balance() >= 0);
                    prop_assert_eq!(rules.start + a.recharged() - a.spent(), a.balance());
                    prop_assert_eq!(a.spent(), paid_total);
                }
                for (_, v) in card_by_day {
                    prop_assert!(v <= rules.card_daily_limit);
                }
                prop_assert_eq!(
                    a.recharged(),
                    a.recharges().iter().map(|r| r.micros).sum::<i64>()
                );
            }
        }
    }
}
