//! The grouped raw attacker keeps serde's errors: unknown keys, missing keys and bad values
//! inside a group, each at its line.

use super::*;

#[test]
fn an_unknown_attacker_key_is_refused_with_its_line_and_serdes_list() {
    let lines = MINIMAL.lines().count();
    let text = format!(
        "{MINIMAL}[[attacker]]\nkind = \"start_flood\"\nstart = \"0s\"\nend = \"1h\"\n\
         shape = \"sustained\"\nratee_per_s = 1.0\n"
    );
    let e = err(&text);
    let line = lines + 6;
    assert!(
        e.contains(&format!(
            "bad.toml:{line}: attacker[1].ratee_per_s: unknown field `ratee_per_s` \
             (did you mean `rate_per_s`?), expected one of `kind`, `name`, `start`, `end`, \
             `shape`, `rate_per_s`"
        )),
        "{e}"
    );
    // A missing required key of the grouped table is named like any other.
    let text = format!(
        "{MINIMAL}[[attacker]]\nkind = \"start_flood\"\nstart = \"0s\"\nend = \"1h\"\nrate_per_s = 1.0\n"
    );
    assert!(err(&text).contains("attacker[1].shape"), "{}", err(&text));
    // A bad value inside a group keeps its line.
    let text = format!(
        "{MINIMAL}[[attacker]]\nkind = \"sim_swap\"\nstart = \"0s\"\nend = \"1h\"\n\
         shape = \"sustained\"\nrate_per_s = 1.0\nswap_success = 1.5\n"
    );
    assert!(
        err(&text).contains(&format!("bad.toml:{}: attacker[1].swap_success", lines + 7)),
        "{}",
        err(&text)
    );
}
