//! `mo2fa bench http` end to end at a small fixed rate: every request answered, table printed.

use std::process::Command;

#[test]
fn bench_http_at_a_fixed_rate() {
    let out = Command::new(env!("CARGO_BIN_EXE_mo2fa"))
        .args([
            "bench",
            "http",
            "--endpoint",
            "webhook",
            "--endpoint",
            "status",
        ])
        .args(["--rate", "500", "--duration", "1", "--connections", "4"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for endpoint in ["webhook", "status"] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(endpoint))
            .unwrap_or_else(|| panic!("no {endpoint} row in\n{stdout}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[2], "500", "offered: {row}");
        assert_eq!(cols[3], "500", "achieved: {row}");
        assert_eq!(cols.last(), Some(&"0"), "errors: {row}");
    }
}

#[test]
fn bench_http_rejects_bad_options() {
    let out = Command::new(env!("CARGO_BIN_EXE_mo2fa"))
        .args(["bench", "http", "--fraction", "1.5"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--fraction"));
}
