//! `mo2fa diff RUN_A RUN_B`: two runs', sweeps' or benchmarks' outputs compared, largest
//! changes first (`mo2fa_decide::diff`).

use anyhow::{Context, Result};
use clap::Args;
use mo2fa_decide::diff;
use std::path::PathBuf;

#[derive(Args)]
#[command(after_help = "Examples:\n  \
    mo2fa run scenarios/quickstart.toml --out reports/a\n  \
    mo2fa run scenarios/pumping-wave.toml --out reports/b\n  \
    mo2fa diff reports/a reports/b --out reports/a-vs-b\n  \
    mo2fa diff reports/sweep-old reports/sweep-new   # two sweeps: each setting's means")]
pub struct DiffArgs {
    /// The first run: a directory with summary.json (mo2fa run), sweep.json (mo2fa sweep) or
    /// bench.json (mo2fa bench http), or that JSON file.
    a: PathBuf,
    /// The second, of the same kind.
    b: PathBuf,
    /// Also write diff.csv (every metric) and report.html (the changes) here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Changed metrics to print, largest first.
    #[arg(long, default_value_t = 30)]
    top: usize,
}

pub fn run(args: DiffArgs) -> Result<()> {
    let a = diff::Side::read(&args.a)?;
    let b = diff::Side::read(&args.b)?;
    let d = diff::diff(&a, &b)?;
    print!("{}", diff::table(&d, args.top));
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("{}: cannot write", out.display()))?;
        let csv = diff::csv(&d).context("diff.csv")?;
        for (name, text) in [("diff.csv", csv), ("report.html", diff::html(&d))] {
            let p = out.join(name);
            std::fs::write(&p, text).with_context(|| format!("{}: cannot write", p.display()))?;
        }
        println!("wrote {}/{{diff.csv,report.html}}", out.display());
    }
    Ok(())
}
