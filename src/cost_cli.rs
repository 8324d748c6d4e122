//! `mo2fa cost`: arguments and the run, kept in the library so `main.rs` only dispatches.

use clap::Args;
use mo2fa_cost::config::{LoadOptions, PricedMix};
use mo2fa_cost::episode::{EpisodeSpec, episode};
use mo2fa_cost::error::CostError;
use mo2fa_cost::prices::Date;
use mo2fa_cost::report::cost::CostReport;
use mo2fa_cost::report::currency::Currency;
use mo2fa_cost::sweep::{self, SweepOptions};
use std::path::PathBuf;

/// Arguments of `mo2fa cost`.
#[derive(Args, Clone, Debug)]
pub struct CostArgs {
    /// Mix file (TOML): countries, weights, iMessage shares, fallbacks, overrides.
    #[arg(long)]
    pub mix: PathBuf,
    /// Monthly verification volumes, `LO..HI` (e.g. 1e3..1e9) or one value.
    #[arg(long, default_value = "1e3..1e9")]
    pub volumes: String,
    /// Grid points per factor of ten of volume.
    #[arg(long, default_value_t = sweep::DEFAULT_POINTS_PER_DECADE)]
    pub points_per_decade: u32,
    /// Fraud share(s): pumped / all OTP SMS sent. `0.2`, `0,0.1,0.2` or `0..0.5[:STEP]`.
    #[arg(long, default_value = "0")]
    pub fraud_share: String,
    /// Use the newest SMS price snapshot dated on or before this day (YYYY-MM-DD).
    #[arg(long)]
    pub price_date: Option<String>,
    /// Price file (TOML); default: the mix's `prices` key, else the built-in default.
    #[arg(long)]
    pub prices: Option<PathBuf>,
    /// Volume for the per-country breakdown and the illustrative episode.
    #[arg(long, default_value_t = 1e6)]
    pub at: f64,
    /// Output directory for cost_curve.csv, results.json, summary.md, report.html and cost_curve.svg.
    #[arg(long, default_value = "reports/cost")]
    pub out: PathBuf,
    /// Leave the illustrative pumping episode out of the report.
    #[arg(long)]
    pub no_episode: bool,
    /// A second currency for summary.md, report.html and the printed figures (ISO 4217, e.g.
    /// EUR), as a run's `[report] currency`; needs --per-usd, --rate-date and --rate-source.
    /// An added view only: results.json and the CSV stay in USD.
    #[arg(long, requires_all = ["per_usd", "rate_date", "rate_source"])]
    pub currency: Option<String>,
    /// Units of --currency per US dollar.
    #[arg(long, requires = "currency")]
    pub per_usd: Option<f64>,
    /// The day the rate is for (YYYY-MM-DD).
    #[arg(long, requires = "currency")]
    pub rate_date: Option<String>,
    /// Where the rate comes from (a publication or URL).
    #[arg(long, requires = "currency")]
    pub rate_source: Option<String>,
}

impl CostArgs {
    /// The second currency, checked as a run checks its `[report]` table.
    fn currency(&self) -> Result<Option<Currency>, CostError> {
        match (
            &self.currency,
            self.per_usd,
            &self.rate_date,
            &self.rate_source,
        ) {
            (Some(code), Some(rate), Some(date), Some(source)) => {
                Currency::new(code, rate, date, source).map(Some)
            }
            (None, ..) => Ok(None),
            _ => Err(CostError::argument(
                "currency",
                "needs --per-usd, --rate-date and --rate-source",
            )),
        }
    }
}

/// Runs the sweep, writes the report files, and returns the text to print.
pub fn run(args: &CostArgs) -> Result<String, CostError> {
    let (lo, hi) = sweep::parse_volume_range(&args.volumes)?;
    let fraud_shares = sweep::parse_fraud_shares(&args.fraud_share)?;
    let price_date = args
        .price_date
        .as_deref()
        .map(|d| {
            d.parse::<Date>()
                .map_err(|m| CostError::argument("price-date", m))
        })
        .transpose()?;
    if !(args.at.is_finite() && args.at > 0.0) {
        return Err(CostError::argument("at", "must be a volume > 0"));
    }
    let currency = args.currency()?;
    let mix = PricedMix::load(
        &args.mix,
        &LoadOptions {
            prices: args.prices.clone(),
            price_date,
        },
    )?;
    let sweep = sweep::run(
        mix,
        &SweepOptions {
            lo,
            hi,
            points_per_decade: args.points_per_decade,
            fraud_shares,
            reference_volume: Some(args.at),
        },
    )?;
    let ep = if args.no_episode {
        None
    } else {
        Some(episode(
            &sweep.mix,
            &EpisodeSpec::healthchecks(sweep.reference_volume),
        )?)
    };
    let report = CostReport::render(&sweep, ep.as_ref(), currency.as_ref());
    let written = report.write(&args.out).map_err(|source| CostError::Write {
        file: args.out.clone(),
        source,
    })?;
    let mut text = mo2fa_cost::report::cost::terminal_table(&sweep, currency.as_ref());
    for p in written {
        text.push_str(&format!("wrote {}\n", p.display()));
    }
    Ok(text)
}
