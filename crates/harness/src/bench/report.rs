//! What a bench run reports: the printed table, `bench.json` (the rows, every search step, and
//! where, when and from which commit the run was made).

use super::search::{
    BISECT_RESOLUTION, FAILURES_TO_STOP, KEPT_UP, P99_LIMIT_MS, Search, describe_spread,
};
use super::{BenchOptions, Endpoint, Row, Server};
use crate::server::Runtime;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where and when a run was made, for `bench.json`.
pub fn provenance() -> serde_json::Value {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    serde_json::json!({
        "timestamp": mo2fa_core::timefmt::rfc3339_ms(now_ms),
        "git_commit": git_commit(),
        "host": host_name(),
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
    })
}

/// The commit the binary was built from: `MO2FA_GIT_COMMIT` at build time if set, else
/// `git rev-parse HEAD` in the source tree it was built from (if it is still there), else
/// "unknown".
fn git_commit() -> String {
    if let Some(c) = option_env!("MO2FA_GIT_COMMIT").filter(|c| !c.is_empty()) {
        return c.to_string();
    }
    std::process::Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| s.len() >= 7 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| "unknown".into())
}

/// The machine's name as the kernel has it (what `hostname` prints), or "unknown".
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// "2026-12-01T10:11:47.000Z on host (2 cores), commit abc123".
pub(super) fn run_line(run: &serde_json::Value) -> String {
    format!(
        "{} on {} ({} cores), commit {}",
        run["timestamp"].as_str().unwrap_or_default(),
        run["host"].as_str().unwrap_or_default(),
        run["cores"],
        run["git_commit"].as_str().unwrap_or_default()
    )
}

/// Every step of each endpoint's saturation search, with the rule that ended it.
pub(super) fn search_json(searches: &[(Endpoint, Search)]) -> serde_json::Value {
    let endpoints: Vec<serde_json::Value> = searches
        .iter()
        .map(|(endpoint, s)| {
            let steps: Vec<serde_json::Value> = s
                .steps
                .iter()
                .map(|t| {
                    serde_json::json!({
                        "offered_per_s": t.offered, "achieved_per_s": t.achieved,
                        "p99_ms": t.p99_ms, "kept_up": t.kept_up(),
                    })
                })
                .collect();
            serde_json::json!({
                "endpoint": endpoint.name(),
                "stopped_by": if s.saturated() { "failed twice in a row" } else { "max_rate" },
                "bracket_per_s": s.bracket().map(|(lo, hi)| serde_json::json!([lo, hi])),
                "steps": steps,
                "spread": describe_spread(s),
            })
        })
        .collect();
    serde_json::json!({
        "rule": format!(
            "double the offered rate while a step achieves >= {}% of it with p99 <= {P99_LIMIT_MS} ms; \
             re-run a failing step; stop doubling after {FAILURES_TO_STOP} failing steps in a row, \
             then bisect between the highest rate that kept up and the lowest that failed until \
             they are within {:.1}% of it",
            KEPT_UP * 100.0,
            BISECT_RESOLUTION * 100.0
        ),
        "endpoints": endpoints,
    })
}

/// The table as JSON (`bench.json` beside the histograms), for tracking runs over time.
pub fn summary(opts: &BenchOptions, rows: &[Row]) -> serde_json::Value {
    let (target, profile) = match &opts.server {
        Server::InProcess {
            store,
            runtime: Runtime::WorkStealing,
        } => (format!("in-process ({store})"), None),
        Server::InProcess { store, runtime } => {
            (format!("in-process ({store}, {})", runtime.name()), None)
        }
        Server::Remote { addr, profile, .. } => {
            (format!("http://{addr}"), Some(profile.name.clone()))
        }
    };
    let not_measured: Vec<serde_json::Value> = super::not_measured(opts)
        .into_iter()
        .map(|(e, why)| serde_json::json!({"endpoint": e.name(), "why": why}))
        .collect();
    let endpoints: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let errors: serde_json::Map<String, serde_json::Value> = r
                .error_kinds
                .iter()
                .map(|(status, n)| {
                    let kind = status.map_or("no_answer".to_string(), |s| s.to_string());
                    (kind, (*n).into())
                })
                .collect();
            serde_json::json!({
                "endpoint": r.endpoint.name(),
                "saturation_per_s": r.saturation,
                "offered_per_s": r.offered,
                "achieved_per_s": r.achieved,
                "succeeded": r.succeeded,
                "errors": r.errors,
                "errors_by_status": errors,
                "latency_ms": {"p50": r.p50_ms, "p99": r.p99_ms, "p99_9": r.p999_ms, "max": r.max_ms},
                "seen": r.seen,
                "cpu_us_per_request": r.cpu,
                "retried": {
                    "planned": r.retried.planned, "retries": r.retried.retries,
                    "timeouts": r.retried.timeouts, "gave_up": r.retried.gave_up,
                    "amplification": r.retried.amplification(),
                },
            })
        })
        .collect();
    serde_json::json!({
        "target": target,
        "profile": profile,
        "not_measured": not_measured,
        "connections": opts.connections,
        "measure_seconds": opts.measure.as_secs_f64(),
        "fraction_of_saturation": opts.rate_per_s.is_none().then_some(opts.fraction),
        "retry": {
            "timeout_ms": opts.retry.timeout.as_millis() as u64,
            "retries": opts.retry.retries,
            "backoff_ms": opts.retry.backoff.as_millis() as u64,
            "max_backoff_ms": opts.retry.max_backoff.as_millis() as u64,
            "seed": opts.retry.seed,
        },
        "endpoints": endpoints,
    })
}

/// The printed table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "endpoint  saturation/s   offered/s  achieved/s   p50 ms   p99 ms  p99.9 ms   max ms  errors\n",
    );
    for r in rows {
        let sat = r.saturation.map_or("-".to_string(), |s| format!("{s:.0}"));
        let _ = writeln!(
            out,
            "{:8} {:>13} {:>11} {:>11.0} {:>8.3} {:>8.3} {:>9.3} {:>8.3} {:>7}",
            r.endpoint.name(),
            sat,
            r.offered,
            r.achieved,
            r.p50_ms,
            r.p99_ms,
            r.p999_ms,
            r.max_ms,
            r.errors
        );
    }
    for r in rows.iter().filter(|r| !r.error_kinds.is_empty()) {
        let _ = writeln!(out, "{} errors: {}", r.endpoint.name(), r.describe_errors());
    }
    for r in rows {
        let t = &r.retried;
        if t.retries > 0 || t.timeouts > 0 || t.gave_up > 0 {
            let _ = writeln!(
                out,
                "{} retries: {:.2} requests sent per request planned ({} planned, {} sent again, \
                 {} timed out, {} given up)",
                r.endpoint.name(),
                t.amplification(),
                t.planned,
                t.retries,
                t.timeouts,
                t.gave_up
            );
        }
    }
    for r in rows {
        if let Some(c) = &r.cpu {
            let us = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} µs"));
            let _ = writeln!(
                out,
                "{} CPU per answered request in the measured step: load generator {}, verifier {}, \
                 redis-server {}",
                r.endpoint.name(),
                us(Some(c.load_generator)),
                us(c.verifier),
                us(c.redis_server)
            );
        }
    }
    for r in rows {
        if let Some(seen) = &r.seen {
            let _ = writeln!(out, "{}: {seen}", r.endpoint.name());
        }
    }
    out
}

impl Row {
    /// "300 answered 401, 2 got no answer".
    pub fn describe_errors(&self) -> String {
        let kinds: Vec<String> = self
            .error_kinds
            .iter()
            .map(|(status, n)| match status {
                Some(code) => format!("{n} answered {code}"),
                None => format!("{n} got no answer"),
            })
            .collect();
        kinds.join(", ")
    }
}

/// Endpoints where not one request succeeded: their latencies time error answers (a wrong
/// secret, a target that is not a verifier), so the run measured nothing it claims to.
pub fn failed_endpoints(rows: &[Row]) -> Option<String> {
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| r.succeeded == 0 && r.errors > 0)
        .map(|r| format!("{} ({})", r.endpoint.name(), r.describe_errors()))
        .collect();
    (!failed.is_empty()).then(|| failed.join("; "))
}
