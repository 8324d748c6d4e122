//! `mo2fa incidents --check` end to end: a short table on stdout, the Markdown in a file.

use std::process::Command;

#[test]
fn check_prints_one_line_per_incident_and_writes_the_markdown() {
    let dir = std::env::temp_dir().join(format!("mo2fa-incidents-{}", std::process::id()));
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
        lines[1].starts_with("scenarios/incidents/eknix.toml") && lines[1].ends_with("OK (±10 %)"),
        "{stdout}"
    );
    assert_eq!(lines[2], format!("wrote {}", md.display()));
    assert!(!stdout.contains("## "), "no Markdown on stdout: {stdout}");
    let doc = std::fs::read_to_string(&md).unwrap();
    assert!(
        doc.starts_with("# Incidents") && doc.contains("## Eknix"),
        "{doc}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
