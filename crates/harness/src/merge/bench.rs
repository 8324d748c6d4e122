//! `mo2fa bench merge`: the shards of one `bench http --shard I/N` run as one `bench.json`:
//! per endpoint the offered, achieved, succeeded and failed requests summed, latency from the
//! added histograms, and each shard's provenance under `shards`.

use super::{Part, percentiles, put};
use crate::error::HarnessError;
use crate::shard::Kind;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Merges the bench shards in `dirs` into `out`; returns the merged `bench.json`.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Value, HarnessError> {
    let super::Loaded {
        parts,
        jsons,
        merged,
    } = super::load(dirs, Kind::Bench, "bench.json")?;
    let json = summary(&parts, &jsons, &merged);
    let subtitle = format!(
        "{} shards of bench http against {}",
        parts[0].manifest.count,
        json["target"].as_str().unwrap_or_default()
    );
    super::write_common(out, &parts, &merged, "mo2fa bench merge", &subtitle)?;
    put(out, "bench.json", format!("{json:#}\n"))?;
    Ok(json)
}

/// The merged `bench.json`: one run's keys, summed over the shards.
fn summary(parts: &[Part], jsons: &[Value], merged: &[super::Merged]) -> Value {
    let endpoints: Vec<Value> = merged
        .iter()
        .map(|m| {
            let rows: Vec<&Value> = jsons
                .iter()
                .flat_map(|j| j["endpoints"].as_array().into_iter().flatten())
                .filter(|e| e["endpoint"] == m.name.as_str())
                .collect();
            let sum_f = |k: &str| rows.iter().filter_map(|e| e[k].as_f64()).sum::<f64>();
            let sum_u = |k: &str| rows.iter().filter_map(|e| e[k].as_u64()).sum::<u64>();
            // The saturation of the whole is the sum of the shards', if every shard found one.
            let saturation = rows
                .iter()
                .map(|e| e["saturation_per_s"].as_f64())
                .sum::<Option<f64>>();
            let mut by_status = serde_json::Map::new();
            for (k, n) in rows
                .iter()
                .flat_map(|e| e["errors_by_status"].as_object().into_iter().flatten())
            {
                let was = by_status.get(k).and_then(Value::as_u64).unwrap_or(0);
                by_status.insert(k.clone(), (was + n.as_u64().unwrap_or(0)).into());
            }
            let [p50, p99, p999, max] = percentiles(&m.latency);
            json!({
                "endpoint": m.name,
                "saturation_per_s": saturation,
                "offered_per_s": sum_u("offered_per_s"),
                "achieved_per_s": sum_f("achieved_per_s"),
                "succeeded": sum_u("succeeded"),
                "errors": sum_u("errors"),
                "errors_by_status": by_status,
                "latency_ms": {"p50": p50, "p99": p99, "p99_9": p999, "max": max},
            })
        })
        .collect();
    let first = &jsons[0];
    json!({
        "target": first["target"],
        "connections": jsons.iter().filter_map(|j| j["connections"].as_u64()).sum::<u64>(),
        "measure_seconds": first["measure_seconds"],
        "fraction_of_saturation": first["fraction_of_saturation"],
        "endpoints": endpoints,
        "run": crate::bench::provenance(),
        "shards": {
            "count": parts[0].manifest.count,
            "plan": parts[0].manifest.run,
            "runs": jsons.iter().map(|j| j["run"].clone()).collect::<Vec<_>>(),
            "merged": parts.iter().map(|p| p.dir.display().to_string()).collect::<Vec<_>>(),
        },
    })
}

/// The merged table, as `bench http` prints one run's.
pub fn table(bench: &Value) -> String {
    use std::fmt::Write as _;
    let mut out = String::from(
        "endpoint     offered/s  achieved/s   p50 ms   p99 ms  p99.9 ms   max ms  errors\n",
    );
    for e in bench["endpoints"].as_array().into_iter().flatten() {
        let l = &e["latency_ms"];
        let f = |v: &Value| v.as_f64().unwrap_or(0.0);
        let _ = writeln!(
            out,
            "{:10} {:>11} {:>11.0} {:>8.3} {:>8.3} {:>9.3} {:>8.3} {:>7}",
            e["endpoint"].as_str().unwrap_or_default(),
            e["offered_per_s"],
            f(&e["achieved_per_s"]),
            f(&l["p50"]),
            f(&l["p99"]),
            f(&l["p99_9"]),
            f(&l["max"]),
            e["errors"]
        );
    }
    out
}

/// The metrics a bench run's (or merge's) expectations are checked against, by the names of
/// docs/expect.md: `<endpoint>.p99_ms`, `<endpoint>.achieved_per_s`, ...
pub fn metrics(bench: &Value) -> Value {
    let mut m = serde_json::Map::new();
    for e in bench["endpoints"].as_array().into_iter().flatten() {
        let Some(name) = e["endpoint"].as_str() else {
            continue;
        };
        let l = &e["latency_ms"];
        // `null` where a party's CPU was not read, and after a merge (which does not add up
        // CPU: shards on one target would each have read all of the target's).
        let cpu = &e["cpu_us_per_request"];
        m.insert(
            name.to_string(),
            json!({
                "saturation_per_s": e["saturation_per_s"], "offered_per_s": e["offered_per_s"],
                "achieved_per_s": e["achieved_per_s"], "succeeded": e["succeeded"],
                "errors": e["errors"], "p50_ms": l["p50"], "p99_ms": l["p99"],
                "p999_ms": l["p99_9"], "max_ms": l["max"],
                "cpu_load_generator_us": cpu["load_generator"],
                "cpu_verifier_us": cpu["verifier"], "cpu_redis_us": cpu["redis_server"],
            }),
        );
    }
    Value::Object(m)
}
