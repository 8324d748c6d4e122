//! The `[[attacker]]` table as written: [`RawAttacker`], its keys grouped by what they set
//! (the window, the pace, each kind's keys), checked in `check` and resolved into the checked
//! [`super::Attacker`].
//!
//! A TOML table is flat, so the groups cannot be `#[serde(flatten)]`ed without losing
//! `deny_unknown_fields` and the line of a bad value; one explicit visitor reads every key
//! straight from the TOML (keeping each value's line) into its group, and refuses an unknown
//! key with serde's own message ("unknown field `x`, expected one of ...").

use super::{AttackKind, Numbering, RampPoint, Shape, Solver};
use crate::scenario::{Dur, Iso, NonNeg, Prob};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;

/// What an adaptive attacker does after `after_blocks` refusals in a row.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AdaptAction {
    /// Leave the number range of the last refusal for its other ranges.
    NextRange,
    /// Leave the carrier of the last refusal for its other carriers in that country.
    NextCarrier,
    /// Leave the target country of the last refusal for its other targets.
    NextCountry,
    /// Stop for `back_off`, then carry on as before.
    BackOff,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdapt {
    pub after_blocks: u32,
    pub action: AdaptAction,
    pub back_off: Option<Dur>,
}

/// One `[[attacker]]` table as written. Keys that do not apply to its kind or shape are
/// refused after parsing (`check`); [`super::Attacker::from_raw`] then resolves every default.
#[derive(Clone, Debug)]
pub struct RawAttacker {
    pub kind: AttackKind,
    pub name: Option<String>,
    pub start: Dur,
    pub end: Dur,
    pub pace: RawPace,
    /// `sms_pumping`'s keys.
    pub pumping: RawPumping,
    /// The keys of the attacks on the reverse flow's webhook and verifier (and `success`,
    /// which every persuasion attack reads).
    pub reverse: RawReverseKeys,
    /// The takeover attacks' own keys.
    pub takeover: RawTakeover,
}

/// How the attempt rate runs: the shape and the keys each shape reads.
#[derive(Clone, Debug)]
pub struct RawPace {
    pub shape: Shape,
    /// Required by every shape but `ramp`.
    pub rate_per_s: Option<NonNeg>,
    pub burst_on: Option<Dur>,
    pub burst_off: Option<Dur>,
    /// `shape = "ramp"`.
    pub ramp: Option<Vec<RampPoint>>,
    /// `shape = "diurnal"`.
    pub amplitude: Option<Prob>,
    pub peak_hour: Option<f64>,
}

/// `sms_pumping`: which numbers, from which clients, and what the attacker does with them.
#[derive(Clone, Debug, Default)]
pub struct RawPumping {
    pub targets: Option<BTreeMap<Iso, NonNeg>>,
    pub plan: RawNumberPlan,
    pub client: RawClient,
    pub revenue_share: Option<Prob>,
    pub camouflage: Option<Prob>,
    pub submit_codes: Option<Prob>,
    pub adapt: Option<RawAdapt>,
}

/// `sms_pumping`'s numbers: their order, ranges, requests per number and carriers.
#[derive(Clone, Debug, Default)]
pub struct RawNumberPlan {
    pub numbers: Option<Numbering>,
    pub range_size: Option<u32>,
    pub ranges: Option<u32>,
    pub sms_per_number: Option<u32>,
    pub carriers: Option<Vec<String>>,
}

/// `sms_pumping`'s clients: addresses, accounts and who solves the CAPTCHA at what price.
#[derive(Clone, Debug, Default)]
pub struct RawClient {
    pub ip_pool: Option<u32>,
    pub rotate_every: Option<u32>,
    pub sms_per_account: Option<u32>,
    pub accounts: Option<u32>,
    pub captcha_usd: Option<NonNeg>,
    pub solver: Option<Solver>,
}

/// The keys of `code_guessing`, `start_flood`, `replay` and `reverse_otp_phishing`.
#[derive(Clone, Debug, Default)]
pub struct RawReverseKeys {
    pub sender_accounts: Option<u32>,
    pub candidates_per_message: Option<u32>,
    pub clients: Option<u32>,
    pub capture_age: Option<Dur>,
    pub success: Option<Prob>,
}

/// The keys of `sim_swap`, `relay_phishing` and `spoofed_sender`.
#[derive(Clone, Debug, Default)]
pub struct RawTakeover {
    pub swap_success: Option<Prob>,
    pub apple_id: Option<Prob>,
    pub relay_delay: Option<Dur>,
    pub spoof_delivery: Option<Prob>,
}

/// Declares the accepted keys once: their order in serde's "expected one of" list (the order
/// the flat table always had) and where each one's value goes. `req` keys are required.
macro_rules! attacker_keys {
    (
        req { $($rk:ident,)* }
        opt { $($ok:ident => $($path:ident).+,)* }
        order { $($key:ident,)* }
    ) => {
        /// Every key of `[[attacker]]`, in the order serde lists them.
        const FIELDS: &[&str] = &[$(stringify!($key),)*];

        /// The required keys as read (any may be missing until the table ends).
        #[derive(Default)]
        struct Required {
            $($rk: Option<RequiredValue!($rk)>,)*
        }

        /// Reads the value of `key` from `map` into its place.
        fn read_value<'de, A: MapAccess<'de>>(
            key: &'static str,
            map: &mut A,
            req: &mut Required,
            a: &mut Optional,
        ) -> Result<(), A::Error> {
            match key {
                $(stringify!($rk) => req.$rk = Some(map.next_value()?),)*
                $(stringify!($ok) => a.$($path).+ = Some(map.next_value()?),)*
                _ => unreachable!("every key of FIELDS has a place"),
            }
            Ok(())
        }
    };
}

/// The type of a required key's value.
macro_rules! RequiredValue {
    (kind) => {
        AttackKind
    };
    (start) => {
        Dur
    };
    (end) => {
        Dur
    };
    (shape) => {
        Shape
    };
}

/// Every optional key, in its group (the required ones are in [`Required`]).
#[derive(Default)]
struct Optional {
    name: Option<String>,
    pace: OptionalPace,
    pumping: RawPumping,
    reverse: RawReverseKeys,
    takeover: RawTakeover,
}

/// The pace's optional keys (the shape is required).
#[derive(Default)]
struct OptionalPace {
    rate_per_s: Option<NonNeg>,
    burst_on: Option<Dur>,
    burst_off: Option<Dur>,
    ramp: Option<Vec<RampPoint>>,
    amplitude: Option<Prob>,
    peak_hour: Option<f64>,
}

attacker_keys! {
    req { kind, start, end, shape, }
    opt {
        name => name,
        rate_per_s => pace.rate_per_s,
        burst_on => pace.burst_on,
        burst_off => pace.burst_off,
        ramp => pace.ramp,
        amplitude => pace.amplitude,
        peak_hour => pace.peak_hour,
        targets => pumping.targets,
        numbers => pumping.plan.numbers,
        range_size => pumping.plan.range_size,
        ip_pool => pumping.client.ip_pool,
        rotate_every => pumping.client.rotate_every,
        captcha_usd => pumping.client.captcha_usd,
        revenue_share => pumping.revenue_share,
        camouflage => pumping.camouflage,
        sms_per_account => pumping.client.sms_per_account,
        accounts => pumping.client.accounts,
        sms_per_number => pumping.plan.sms_per_number,
        ranges => pumping.plan.ranges,
        carriers => pumping.plan.carriers,
        submit_codes => pumping.submit_codes,
        adapt => pumping.adapt,
        solver => pumping.client.solver,
        sender_accounts => reverse.sender_accounts,
        candidates_per_message => reverse.candidates_per_message,
        clients => reverse.clients,
        capture_age => reverse.capture_age,
        success => reverse.success,
        swap_success => takeover.swap_success,
        apple_id => takeover.apple_id,
        relay_delay => takeover.relay_delay,
        spoof_delivery => takeover.spoof_delivery,
    }
    order {
        kind, name, start, end, shape, rate_per_s, burst_on, burst_off, ramp, amplitude,
        peak_hour, targets, numbers, range_size, ip_pool, rotate_every, captcha_usd,
        revenue_share, camouflage, sms_per_account, accounts, sms_per_number, ranges,
        carriers, submit_codes, adapt, solver, sender_accounts, candidates_per_message,
        clients, capture_age, success, swap_success, apple_id, relay_delay, spoof_delivery,
    }
}

/// A key of `[[attacker]]`, as its index in [`FIELDS`]; an unknown key is refused as serde's
/// `deny_unknown_fields` refuses it, while the key is read (so the error has its line).
struct Key(usize);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("field identifier")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                FIELDS
                    .iter()
                    .position(|k| *k == v)
                    .map(Key)
                    .ok_or_else(|| E::unknown_field(v, FIELDS))
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for RawAttacker {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct("RawAttacker", FIELDS, AttackerVisitor)
    }
}

struct AttackerVisitor;

impl<'de> Visitor<'de> for AttackerVisitor {
    type Value = RawAttacker;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct RawAttacker")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawAttacker, A::Error> {
        let mut req = Required::default();
        let mut opt = Optional::default();
        let mut seen = [false; FIELDS.len()];
        while let Some(Key(i)) = map.next_key()? {
            if std::mem::replace(&mut seen[i], true) {
                return Err(de::Error::duplicate_field(FIELDS[i]));
            }
            read_value(FIELDS[i], &mut map, &mut req, &mut opt)?;
        }
        // Missing keys are named in the order serde names them: the order of FIELDS.
        let kind = req.kind.ok_or_else(|| de::Error::missing_field("kind"))?;
        let start = req.start.ok_or_else(|| de::Error::missing_field("start"))?;
        let end = req.end.ok_or_else(|| de::Error::missing_field("end"))?;
        let shape = req.shape.ok_or_else(|| de::Error::missing_field("shape"))?;
        let p = opt.pace;
        Ok(RawAttacker {
            kind,
            name: opt.name,
            start,
            end,
            pace: RawPace {
                shape,
                rate_per_s: p.rate_per_s,
                burst_on: p.burst_on,
                burst_off: p.burst_off,
                ramp: p.ramp,
                amplitude: p.amplitude,
                peak_hour: p.peak_hour,
            },
            pumping: opt.pumping,
            reverse: opt.reverse,
            takeover: opt.takeover,
        })
    }
}
