//! The live replay's reports: `live/` with its latency tables and plot, throughput, and
//! `live.json` / `live.md` (the answers that moved).

use super::LiveReport;
use crate::error::HarnessError;
use crate::openloop;
use std::path::Path;

/// Writes `live/`: per-endpoint `.hgrm` tables (from the scheduled time, and service time),
/// `latency.html` plotting them, an HdrHistogram interval log, throughput per second, and
/// `live.json` / `live.md`.
pub fn write(dir: &Path, r: &LiveReport) -> Result<(), HarnessError> {
    std::fs::create_dir_all(dir).map_err(HarnessError::write(dir))?;
    for e in r.load.endpoints.iter().filter(|e| !e.latency.is_empty()) {
        put(dir, &format!("{}.hgrm", e.name), openloop::hgrm(&e.latency))?;
        put(
            dir,
            &format!("{}.service.hgrm", e.name),
            openloop::hgrm(&e.service),
        )?;
    }
    let curves: Vec<openloop::Curve<'_>> = r
        .load
        .endpoints
        .iter()
        .map(|e| openloop::Curve {
            name: &e.name,
            latency: &e.latency,
            service: &e.service,
        })
        .collect();
    let subtitle = format!(
        "live replay at {}x{}: {} of {} steps; verified: {}{}",
        r.speed,
        r.target
            .as_ref()
            .map_or(String::new(), |t| format!(" against {t}")),
        r.released,
        r.steps,
        r.verified_line(),
        if r.behind.is_some() {
            "; fell behind schedule and stopped"
        } else {
            ""
        }
    );
    put(
        dir,
        "latency.html",
        openloop::latency_html("mo2fa run --live", &subtitle, &curves),
    )?;
    put(dir, "latency.hlog", openloop::interval_log(&r.load)?)?;
    put(dir, "throughput.csv", throughput_csv(r)?)?;
    let json = serde_json::to_string_pretty(&summary_json(r))?;
    put(dir, "live.json", json + "\n")?;
    put(dir, "live.md", table(r))
}

/// Writes `dir/name`; an error names the file.
fn put(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> Result<(), HarnessError> {
    let path = dir.join(name);
    std::fs::write(&path, contents).map_err(HarnessError::write(path))
}

/// `second,completed`: answers completed in each wall second.
fn throughput_csv(r: &LiveReport) -> Result<Vec<u8>, HarnessError> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(["second", "completed"])?;
    for (i, n) in r.load.throughput.iter().enumerate() {
        csv.serialize((i, n))?;
    }
    csv.into_inner()
        .map_err(|e| HarnessError::Io(std::io::Error::other(e.to_string())))
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn summary_json(r: &LiveReport) -> serde_json::Value {
    let (v, l) = r.verified();
    let compared = !(v == 0 && l == 0 && r.not_compared() > 0);
    let (same, all) = r.agreement();
    let endpoints: Vec<_> = r
        .load
        .endpoints
        .iter()
        .map(|e| {
            let q = |p: f64| ms(e.latency.value_at_quantile(p));
            serde_json::json!({
                "endpoint": e.name, "ok": e.ok, "non_2xx": e.non_2xx, "errors": e.errors,
                "p50_ms": q(0.5), "p99_ms": q(0.99), "p999_ms": q(0.999), "max_ms": ms(e.latency.max()),
                "service_p99_ms": ms(e.service.value_at_quantile(0.99)),
            })
        })
        .collect();
    let outcomes: Vec<_> = r
        .outcomes
        .iter()
        .map(|((ep, expect, got), n)| {
            serde_json::json!({"endpoint": ep.name(), "virtual": expect, "live": got, "count": n})
        })
        .collect();
    serde_json::json!({
        "speed": r.speed,
        "steps": r.steps,
        "released": r.released,
        "elapsed_s": r.load.elapsed.as_secs_f64(),
        "max_lag_ms": r.max_lag.as_secs_f64() * 1000.0,
        "lag_budget_ms": r.budget.as_secs_f64() * 1000.0,
        "behind": r.behind.as_ref().map(|b| serde_json::json!({
            "lag_s": b.lag.as_secs_f64(),
            "at_virtual_s": b.at_ms as f64 / 1000.0,
            "window": b.window.1,
            "window_s": b.window.0.as_secs_f64(),
            "sustained_speed": b.sustained,
            "suggested_speed": b.suggested_speed,
        })),
        "target": r.target,
        "not_observable": r.unobservable,
        "verified": {
            "virtual": v, "live": l,
            "not_compared": r.not_compared(),
            // null when no verification could be compared: never a pass that was not seen.
            "agree": compared.then_some(v == l),
        },
        "answers_agreeing": same,
        "answers": all,
        "endpoints": endpoints,
        "outcomes": outcomes,
    })
}

/// The human summary: latency per endpoint, then every answer that moved.
pub fn table(r: &LiveReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let elapsed = r.load.elapsed.as_secs_f64().max(1e-9);
    let _ = writeln!(
        out,
        "live replay at {}x{}: {} of {} steps in {:.1} s ({:.0} requests/s)\n",
        r.speed,
        r.target
            .as_ref()
            .map_or(String::new(), |t| format!(" against {t}")),
        r.released,
        r.steps,
        elapsed,
        r.load.completed() as f64 / elapsed
    );
    let _ = writeln!(
        out,
        "| endpoint | requests | non-2xx | errors | p50 ms | p99 ms | p99.9 ms | max ms |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for e in r
        .load
        .endpoints
        .iter()
        .filter(|e| e.ok + e.non_2xx + e.errors > 0)
    {
        let q = |p: f64| ms(e.latency.value_at_quantile(p));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
            e.name,
            e.ok + e.non_2xx + e.errors,
            e.non_2xx,
            e.errors,
            q(0.5),
            q(0.99),
            q(0.999),
            ms(e.latency.max())
        );
    }
    let _ = writeln!(
        out,
        "\nlargest send lag behind schedule: {:.1} ms (limit {:.1} ms)",
        r.max_lag.as_secs_f64() * 1000.0,
        r.budget.as_secs_f64() * 1000.0
    );
    if let Some(b) = &r.behind {
        let _ = writeln!(out, "\nFELL BEHIND: {b}");
    }
    let (same, all) = r.agreement();
    let _ = writeln!(
        out,
        "\nlatency is measured from each request's scheduled time (open loop).\n\nverified: {}\nanswers agreeing with the virtual run: {same} of {all}{}",
        r.verified_line(),
        if r.target.is_some() {
            " (of those sent to the target and seen)"
        } else {
            ""
        }
    );
    if !r.unobservable.is_empty() {
        let _ = writeln!(
            out,
            "\nnot observable through the target's profile, so not compared:"
        );
        for u in &r.unobservable {
            let _ = writeln!(out, "- {u}");
        }
    }
    let moved: Vec<_> = r.outcomes.iter().filter(|((_, e, g), _)| e != g).collect();
    if !moved.is_empty() {
        let _ = writeln!(
            out,
            "\n| endpoint | virtual | live | count |\n|---|---|---|---:|"
        );
        for ((ep, expect, got), n) in moved {
            let _ = writeln!(out, "| {} | {expect} | {got} | {n} |", ep.name());
        }
    }
    out
}
