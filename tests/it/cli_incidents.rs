//! `mo2fa incidents --check` end to end: a short table on stdout, the Markdown in a file.

use std::process::Command;

#[test]
fn check_prints_one_line_per_incident_and_writes_the_markdown() {
    let dir = crate::common::scratch("incidents");
    let md = dir.join("check.md");
    let o = Command::new(env!("CARGO_BIN_EXE_mo2fa"))
        .args([
            "incidents",
            "--check",
            "scenarios/incidents/eknix.toml",
            "--out",
        ])
        .arg(&md)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    // A header, one line for the incident, where the Markdown went.
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("incident") && lines[0].contains("pumped SMS"));
    assert!(
        lines[1].starts_with("scenarios/incidents/eknix.toml")
            && lines[1].ends_with("OK (predicted figures met)"),
        "{stdout}"
    );
    assert_eq!(lines[2], format!("wrote {}", md.display()));
    // Off a terminal (stderr is a pipe here), progress is a plain line, not a hidden bar.
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.lines().any(|l| l == "incidents: 1/1 runs"),
        "{stderr}"
    );
    assert!(!stdout.contains("## "), "no Markdown on stdout: {stdout}");
    let doc = std::fs::read_to_string(&md).unwrap();
    assert!(
        doc.starts_with("# Incidents") && doc.contains("## Eknix"),
        "{doc}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Any scenario, without `[incident]`: the table of variants, no documented-figure check.
#[test]
fn a_scenario_without_an_incident_section_gets_the_table() {
    let dir = crate::common::scratch("incidents-own");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("own.toml");
    std::fs::write(
        &file,
        "seed = 3\nduration = \"1h\"\ninterval = \"30m\"\nflows = [\"sms\"]\n\
         [legit]\nrate_per_s = 0.05\np_send = 0.9\nsend_delay_median = \"10s\"\n\
         countries.US = { weight = 1.0, fallback = \"inbound_sms\" }\n\
         [emitter]\nlatency_median = \"300ms\"\n\
         [[attacker]]\nkind = \"sms_pumping\"\nstart = \"10m\"\nend = \"50m\"\n\
         shape = \"sustained\"\nrate_per_s = 0.2\ntargets = { LY = 1.0 }\nnumbers = \"random\"\n",
    )
    .unwrap();
    let md = dir.join("own.md");
    let o = Command::new(env!("CARGO_BIN_EXE_mo2fa"))
        .arg("incidents")
        .arg(&file)
        .arg("--out")
        .arg(&md)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // Every variant is a run: a plain progress line at least every tenth of them, the last
    // one at the total.
    let stderr = String::from_utf8_lossy(&o.stderr);
    let progress: Vec<(u32, u32)> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("incidents: ")?.strip_suffix(" runs"))
        .filter_map(|l| l.split_once('/'))
        .map(|(n, t)| (n.parse().unwrap(), t.parse().unwrap()))
        .collect();
    let total = progress.last().map_or(0, |p| p.1);
    assert!(total > 10 && progress.len() >= 10, "{stderr}");
    assert_eq!(progress.last(), Some(&(total, total)), "{stderr}");
    assert!(progress.windows(2).all(|w| w[0].0 < w[1].0), "{stderr}");
    let doc = std::fs::read_to_string(&md).unwrap();
    assert!(doc.contains("No `[incident]` section"), "{doc}");
    assert!(
        doc.contains("| preset twilio_fraud_guard_standard, cold |")
            && doc.contains("| preset twilio_fraud_guard_standard, warm |")
            && doc.contains("| as written, pumping over 1000000 numbers |"),
        "{doc}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
