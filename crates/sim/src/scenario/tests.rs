use super::*;

pub const MINIMAL: &str = r#"
seed = 1
duration = "1h"
interval = "10m"
flows = ["reverse", "sms"]
[legit]
rate_per_s = 1.0
p_send = 1.0
send_delay_median = "5s"
countries = { US = { weight = 1.0, imessage = 0.5, fallback = "inbound_sms" } }
[emitter]
latency_median = "300ms"
"#;

#[test]
fn minimal_scenario_parses() {
    let s = Scenario::parse("x.toml", MINIMAL).unwrap();
    assert_eq!(s.run.duration, Dur(3_600_000));
    assert_eq!(s.verifier.ttl, Dur(300_000));
    assert!(s.emitter.sign);
}

#[test]
fn durations() {
    assert_eq!(parse_duration("250ms"), Ok(250));
    assert_eq!(parse_duration("1.5h"), Ok(5_400_000));
    assert_eq!(parse_duration("30d"), Ok(2_592_000_000));
    // A plain number is seconds, as on the command line (issue 23).
    assert_eq!(parse_duration("5"), Ok(5_000));
    assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
    assert!(parse_duration("5 minutes").is_err());
    assert!(parse_duration("5y").is_err());
    assert!(parse_duration("999d").is_err());
}

use super::keys::uncommented_template;

/// The keys each section accepts, read from the parser itself: a probe key in a section
/// makes serde list every field it expects there ("expected one of ..."). Sections are
/// named as scenarios/README.md heads them: `legit`, `legit.countries.<ISO>`, `attacker`.
fn accepted_keys() -> BTreeMap<String, std::collections::BTreeSet<String>> {
    fn walk(
        root: &toml::Table,
        path: &mut Vec<(String, bool)>,
        t: &toml::Table,
        out: &mut BTreeMap<String, std::collections::BTreeSet<String>>,
        present: &mut BTreeMap<String, std::collections::BTreeSet<String>>,
    ) {
        let name = path
            .iter()
            .map(|(k, map_key)| {
                if *map_key {
                    "<ISO>".to_string()
                } else {
                    k.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(".");
        // Probe: the same file with one unknown key in this table.
        let mut probed = root.clone();
        let mut at: &mut toml::Table = &mut probed;
        for (k, _) in path.iter() {
            at = match at.get_mut(k.trim_end_matches(|c: char| c.is_ascii_digit() || c == '#')) {
                Some(toml::Value::Table(t)) => t,
                Some(toml::Value::Array(a)) => {
                    let i: usize = k
                        .rsplit('#')
                        .next()
                        .and_then(|i| i.parse().ok())
                        .unwrap_or(0);
                    a[i].as_table_mut().expect("arrays of tables")
                }
                _ => unreachable!("walked from this table"),
            };
        }
        at.insert("zz_probe".into(), toml::Value::Integer(0));
        let e = Scenario::parse("probe.toml", &toml::to_string(&probed).unwrap())
            .unwrap_err()
            .to_string();
        if let Some(list) = e.split("expected one of ").nth(1) {
            let fields = list
                .split(", ")
                .map(|f| f.trim().trim_matches('`').to_string());
            out.entry(name.clone()).or_default().extend(fields);
        } else if let Some(field) = e.split("expected `").nth(1) {
            out.entry(name.clone())
                .or_default()
                .insert(field.split('`').next().unwrap().into());
        }
        for (k, v) in t {
            present.entry(name.clone()).or_default().insert(k.clone());
            let map_key = name.ends_with("countries") || name.ends_with("targets");
            match v {
                toml::Value::Table(sub) => {
                    path.push((k.clone(), map_key));
                    walk(root, path, sub, out, present);
                    path.pop();
                }
                toml::Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if let toml::Value::Table(sub) = item {
                            path.push((format!("{k}#{i}"), false));
                            walk(root, path, sub, out, present);
                            path.pop();
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let root: toml::Table = uncommented_template().parse().unwrap();
    let (mut out, mut present) = (BTreeMap::new(), BTreeMap::new());
    walk(&root, &mut Vec::new(), &root, &mut out, &mut present);
    // Strip array indexes from section names (every attacker is one section).
    let strip = |m: BTreeMap<String, std::collections::BTreeSet<String>>| {
        let mut r: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
        for (k, v) in m {
            let k = k
                .split('.')
                .map(|p| p.split('#').next().unwrap())
                .collect::<Vec<_>>()
                .join(".");
            r.entry(k).or_default().extend(v);
        }
        r
    };
    let (out, present) = (strip(out), strip(present));
    for (section, keys) in &out {
        let have = present.get(section).cloned().unwrap_or_default();
        let missing: Vec<_> = keys.difference(&have).collect();
        assert!(
            missing.is_empty(),
            "template.toml lacks {section}: {missing:?}"
        );
    }
    out
}

#[test]
fn every_key_the_parser_accepts_is_in_the_template_and_documented() {
    let readme = include_str!("../../../../scenarios/README.md");
    let keys = accepted_keys();
    assert!(
        keys.contains_key("") && keys.contains_key("attacker"),
        "{keys:?}"
    );
    let mut undocumented = Vec::new();
    for (section, fields) in &keys {
        // The README section: from a heading naming it to the next heading.
        let head = if section.is_empty() {
            "Top level".to_string()
        } else if section == "attacker" {
            "`[[attacker]]`".to_string()
        } else if section.contains('<') {
            format!("`{section}`")
        } else {
            format!("`[{section}]`")
        };
        let body: String = readme
            .split("\n#")
            .filter(|part| part.lines().next().is_some_and(|h| h.contains(&head)))
            .collect();
        for f in fields {
            // A key that is a section of its own is documented under its own heading.
            let sub = if section.is_empty() {
                f.clone()
            } else {
                format!("{section}.{f}")
            };
            if keys.contains_key(&sub) || (section.is_empty() && f == "attacker") {
                continue;
            }
            if !body.lines().any(|l| l.starts_with(&format!("| `{f}`"))) {
                undocumented.push(format!("{head} {f}"));
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "scenarios/README.md has no row for: {undocumented:#?}"
    );
}

#[test]
fn the_template_parses_and_so_do_its_commented_examples() {
    let sc = Scenario::parse("template.toml", TEMPLATE).unwrap();
    assert_eq!(sc.run.flows, [Flow::Reverse, Flow::Sms]);
    assert_eq!(sc.attackers.len(), 1);
    assert!(sc.defences.sms.conversion.is_some() && sc.run.store.is_some());
    // The examples must be valid too, each attacker with only its own kind's keys.
    let all = Scenario::parse("template.toml", &uncommented_template()).unwrap();
    let kinds: Vec<_> = all.attackers.iter().map(|a| a.kind().name()).collect();
    assert_eq!(
        kinds,
        [
            "sms_pumping",
            "code_guessing",
            "start_flood",
            "webhook_forgery",
            "replay",
            "reverse_otp_phishing",
            "sim_swap",
            "relay_phishing",
            "spoofed_sender",
            "sms_pumping",
            "start_flood"
        ]
    );
    assert!(all.sms.price_date.is_some() && all.defences.sms.geo_allow.is_some());
    assert!(all.defences.captcha.is_some() && all.carriers.len() == 2);
    let Attack::Pumping(p) = &all.attackers[0].attack else {
        panic!("the first example pumps");
    };
    assert!(p.adapt.is_some() && p.captcha_pass.is_some());
}

fn err(text: &str) -> String {
    Scenario::parse("bad.toml", text).unwrap_err().to_string()
}

/// MINIMAL with `from` replaced by `to`; panics when `from` is not there, so a broken
/// variant can never pass as the valid base.
fn minimal_with(from: &str, to: &str) -> String {
    assert!(MINIMAL.contains(from), "{from:?} is not in MINIMAL");
    MINIMAL.replace(from, to)
}

#[test]
fn unknown_keys_and_bad_values_name_file_line_and_key() {
    let e = err(&minimal_with("p_send = 1.0", "p_send = 1.0\nbogus = 3"));
    assert!(e.starts_with("bad.toml:9:") && e.contains("bogus"), "{e}");
    let e = err(&minimal_with("p_send = 1.0", "p_send = 1.5"));
    assert!(
        e.starts_with("bad.toml:8:") && e.contains("probability"),
        "{e}"
    );
    let e = err(&minimal_with("\"5s\"", "\"5 parsecs\""));
    assert!(e.starts_with("bad.toml:9:") && e.contains("unit"), "{e}");
    let e = err(&minimal_with("US =", "usa ="));
    assert!(e.contains("ISO 3166"), "{e}");
}

#[test]
fn cross_field_errors_name_the_key() {
    let text = format!(
        "{MINIMAL}\n[[attacker]]\nkind = \"code_guessing\"\nstart = \"0s\"\nend = \"1h\"\nshape = \"sustained\"\nrate_per_s = 1.0\ntargets = {{ MA = 1.0 }}\n"
    );
    let e = err(&text);
    assert!(
        e.contains("attacker[1].targets") && e.contains("does not apply"),
        "{e}"
    );
    let text = format!(
        "{MINIMAL}\n[[attacker]]\nkind = \"sms_pumping\"\nstart = \"2h\"\nend = \"1h\"\nshape = \"sustained\"\nrate_per_s = 1.0\ntargets = {{ MA = 1.0 }}\n"
    );
    assert!(err(&text).contains("attacker[1].end"));
}

/// MINIMAL with one `sms_pumping` attacker (sustained, MA) given `keys`, then `tables`.
fn pumping_with(keys: &str, tables: &str) -> String {
    format!(
        "{MINIMAL}\n[[attacker]]\nkind = \"sms_pumping\"\nstart = \"0s\"\nend = \"1h\"\n\
         shape = \"sustained\"\nrate_per_s = 1.0\ntargets = {{ MA = 1.0, KG = 1.0 }}\n\
         {keys}{tables}"
    )
}

/// The error of a variant, which must name the file and `key`.
fn err_at(text: &str, key: &str, why: &str) {
    let e = err(text);
    assert!(
        e.starts_with("bad.toml") && e.contains(key) && e.contains(why),
        "{e}"
    );
}

#[test]
fn the_new_attacker_knobs_parse() {
    let text = pumping_with(
        "sms_per_account = 5\naccounts = 10\nsms_per_number = 2\nranges = 3\n\
         carriers = [\"Inwi\", \"Beeline\"]\nsubmit_codes = 0.4\nsolver = \"human_farm\"\n\
         adapt = { after_blocks = 20, action = \"next_range\" }\n",
        "[[carrier]]\ncountry = \"MA\"\nname = \"Inwi\"\nshare = 0.4\nprice_usd = 0.25\n\
         [[carrier]]\ncountry = \"KG\"\nname = \"Beeline\"\nshare = 0.5\n\
         [defences.captcha]\npass_bot = 0.05\npass_human_farm = 0.9\npass_legit = 0.97\n",
    );
    let s = Scenario::parse("ok.toml", &text).unwrap();
    let Attack::Pumping(a) = &s.attackers[0].attack else {
        panic!("a pumping attacker");
    };
    assert_eq!(
        (a.accounts, a.numbers.ranges, a.numbers.per_number),
        (
            Some(AccountUse {
                sms_per_account: 5,
                accounts: Some(10)
            }),
            3,
            2
        )
    );
    assert_eq!(a.captcha_pass, Some(0.9), "human_farm's pass rate");
    assert_eq!(a.adapt.map(|x| x.action), Some(Adapt::NextRange));
    assert_eq!(a.submit_codes, Some(0.4));
    assert_eq!(
        a.carriers,
        CarrierChoice::Only(vec!["Inwi".into(), "Beeline".into()])
    );
    assert_eq!(s.carriers[0].price_usd, Some(NonNeg(0.25)));
    assert_eq!(
        s.defences.captcha.as_ref().map(|c| c.usd_per_check),
        Some(NonNeg(0.0))
    );
    let ramp = format!(
        "{MINIMAL}\n[[attacker]]\nkind = \"start_flood\"\nstart = \"0s\"\nend = \"1h\"\n\
         shape = \"ramp\"\nramp = [{{ at = \"0h\", per_s = 0.05 }}, {{ at = \"30m\", per_s = 0.3 }}]\n"
    );
    let s = Scenario::parse("ok.toml", &ramp).unwrap();
    let Pace::Ramp(points) = &s.attackers[0].pace else {
        panic!("a ramp");
    };
    assert_eq!(points.len(), 2);
    assert_eq!(s.attackers[0].pace.per_s(), 0.0);
    assert_eq!(s.attackers[0].pace.thinned_peak(), Some(0.3));
}

#[test]
fn attackers_get_their_kinds_defaults_while_parsing() {
    let s = Scenario::parse("ok.toml", &pumping_with("", "")).unwrap();
    let Attack::Pumping(p) = &s.attackers[0].attack else {
        panic!("a pumping attacker");
    };
    assert_eq!(
        p.numbers,
        NumberPlan {
            order: Numbering::Sequential,
            range_size: 10_000,
            ranges: 1,
            per_number: 1
        }
    );
    assert_eq!(p.addresses, Addresses::Rotate { pool: 1, every: 1 });
    assert_eq!(
        (p.captcha_usd, p.revenue_share, p.camouflage),
        (0.0, 0.0, 0.0)
    );
    assert_eq!((p.accounts, p.submit_codes, p.adapt), (None, None, None));
    assert_eq!(
        (p.carriers.clone(), p.captcha_pass),
        (CarrierChoice::Any, None)
    );
    assert_eq!(s.attackers[0].pace, Pace::Sustained { per_s: 1.0 });
    // Low-and-slow draws numbers and addresses at random.
    let slow = pumping_with(
        "ip_pool = 50
",
        "",
    )
    .replace("\"sustained\"", "\"low_and_slow\"");
    let s = Scenario::parse("ok.toml", &slow).unwrap();
    let Attack::Pumping(p) = &s.attackers[0].attack else {
        panic!("a pumping attacker");
    };
    assert_eq!(p.numbers.order, Numbering::Random);
    assert_eq!(p.addresses, Addresses::Random { pool: 50 });
    let kind = |k: &str, keys: &str| {
        let text = format!(
            "{MINIMAL}\n[[attacker]]\nkind = \"{k}\"\nstart = \"0s\"\nend = \"1h\"\n\
             shape = \"burst\"\nburst_on = \"0s\"\nburst_off = \"1m\"\nrate_per_s = 1.0\n{keys}"
        );
        let s = Scenario::parse("ok.toml", &text).unwrap();
        assert_eq!(
            s.attackers[0].pace,
            Pace::Burst {
                per_s: 1.0,
                on_ms: 1,
                off_ms: 60_000
            },
            "a burst is on for 1 ms at least"
        );
        s.attackers[0].attack.clone()
    };
    assert!(matches!(
        kind("code_guessing", ""),
        Attack::Guessing(Guessing {
            sender_accounts: 1,
            candidates_per_message: 1
        })
    ));
    assert!(matches!(
        kind("start_flood", ""),
        Attack::StartFlood(StartFlood { clients: 1 })
    ));
    assert!(matches!(
        kind("replay", "capture_age = \"2s\"\n"),
        Attack::Replay(Replay {
            capture_age_ms: 2_000
        })
    ));
    assert!(matches!(
        kind("reverse_otp_phishing", ""),
        Attack::Phishing(Phishing { success: 0.0 })
    ));
}

#[test]
fn shape_keys_are_refused_on_other_shapes() {
    let with = |shape_keys: &str| {
        format!(
            "{MINIMAL}\n[[attacker]]\nkind = \"start_flood\"\nstart = \"0s\"\nend = \"1h\"\n{shape_keys}"
        )
    };
    let ramp = "ramp = [{ at = \"0s\", per_s = 1.0 }]\n";
    err_at(
        &with(&format!("shape = \"sustained\"\nrate_per_s = 1.0\n{ramp}")),
        "attacker[1].ramp",
        "does not apply to shape sustained",
    );
    err_at(
        &with(&format!("shape = \"ramp\"\nrate_per_s = 1.0\n{ramp}")),
        "attacker[1].rate_per_s",
        "does not apply to shape ramp",
    );
    err_at(&with("shape = \"ramp\"\n"), "attacker[1].ramp", "missing");
    err_at(
        &with(
            "shape = \"ramp\"\nramp = [{ at = \"1h\", per_s = 1.0 }, { at = \"1h\", per_s = 2.0 }]\n",
        ),
        "attacker[1].ramp",
        "increase",
    );
    err_at(
        &with("shape = \"sustained\"\n"),
        "attacker[1].rate_per_s",
        "missing",
    );
    err_at(
        &with("shape = \"diurnal\"\nrate_per_s = 1.0\npeak_hour = 24\n"),
        "attacker[1].peak_hour",
        "[0, 24)",
    );
    err_at(
        &with("shape = \"sustained\"\nrate_per_s = 1.0\namplitude = 0.5\n"),
        "attacker[1].amplitude",
        "does not apply to shape sustained",
    );
    err_at(
        &with("shape = \"sustained\"\nrate_per_s = 1.0\nburst_on = \"1m\"\n"),
        "attacker[1].burst_on",
        "only shape burst uses burst_on",
    );
    // A bad value inside a ramp point names its line.
    let e = err(&with(
        "shape = \"ramp\"\nramp = [{ at = \"soon\", per_s = 1.0 }]\n",
    ));
    assert!(e.starts_with("bad.toml:19:") && e.contains("ramp"), "{e}");
}

#[test]
fn pumping_knobs_are_refused_elsewhere_and_checked_against_each_other() {
    let guessing = format!(
        "{MINIMAL}\n[[attacker]]\nkind = \"code_guessing\"\nstart = \"0s\"\nend = \"1h\"\n\
         shape = \"sustained\"\nrate_per_s = 1.0\n"
    );
    for k in [
        "sms_per_account = 5",
        "accounts = 3",
        "sms_per_number = 2",
        "ranges = 2",
        "carriers = [\"X\"]",
        "submit_codes = 0.5",
        "adapt = { after_blocks = 3, action = \"back_off\", back_off = \"1m\" }",
        "solver = \"bot\"",
    ] {
        let key = k.split(" = ").next().unwrap();
        err_at(
            &format!("{guessing}{k}\n"),
            &format!("attacker[1].{key}"),
            "does not apply to kind code_guessing",
        );
    }
    err_at(
        &pumping_with("accounts = 3\n", ""),
        "attacker[1].accounts",
        "needs sms_per_account",
    );
    err_at(
        &pumping_with("sms_per_number = 0\n", ""),
        "attacker[1].sms_per_number",
        "at least 1",
    );
    err_at(
        &pumping_with("ranges = 600000\n", ""),
        "attacker[1].ranges",
        "do not fit",
    );
    err_at(
        &pumping_with(
            "range_size = 600000000\n",
            "[[carrier]]\ncountry = \"MA\"\nname = \"Inwi\"\nshare = 0.4\n",
        ),
        "attacker[1].range_size",
        "500000000 premium numbers of MA",
    );
    err_at(
        &pumping_with(
            "adapt = { after_blocks = 3, action = \"next_range\" }\n",
            "",
        ),
        "attacker[1].adapt.action",
        "ranges >= 2",
    );
    err_at(
        &pumping_with(
            "adapt = { after_blocks = 3, action = \"next_carrier\" }\n",
            "",
        ),
        "attacker[1].adapt.action",
        "two carriers",
    );
    err_at(
        &pumping_with("adapt = { after_blocks = 3, action = \"back_off\" }\n", ""),
        "attacker[1].adapt.back_off",
        "required",
    );
    err_at(
        &pumping_with(
            "ranges = 2\nadapt = { after_blocks = 3, action = \"next_range\", back_off = \"1m\" }\n",
            "",
        ),
        "attacker[1].adapt.back_off",
        "refused",
    );
    err_at(
        &pumping_with(
            "adapt = { after_blocks = 0, action = \"next_country\" }\n",
            "",
        ),
        "attacker[1].adapt.after_blocks",
        "at least 1",
    );
    err_at(
        &pumping_with("solver = \"bot\"\n", ""),
        "attacker[1].solver",
        "[defences.captcha]",
    );
    let e = err(&pumping_with("solver = \"robot\"\n", ""));
    assert!(e.starts_with("bad.toml:21:") && e.contains("solver"), "{e}");
    err_at(
        &pumping_with(
            "carriers = [\"Inwi\"]\n",
            "[[carrier]]\ncountry = \"MA\"\nname = \"Inwi\"\nshare = 0.4\n",
        ),
        "attacker[1].carriers",
        "target KG has none",
    );
}

#[test]
fn carrier_tables_are_checked() {
    let carrier = |c: &str| pumping_with("", &format!("[[carrier]]\n{c}\n"));
    err_at(
        &carrier("country = \"FR\"\nname = \"Orange\"\nshare = 0.5"),
        "carrier[1].country",
        "neither a legit country nor an attacker target",
    );
    err_at(
        &carrier("country = \"MA\"\nname = \"(other)\"\nshare = 0.5"),
        "carrier[1].name",
        "other than",
    );
    err_at(
        &carrier("country = \"MA\"\nname = \"Inwi\"\nshare = 0.0"),
        "carrier[1].share",
        "positive",
    );
    let two = "country = \"MA\"\nname = \"Inwi\"\nshare = 0.6\n[[carrier]]\ncountry = \"MA\"\n";
    err_at(
        &carrier(&format!("{two}name = \"IAM\"\nshare = 0.6")),
        "carrier[2].share",
        "sum to more than 1",
    );
    err_at(
        &carrier(&format!("{two}name = \"Inwi\"\nshare = 0.1")),
        "carrier[2].name",
        "twice",
    );
    let e = err(&carrier(
        "country = \"MA\"\nname = \"Inwi\"\nshare = 0.5\nprice_usd = -1",
    ));
    assert!(
        e.starts_with("bad.toml:25:") && e.contains("price_usd"),
        "{e}"
    );
}

#[test]
fn every_missing_required_key_is_named_at_once() {
    let text = minimal_with("seed = 1\n", "")
        .replace("p_send = 1.0\n", "")
        .replace("latency_median = \"300ms\"\n", "")
        .replace("weight = 1.0, ", "");
    let e = err(&format!(
        "{text}\n[[attacker]]\nkind = \"replay\"\nstart = \"0s\"\nshape = \"sustained\"\n"
    ));
    // One line each, in file order, at the line of the table that lacks the key; a missing
    // top-level key has no line, so it comes last.
    let why = "required key is missing (scenarios/README.md lists every key)";
    assert_eq!(
        e,
        [
            format!("bad.toml:5: legit.p_send: {why}"),
            format!("bad.toml:8: legit.countries.US.weight: {why}"),
            format!("bad.toml:9: emitter.latency_median: {why}"),
            format!("bad.toml:11: attacker[1].end: {why}"),
            format!("bad.toml:11: attacker[1].rate_per_s: {why}"),
            format!("bad.toml: seed: {why}"),
        ]
        .join("\n")
    );
    let e = err(&minimal_with("seed = 1\n", ""));
    assert!(
        e.starts_with("bad.toml: seed: required key is missing"),
        "{e}"
    );
}

#[test]
fn a_country_typo_is_refused_at_its_line_with_a_suggestion() {
    let e = err(&minimal_with("US =", "UK ="));
    assert_eq!(
        e,
        "bad.toml:10: legit.countries.UK: \"UK\" is not an ISO 3166-1 alpha-2 country code like \
         \"US\"; did you mean GB?"
    );
    let attack = |targets: &str| {
        format!(
            "{MINIMAL}\n[[attacker]]\nkind = \"sms_pumping\"\nstart = \"0s\"\nend = \"1h\"\nshape = \"sustained\"\nrate_per_s = 1.0\ntargets = {{ {targets} }}\n"
        )
    };
    let e = err(&attack("MA = 1.0, ZZ = 1.0"));
    assert!(
        e.starts_with("bad.toml:20: attacker[1].targets.ZZ: \"ZZ\" is not an ISO 3166-1")
            && !e.contains("did you mean"),
        "{e}"
    );
    // Issue 23: the same check on the SMS defences' countries, which blocked every British user.
    let geo = format!("{MINIMAL}[defences.sms]\ngeo_allow = [\"US\", \"UK\"]\n");
    let e = err(&geo);
    assert!(
        e.starts_with("bad.toml:14: defences.sms.geo_allow[2]: \"UK\" is not an ISO 3166-1")
            && e.ends_with("did you mean GB?"),
        "{e}"
    );
    // An assigned code without a price is still refused, by the price check.
    let e = err(&attack("MA = 1.0, AQ = 1.0"));
    assert!(
        e.starts_with("bad.toml:20: attacker[1].targets.AQ: AQ is not in the price table"),
        "{e}"
    );
    assert!(Scenario::parse("ok.toml", &attack("MA = 1.0, GB = 1.0")).is_ok());
}

fn pumping(extra: &str) -> String {
    format!(
        "{MINIMAL}\n[[attacker]]\nkind = \"sms_pumping\"\nstart = \"0s\"\nend = \"1h\"\nrate_per_s = 1.0\ntargets = {{ MA = 1.0 }}\n{extra}\n"
    )
}

#[test]
fn too_many_attackers_is_an_error_not_a_panic() {
    let one = "\n[[attacker]]\nkind = \"webhook_forgery\"\nstart = \"0s\"\nend = \"1h\"\nshape = \"sustained\"\nrate_per_s = 0.001\n";
    let text = format!("{MINIMAL}{}", one.repeat(check::MAX_ATTACKERS + 1));
    let e = err(&text);
    assert!(e.starts_with("bad.toml:14: attacker: at most 65535"), "{e}");
}

#[test]
fn an_attack_past_the_duration_is_an_error() {
    let e = err(&pumping("shape = \"sustained\"").replace("end = \"1h\"", "end = \"2h\""));
    assert_eq!(
        e,
        "bad.toml:17: attacker[1].end: is past the scenario's duration (1h); end the attack by then"
    );
}

#[test]
fn knobs_a_shape_would_ignore_are_errors() {
    let e = err(&pumping(
        "shape = \"low_and_slow\"\nnumbers = \"sequential\"",
    ));
    assert!(
        e.contains("attacker[1].numbers") && e.contains("low_and_slow"),
        "{e}"
    );
    let e = err(&pumping("shape = \"low_and_slow\"\nrotate_every = 3"));
    assert!(e.contains("attacker[1].rotate_every"), "{e}");
    let e = err(&pumping("shape = \"sustained\"\nburst_on = \"1m\""));
    assert!(e.contains("attacker[1].burst_on"), "{e}");
    // What low_and_slow does anyway may be said.
    let ok = pumping("shape = \"low_and_slow\"\nnumbers = \"random\"\nip_pool = 50");
    assert!(Scenario::parse("ok.toml", &ok).is_ok());
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(text in ".{0,400}") {
            let _ = Scenario::parse("fuzz.toml", &text);
        }

        /// Any edit of a valid file parses or fails with an error that names the file.
        #[test]
        fn edits_of_a_valid_file_fail_cleanly(at in 0usize..400, insert in "[a-z_=\\[\\]\"0-9. \n-]{0,12}") {
            let mut text = MINIMAL.to_string();
            let at = text.char_indices().map(|(i, _)| i).nth(at % text.chars().count()).unwrap_or(0);
            text.insert_str(at, &insert);
            if let Err(e) = Scenario::parse("edited.toml", &text) {
                prop_assert!(e.to_string().starts_with("edited.toml"), "{e}");
            }
        }
    }
}

/// The lines and keys of every error of `text`, in the order reported.
fn located(text: &str) -> Vec<(Option<usize>, String)> {
    match Scenario::parse("bad.toml", text) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .into_problems()
            .into_iter()
            .map(|p| (p.line, p.key))
            .collect(),
    }
}

/// Issue 23: five mistakes took five rounds of `run --check`, not in file order.
#[test]
fn every_mistake_of_a_file_is_reported_at_once_in_file_order() {
    // Mistakes a parse finds, among them required keys: a bad duration, an unknown flow, a
    // negative rate, a country typo, a misspelt key (which also leaves its table without
    // the key), a wrong type, a bad probability.
    let text = format!(
        "{MINIMAL}\n[[attacker]]\nkind = \"sms_pumping\"\nstart = \"0s\"\nend = \"1h\"\n\
         shape = \"sustained\"\nrate_per_s = -5\ntargets = {{ MA = 1.0 }}\ncamouflage = 2\n"
    )
    .replace("duration = \"1h\"", "duration = \"5 minutes\"")
    .replace("\"reverse\", \"sms\"", "\"reverse\", \"smss\"")
    .replace("rate_per_s = 1.0", "rate_per_s = -1.0")
    .replace("US = {", "UK = {")
    .replace("latency_median", "latency_mediam");
    let got = located(&text);
    let want: Vec<(Option<usize>, String)> = [
        (3, "duration"),
        (5, "flows[2]"),
        (7, "legit.rate_per_s"),
        (10, "legit.countries.UK"),
        (11, "emitter.latency_median"),
        (12, "emitter.latency_mediam"),
        (19, "attacker[1].rate_per_s"),
        (21, "attacker[1].camouflage"),
    ]
    .into_iter()
    .map(|(l, k)| (Some(l), k.to_string()))
    .collect();
    assert_eq!(got, want);
    let e = err(&text);
    assert!(
        e.contains("bad.toml:12: emitter.latency_mediam: unknown field `latency_mediam` (did you mean `latency_median`?)"),
        "{e}"
    );
    assert!(
        e.contains("bad.toml:3: duration: duration \"5 minutes\""),
        "{e}"
    );
    assert_eq!(e.lines().count(), want.len(), "{e}");

    // Mistakes only the checks of several keys find, with a parse error in an optional key
    // beside them: all at once, each at its key's line.
    let text = format!(
        "{MINIMAL}[verifier]\ncode_len = 3\nbogus = 1\n[defences.sms]\npreset = \"nope\"\n\
         \n[[attacker]]\nkind = \"sms_pumping\"\nstart = \"0s\"\nend = \"2h\"\n\
         shape = \"sustained\"\nrate_per_s = 1.0\ntargets = {{ MA = 1.0, AQ = 1.0 }}\n\
         clients = 3\n"
    );
    let got = located(&text);
    let want: Vec<(Option<usize>, String)> = [
        (14, "verifier.code_len"),
        (15, "verifier.bogus"),
        (17, "defences.sms.preset"),
        (22, "attacker[1].end"),
        (25, "attacker[1].targets.AQ"),
        (26, "attacker[1].clients"),
    ]
    .into_iter()
    .map(|(l, k)| (Some(l), k.to_string()))
    .collect();
    assert_eq!(got, want, "{}", err(&text));
}

#[test]
fn plain_seconds_are_a_duration_in_files_as_on_the_command_line() {
    let s = Scenario::parse(
        "ok.toml",
        &format!("{MINIMAL}[verifier]\nttl = 300\n[sms]\nttl = \"1h30m\"\n"),
    )
    .unwrap();
    assert_eq!(s.verifier.ttl, Dur(300_000));
    assert_eq!(s.sms.ttl, Dur(5_400_000));
    let e = err(&format!("{MINIMAL}[verifier]\nttl = -300\n"));
    assert!(e.starts_with("bad.toml:14: verifier.ttl: "), "{e}");
}

/// Every shipped scenario is clean: no error, so the checks cannot cry wolf.
#[test]
fn every_shipped_scenario_has_no_error() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut n = 0;
    for dir in ["", "threats", "examples", "incidents"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("scenarios directory") {
            let path = entry.expect("directory entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                let c = mo2fa_core::conf::collect::<Scenario>(&text);
                assert!(
                    c.problems.is_empty(),
                    "{}: {:?}",
                    path.display(),
                    c.problems
                );
                if let Err(e) = Scenario::load(&path) {
                    panic!("{e}");
                }
                n += 1;
            }
        }
    }
    assert!(n >= 13, "found {n} scenarios");
}

mod attacker_keys;

mod mixed;
