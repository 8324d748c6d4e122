//! The `mo2fa cost` report: `report.html`, `summary.md`, `cost_curve.svg`, `results.json` (and
//! the CSV from [`crate::sweep::csv`]). Built from plain results so the simulator can reuse the
//! sections in its own run report.
//!
//! * `charts`: the cost curves, the close-up around the break-even, cost by country and by fraud
//!   share, the illustrative episode and its timeline.
//! * `text`: percentages, the break-even sentence and the table rows the outputs share.
//! * `page`: the HTML sections and page.
//! * `summary`: `summary.md` and the terminal table.
//! * `results`: `results.json`, the break-evens and costs for programs.

mod charts;
mod page;
mod results;
mod summary;
mod text;

pub use charts::{
    TITLE_COUNTRY, TITLE_CURVES, TITLE_EPISODE, TITLE_FRAUD, TITLE_TIMELINE, TITLE_ZOOM,
    country_chart, curve_chart, episode_chart, episode_timeline, fraud_chart, zoom_chart,
};
pub use page::{page, sections};
pub use results::{
    AtReference, BreakEvenResult, Components, FraudShareResult, ReportCurrency, Results,
    results_json,
};
pub use summary::{summary_markdown, terminal_table};
pub use text::{describe, describe_break_even};

use crate::episode::Episode;
use crate::report::currency::Currency;
use crate::sweep::{Sweep, csv};
use std::path::{Path, PathBuf};

/// Every file of a cost report, rendered.
#[derive(Clone, Debug)]
pub struct CostReport {
    pub csv: String,
    pub results_json: String,
    pub summary_md: String,
    pub html: String,
    pub curve_svg: String,
}

impl CostReport {
    /// Renders every file; `currency` adds a second currency to the pages people read
    /// (summary.md, report.html) and its rate to results.json, whose figures stay in USD.
    pub fn render(sweep: &Sweep, episode: Option<&Episode>, currency: Option<&Currency>) -> Self {
        CostReport {
            csv: csv(sweep),
            results_json: results_json(sweep, currency),
            summary_md: summary_markdown(sweep, episode, currency),
            html: page(sweep, episode, currency).to_html(),
            curve_svg: curve_chart(sweep).to_svg(),
        }
    }

    /// Writes `cost_curve.csv`, `results.json`, `summary.md`, `report.html` and `cost_curve.svg`
    /// into `dir` (created if missing); returns the paths written.
    pub fn write(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let files = [
            ("cost_curve.csv", &self.csv),
            ("results.json", &self.results_json),
            ("summary.md", &self.summary_md),
            ("report.html", &self.html),
            ("cost_curve.svg", &self.curve_svg),
        ];
        let mut out = Vec::with_capacity(files.len());
        for (name, body) in files {
            let p = dir.join(name);
            std::fs::write(&p, body)?;
            out.push(p);
        }
        Ok(out)
    }
}
