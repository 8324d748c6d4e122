//! `mo2fa live merge`: the shards of one live replay (`run --live --shard I/N`) as one
//! `live/`: counts and answers summed, histograms added, the same `live.json` keys as one
//! replay's, plus `shards`.

use super::{Part, percentiles, put};
use crate::error::HarnessError;
use crate::shard::Kind;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Merges the live shards in `dirs` (each a run's output directory or its `live/`) into
/// `out`; returns the merged `live.json`.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Value, HarnessError> {
    let super::Loaded {
        parts,
        jsons,
        merged,
    } = super::load(dirs, Kind::Live, "live.json")?;
    let json = summary(&parts, &jsons, &merged);
    let (v, l) = (&json["verified"]["virtual"], &json["verified"]["live"]);
    let subtitle = format!(
        "{} shards of a live replay at {}x: {} of {} steps; verified: virtual {v}, live {l} ({})",
        parts[0].manifest.count,
        json["speed"],
        json["released"],
        json["steps"],
        if v == l { "agree" } else { "DIFFER" }
    );
    super::write_common(out, &parts, &merged, "mo2fa live merge", &subtitle)?;
    put(out, "live.json", format!("{json:#}\n"))?;
    put(out, "live.md", table(&json))?;
    put(out, "throughput.csv", throughput(&parts)?)?;
    Ok(json)
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// `live.json` of the merge: one replay's keys, each summed (counts), added (latency) or the
/// largest of the shards' (elapsed time, lag), and `shards`.
fn summary(parts: &[Part], jsons: &[Value], merged: &[super::Merged]) -> Value {
    let sum = |key: &str| jsons.iter().map(|j| num(&j[key])).sum::<u64>();
    let max = |key: &str| {
        jsons
            .iter()
            .filter_map(|j| j[key].as_f64())
            .fold(0.0, f64::max)
    };
    let endpoints: Vec<Value> = merged
        .iter()
        .map(|m| {
            let of = |key: &str| -> u64 {
                jsons
                    .iter()
                    .flat_map(|j| j["endpoints"].as_array().into_iter().flatten())
                    .filter(|e| e["endpoint"] == m.name.as_str())
                    .map(|e| num(&e[key]))
                    .sum()
            };
            let [p50, p99, p999, max] = percentiles(&m.latency);
            json!({
                "endpoint": m.name, "ok": of("ok"), "non_2xx": of("non_2xx"), "errors": of("errors"),
                "p50_ms": p50, "p99_ms": p99, "p999_ms": p999, "max_ms": max,
                "service_p99_ms": percentiles(&m.service)[1],
            })
        })
        .collect();
    // (endpoint position, virtual, live) → count, in one replay's order.
    let position = |e: &str| {
        merged
            .iter()
            .position(|m| m.name == e)
            .unwrap_or(usize::MAX)
    };
    let mut outcomes: BTreeMap<(usize, String, String, String), u64> = BTreeMap::new();
    for o in jsons
        .iter()
        .flat_map(|j| j["outcomes"].as_array().into_iter().flatten())
    {
        let text = |k: &str| o[k].as_str().unwrap_or_default().to_string();
        let e = text("endpoint");
        *outcomes
            .entry((position(&e), e, text("virtual"), text("live")))
            .or_default() += num(&o["count"]);
    }
    let outcomes: Vec<Value> = outcomes
        .into_iter()
        .map(|((_, e, v, l), n)| json!({"endpoint": e, "virtual": v, "live": l, "count": n}))
        .collect();
    let verified = |side: &str| jsons.iter().map(|j| num(&j["verified"][side])).sum::<u64>();
    let (v, l) = (verified("virtual"), verified("live"));
    let not_compared = verified("not_compared");
    // As each shard says it: null when nothing could be compared, never a pass not seen.
    let compared = !(v == 0 && l == 0 && not_compared > 0);
    let behind: Vec<usize> = parts
        .iter()
        .zip(jsons)
        .filter(|(_, j)| !j["behind"].is_null())
        .flat_map(|(p, _)| p.manifest.shards.iter().copied())
        .collect();
    json!({
        "speed": jsons[0]["speed"],
        "steps": sum("steps"),
        "released": sum("released"),
        "elapsed_s": max("elapsed_s"),
        "max_lag_ms": max("max_lag_ms"),
        "lag_budget_ms": jsons[0]["lag_budget_ms"],
        "behind": jsons.iter().map(|j| &j["behind"]).find(|b| !b.is_null()).cloned(),
        "verified": {
            "virtual": v, "live": l,
            "not_compared": not_compared,
            "agree": compared.then_some(v == l),
        },
        "answers_agreeing": sum("answers_agreeing"),
        "answers": sum("answers"),
        "endpoints": endpoints,
        "outcomes": outcomes,
        "shards": {
            "count": parts[0].manifest.count,
            "trace": parts[0].manifest.run,
            "fell_behind": behind,
            "merged": parts.iter().map(|p| p.dir.display().to_string()).collect::<Vec<_>>(),
        },
    })
}

/// `second,completed` summed over the shards, second by second from each one's start.
fn throughput(parts: &[Part]) -> Result<String, HarnessError> {
    let mut per_s: Vec<u64> = Vec::new();
    for p in parts {
        let path = p.dir.join("throughput.csv");
        let text = std::fs::read_to_string(&path).map_err(HarnessError::read(&path))?;
        for line in text.lines().skip(1) {
            let parsed = line
                .split_once(',')
                .and_then(|(s, n)| Some((s.parse::<usize>().ok()?, n.parse::<u64>().ok()?)));
            let Some((s, n)) = parsed else {
                return Err(HarnessError::Merge(format!(
                    "{}: {line:?} is not `second,completed`",
                    path.display()
                )));
            };
            if per_s.len() <= s {
                per_s.resize(s + 1, 0);
            }
            per_s[s] += n;
        }
    }
    let mut out = String::from("second,completed\n");
    for (s, n) in per_s.iter().enumerate() {
        let _ = writeln!(out, "{s},{n}");
    }
    Ok(out)
}

/// `live.md` of the merge: latency per endpoint, then every answer that moved.
fn table(j: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "live replay at {}x, {} shards merged: {} of {} steps\n",
        j["speed"], j["shards"]["count"], j["released"], j["steps"]
    );
    let _ = writeln!(
        out,
        "| endpoint | requests | non-2xx | errors | p50 ms | p99 ms | p99.9 ms | max ms |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for e in j["endpoints"].as_array().into_iter().flatten() {
        let requests = num(&e["ok"]) + num(&e["non_2xx"]) + num(&e["errors"]);
        if requests == 0 {
            continue;
        }
        let f = |k: &str| e[k].as_f64().unwrap_or(0.0);
        let _ = writeln!(
            out,
            "| {} | {requests} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
            e["endpoint"].as_str().unwrap_or_default(),
            e["non_2xx"],
            e["errors"],
            f("p50_ms"),
            f("p99_ms"),
            f("p999_ms"),
            f("max_ms")
        );
    }
    let (v, l) = (&j["verified"]["virtual"], &j["verified"]["live"]);
    let _ = writeln!(
        out,
        "\nlatency: the shards' histograms added (not their percentiles), from each request's \
         scheduled time.\n\nverified: virtual {v}, live {l} ({})\nanswers agreeing with the \
         virtual run: {} of {}",
        if v == l { "agree" } else { "DIFFER" },
        j["answers_agreeing"],
        j["answers"]
    );
    if let Some(b) = j["shards"]["fell_behind"]
        .as_array()
        .filter(|b| !b.is_empty())
    {
        let _ = writeln!(out, "\nshards that FELL BEHIND schedule and stopped: {b:?}");
    }
    let moved: Vec<&Value> = j["outcomes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["virtual"] != o["live"])
        .collect();
    if !moved.is_empty() {
        let _ = writeln!(
            out,
            "\n| endpoint | virtual | live | count |\n|---|---|---|---:|"
        );
        for o in moved {
            let t = |k: &str| o[k].as_str().unwrap_or_default().to_string();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                t("endpoint"),
                t("virtual"),
                t("live"),
                o["count"]
            );
        }
    }
    out
}

/// The metrics a live replay's (or merge's) expectations are checked against, by the names of
/// docs/expect.md: `<endpoint>.p99_ms`, `verified.live`, `agreement`, ...
pub fn metrics(live: &Value) -> Value {
    let mut m = serde_json::Map::new();
    for e in live["endpoints"].as_array().into_iter().flatten() {
        let Some(name) = e["endpoint"].as_str() else {
            continue;
        };
        let requests = num(&e["ok"]) + num(&e["non_2xx"]) + num(&e["errors"]);
        m.insert(
            name.to_string(),
            json!({
                "requests": requests, "non_2xx": e["non_2xx"], "errors": e["errors"],
                "p50_ms": e["p50_ms"], "p99_ms": e["p99_ms"], "p999_ms": e["p999_ms"],
                "max_ms": e["max_ms"], "service_p99_ms": e["service_p99_ms"],
            }),
        );
    }
    let (same, all) = (num(&live["answers_agreeing"]), num(&live["answers"]));
    m.insert(
        "verified".into(),
        json!({"virtual": live["verified"]["virtual"], "live": live["verified"]["live"]}),
    );
    m.insert("answers".into(), all.into());
    m.insert("answers_agreeing".into(), same.into());
    m.insert(
        "agreement".into(),
        if all == 0 {
            Value::Null
        } else {
            (same as f64 / all as f64).into()
        },
    );
    m.insert("steps".into(), live["steps"].clone());
    m.insert("released".into(), live["released"].clone());
    m.insert("max_lag_ms".into(), live["max_lag_ms"].clone());
    Value::Object(m)
}
