//! The cost report as HTML: the sections (also embedded in a simulation run's report) and the
//! whole `report.html` page around them.

use super::charts::{
    TITLE_COUNTRY, TITLE_CURVES, TITLE_EPISODE, TITLE_FRAUD, country_chart, curve_chart,
    episode_chart, episode_timeline, fraud_chart, zoom_chart,
};
use super::text::{
    assumptions, break_even_card, breakdown_headers, breakdown_rows, country_table_rows,
    decade_rows, describe, headline_results, pct,
};
use crate::episode::Episode;
use crate::report::currency::Currency;
use crate::report::html::{Block, Page, Section};
use crate::report::{group_thousands, short_count, usd_label};
use crate::sweep::Sweep;
use std::fmt::Write as _;

/// Report sections for a sweep (and an optional illustrative episode), for embedding in any
/// page; money is also shown in `currency` when given.
pub fn sections(
    sweep: &Sweep,
    episode: Option<&Episode>,
    currency: Option<&Currency>,
) -> Vec<Section> {
    let mut out = vec![
        summary_section(sweep, currency),
        curves_section(sweep),
        countries_section(sweep, currency),
    ];
    out.extend(fraud_chart(sweep).map(|chart| {
        Section::new("fraud", TITLE_FRAUD)
            .push(Block::Paragraph(String::from(
                "Pumped SMS are billed at the price of the pumping destinations, which are \
among the most expensive in the price table; reverse iMessage sends no SMS to pump, except \
through an outbound SMS fallback.",
            )))
            .push(Block::Svg(chart.to_svg()))
    }));
    out.extend(episode.map(|e| {
        Section::new("episode", TITLE_EPISODE)
            .push(Block::Paragraph(format!(
                "Illustration, not a simulation: {}. A block engages after {} pumped sends \
(the Fraud Guard anecdote in the research note). Each pumped SMS costs {}.",
                e.spec.name,
                e.spec
                    .block_after
                    .map_or(String::from("no"), group_thousands),
                usd_label(e.usd_per_pumped_sms)
            )))
            .push(Block::Svg(episode_chart(e).to_svg()))
            .push(Block::Svg(episode_timeline(e).to_svg()))
    }));
    let mut notes = assumptions(sweep, currency);
    notes.extend(sweep.mix.notes.iter().cloned());
    out.push(Section::new("assumptions", "Assumptions and notes").push(Block::List(notes)));
    out
}

/// The key figures, one row of cards per fraud share (its break-even and both methods' cost
/// at the reference volume, each card naming the fraud share), and a line per fraud share.
fn summary_section(sweep: &Sweep, currency: Option<&Currency>) -> Section {
    let at = short_count(sweep.reference_volume);
    // The second currency goes under the USD figure, in the card's label, so that the large
    // figure stays one number.
    let in_currency = |usd: f64| currency.map_or(String::new(), |c| format!(" ({})", c.label(usd)));
    let rows = headline_results(sweep).into_iter().map(|r| {
        let f = pct(r.fraud_share);
        let (sms, rev) = (r.reference.sms.total_usd, r.reference.reverse.total_usd);
        Block::KeyFigures(vec![
            (
                format!("Reverse iMessage break-even, fraud share {f}"),
                break_even_card(&r.break_even),
            ),
            (
                format!("SMS OTP at {at}/mo, fraud share {f}{}", in_currency(sms)),
                usd_label(sms),
            ),
            (
                format!(
                    "Reverse iMessage at {at}/mo, fraud share {f}{}",
                    in_currency(rev)
                ),
                usd_label(rev),
            ),
        ])
    });
    let summary_lines: Vec<String> = sweep
        .per_fraud
        .iter()
        .map(|r| {
            format!(
                "Fraud share {}: {}.",
                pct(r.fraud_share),
                describe(r, sweep)
            )
        })
        .collect();
    Section::new("summary", "Summary")
        .push_all(rows)
        .push(Block::List(summary_lines))
}

/// Both methods' curves, the zoom on the break-even and the cost at each power of ten.
fn curves_section(sweep: &Sweep) -> Section {
    Section::new("curves", TITLE_CURVES)
        .push(Block::Paragraph(String::from(
            "Monthly cost of each method by monthly verification volume. SMS OTP grows in \
proportion to volume; reverse iMessage steps up by one line price each time the peak day \
outgrows the lines. The marked point is the break-even: above it reverse iMessage is cheaper.",
        )))
        .push(Block::Svg(curve_chart(sweep).to_svg()))
        .push_all(zoom_chart(sweep).map(|c| Block::Svg(c.to_svg())))
        .push(Block::Table {
            caption: String::from("Cost at each power of ten"),
            headers: [
                "Verifications/month",
                "Fraud share",
                "SMS OTP",
                "Reverse iMessage",
                "Lines",
                "Cheaper",
            ]
            .map(String::from)
            .to_vec(),
            rows: decade_rows(sweep),
            numeric: vec![true, true, true, true, true, false],
            collapsed: true,
        })
}

/// The cost components at the reference volume and the country mix.
fn countries_section(sweep: &Sweep, currency: Option<&Currency>) -> Section {
    Section::new("countries", TITLE_COUNTRY)
        .push(Block::Svg(country_chart(sweep).to_svg()))
        .push(Block::Table {
            caption: format!(
                "Cost components at {} verifications a month",
                group_thousands(sweep.reference_volume)
            ),
            headers: breakdown_headers(currency),
            rows: breakdown_rows(sweep, currency),
            numeric: vec![false, true, true, true, true],
            collapsed: false,
        })
        .push(Block::Table {
            caption: String::from("Country mix"),
            headers: [
                "Country",
                "Share",
                "iMessage share",
                "Fallback",
                "SMS $/segment",
            ]
            .map(String::from)
            .to_vec(),
            rows: country_table_rows(sweep),
            numeric: vec![false, true, true, false, true],
            collapsed: true,
        })
}

/// The whole page.
pub fn page(sweep: &Sweep, episode: Option<&Episode>, currency: Option<&Currency>) -> Page {
    let s = &sweep.mix;
    let mut subtitle = format!(
        "Mix: {} · prices: Twilio list, snapshot {} · volumes {} to {} a month",
        s.name,
        s.snapshot.date(),
        short_count(sweep.lo),
        short_count(sweep.hi)
    );
    if !s.description.is_empty() {
        let _ = write!(subtitle, " · {}", s.description);
    }
    Page {
        title: String::from("2FA cost: SMS OTP vs reverse iMessage"),
        subtitle,
        sections: sections(sweep, episode, currency),
        footer: vec![
            format!(
                "Mix file: {}. Price file: {}.",
                s.mix_origin, s.prices_origin
            ),
            String::from(
                "Sources: Twilio SMSPricing.csv snapshots (scenarios/data/README.md); fees and line prices with their sources in scenarios/prices/default.toml; model definitions in docs/cost.md.",
            ),
            String::from(
                "Generated by mo2fa cost. Self-contained: no scripts, no external resources.",
            ),
        ],
    }
}
