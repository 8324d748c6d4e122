//! Variants of one scenario, for comparing defences on the same traffic: the file as written,
//! a vendor's defence preset with its published defaults in place of the file's SMS defences
//! (from an empty account, or warm: from the file's `[history]`, else a 15-day warm-up), the
//! preset added to the file's own defences, the file run through the reverse flow with each
//! fallback, and the pumping spread over another range size, as written and under Fraud Guard
//! (a prefix-based preset) from an empty account. Everything else (seed, users,
//! attackers, billing) stays as written, so the rows of a comparison differ only in what the
//! variant names.
//!
//! Variants edit the parsed TOML and parse the result again, so a variant is checked exactly
//! like a file a user wrote.

use crate::scenario::{Fallback, Scenario, ScenarioError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Variant {
    /// The scenario as written.
    AsWritten,
    /// `[defences.sms]` replaced by `preset = NAME` (the file's `max_keys`, a capacity, is
    /// kept): the preset's published defaults. `warm`: from the file's `[history]`, or
    /// [`WARMUP_DAYS`] of warm-up when it has none; else from an empty account.
    Preset { name: String, warm: bool },
    /// `[defences.sms] preset = NAME` added to the SMS defences the file already has; the
    /// file's own keys keep their values ("+ own defences").
    PresetWithOwn(String),
    /// Only the reverse flow, every country (and `other_fallback`) on this fallback.
    Reverse(Fallback),
    /// As written, every SMS pumping attacker's `range_size` set to this.
    RangeSize(u32),
    /// [`Variant::Preset`] from an empty account, every SMS pumping attacker's `range_size`
    /// set to `range`: how much a prefix-based rule's result owes to the range size.
    PresetRangeSize { name: String, range: u32 },
}

/// The preset of the range-size row: Fraud Guard blocks prefixes (the number without its
/// last 4 digits), so what it lets through scales with the prefixes the range spans.
pub const RANGE_PRESET: &str = "twilio_fraud_guard_standard";

/// The warm-up a warm preset row gets when the file has no `[history]` (assumed: Plivo's
/// published "last 15 days").
pub const WARMUP_DAYS: u64 = 15;

impl Variant {
    pub fn label(&self) -> String {
        match self {
            Variant::AsWritten => "as written".into(),
            Variant::Preset { name, warm: false } => format!("preset {name}, cold"),
            Variant::Preset { name, warm: true } => format!("preset {name}, warm"),
            Variant::PresetWithOwn(name) => format!("+ own defences + preset {name}"),
            Variant::RangeSize(n) => format!("as written, pumping over {n} numbers"),
            Variant::PresetRangeSize { name, range } => {
                format!("preset {name}, cold, pumping over {range} numbers")
            }
            Variant::Reverse(Fallback::InboundSms) => "reverse flow, inbound SMS fallback".into(),
            Variant::Reverse(Fallback::OutboundSms) => "reverse flow, outbound SMS fallback".into(),
        }
    }

    /// The scenario `text` (from `file`) turned into this variant.
    pub fn apply(&self, file: &str, text: &str) -> Result<Scenario, ScenarioError> {
        if *self == Variant::AsWritten {
            return Scenario::parse(file, text);
        }
        let mut t: toml::Table = mo2fa_core::conf::parse_toml(file, text)?;
        self.edit(file, &mut t)?;
        let edited = toml::to_string(&t).map_err(|e| ScenarioError::Invalid {
            file: file.to_string(),
            key: "(variant)".into(),
            message: e.to_string(),
        })?;
        Scenario::parse(&format!("{file} ({})", self.label()), &edited)
    }

    /// Makes the parsed scenario `t` this variant.
    fn edit(&self, file: &str, t: &mut toml::Table) -> Result<(), ScenarioError> {
        let not_a_table = |key: &str| ScenarioError::Invalid {
            file: file.to_string(),
            key: key.to_string(),
            message: "must be a table".into(),
        };
        match self {
            Variant::AsWritten => {}
            Variant::PresetRangeSize { name, range } => {
                let preset = Variant::Preset {
                    name: name.clone(),
                    warm: false,
                };
                preset.edit(file, t)?;
                Variant::RangeSize(*range).edit(file, t)?;
            }
            Variant::Preset { name, warm } => {
                let sms =
                    table_at(t, &["defences", "sms"]).ok_or_else(|| not_a_table("defences.sms"))?;
                let max_keys = sms.remove("max_keys");
                sms.clear();
                sms.insert("preset".into(), toml::Value::String(name.clone()));
                if let Some(k) = max_keys {
                    sms.insert("max_keys".into(), k);
                }
                if !warm {
                    t.remove("history");
                } else if !t.contains_key("history") {
                    let mut h = toml::Table::new();
                    let days = format!("{WARMUP_DAYS}d");
                    h.insert("warmup".into(), toml::Value::String(days));
                    t.insert("history".into(), toml::Value::Table(h));
                }
            }
            Variant::PresetWithOwn(name) => {
                let sms =
                    table_at(t, &["defences", "sms"]).ok_or_else(|| not_a_table("defences.sms"))?;
                sms.insert("preset".into(), toml::Value::String(name.clone()));
            }
            Variant::RangeSize(n) => {
                let attackers = t.get_mut("attacker").and_then(|a| a.as_array_mut());
                for a in attackers.into_iter().flatten() {
                    let Some(a) = a.as_table_mut() else { continue };
                    if a.get("kind").and_then(|k| k.as_str()) == Some("sms_pumping") {
                        a.insert("range_size".into(), toml::Value::Integer(i64::from(*n)));
                    }
                }
            }
            Variant::Reverse(fallback) => {
                let name = match fallback {
                    Fallback::InboundSms => "inbound_sms",
                    Fallback::OutboundSms => "outbound_sms",
                };
                t.insert(
                    "flows".into(),
                    toml::Value::Array(vec![toml::Value::String("reverse".into())]),
                );
                if let Some(incident) = t.get_mut("incident").and_then(|i| i.as_table_mut()) {
                    incident.insert("flow".into(), toml::Value::String("reverse".into()));
                }
                let legit = table_at(t, &["legit"]).ok_or_else(|| not_a_table("legit"))?;
                legit.insert("other_fallback".into(), toml::Value::String(name.into()));
                if let Some(countries) = legit.get_mut("countries").and_then(|c| c.as_table_mut()) {
                    for (_, c) in countries.iter_mut() {
                        let Some(c) = c.as_table_mut() else { continue };
                        c.insert("fallback".into(), toml::Value::String(name.into()));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The table at `path`, created (empty) where it is missing; `None` where a key on the path
/// holds something else.
fn table_at<'t>(t: &'t mut toml::Table, path: &[&str]) -> Option<&'t mut toml::Table> {
    let mut at = t;
    for key in path {
        at = at
            .entry(*key)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()?;
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Flow;

    const FILE: &str = r#"
seed = 7
duration = "1h"
interval = "10m"
flows = ["reverse", "sms"]
[legit]
rate_per_s = 1.0
p_send = 1.0
send_delay_median = "5s"
countries.US = { weight = 1.0, imessage = 0.5, fallback = "inbound_sms" }
countries.MA = { weight = 1.0, imessage = 0.1, fallback = "outbound_sms" }
[emitter]
latency_median = "300ms"
[defences.sms]
per_number = 5
"#;

    #[test]
    fn the_reverse_variants_set_every_fallback_and_keep_the_rest() {
        for fallback in [Fallback::InboundSms, Fallback::OutboundSms] {
            let sc = Variant::Reverse(fallback).apply("f.toml", FILE).unwrap();
            assert_eq!(sc.run.flows, [Flow::Reverse]);
            assert_eq!(sc.legit.other_fallback, fallback);
            assert!(sc.legit.countries.values().all(|c| c.fallback == fallback));
            assert_eq!((sc.run.seed, sc.defences.sms.per_number), (7, Some(5)));
        }
        let sc = Variant::AsWritten.apply("f.toml", FILE).unwrap();
        assert_eq!(sc.run.flows, [Flow::Reverse, Flow::Sms]);
    }

    #[test]
    fn a_preset_row_runs_the_presets_defaults_and_own_defences_are_their_own_row() {
        let preset = |warm| Variant::Preset {
            name: "authgear".into(),
            warm,
        };
        let sc = preset(false).apply("f.toml", FILE).unwrap();
        assert_eq!(sc.defences.sms.preset.as_deref(), Some("authgear"));
        assert_eq!(
            sc.defences.sms.per_number, None,
            "the file's own limit is not the preset's"
        );
        assert!(sc.money.history.is_none());
        let warm = preset(true).apply("f.toml", FILE).unwrap();
        assert_eq!(
            warm.money.history.and_then(|h| h.warmup_ms()),
            Some(WARMUP_DAYS * 86_400_000)
        );
        let own = format!("{FILE}[history]\nwarmup = \"3d\"\n");
        let warm = preset(true).apply("f.toml", &own).unwrap();
        assert_eq!(
            warm.money.history.and_then(|h| h.warmup_ms()),
            Some(3 * 86_400_000)
        );
        let cold = preset(false).apply("f.toml", &own).unwrap();
        assert!(
            cold.money.history.is_none(),
            "cold drops the file's history"
        );
        let sc = Variant::PresetWithOwn("authgear".into())
            .apply("f.toml", FILE)
            .unwrap();
        assert_eq!(sc.defences.sms.preset.as_deref(), Some("authgear"));
        assert_eq!(
            sc.defences.sms.per_number,
            Some(5),
            "the file's own limit stays"
        );
        assert_eq!(sc.run.flows, [Flow::Reverse, Flow::Sms]);
        let e = Variant::PresetWithOwn("no_such_vendor".into())
            .apply("f.toml", FILE)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("defences.sms.preset") && e.contains("authgear"),
            "{e}"
        );
    }

    #[test]
    fn the_range_size_row_changes_every_pumping_attacker_only() {
        let file = format!(
            "{FILE}[[attacker]]\nkind = \"sms_pumping\"\nstart = \"0s\"\nend = \"1h\"\n\
             shape = \"sustained\"\nrate_per_s = 1.0\ntargets = {{ MA = 1.0 }}\n\
             numbers = \"random\"\nrange_size = 1000000\n"
        );
        let sc = Variant::RangeSize(10_000).apply("f.toml", &file).unwrap();
        let sizes: Vec<u32> = sc
            .attackers
            .iter()
            .filter_map(|a| match &a.attack {
                crate::scenario::Attack::Pumping(p) => Some(p.numbers.range_size),
                _ => None,
            })
            .collect();
        assert_eq!(sizes, [10_000]);
        assert_eq!(sc.defences.sms.per_number, Some(5), "the rest as written");
        let v = Variant::PresetRangeSize {
            name: RANGE_PRESET.into(),
            range: 10_000,
        };
        let own = format!("{file}[history]\nwarmup = \"3d\"\n");
        let sc = v.apply("f.toml", &own).unwrap();
        assert_eq!(sc.defences.sms.preset.as_deref(), Some(RANGE_PRESET));
        assert_eq!(sc.defences.sms.per_number, None, "the preset's defaults");
        assert!(sc.money.history.is_none(), "cold");
        assert!(sc.attackers.iter().all(|a| match &a.attack {
            crate::scenario::Attack::Pumping(p) => p.numbers.range_size == 10_000,
            _ => true,
        }));
    }

    #[test]
    fn a_section_that_is_not_a_table_is_an_error_not_a_panic() {
        let e = Variant::Reverse(Fallback::InboundSms)
            .apply("f.toml", "legit = 3\n")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "f.toml: legit: must be a table");
        let e = Variant::PresetWithOwn("x".into())
            .apply("f.toml", "defences = { sms = 1 }\n")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "f.toml: defences.sms: must be a table");
    }
}
