//! The scenario keys a sweep may set: the simulator's own list
//! (`mo2fa_sim::scenario::keys`, read from its parser), and the closest one to a typo. Nothing
//! here lists or derives keys, so a key added to the parser is a sweep key at once.

use mo2fa_sim::scenario::keys::{accepted, normalise};

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
    if keys.contains(&norm) {
        return Ok(());
    }
    let near = crate::closest(&norm, keys.iter().map(String::as_str)).unwrap_or("(none)");
    Err(format!(
        "unknown scenario key `{key}`: the closest key the scenario parser accepts is `{near}` \
         (scenarios/README.md lists them)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_names_the_closest_key() {
        check("defences.sms.per_ip").unwrap();
        check("attacker.0.rate_per_s").unwrap();
        check("legit.countries.US.imessage").unwrap();
        check("defences.sms.country_caps.caps.MA").unwrap();
        // A table keyed by country that is not called `countries`, `targets` or `caps`.
        check("defences.sms.country_caps.tiers.PK").unwrap();
        check("history.daily_sends.US").unwrap();
        let e = check("defences.sms.per_iq").unwrap_err();
        assert!(
            e.contains("`defences.sms.per_iq`") && e.contains("`defences.sms.per_ip`"),
            "{e}"
        );
        assert!(check("seed").unwrap_err().contains("--seeds"));
    }
}
