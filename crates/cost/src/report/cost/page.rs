//! The cost report as HTML: the sections (also embedded in a simulation run's report) and the
//! whole `report.html` page around them.

use super::charts::{
    TITLE_COUNTRY, TITLE_CURVES, TITLE_EPISODE, TITLE_FRAUD, country_chart, curve_chart,
    episode_chart, episode_timeline, fraud_chart, zoom_chart,
};
use super::text::{
    assumptions, breakdown_result, breakdown_rows, country_table_rows, decade_rows,
    describe_break_even, pct,
};
use crate::episode::Episode;
use crate::model::BreakEven;
use crate::report::html::{Block, Page, Section};
use crate::report::{group_thousands, short_count, usd_label};
use crate::sweep::Sweep;
use std::fmt::Write as _;

/// Report sections for a sweep (and an optional illustrative episode), for embedding in any page.
pub fn sections(sweep: &Sweep, episode: Option<&Episode>) -> Vec<Section> {
    let mut out = vec![
        summary_section(sweep),
        curves_section(sweep),
        countries_section(sweep),
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
    let mut notes = assumptions(sweep);
    notes.extend(sweep.mix.notes.iter().cloned());
    out.push(Section::new("assumptions", "Assumptions and notes").push(Block::List(notes)));
    out
}

/// The key figures (break-even per fraud share, the costs at the reference volume) and a line
/// per fraud share.
fn summary_section(sweep: &Sweep) -> Section {
    let mut figures = Vec::new();
    for r in &sweep.per_fraud {
        let value = match r.break_even {
            BreakEven::At { first, .. } => format!("{}/mo", group_thousands(first)),
            BreakEven::Always => String::from("always cheaper"),
            BreakEven::Never => String::from("never cheaper"),
            BreakEven::SmsFrom { sms_from } => format!("below {}/mo", group_thousands(sms_from)),
        };
        figures.push((
            format!(
                "Reverse iMessage break-even, fraud share {}",
                pct(r.fraud_share)
            ),
            value,
        ));
    }
    if let Some(r) = breakdown_result(sweep) {
        figures.push((
            format!(
                "SMS OTP at {}/mo, fraud {}",
                short_count(sweep.reference_volume),
                pct(r.fraud_share)
            ),
            usd_label(r.reference.sms.total_usd),
        ));
        figures.push((
            format!(
                "Reverse iMessage at {}/mo",
                short_count(sweep.reference_volume)
            ),
            usd_label(r.reference.reverse.total_usd),
        ));
    }
    let summary_lines: Vec<String> = sweep
        .per_fraud
        .iter()
        .map(|r| {
            format!(
                "Fraud share {}: {}.",
                pct(r.fraud_share),
                describe_break_even(&r.break_even, sweep.lo, sweep.hi)
            )
        })
        .collect();
    Section::new("summary", "Summary")
        .push(Block::KeyFigures(figures))
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
fn countries_section(sweep: &Sweep) -> Section {
    Section::new("countries", TITLE_COUNTRY)
        .push(Block::Svg(country_chart(sweep).to_svg()))
        .push(Block::Table {
            caption: format!(
                "Cost components at {} verifications a month",
                group_thousands(sweep.reference_volume)
            ),
            headers: ["Component", "SMS OTP", "Reverse iMessage"]
                .map(String::from)
                .to_vec(),
            rows: breakdown_rows(sweep),
            numeric: vec![false, true, true],
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
pub fn page(sweep: &Sweep, episode: Option<&Episode>) -> Page {
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
        sections: sections(sweep, episode),
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
