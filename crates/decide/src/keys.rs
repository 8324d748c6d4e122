//! The scenario keys the simulator's parser accepts, read from the parser itself: the
//! commented template (`mo2fa_sim::scenario::TEMPLATE`) with every example uncommented holds
//! every section, and a probe key in a section makes serde list every field it expects there
//! (the same reading as the simulator's own template test). Nothing here lists keys by hand,
//! so a key added to the parser is a sweep key at once.

use mo2fa_sim::scenario::{Scenario, TEMPLATE};
use std::collections::BTreeSet;

/// Every accepted key as a dotted path: `defences.sms.per_ip`,
/// `defences.sms.conversion.threshold`, `legit.countries.<ISO>.weight`, `attacker.rate_per_s`
/// (array elements and map keys written as [`normalise`] writes them).
pub fn accepted() -> &'static BTreeSet<String> {
    static KEYS: std::sync::OnceLock<BTreeSet<String>> = std::sync::OnceLock::new();
    KEYS.get_or_init(probe_all)
}

/// `key` as [`accepted`] names it: a list position (`attacker.0.rate_per_s`) dropped, a
/// country or target code written `<ISO>`.
pub fn normalise(key: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in key.split('.') {
        if part.bytes().all(|b| b.is_ascii_digit()) && !part.is_empty() {
            continue;
        }
        if matches!(
            out.last(),
            Some(&"countries") | Some(&"targets") | Some(&"caps")
        ) {
            out.push("<ISO>");
        } else {
            out.push(part);
        }
    }
    out.join(".")
}

/// `Ok` when the parser accepts `key`, else an error naming it and the closest accepted key.
pub fn check(key: &str) -> Result<(), String> {
    if key == "seed" {
        return Err(
            "`seed` cannot be swept: --seeds N runs every setting with the scenario's seed and the \
             N-1 seeds after it".into(),
        );
    }
    let norm = normalise(key);
    let keys = accepted();
    // A key inside a map of countries (`...caps.MA`, `...countries.MA`) is known when the map is.
    let map_entry = norm
        .strip_suffix(".<ISO>")
        .is_some_and(|parent| keys.contains(parent));
    if keys.contains(&norm) || map_entry {
        return Ok(());
    }
    let near = crate::closest(&norm, keys.iter().map(String::as_str)).unwrap_or("(none)");
    Err(format!(
        "unknown scenario key `{key}`: the closest key the scenario parser accepts is `{near}` \
         (scenarios/README.md lists them)"
    ))
}

/// The template with its commented `key = value` lines and section headers uncommented.
fn uncommented_template() -> String {
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

/// One table of the uncommented template: where it is (keys, and array positions) and the
/// name its fields get (positions dropped, map keys as `<ISO>`).
struct Site {
    path: Vec<(String, Option<usize>)>,
}

fn probe_all() -> BTreeSet<String> {
    let Ok(root) = uncommented_template().parse::<toml::Table>() else {
        return BTreeSet::new();
    };
    let mut sites = vec![Site { path: Vec::new() }];
    collect(&root, &mut Vec::new(), &mut sites);
    let mut keys = BTreeSet::new();
    for site in &sites {
        let prefix = normalise(
            &site
                .path
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join("."),
        );
        for field in probe(&root, site) {
            keys.insert(if prefix.is_empty() {
                field
            } else {
                format!("{prefix}.{field}")
            });
        }
    }
    keys
}

fn collect(t: &toml::Table, path: &mut Vec<(String, Option<usize>)>, out: &mut Vec<Site>) {
    for (k, v) in t {
        match v {
            toml::Value::Table(sub) => {
                path.push((k.clone(), None));
                out.push(Site { path: path.clone() });
                collect(sub, path, out);
                path.pop();
            }
            toml::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let toml::Value::Table(sub) = item {
                        path.push((k.clone(), Some(i)));
                        out.push(Site { path: path.clone() });
                        collect(sub, path, out);
                        path.pop();
                    }
                }
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
    at.insert("zz_probe".into(), toml::Value::Integer(0));
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
            .filter(|f| !f.is_empty())
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
    fn the_parser_names_the_keys_a_sweep_can_set() {
        let keys = accepted();
        for k in [
            "duration",
            "defences.sms.per_ip",
            "defences.sms.preset",
            "defences.sms.conversion.threshold",
            "legit.rate_per_s",
            "legit.countries.<ISO>.weight",
            "attacker.rate_per_s",
            "emitter.drop_rate",
        ] {
            assert!(keys.contains(k), "{k} missing from {keys:?}");
        }
        assert!(!keys.contains("defences.sms.zz_probe"));
    }

    #[test]
    fn a_typo_names_the_closest_key() {
        check("defences.sms.per_ip").unwrap();
        check("attacker.0.rate_per_s").unwrap();
        check("legit.countries.US.imessage").unwrap();
        let e = check("defences.sms.per_iq").unwrap_err();
        assert!(
            e.contains("`defences.sms.per_iq`") && e.contains("`defences.sms.per_ip`"),
            "{e}"
        );
        assert!(check("seed").unwrap_err().contains("--seeds"));
    }
}
