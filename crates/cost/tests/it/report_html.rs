//! The HTML report is self-contained: charts are inline SVG, and nothing points at another
//! host (the only URL allowed is the SVG namespace, which browsers never fetch).

use mo2fa_cost::episode::{EpisodeSpec, episode};
use mo2fa_cost::report::cost::{
    CostReport, TITLE_COUNTRY, TITLE_CURVES, TITLE_EPISODE, TITLE_FRAUD, TITLE_TIMELINE, TITLE_ZOOM,
};
use mo2fa_cost::sweep::{self, SweepOptions};
use mo2fa_cost::{LoadOptions, PricedMix};
use std::path::Path;

fn report() -> CostReport {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/mixes/us-eu.toml");
    let mix = PricedMix::load(&path, &LoadOptions::default()).expect("mix loads");
    let sweep = sweep::run(
        mix,
        &SweepOptions {
            lo: 1e2,
            hi: 1e9,
            points_per_decade: 10,
            fraud_shares: vec![0.0, 0.2],
            reference_volume: Some(1e6),
        },
    )
    .expect("sweep");
    let ep = episode(&sweep.mix, &EpisodeSpec::healthchecks(1e6)).expect("episode");
    CostReport::render(&sweep, Some(&ep), None)
}

const SVG_NS: &str = "http://www.w3.org/2000/svg";

fn external_urls(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for scheme in ["http://", "https://", "//"] {
        let mut from = 0;
        while let Some(i) = text[from..].find(scheme) {
            let at = from + i;
            let tail: String = text[at..].chars().take(60).collect();
            // `//` alone also matches inside the two URL forms; only flag it after a quote.
            let protocol_relative = scheme == "//"
                && !(at > 0 && matches!(text.as_bytes()[at - 1], b'"' | b'\'' | b'('));
            if !tail.starts_with(SVG_NS) && !protocol_relative {
                found.push(tail);
            }
            from = at + scheme.len();
        }
    }
    found
}

#[test]
fn html_contains_every_chart_and_nothing_external() {
    let r = report();
    let html = &r.html;
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.matches("<svg").count() >= 6, "six charts inline");
    for title in [
        TITLE_CURVES,
        TITLE_ZOOM,
        TITLE_COUNTRY,
        TITLE_FRAUD,
        TITLE_EPISODE,
        TITLE_TIMELINE,
    ] {
        assert!(html.contains(title), "missing chart {title}");
    }
    assert!(html.contains("break-even"));
    assert_eq!(external_urls(html), Vec::<String>::new());
    assert!(!html.contains("<script"), "no scripts needed");
    assert!(!html.contains("src="), "no external images or scripts");
    assert!(!html.contains("@import") && !html.contains("url(http"));
    for (i, _) in html.match_indices("href=\"") {
        assert!(html[i + 6..].starts_with('#'), "only in-page links");
    }
    // Every clip-path reference has a definition on the page.
    for (i, _) in html.match_indices("url(#") {
        let id: String = html[i + 5..].chars().take_while(|c| *c != ')').collect();
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "dangling reference {id}"
        );
    }
}

#[test]
fn svg_and_summary_are_standalone() {
    let r = report();
    assert!(r.curve_svg.starts_with(&format!("<svg xmlns=\"{SVG_NS}\"")));
    assert!(r.curve_svg.contains("<title id=\"curves-title\">"));
    assert_eq!(external_urls(&r.curve_svg), Vec::<String>::new());
    assert!(r.summary_md.contains("## Break-even"));
    assert!(r.summary_md.contains("| Verifications/month |"));
}
