//! `mo2fa incidents`: replays the incident library (scenarios/incidents/) as written, with
//! each vendor defence preset and through the reverse flow with each fallback, and writes one
//! Markdown table per incident (docs/incidents.md is this command's output).

use crate::progress;
use anyhow::{Context, Result, bail};
use clap::Args;
use mo2fa_harness::incidents;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Args)]
pub struct IncidentsArgs {
    /// Incident scenarios (default: every .toml file in scenarios/incidents/).
    files: Vec<PathBuf>,
    /// Write the Markdown to this file (e.g. docs/incidents.md) instead of standard output
    /// (with --check: instead of reports/incidents-check.md).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only replay each file as written and check it against its documented figures: prints
    /// one line per incident and writes the Markdown to a file.
    #[arg(long)]
    check: bool,
}

/// Where `--check` writes its Markdown unless given --out.
const CHECK_REPORT: &str = "reports/incidents-check.md";

pub fn run(args: IncidentsArgs) -> Result<()> {
    let files = if args.files.is_empty() {
        incidents::library_files(Path::new(incidents::LIBRARY))?
    } else {
        args.files.clone()
    };
    static INTERRUPT: AtomicBool = AtomicBool::new(false);
    let _ = ctrlc::set_handler(|| INTERRUPT.store(true, Ordering::Relaxed));
    // A bar on a terminal; a plain line every tenth of the runs otherwise.
    let progress = progress::Counted::new("incidents", "runs");
    let tick = |total: usize| {
        progress.tick(total);
    };
    let library = incidents::replay(&files, args.check, &INTERRUPT, &tick);
    progress.finish();
    let library = library?;
    let out = args
        .out
        .clone()
        .or_else(|| args.check.then(|| PathBuf::from(CHECK_REPORT)));
    match &out {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("{}: cannot write", dir.display()))?;
            }
            std::fs::write(path, &library.doc)
                .with_context(|| format!("{}: cannot write", path.display()))?;
        }
        None => print!("{}", library.doc),
    }
    if args.check {
        print!("{}", library.short_table());
    }
    if let Some(path) = &out {
        println!("wrote {}", path.display());
    }
    if !library.misses.is_empty() {
        bail!(
            "replays outside ±10 % of their documented figures:\n  {}",
            library.misses.join("\n  ")
        );
    }
    Ok(())
}
