//! A short soak through the real binary: every flow that sent its code verifies exactly once,
//! redeliveries and second messages change nothing, memory stays within its bound.

use std::process::Command;

#[test]
fn five_second_soak_holds_its_invariants() {
    let out = Command::new(env!("CARGO_BIN_EXE_mo2fa"))
        .args([
            "soak",
            "--duration",
            "5s",
            "--rate",
            "300",
            "--ttl",
            "2s",
            "--connections",
            "8",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value = |label: &str| -> u64 {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {label:?} in\n{stdout}"))
    };
    let sent = value("sent their code");
    assert!(sent > 800, "{stdout}");
    assert_eq!(value("verified exactly once"), sent);
    assert!(value("provider redeliveries") > 0);
    assert!(value("never sent") > 0);
    assert_eq!(value("invariant violations"), 0);
    // The verdict is the last line, in words.
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.starts_with("PASS: "), "{stdout}");
}
