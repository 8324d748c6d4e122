//! Issue 23 item 6: one round of `run --check` shows every mistake of a file, of every kind
//! (parse, semantic, several bad codes in one array, defences, billing, checks of several
//! keys), in file order; a check is left out only when a key it reads failed.

use super::{MINIMAL, err, located};
use crate::scenario::Scenario;

/// A scenario with every kind of check on a valid line each: what `mixed_mistakes` edits.
fn mixed_base() -> String {
    format!(
        "{MINIMAL}[verifier]\ncode_len = 6\n[defences.sms]\ngeo_allow = [\"US\", \"GB\"]\n\
         max_keys = 100\nknown_bad_ranges = [\"4477\"]\n[billing]\nbalance = {{ start_usd = 100.0, \
         recharge_below_usd = 10.0, recharge_usd = 20.0, card_daily_limit_usd = 100.0 }}\n\
         [[attacker]]\nkind = \"sms_pumping\"\nstart = \"0s\"\n\
         end = \"1h\"\nshape = \"sustained\"\nrate_per_s = 1.0\ntargets = {{ MA = 1.0 }}\n"
    )
}

/// Mistakes of every kind, one line each (none moves another's line): the line's text, a
/// wrong version, the `(line, key)`s reported, and the mistake whose key the check reads (its
/// error is then left out: it would judge a stand-in).
/// A line's text, its wrong version, the `(line, key)`s reported, the mistake whose key the
/// check reads.
type Mistake = (
    &'static str,
    &'static str,
    &'static [(usize, &'static str)],
    Option<usize>,
);

const MIXED: [Mistake; 11] = [
    // A value that does not parse, in a required key.
    (
        "duration = \"1h\"",
        "duration = \"5 minutes\"",
        &[(3, "duration")],
        None,
    ),
    // A misspelt key, which leaves its table without a required one.
    (
        "p_send = 1.0",
        "p_sned = 1.0",
        &[(6, "legit.p_send"), (8, "legit.p_sned")],
        None,
    ),
    // A country typo.
    ("US = {", "UK = {", &[(10, "legit.countries.UK")], None),
    // A check of one key after parsing.
    (
        "code_len = 6",
        "code_len = 3",
        &[(14, "verifier.code_len")],
        None,
    ),
    // Several bad codes in one array.
    (
        "geo_allow = [\"US\", \"GB\"]",
        "geo_allow = [\"UK\", \"US\", \"XX\"]",
        &[
            (16, "defences.sms.geo_allow[1]"),
            (16, "defences.sms.geo_allow[3]"),
        ],
        None,
    ),
    // Two checks of the merged defences.
    (
        "max_keys = 100",
        "max_keys = 0",
        &[(17, "defences.sms.max_keys")],
        None,
    ),
    (
        "known_bad_ranges = [\"4477\"]",
        "known_bad_ranges = [\"+44\"]",
        &[(18, "defences.sms.known_bad_ranges[1]")],
        None,
    ),
    // A billing range.
    (
        "recharge_usd = 20.0,",
        "recharge_usd = 0.0,",
        &[(20, "billing.balance.recharge_usd")],
        None,
    ),
    // A required key of an attacker that does not parse: the attacker stays for the checks.
    (
        "shape = \"sustained\"",
        "shape = \"sustaned\"",
        &[(25, "attacker[1].shape")],
        None,
    ),
    // Checks of several keys: the attack past the duration (which reads `duration`), a key
    // the kind does not take.
    (
        "end = \"1h\"",
        "end = \"2h\"",
        &[(24, "attacker[1].end")],
        Some(0),
    ),
    (
        "targets = { MA = 1.0 }",
        "targets = { MA = 1.0 }\nclients = 3",
        &[(28, "attacker[1].clients")],
        None,
    ),
];

/// `mixed_base` with the mistakes `picks` (indexes into [`MIXED`], increasing), and what it
/// must report, in file order.
fn mixed_mistakes(picks: &[usize]) -> (String, Vec<(Option<usize>, String)>) {
    let mut text = mixed_base();
    let mut want = Vec::new();
    for &i in picks {
        let (from, to, found, unless) = MIXED[i];
        assert!(text.contains(from), "{from:?}");
        text = text.replacen(from, to, 1);
        if unless.is_none_or(|u| !picks.contains(&u)) {
            want.extend(found.iter().map(|(l, k)| (Some(*l), (*k).to_string())));
        }
    }
    want.sort_by_key(|(l, _)| *l);
    (text, want)
}

/// Issue 23 item 6: one round shows every mistake of a file, of every kind, in file order.
#[test]
fn mistakes_of_every_kind_are_reported_in_one_round() {
    assert!(Scenario::parse("ok.toml", &mixed_base()).is_ok());
    let all: Vec<usize> = (0..MIXED.len()).collect();
    let (text, mut want) = mixed_mistakes(&all);
    // Every mistake but the attack's end, which is judged against a duration that failed.
    assert_eq!(want.len(), 12);
    assert_eq!(located(&text), want, "{}", err(&text));
    // With the duration right, the end is judged too.
    let (text, _) = mixed_mistakes(&all[1..]);
    want.retain(|(_, k)| k != "duration");
    want.insert(want.len() - 1, (Some(24), "attacker[1].end".into()));
    want.sort_by_key(|(l, _)| *l);
    assert_eq!(located(&text), want, "{}", err(&text));
    let e = err(&text);
    assert!(
        e.contains("bad.toml:16: defences.sms.geo_allow[3]: \"XX\" is not an ISO 3166-1"),
        "{e}"
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Any subset of the mistakes is reported in one round, each at its line, in file
        /// order; only a check whose input failed is left out.
        #[test]
        fn any_subset_of_mistakes_is_reported_at_once(picks in proptest::sample::subsequence(
            (0..MIXED.len()).collect::<Vec<_>>(), 1..=MIXED.len())) {
            let (text, want) = mixed_mistakes(&picks);
            prop_assert_eq!(located(&text), want, "{}", err(&text));
        }
    }
}
