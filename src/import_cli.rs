//! `mo2fa import` and `mo2fa fit`: arguments and the runs, over the `mo2fa-import` crate, so
//! `main.rs` only dispatches.

use crate::args;
use anyhow::{Context, Result, bail};
use clap::Args;
use mo2fa_import::reverse::Shares;
use mo2fa_import::{Format, ImportOptions};
use std::path::PathBuf;

/// Bad rows printed on stderr as they are found (all are counted and summarised).
const PRINTED_BAD_ROWS: u64 = 20;

const IMPORT_EXAMPLES: &str = "Examples:
  mo2fa import attempts-*.json --format twilio-verify-attempts --preset all --out reports/import
  mo2fa import messages.csv --format twilio-messaging --defences scenarios/quickstart.toml \\
      --warmup 15d --imessage-share US=0.5
  mo2fa import events.jsonl.gz --format aws-sms-events --strict
Writes summary.json, summary.md and report.html in --out and nothing else; numbers masked,
addresses as /24 or /48; nothing is sent anywhere (docs/import.md).";

const FIT_EXAMPLE: &str = "Example:
  mo2fa fit attempts-*.json --format twilio-verify-attempts --out my-traffic.toml
  mo2fa run my-traffic.toml    # its SMS count and spend come within 5 % of the log's";

/// Arguments of `mo2fa import`.
#[derive(Args, Clone, Debug)]
#[command(after_help = IMPORT_EXAMPLES)]
pub struct ImportArgs {
    /// Log files (gzip or plain), all in one format.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// twilio-verify-attempts, twilio-messaging, aws-sms-events or csv (docs/import.md).
    #[arg(long, value_parser = format)]
    pub format: FormatArg,
    /// Output directory for summary.json, summary.md and report.html.
    #[arg(long, default_value = "reports/import")]
    pub out: PathBuf,
    /// Stop at the first bad row instead of skipping and counting it.
    #[arg(long)]
    pub strict: bool,
    /// Show phone numbers in full in the reports (default: calling code and last 2 digits).
    #[arg(long)]
    pub show_numbers: bool,
    /// Replay the `[defences.sms]` of this scenario (or a defences file); repeatable.
    #[arg(long)]
    pub defences: Vec<PathBuf>,
    /// Replay this vendor preset (`all`: every preset); repeatable.
    #[arg(long)]
    pub preset: Vec<String>,
    /// Replay the log's first days (e.g. `15d`) only to build the rules' history.
    #[arg(long, value_parser = args::millis, default_value = "0s")]
    pub warmup: u64,
    /// iMessage share of a country (`US=0.5`, or `default=0.1` for unlisted countries); repeatable.
    #[arg(long)]
    pub imessage_share: Vec<String>,
    /// Price sends without a price from this snapshot (YYYY-MM-DD) instead of their day's.
    #[arg(long)]
    pub price_date: Option<String>,
}

/// Arguments of `mo2fa fit`.
#[derive(Args, Clone, Debug)]
#[command(after_help = FIT_EXAMPLE)]
pub struct FitArgs {
    /// Log files (gzip or plain), all in one format.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// twilio-verify-attempts, twilio-messaging, aws-sms-events or csv.
    #[arg(long, value_parser = format)]
    pub format: FormatArg,
    /// The scenario to write.
    #[arg(long, default_value = "scenario.toml")]
    pub out: PathBuf,
    /// Stop at the first bad row.
    #[arg(long)]
    pub strict: bool,
    /// Seed written into the scenario.
    #[arg(long, default_value_t = 1, value_parser = args::seed)]
    pub seed: u64,
    /// iMessage share of a country (`US=0.5`, `default=0.1`); repeatable.
    #[arg(long)]
    pub imessage_share: Vec<String>,
}

#[derive(Clone, Copy, Debug)]
pub struct FormatArg(pub Format);

fn format(s: &str) -> Result<FormatArg, String> {
    Format::parse(s).map(FormatArg).ok_or_else(|| {
        let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        format!("unknown format {s:?}; known: {}", names.join(", "))
    })
}

fn shares(specs: &[String]) -> Result<Shares> {
    let mut s = Shares::builtin();
    for spec in specs {
        s.set(spec)?;
    }
    Ok(s)
}

/// Prints the first bad rows on stderr as they are found.
fn printer() -> impl FnMut(&mo2fa_import::scan::BadRow) {
    let mut n = 0u64;
    move |b| {
        n += 1;
        if n <= PRINTED_BAD_ROWS {
            eprintln!("skipped bad row: {b}");
        } else if n == PRINTED_BAD_ROWS + 1 {
            eprintln!("(more bad rows: all are counted in summary.json)");
        }
    }
}

pub fn import(a: ImportArgs) -> Result<()> {
    let mut defences = Vec::new();
    for p in &a.defences {
        defences.push(mo2fa_import::run::defences_file(p)?);
    }
    for name in &a.preset {
        defences.extend(mo2fa_import::run::presets(name)?);
    }
    if a.warmup > 0 && defences.is_empty() {
        bail!("--warmup needs --defences or --preset: it builds the replayed rules' history");
    }
    let price_date = a
        .price_date
        .as_deref()
        .map(|d| {
            d.parse()
                .map_err(|m: String| anyhow::anyhow!("--price-date: {m}"))
        })
        .transpose()?;
    let opts = ImportOptions {
        format: a.format.0,
        strict: a.strict,
        show_numbers: a.show_numbers,
        defences,
        warmup_ms: a.warmup,
        shares: shares(&a.imessage_share)?,
        price_date,
    };
    let started = std::time::Instant::now();
    let im = mo2fa_import::import(&a.files, opts, &mut printer())?;
    let secs = started.elapsed().as_secs_f64();
    mo2fa_import::report::write(&im, &a.out)
        .with_context(|| format!("{}: cannot write", a.out.display()))?;
    let t = &im.analysis.total;
    println!(
        "{} SMS, ${:.2}; likely pumping {} SMS (${:.2}); {} bad rows, {} skipped",
        t.sms,
        t.spend_usd,
        im.suspects.sms(),
        im.suspects.spend_usd(),
        im.stats.bad,
        im.stats.skipped_total()
    );
    for r in &im.replays.replays {
        println!(
            "{}: would have blocked {} SMS (${:.2}), {} of them converted (legit)",
            r.name, r.blocked.sms, r.blocked.spend_usd, r.blocked.converted
        );
    }
    let rows = im.stats.sends() + im.stats.bad + im.stats.skipped_total();
    eprintln!(
        "{rows} rows in {secs:.2} s ({:.0} rows/s)",
        rows as f64 / secs.max(1e-9)
    );
    println!("wrote {}", a.out.display());
    Ok(())
}

pub fn fit(a: FitArgs) -> Result<()> {
    let fitted = mo2fa_import::fit::fit(
        &a.files,
        a.format.0,
        a.strict,
        a.seed,
        &shares(&a.imessage_share)?,
        &mut printer(),
    )?;
    std::fs::write(&a.out, &fitted.toml)
        .with_context(|| format!("{}: cannot write", a.out.display()))?;
    println!(
        "wrote {}: {} legit SMS at {:.4}/s, {} attacker(s) with {} SMS; the log: {} SMS, ${:.2}",
        a.out.display(),
        fitted.legit_sms,
        fitted.legit_rate_per_s,
        fitted.attackers,
        fitted.attack_sms,
        fitted.log_sms,
        fitted.log_spend_usd
    );
    Ok(())
}
