//! The incident library: every file in scenarios/incidents/ says where it comes from, what
//! it assumes, its history and which figures are inputs and which predicted; its replay as
//! written meets each predicted figure (within 10 %, or inside a documented range), and lands
//! within 10 % of its inputs too (a check of the file's arithmetic, not of the model).
//! docs/incidents.md (written by `mo2fa incidents`) covers every incident and every preset,
//! cold and warm.

use super::run_scenario;
use mo2fa_sim::incidents::{Measured, misses};
use mo2fa_sim::scenario::{Figure, Incident, Scenario};
use std::path::{Path, PathBuf};

fn incident_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/incidents");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_incident_replays_within_ten_percent_of_its_documented_figures() {
    let files = incident_files();
    let names: Vec<_> = files
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    for required in [
        "blackpanda",
        "eknix",
        "healthchecks",
        "k-optional",
        "luma",
        "twitter",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "no {required}.toml in {names:?}"
        );
    }
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        // The header comes first: the source, what it documents, what the file assumes.
        let header: String = text.lines().take_while(|l| l.starts_with('#')).collect();
        for part in [
            "Source",
            "Documented",
            "Assumed",
            "https://",
            "istory",
            "Inputs and predictions",
        ] {
            assert!(
                header.contains(part),
                "{}: the header lacks {part:?}",
                path.display()
            );
        }
        let sc = Scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            sc.money.history.is_some(),
            "{}: states no [history]",
            path.display()
        );
        let inc = sc.criteria.incident.clone().expect("an [incident] section");
        let (sc, o) = run_scenario(sc, None);
        let m = Measured::of(&sc, inc.flow, &o);
        // Inputs held to 10 % too: the file's own arithmetic.
        let all = Incident {
            predicted: vec![
                Figure::Sms,
                Figure::Blocked,
                Figure::BillUsd,
                Figure::UsdPerSms,
                Figure::FirstBlock,
            ]
            .into_iter()
            .filter(|f| inc.gives(*f))
            .collect(),
            ..inc.clone()
        };
        failures.extend(
            misses(&all, &m)
                .into_iter()
                .map(|miss| format!("{}: {miss}", path.display())),
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn docs_incidents_md_covers_every_incident_and_every_preset() {
    let doc = include_str!("../../../../docs/incidents.md");
    for path in incident_files() {
        let sc = Scenario::load(&path).unwrap();
        assert!(
            doc.contains(&format!("## {}", sc.run.description)),
            "docs/incidents.md lacks {}",
            path.display()
        );
    }
    for preset in mo2fa_core::sms_defences::PRESET_NAMES {
        for row in ["cold", "warm"] {
            assert!(
                doc.contains(&format!("| preset {preset}, {row} |")),
                "docs/incidents.md lacks {preset}, {row}"
            );
        }
    }
    assert!(doc.contains("as written, pumping over 1000000 numbers"));
    assert!(doc.contains("as written, pumping over 10000 numbers"));
    assert!(
        doc.contains("| preset twilio_fraud_guard_standard, cold, pumping over 10000 numbers |")
    );
    assert!(
        doc.contains("reverse flow, inbound SMS fallback")
            && doc.contains("reverse flow, outbound SMS fallback")
    );
}

/// Twitter's cut-off ("fraud above 10%", per telco) written as the per-network rule with a
/// 90 % conversion floor: the pumped carriers are cut off for good, the clean ones keep
/// sending, and the day's pumped bill falls by more than four fifths.
#[test]
fn twitters_per_carrier_cut_off_stops_the_pumped_carriers_only() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/incidents/twitter.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let rule = "network_conversion = { window = \"1h\", min_sent = 100, min_conversion = 0.9, block_for = [\"400d\"], permanent_after = 1 }";
    assert!(
        text.contains(&format!("#   {rule}")),
        "the file's header shows the rule this test runs"
    );
    let cut = text.replacen(
        "\n[defences.sms]\n",
        &format!("\n[defences.sms]\n{rule}\n"),
        1,
    );
    assert_ne!(cut, text);
    let before = run_scenario(Scenario::parse("twitter.toml", &text).unwrap(), None).1;
    let after = run_scenario(Scenario::parse("twitter.toml", &cut).unwrap(), None).1;
    let bill = |o: &mo2fa_sim::engine::Outcome| o.costs.sms.as_ref().unwrap().pumped_sms_usd;
    assert!(
        bill(&after) < 0.2 * bill(&before),
        "{} vs {}",
        bill(&after),
        bill(&before)
    );
    for c in &after.counts.carriers {
        if c.name == "small" {
            assert!(
                c.blocked_smsflow > 0,
                "{} {} is pumped: cut off",
                c.iso,
                c.name
            );
        } else if ["large", "medium"].contains(&c.name.as_str()) {
            assert_eq!(
                c.blocked_smsflow, 0,
                "{} {} is clean: never cut off",
                c.iso, c.name
            );
            assert!(
                c.sms_legit_smsflow > 10_000,
                "{} {} keeps sending",
                c.iso,
                c.name
            );
        }
    }
}

/// `[incident] app_log_retention`: the app's own log, read at the run's end, holds the pumped
/// SMS of the last `app_log_retention` only (Blackpanda's "less than half": a log rotation,
/// not a billing gap). A steady attack over a day and a 6 h log: about a quarter; a log that
/// keeps longer than the run: all of them; no retention: no figure.
#[test]
fn the_app_log_holds_the_last_retention_window_of_pumped_sms() {
    let text = |retention: &str| {
        format!(
            "seed = 3\nduration = \"1d\"\ninterval = \"1h\"\nflows = [\"sms\"]\n\
             [incident]\nsource = \"https://example.com\"\nsms = 43200\n{retention}\n\
             [legit]\nrate_per_s = 0.01\np_send = 0.9\nsend_delay_median = \"20s\"\n\
             countries.US = {{ weight = 1.0, imessage = 0.5, fallback = \"inbound_sms\" }}\n\
             [emitter]\nlatency_median = \"400ms\"\n\
             [[attacker]]\nkind = \"sms_pumping\"\nstart = \"0s\"\nend = \"1d\"\n\
             shape = \"sustained\"\nrate_per_s = 0.5\ntargets = {{ UZ = 1.0 }}\n\
             numbers = \"random\"\n"
        )
    };
    let logged = |retention: &str| {
        let sc = Scenario::parse("log.toml", &text(retention)).unwrap();
        let (sc, o) = run_scenario(sc, None);
        let m = Measured::of(&sc, mo2fa_sim::scenario::Flow::Sms, &o);
        (m.app_logged, m.pumped_sms)
    };
    let (six_hours, pumped) = logged("app_log_retention = \"6h\"");
    let share = six_hours.unwrap() as f64 / pumped as f64;
    assert!(
        (0.23..0.27).contains(&share),
        "a 6 h log of a steady day holds a quarter: {share:.3}"
    );
    assert_eq!(
        logged("app_log_retention = \"2d\"").0,
        Some(pumped),
        "longer than the run"
    );
    assert_eq!(logged("").0, None);
}
