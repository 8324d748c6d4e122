//! `mo2fa sweep`: a scenario's settings × seeds on every core, with its Pareto report
//! (`mo2fa_decide::sweep`), shards for several machines and their merge.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use mo2fa_decide::expect;
use mo2fa_decide::grid::{Axis, Grid, Shard};
use mo2fa_decide::metrics::show;
use mo2fa_decide::source::Source;
use mo2fa_decide::sweep::{self, Plan, Row};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

const EXAMPLES: &str = "Examples:
  mo2fa sweep scenarios/quickstart.toml --set defences.sms.per_ip=5,10,30 \\
      --set defences.sms.per_number=3..9:3 --seeds 5 --out reports/sweep
  mo2fa sweep scenarios/quickstart.toml --set defences.sms.preset=~,authgear --seeds 3 \\
      --expect 'any: cost_model_usd.sms_flow.pumped_sms < $50'
  # on 4 machines, then merged (byte-identical to the run on one):
  mo2fa sweep S.toml --set ... --seeds 8 --shard 2/4 --out out/shard-2
  mo2fa sweep merge out/shard-0 out/shard-1 out/shard-2 out/shard-3 --out out/merged";

#[derive(Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = EXAMPLES
)]
pub struct SweepArgs {
    #[command(subcommand)]
    command: Option<SweepCommand>,
    /// Scenario file (see scenarios/README.md); its `[expect]` table is checked per setting.
    #[arg(required = true)]
    scenario: Option<PathBuf>,
    /// A scenario key (its dotted TOML path, e.g. defences.sms.per_ip, attacker.0.rate_per_s,
    /// legit.countries.US.imessage) and its values: V1,V2,... or A..B:STEP (B included when
    /// on the grid); `~` leaves the key out. Repeat for a grid.
    #[arg(long = "set", value_name = "KEY=VALUES")]
    set: Vec<String>,
    /// Seeds per setting: the scenario's seed and the ones after it.
    #[arg(long, default_value_t = 5)]
    seeds: usize,
    /// Output directory; default reports/sweep-<scenario name>.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run only the I-th of N slices of the runs (I from 0 to N-1); `sweep merge` joins them.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Runs at once; default every core.
    #[arg(long)]
    jobs: Option<usize>,
    /// An expectation every setting's means must meet (`any:` first: at least one setting),
    /// e.g. 'defences.sms_flow.legit_blocked <= 10' (docs/expect.md). Repeatable; exits
    /// with status 3 when one fails.
    #[arg(long)]
    expect: Vec<String>,
}

#[derive(Subcommand)]
enum SweepCommand {
    /// Merge the shard directories of one sweep into the files the unsharded sweep writes.
    #[command(after_help = "Example:\n  mo2fa sweep merge out/shard-* --out out/merged")]
    Merge(MergeArgs),
}

#[derive(Args)]
struct MergeArgs {
    /// The shards' output directories (each with sweep.json and runs.jsonl).
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// Where the merged sweep goes.
    #[arg(long)]
    out: PathBuf,
    /// Expectations checked on the merged sweep, besides the scenario's `[expect]`.
    #[arg(long)]
    expect: Vec<String>,
}

pub fn run(args: SweepArgs) -> Result<()> {
    match args.command {
        Some(SweepCommand::Merge(m)) => merge(m),
        None => sweep(args),
    }
}

static INTERRUPT: AtomicBool = AtomicBool::new(false);

fn sweep(args: SweepArgs) -> Result<()> {
    let Some(path) = args.scenario else {
        bail!("a scenario file is required (or `sweep merge DIR...`)");
    };
    let source = Source::read(&path)?;
    let expectations = expect::parse_all(&source.expect, &args.expect)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("{}: expectations", path.display()))?;
    let axes = args
        .set
        .iter()
        .map(|s| Axis::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let grid = Grid::new(axes).map_err(anyhow::Error::msg)?;
    let shard = args.shard.unwrap_or(Shard::WHOLE);
    let plan = Plan::new(&source, &grid, args.seeds, shard)?;
    let out = args
        .out
        .unwrap_or_else(|| Path::new("reports").join(format!("sweep-{}", source.name)));
    let jobs = jobs(args.jobs)?;
    // A second Ctrl-C is ignored; runs under way stop at their next check and are dropped.
    let _ = ctrlc::set_handler(|| INTERRUPT.store(true, Ordering::Relaxed));
    eprintln!(
        "{}",
        plan_line(&source.name, &plan, args.seeds, args.shard, jobs)
    );
    let bar = crate::progress::bar(
        plan.runs.len() as u64,
        "{bar:40} {pos}/{len} runs  ETA {eta}",
    );
    let started = std::time::Instant::now();
    let records = plan.execute(jobs, &INTERRUPT, &|| bar.inc(1))?;
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let mut manifest = plan.manifest.clone();
    manifest.runs = records.len();
    manifest.interrupted = records.len() < plan.runs.len();
    let rows = sweep::write(&out, &manifest, &records)
        .with_context(|| format!("{}: cannot write", out.display()))?;
    print!("{}", table(&rows));
    println!(
        "{} runs in {elapsed:.2} s on {jobs} thread(s): {:.3} runs/s",
        records.len(),
        records.len() as f64 / elapsed.max(1e-9)
    );
    println!(
        "wrote {}/{{sweep.csv,report.html,runs.jsonl,sweep.json}}",
        out.display()
    );
    if manifest.interrupted {
        bail!(
            "interrupted: {} holds the {} of {} runs that finished",
            out.display(),
            records.len(),
            plan.runs.len()
        );
    }
    if manifest.shard.is_some() {
        if !expectations.is_empty() {
            println!("expectations are checked on the whole sweep: `mo2fa sweep merge`");
        }
        return Ok(());
    }
    for line in sweep::check(&expectations, &rows)? {
        println!("{line}");
    }
    Ok(())
}

/// `--jobs`, or one per core.
fn jobs(arg: Option<usize>) -> Result<usize> {
    match arg {
        Some(0) => bail!("--jobs must be at least 1"),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

/// The line a sweep starts with: its size, its shard and its threads.
fn plan_line(name: &str, plan: &Plan, seeds: usize, shard: Option<Shard>, jobs: usize) -> String {
    let part = match shard {
        Some(s) => format!(
            " (shard {}/{}: {} of them)",
            s.index,
            s.count,
            plan.runs.len()
        ),
        None => String::new(),
    };
    format!(
        "sweep {name}: {} settings × {seeds} seeds = {} runs{part}, {jobs} at a time",
        plan.settings.len(),
        plan.manifest.runs_total,
    )
}

fn merge(args: MergeArgs) -> Result<()> {
    let dirs: Vec<&Path> = args.dirs.iter().map(PathBuf::as_path).collect();
    let rows = sweep::merge(&dirs, &args.out)?;
    let (manifest, _) = sweep::read(&args.out)?;
    let expectations = expect::parse_all(&manifest.expect, &args.expect)
        .map_err(anyhow::Error::msg)
        .context("expectations")?;
    print!("{}", table(&rows));
    println!(
        "merged {} director{} ({} runs) into {}/{{sweep.csv,report.html,runs.jsonl,sweep.json}}",
        dirs.len(),
        if dirs.len() == 1 { "y" } else { "ies" },
        manifest.runs,
        args.out.display()
    );
    for line in sweep::check(&expectations, &rows)? {
        println!("{line}");
    }
    Ok(())
}

/// The settings as printed: the chart's two axes and whether a setting is Pareto-optimal.
fn table(rows: &[Row]) -> String {
    /// Settings printed; sweep.csv and report.html have them all.
    const SHOWN: usize = 40;
    let mut s = format!(
        "{:>4}  {:>4}  {:>14}  {:>12}  {:>3}  setting\n",
        "#", "runs", "pumped USD", "legit blocked", "opt"
    );
    for r in rows.iter().take(SHOWN) {
        let mean =
            |e: Option<mo2fa_decide::stats::Estimate>| e.map_or("—".into(), |e| show(e.mean));
        s.push_str(&format!(
            "{:>4}  {:>4}  {:>14}  {:>12}  {:>3}  {}\n",
            r.setting,
            r.runs,
            mean(r.pumped_usd),
            mean(r.legit_blocked),
            if r.optimal { "*" } else { "" },
            r.label
        ));
    }
    if rows.len() > SHOWN {
        s.push_str(&format!(
            "… {} more settings in sweep.csv\n",
            rows.len() - SHOWN
        ));
    }
    s
}
