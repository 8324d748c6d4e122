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
    /// Write the Markdown to this file (e.g. docs/incidents.md) instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only replay each file as written and check it against its documented figures.
    #[arg(long)]
    check: bool,
}

pub fn run(args: IncidentsArgs) -> Result<()> {
    let files = if args.files.is_empty() {
        incidents::library_files(Path::new(incidents::LIBRARY))?
    } else {
        args.files.clone()
    };
    static INTERRUPT: AtomicBool = AtomicBool::new(false);
    let _ = ctrlc::set_handler(|| INTERRUPT.store(true, Ordering::Relaxed));
    let bar = progress::bar(0, "{bar:40} {pos}/{len} runs  ETA {eta}");
    let tick = |total: usize| {
        bar.set_length(total as u64);
        bar.inc(1);
    };
    let library = incidents::replay(&files, args.check, &INTERRUPT, &tick);
    bar.finish_and_clear();
    let library = library?;
    match &args.out {
        Some(path) => std::fs::write(path, &library.doc)
            .with_context(|| format!("{}: cannot write", path.display()))?,
        None => print!("{}", library.doc),
    }
    if !library.misses.is_empty() {
        bail!(
            "replays outside ±10 % of their documented figures:\n  {}",
            library.misses.join("\n  ")
        );
    }
    Ok(())
}
