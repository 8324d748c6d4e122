//! The Grafana dashboard (`dashboards/mo2fa.json`) queries only metrics that `mo2fa serve`
//! really exposes: every `mo2fa_*` name in its queries must be a sample name in a live scrape.

use crate::common;
use std::collections::BTreeSet;
use std::io::{Read, Write};

fn get_or_post(addr: &str, request: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

/// Every `mo2fa_*` identifier in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("mo2fa_") {
        let preceded_by_ident = rest[..i]
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        if !preceded_by_ident {
            names.push(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    names
}

/// Panel queries and variable queries, rows' nested panels included.
fn queries(dashboard: &serde_json::Value) -> Vec<String> {
    fn walk(panels: &serde_json::Value, out: &mut Vec<String>) {
        for p in panels.as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push(t["expr"].as_str().expect("every target has an expr").into());
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    for v in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(q) = v["query"]["query"].as_str() {
            out.push(q.into());
        }
    }
    out
}

#[test]
fn every_metric_the_dashboard_queries_is_in_a_real_scrape() {
    let text = std::fs::read_to_string("dashboards/mo2fa.json").unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let queried: BTreeSet<String> = queries(&dashboard)
        .iter()
        .flat_map(|q| metric_names(q))
        .collect();
    for wanted in [
        "mo2fa_sms_spend_by_country_usd",
        "mo2fa_sms_sent_by_country_total",
        "mo2fa_verifications_total",
        "mo2fa_request_duration_seconds_bucket",
        "mo2fa_rate_limited_total",
        "mo2fa_pending_challenges",
        "mo2fa_max_pending_challenges",
        "mo2fa_store_unavailable_total",
        "mo2fa_open_connections",
        "mo2fa_bad_signatures_total",
    ] {
        assert!(queried.contains(wanted), "the dashboard shows no {wanted}");
    }

    let server = common::Serve::start("dashboard-secret", &[]);
    // One SMS, so the per-country series exist; one start.
    let body = r#"{"phone":"+447700900123"}"#;
    let sent = get_or_post(
        &server.addr,
        &format!(
            "POST /sms/start HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: \
             application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(sent.starts_with("HTTP/1.1 2"), "{sent}");
    let started = get_or_post(
        &server.addr,
        "POST /2fa/start HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(started.starts_with("HTTP/1.1 201"), "{started}");
    let scrape = get_or_post(
        &server.addr,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let samples: BTreeSet<&str> = scrape
        .split("\r\n\r\n")
        .nth(1)
        .expect("a body")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    assert!(
        samples.contains("mo2fa_sms_spend_by_country_usd"),
        "{scrape}"
    );
    let missing: Vec<_> = queried
        .iter()
        .filter(|n| !samples.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries {missing:?}, which /metrics does not expose"
    );

    // Every panel has a place on the 24-column grid and the dashboard's data source.
    for p in dashboard["panels"].as_array().unwrap() {
        let g = &p["gridPos"];
        let (x, w) = (g["x"].as_u64().unwrap(), g["w"].as_u64().unwrap());
        assert!(x + w <= 24, "{}", p["title"]);
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        }
    }
}

#[test]
fn metric_names_are_found_whole() {
    assert_eq!(
        metric_names(r#"sum by (le) (rate(mo2fa_a_bucket{x="y"}[5m])) / xmo2fa_c + mo2fa_d"#),
        ["mo2fa_a_bucket", "mo2fa_d"]
    );
}
