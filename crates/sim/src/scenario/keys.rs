//! The keys a scenario file may hold, as dotted paths (`defences.sms.per_ip`,
//! `legit.countries.<ISO>.weight`, `attacker.rate_per_s`), read from the parser itself: the
//! commented template ([`TEMPLATE`]) with every example uncommented holds every section, and a
//! probe key in a section makes serde list every field it expects there. Nothing here lists a
//! key by hand, so a key added to the parser is listed at once; `mo2fa sweep` checks its `--set`
//! keys against this list (`mo2fa_decide::keys`), so the two cannot drift.
//!
//! Names: a list position is dropped (`attacker.0.rate_per_s` is `attacker.rate_per_s`), and a
//! key inside a table keyed by country (a table of the template whose keys are all ISO codes:
//! `legit.countries`, `attacker.targets`, `defences.sms.country_caps.caps`, ...) is written
//! [`ISO`].

use super::{Scenario, TEMPLATE};
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// How a country code is written in a key name.
pub const ISO: &str = "<ISO>";

/// The key every probed table is given; no scenario key has this name.
const PROBE: &str = "zz_probe";

/// Every key the parser accepts, as [`normalise`] names it.
pub fn accepted() -> &'static BTreeSet<String> {
    &read().keys
}

/// The tables keyed by country code (`legit.countries`, `attacker.targets`, ...), named as
/// [`accepted`] names keys.
pub fn country_maps() -> &'static BTreeSet<String> {
    &read().maps
}

/// Whether the parser accepts `key` (a dotted path, list positions and country codes
/// included: `attacker.0.targets.MA`).
pub fn is_accepted(key: &str) -> bool {
    accepted().contains(&normalise(key))
}

/// `key` as [`accepted`] names it: list positions dropped, a key inside a table keyed by
/// country written [`ISO`].
pub fn normalise(key: &str) -> String {
    let maps = country_maps();
    let mut out: Vec<&str> = Vec::new();
    for part in key.split('.') {
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let parent = out.join(".");
        out.push(if !out.is_empty() && maps.contains(&parent) {
            ISO
        } else {
            part
        });
    }
    out.join(".")
}

/// The template with its commented `key = value` lines and section headers uncommented: every
/// section and key a scenario can have, each attacker kind's among them.
pub fn uncommented_template() -> String {
    TEMPLATE
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if (rest.starts_with('[') && rest.ends_with(']'))
                    || rest.split_once(" = ").is_some_and(|(k, _)| {
                        !k.is_empty()
                            && k.chars()
                                .all(|c| c.is_ascii_alphabetic() || c == '_' || c == '.')
                    }) =>
            {
                rest
            }
            _ => line,
        })
        .flat_map(|l| [l, "\n"])
        .collect()
}

struct Keys {
    keys: BTreeSet<String>,
    maps: BTreeSet<String>,
}

fn read() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(probe_all)
}

/// One table of the uncommented template: where it is (keys, and array positions) and its name
/// (positions dropped, country codes as [`ISO`]).
struct Site {
    path: Vec<(String, Option<usize>)>,
    name: String,
}

fn probe_all() -> Keys {
    let mut keys = Keys {
        keys: BTreeSet::new(),
        maps: BTreeSet::new(),
    };
    let Ok(root) = uncommented_template().parse::<toml::Table>() else {
        return keys;
    };
    let mut sites = vec![Site {
        path: Vec::new(),
        name: String::new(),
    }];
    collect(&root, &mut Vec::new(), "", &mut sites, &mut keys);
    for site in &sites {
        for field in probe(&root, site) {
            keys.keys.insert(join(&site.name, &field));
        }
    }
    keys
}

fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

/// A table whose keys are all ISO 3166 alpha-2 codes: keyed by country, not by field.
fn keyed_by_country(t: &toml::Table) -> bool {
    !t.is_empty()
        && t.keys()
            .all(|k| k.len() == 2 && k.bytes().all(|b| b.is_ascii_uppercase()))
}

fn collect(
    t: &toml::Table,
    path: &mut Vec<(String, Option<usize>)>,
    name: &str,
    out: &mut Vec<Site>,
    keys: &mut Keys,
) {
    let map = !name.is_empty() && keyed_by_country(t);
    if map {
        keys.maps.insert(name.to_string());
    }
    for (k, v) in t {
        let child = join(name, if map { ISO } else { k });
        match v {
            toml::Value::Table(sub) => {
                path.push((k.clone(), None));
                out.push(Site {
                    path: path.clone(),
                    name: child.clone(),
                });
                collect(sub, path, &child, out, keys);
                path.pop();
            }
            toml::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let toml::Value::Table(sub) = item {
                        path.push((k.clone(), Some(i)));
                        out.push(Site {
                            path: path.clone(),
                            name: child.clone(),
                        });
                        collect(sub, path, &child, out, keys);
                        path.pop();
                    }
                }
            }
            // A country's value in a table keyed by country (`caps = { MA = 20 }`).
            _ if map => {
                keys.keys.insert(child);
            }
            _ => {}
        }
    }
}

/// The fields serde lists for the table at `site` when it meets an unknown key there.
fn probe(root: &toml::Table, site: &Site) -> Vec<String> {
    let mut probed = root.clone();
    let mut at = &mut probed;
    for (k, index) in &site.path {
        let next = match (at.get_mut(k), index) {
            (Some(toml::Value::Table(t)), None) => Some(t),
            (Some(toml::Value::Array(a)), Some(i)) => a.get_mut(*i).and_then(|v| v.as_table_mut()),
            _ => None,
        };
        let Some(next) = next else { return Vec::new() };
        at = next;
    }
    if keyed_by_country(at) {
        return Vec::new();
    }
    at.insert(PROBE.into(), toml::Value::Integer(0));
    let Ok(text) = toml::to_string(&probed) else {
        return Vec::new();
    };
    let Err(e) = Scenario::parse("probe.toml", &text) else {
        return Vec::new();
    };
    let e = e.to_string();
    if let Some(list) = e.split("expected one of ").nth(1) {
        list.split(", ")
            .map(|f| f.trim().trim_matches('`').to_string())
            .filter(|f| !f.is_empty() && f != PROBE)
            .collect()
    } else if let Some(field) = e.split("expected `").nth(1) {
        field
            .split('`')
            .next()
            .map(String::from)
            .into_iter()
            .collect()
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parser_names_its_keys() {
        let keys = accepted();
        for k in [
            "duration",
            "defences.sms.per_ip",
            "defences.sms.preset",
            "defences.sms.conversion.threshold",
            "defences.sms.country_caps.caps.<ISO>",
            "defences.sms.country_caps.tiers.<ISO>",
            "history.daily_sends.<ISO>",
            "legit.rate_per_s",
            "legit.countries.<ISO>.weight",
            "attacker.rate_per_s",
            "attacker.targets.<ISO>",
            "emitter.drop_rate",
        ] {
            assert!(keys.contains(k), "{k} missing from {keys:?}");
        }
        assert!(!keys.iter().any(|k| k.contains(PROBE)));
        assert!(!keys.contains("legit.countries.US.weight"));
        for m in ["legit.countries", "attacker.targets", "history.daily_sends"] {
            assert!(country_maps().contains(m), "{m}: {:?}", country_maps());
        }
    }

    #[test]
    fn keys_are_named_without_positions_or_country_codes() {
        assert_eq!(normalise("attacker.0.rate_per_s"), "attacker.rate_per_s");
        assert_eq!(normalise("attacker.1.targets.MA"), "attacker.targets.<ISO>");
        assert_eq!(
            normalise("legit.countries.US.imessage"),
            "legit.countries.<ISO>.imessage"
        );
        assert!(is_accepted("defences.sms.country_caps.tiers.PK"));
        assert!(is_accepted("legit.countries.US.imessage"));
        assert!(!is_accepted("defences.sms.per_iq"));
        assert!(!is_accepted("legit.countries.US.imessagez"));
    }
}
