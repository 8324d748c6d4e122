//! A scenario file's top-level keys, each handed to its part of [`Scenario`].
//!
//! The file is flat (`seed`, `duration`, `[legit]`, `[billing]`, ... side by side) while the
//! type groups them by concern. serde's `flatten` would do this, but it buffers the values and
//! so loses the spans every error's line comes from, and it refuses `deny_unknown_fields`. So
//! the top-level map is walked here, as serde's derive walks a struct: an unknown key is
//! refused with the list of keys, a missing required key is named, in the same words and at
//! the same spans as before the grouping ([`mo2fa_core::conf::collect`] relies on both).

use super::*;
use serde::de::{Deserializer, Error, MapAccess, Visitor};

/// The top-level keys, in the order serde lists them when refusing an unknown one.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Key {
    Description,
    Seed,
    Duration,
    Interval,
    Flows,
    Legit,
    Emitter,
    Verifier,
    Sms,
    Defences,
    Attacker,
    Carrier,
    Store,
    Billing,
    Report,
    Incident,
    Expect,
    History,
}

const KEYS: &[&str] = &[
    "description",
    "seed",
    "duration",
    "interval",
    "flows",
    "legit",
    "emitter",
    "verifier",
    "sms",
    "defences",
    "attacker",
    "carrier",
    "store",
    "billing",
    "report",
    "incident",
    "expect",
    "history",
];

impl<'de> Deserialize<'de> for Scenario {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct("Scenario", KEYS, TopLevel)
    }
}

struct TopLevel;

/// The value of `key`, which must not have been given before.
fn put<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    map: &mut A,
    slot: &mut Option<T>,
    key: &'static str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(A::Error::duplicate_field(key));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

/// A required key's value, or serde's error naming it.
fn need<T, E: Error>(slot: Option<T>, key: &'static str) -> Result<T, E> {
    slot.ok_or_else(|| E::missing_field(key))
}

impl<'de> Visitor<'de> for TopLevel {
    type Value = Scenario;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("struct Scenario")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scenario, A::Error> {
        let (mut description, mut seed, mut duration, mut interval, mut flows) =
            (None, None, None, None, None);
        let (mut legit, mut emitter, mut verifier, mut sms, mut defences) =
            (None, None, None, None, None);
        let (mut attackers, mut carriers, mut store) = (None, None, None);
        let (mut billing, mut report, mut incident, mut expect, mut history) =
            (None, None, None, None, None);
        while let Some(key) = map.next_key::<Key>()? {
            let m = &mut map;
            match key {
                Key::Description => put(m, &mut description, "description"),
                Key::Seed => put(m, &mut seed, "seed"),
                Key::Duration => put(m, &mut duration, "duration"),
                Key::Interval => put(m, &mut interval, "interval"),
                Key::Flows => put(m, &mut flows, "flows"),
                Key::Legit => put(m, &mut legit, "legit"),
                Key::Emitter => put(m, &mut emitter, "emitter"),
                Key::Verifier => put(m, &mut verifier, "verifier"),
                Key::Sms => put(m, &mut sms, "sms"),
                Key::Defences => put(m, &mut defences, "defences"),
                Key::Attacker => put(m, &mut attackers, "attacker"),
                Key::Carrier => put(m, &mut carriers, "carrier"),
                Key::Store => put(m, &mut store, "store"),
                Key::Billing => put(m, &mut billing, "billing"),
                Key::Report => put(m, &mut report, "report"),
                Key::Incident => put(m, &mut incident, "incident"),
                Key::Expect => put(m, &mut expect, "expect"),
                Key::History => put(m, &mut history, "history"),
            }?;
        }
        // Required keys are named in the order the file format lists them.
        let run = RunSettings {
            description: description.unwrap_or_default(),
            seed: need(seed, "seed")?,
            duration: need(duration, "duration")?,
            interval: need(interval, "interval")?,
            flows: need(flows, "flows")?,
            store: store.flatten(),
        };
        Ok(Scenario {
            run,
            legit: need(legit, "legit")?,
            emitter: need(emitter, "emitter")?,
            verifier: verifier.unwrap_or_default(),
            sms: sms.unwrap_or_default(),
            defences: defences.unwrap_or_default(),
            raw_attackers: attackers.unwrap_or_default(),
            attackers: Vec::new(),
            carriers: carriers.unwrap_or_default(),
            money: Money {
                billing: billing.flatten(),
                report: report.flatten(),
                history: history.flatten(),
            },
            criteria: Criteria {
                incident: incident.flatten(),
                expect: expect.unwrap_or_default(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_top_level_key_is_refused_with_every_key_in_order() {
        let e = Scenario::parse("x.toml", "nope = 1\n")
            .unwrap_err()
            .to_string();
        let list: Vec<String> = KEYS.iter().map(|k| format!("`{k}`")).collect();
        let want = format!("unknown field `nope`, expected one of {}", list.join(", "));
        assert!(e.contains(&want), "{e}");
    }
}
