use super::*;
use crate::conf::{Dur, Iso, NonNeg, Prob};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Root {
    seed: u64,
    wait: Dur,
    part: Part,
    #[serde(default)]
    item: Vec<Item>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Part {
    rate: NonNeg,
    p: Prob,
    countries: BTreeMap<Iso, NonNeg>,
    #[serde(default)]
    allow: Vec<Iso>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Item {
    kind: String,
    #[serde(default)]
    n: u32,
}

const GOOD: &str = "seed = 1
wait = \"5m\"
[part]
rate = 1.0
p = 0.5
countries = { US = 1.0, GB = 2.0 }
allow = [\"US\"]
[[item]]
kind = \"a\"
[[item]]
kind = \"b\"
n = 3
";

fn lines(c: &Collected<Root>) -> Vec<(Option<usize>, String)> {
    c.problems.iter().map(|p| (p.line, p.key.clone())).collect()
}

#[test]
fn a_clean_file_has_no_problems_and_knows_its_lines() {
    let c = collect::<Root>(GOOD);
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert!(c.value.is_some() && !c.renumbered && c.removed.is_empty());
    assert_eq!(c.keys.line("part.countries.GB"), Some(6));
    assert_eq!(c.keys.line("item[2].n"), Some(12));
    // An absent key points at its table.
    assert_eq!(c.keys.line("item[2].missing"), Some(10));
    assert_eq!(c.keys.line("nowhere"), None);
}

#[test]
fn every_error_is_found_at_once_in_file_order() {
    let bad = GOOD
        .replace("wait = \"5m\"", "wait = \"5 minutes\"")
        .replace("rate = 1.0", "rate = -2")
        .replace("GB = 2.0", "UK = 2.0")
        .replace("allow = [\"US\"]", "allow = [\"US\", \"XX\"]\nbogus = 1")
        .replace("n = 3", "n = \"three\"\nkindd = 2");
    let c = collect::<Root>(&bad);
    assert_eq!(
        lines(&c),
        [
            (Some(2), "wait".to_string()),
            (Some(4), "part.rate".into()),
            (Some(6), "part.countries.UK".into()),
            (Some(7), "part.allow[2]".into()),
            (Some(8), "part.bogus".into()),
            (Some(13), "item[2].n".into()),
            (Some(14), "item[2].kindd".into()),
        ],
        "{:#?}",
        c.problems
    );
    let kindd = &c.problems[6].message;
    assert!(kindd.contains("did you mean `kind`?"), "{kindd}");
    assert!(c.problems[2].message.contains("did you mean GB?"));
    // `wait` is required: a stand-in keeps the rest whole for the checks of several keys,
    // which leave out what read `wait` or the other keys that failed.
    let v = c.value.as_ref().expect("the rest parsed");
    assert_eq!(v.item.len(), 2);
    assert_eq!(v.part.allow.len(), 2, "the bad code's place is kept");
    for key in ["wait", "part.rate", "part.allow[2]", "item[2].n"] {
        assert!(c.touches_removed(key), "{key}");
    }
    assert!(!c.touches_removed("seed") && !c.touches_removed("part.allow[1]"));
}

/// Issue 23 item 6: a second bad code in the same array showed only on the next round.
#[test]
fn every_bad_element_of_an_array_is_reported_at_its_line() {
    let bad = GOOD.replace(
        "allow = [\"US\"]",
        "allow = [\n  \"UK\",\n  \"US\",\n  \"XX\", \"gb\",\n]",
    );
    let c = collect::<Root>(&bad);
    assert_eq!(
        lines(&c),
        [
            (Some(8), "part.allow[1]".to_string()),
            (Some(10), "part.allow[3]".into()),
            (Some(10), "part.allow[4]".into()),
        ],
        "{:#?}",
        c.problems
    );
    assert!(c.problems[0].message.ends_with("did you mean GB?"));
    assert!(c.problems[2].message.contains("\"gb\""));
    let v = c.value.expect("the rest parsed");
    assert_eq!(v.part.allow.len(), 4, "indexes stay the file's");
    assert!(!c.renumbered);
    // With no good element left the array goes (it is optional here).
    let c = collect::<Root>(&GOOD.replace("allow = [\"US\"]", "allow = [\"UK\", \"XX\"]"));
    assert_eq!(lines(&c).len(), 2, "{:#?}", c.problems);
    assert!(c.value.as_ref().is_some_and(|v| v.part.allow.is_empty()));
    assert!(c.touches_removed("part.allow"));
}

/// A required key that fails, or is missing, gets a stand-in, so its table (and the file)
/// stays whole for the checks of several keys; only the key itself counts as failed.
#[test]
fn required_keys_that_fail_or_are_missing_get_stand_ins() {
    let bad = GOOD
        .replace("seed = 1", "seed = -1")
        .replace("kind = \"a\"", "kind = 1")
        .replace("p = 0.5\n", "");
    let c = collect::<Root>(&bad);
    assert_eq!(
        lines(&c),
        [
            (Some(1), "seed".to_string()),
            (Some(3), "part.p".into()),
            (Some(8), "item[1].kind".into()),
        ],
        "{:#?}",
        c.problems
    );
    let v = c.value.as_ref().expect("whole");
    assert_eq!((v.item.len(), v.item[1].n), (2, 3));
    assert!(!c.renumbered);
    assert!(c.touches_removed("item[1].kind") && !c.touches_removed("item[2].kind"));
    // A whole missing table is said once, and stood in for key by key.
    let text = GOOD.replace("[part]\nrate = 1.0\np = 0.5\n", "[part]\n");
    let no_part = text.replace("[part]\n", "[other]\n");
    let c = collect::<Root>(&GOOD[..GOOD.find("[part]").unwrap()]);
    assert_eq!(lines(&c), [(None, "part".to_string())], "{:#?}", c.problems);
    assert!(c.value.is_some());
    let c = collect::<Root>(&no_part);
    assert!(
        c.problems.iter().any(|p| p.key == "part"),
        "{:#?}",
        c.problems
    );
}

#[test]
fn an_optional_key_that_fails_leaves_the_rest_parsed() {
    let c = collect::<Root>(&GOOD.replace("n = 3", "n = -3"));
    assert_eq!(lines(&c), [(Some(12), "item[2].n".to_string())]);
    assert!(c.value.is_some());
    assert!(c.touches_removed("item[2]") && c.touches_removed("item[2].n"));
    assert!(!c.touches_removed("item[1].n"));
}

#[test]
fn missing_keys_are_named_with_their_table_once() {
    let c = collect::<Root>(&GOOD.replace("p = 0.5\n", "").replace("kind = \"a\"\n", ""));
    assert_eq!(
        lines(&c),
        [
            (Some(3), "part.p".to_string()),
            (Some(7), "item[1].kind".into())
        ],
        "{:#?}",
        c.problems
    );
    assert_eq!(c.problems[0].message, "required key is missing");
}

#[test]
fn syntax_errors_have_lines() {
    let c = collect::<Root>("seed = 1\nwait = \n");
    assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
    assert_eq!(c.problems[0].line, Some(2));
}

#[test]
fn durations_in_files_read_as_on_the_command_line() {
    #[derive(Deserialize)]
    struct D {
        a: Dur,
        b: Dur,
        c: Dur,
        d: Dur,
    }
    let d: D = toml::from_str("a = 300\nb = \"300\"\nc = \"1h30m\"\nd = 1.5").unwrap();
    assert_eq!(
        [d.a, d.b, d.c, d.d],
        [Dur(300_000), Dur(300_000), Dur(5_400_000), Dur(1_500)]
    );
    let c = collect::<Root>(&GOOD.replace("wait = \"5m\"", "wait = -300"));
    assert_eq!(lines(&c), [(Some(2), "wait".to_string())]);
}

#[test]
fn the_closest_key_is_suggested_only_when_close() {
    assert_eq!(
        closest("peak_factr", &["peak_factor", "seed"]),
        Some("peak_factor")
    );
    assert_eq!(closest("zz_probe", &["peak_factor", "seed"]), None);
    assert_eq!(
        with_suggestion("unknown field `kindd`, expected `kind` or `n`"),
        "unknown field `kindd` (did you mean `kind`?), expected `kind` or `n`"
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Mistakes on distinct lines of a valid file are all found, each at its line.
        #[test]
        fn each_mistake_is_found_at_its_line(picks in proptest::sample::subsequence(
            vec![0usize, 1, 2, 3, 4, 5, 6, 7, 8], 1..=9)) {
            // (the lines it errs on, the line's text, a wrong version of it)
            let edits: [(&[usize], &str, &str); 9] = [
                (&[1], "seed = 1", "seed = -1"),
                (&[2], "wait = \"5m\"", "wait = \"5 min\""),
                (&[4], "rate = 1.0", "rate = \"fast\""),
                (&[5], "p = 0.5", "p = 1.5"),
                // Two bad codes, and a good one between them.
                (&[6, 6], "GB = 2.0", "UK = 2.0, GB = 2.0, XX = 1.0"),
                (&[7, 7], "allow = [\"US\"]", "allow = [\"uk\", \"US\", \"XX\"]"),
                (&[9], "kind = \"a\"", "kind = 1"),
                (&[11], "kind = \"b\"", "kinb = \"b\""),
                (&[12], "n = 3", "nn = 3"),
            ];
            let mut text = GOOD.to_string();
            for &i in &picks {
                let (_, from, to) = edits[i];
                prop_assert!(text.contains(from));
                text = text.replacen(from, to, 1);
            }
            let c = collect::<Root>(&text);
            let got: Vec<Option<usize>> = c.problems.iter().map(|p| p.line).collect();
            let mut want: Vec<Option<usize>> =
                picks.iter().flat_map(|&i| edits[i].0.iter().map(|l| Some(*l))).collect();
            // `kinb` is unknown and leaves item[2] without its required `kind`, said at the
            // table's line.
            if picks.contains(&7) {
                want.insert(want.iter().position(|l| *l == Some(11)).unwrap_or(0), Some(10));
            }
            prop_assert_eq!(got, want, "{:#?}", c.problems);
            // Every mistake is in a key, so the rest is always whole for the checks.
            prop_assert!(c.value.is_some() && !c.renumbered);
        }

        #[test]
        fn never_panics(text in ".{0,300}") {
            let _ = collect::<Root>(&text);
        }
    }
}

/// `serve --sms-defences FILE`: every error at once, in file order, with its line, and the
/// check of the merged rules at the line of its key.
#[test]
fn a_defences_file_reports_every_error_at_once() {
    use crate::sms_defences::SmsDefences;
    let text = "geo_allow = [\"US\", \"UK\"]\nper_number = -1\nwindow = \"1 hour\"\n\
                detection_lag = 600\nper_ipp = 3\n";
    let e = SmsDefences::parse("d.toml", text).unwrap_err();
    let got: Vec<(Option<usize>, String)> = e
        .into_problems()
        .into_iter()
        .map(|p| (p.line, p.key))
        .collect();
    assert_eq!(
        got,
        [
            (Some(1), "geo_allow[2]".to_string()),
            (Some(2), "per_number".into()),
            (Some(3), "window".into()),
            (Some(5), "per_ipp".into()),
        ]
    );
    let e = SmsDefences::parse("d.toml", "per_ip = 3\n\npreset = \"nope\"\n").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("d.toml:3: preset: unknown preset \"nope\""),
        "{e}"
    );
    // The checks of the merged rules, all at once (they stopped at the first), beside the
    // parse's errors, each at its key's line.
    let text = "max_keys = 0\nper_ip = \"many\"\nwindow = \"0s\"\n\
                known_bad_ranges = [\"998\", \"+7\", \"x\"]\n\
                [backoff]\nbase = \"1h\"\nmax = \"1m\"\n[[limit]]\non = \"number\"\n\
                max = 3\nwindow = 0\n";
    let e = SmsDefences::parse("d.toml", text).unwrap_err();
    assert_eq!(
        e.to_string(),
        "d.toml:1: max_keys: must be at least 1\n\
         d.toml:2: per_ip: invalid type: string \"many\", expected u32\n\
         d.toml:3: window: must be positive\n\
         d.toml:4: known_bad_ranges[2]: must be 1 to 15 digits (E.164, no +)\n\
         d.toml:4: known_bad_ranges[3]: must be 1 to 15 digits (E.164, no +)\n\
         d.toml:6: backoff.base: must not exceed backoff.max\n\
         d.toml:11: limit[1].window: must be positive"
    );
    let d = SmsDefences::parse("d.toml", "window = 600\ndetection_lag = \"1h30m\"\n").unwrap();
    assert_eq!(d.window, Some(Dur(600_000)));
    assert_eq!(d.detection_lag, Some(Dur(5_400_000)));
}
