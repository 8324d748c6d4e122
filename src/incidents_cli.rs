//! `mo2fa incidents`: replays the incident library (scenarios/incidents/) as written, with
//! each vendor defence preset and through the reverse flow with each fallback, and writes one
//! Markdown table per incident (docs/incidents.md is this command's output).

use anyhow::{Context, Result, bail};
use clap::Args;
use mo2fa_sim::engine::{self, Control};
use mo2fa_sim::incidents::{self, Measured};
use mo2fa_sim::scenario::Scenario;
use mo2fa_sim::variants::Variant;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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

struct Job {
    file: usize,
    variant: Variant,
}

pub fn run(args: IncidentsArgs) -> Result<()> {
    let files = if args.files.is_empty() {
        let dir = Path::new("scenarios/incidents");
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("{}: cannot list the incident library", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        v.sort();
        v
    } else {
        args.files.clone()
    };
    let mut texts = Vec::new();
    for f in &files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("{}: cannot read", f.display()))?;
        let sc = Scenario::parse(&f.display().to_string(), &text)?;
        if sc.incident.is_none() {
            bail!(
                "{}: has no [incident] section (source and documented figures)",
                f.display()
            );
        }
        texts.push((f.display().to_string(), text, sc));
    }
    let variants = if args.check {
        vec![Variant::AsWritten]
    } else {
        incidents::variants(mo2fa_core::sms_defences::PRESET_NAMES)
    };
    let jobs: Vec<Job> = (0..texts.len())
        .flat_map(|file| {
            variants.iter().map(move |v| Job {
                file,
                variant: v.clone(),
            })
        })
        .collect();

    static INTERRUPT: AtomicBool = AtomicBool::new(false);
    let _ = ctrlc::set_handler(|| INTERRUPT.store(true, Ordering::Relaxed));
    let bar = crate::progress_bar(jobs.len() as u64, "{bar:40} {pos}/{len} runs  ETA {eta}");
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Measured>>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    if INTERRUPT.load(Ordering::Relaxed) {
                        break;
                    }
                    let (file, text, _) = &texts[job.file];
                    let measured = (|| -> Result<Measured> {
                        let sc = job.variant.apply(file, text)?;
                        let control = Control {
                            interrupt: &INTERRUPT,
                            progress: &|_| {},
                        };
                        let o = engine::simulate(&sc, sc.seed, &control)?;
                        if o.interrupted {
                            bail!("interrupted");
                        }
                        Ok(Measured::of(&sc, incidents::flow_of(&sc, &job.variant), &o))
                    })();
                    results.lock().expect("no worker panics")[i] = Some(measured);
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    if INTERRUPT.load(Ordering::Relaxed) {
        bail!("interrupted: no tables written");
    }
    let results = results.into_inner().expect("no worker panics");
    let mut doc = String::from(HEADER);
    let mut failed = Vec::new();
    for (f, (file, _, sc)) in texts.iter().enumerate() {
        let inc = sc.incident.as_ref().expect("checked above");
        let mut rows = Vec::new();
        for (job, result) in jobs.iter().zip(&results) {
            if job.file != f {
                continue;
            }
            let m = match result {
                Some(Ok(m)) => m.clone(),
                Some(Err(e)) => bail!("{e:#}"),
                None => bail!("{file} ({}): not run", job.variant.label()),
            };
            if job.variant == Variant::AsWritten {
                failed.extend(
                    incidents::misses(inc, &m)
                        .into_iter()
                        .map(|miss| format!("{file}: {miss}")),
                );
            }
            rows.push((job.variant.clone(), m));
        }
        doc.push_str(&incidents::section(file, sc, &rows));
    }
    match &args.out {
        Some(path) => std::fs::write(path, &doc)
            .with_context(|| format!("{}: cannot write", path.display()))?,
        None => print!("{doc}"),
    }
    if !failed.is_empty() {
        bail!(
            "replays outside ±10 % of their documented figures:\n  {}",
            failed.join("\n  ")
        );
    }
    Ok(())
}

const HEADER: &str = "# Incidents: what each defence would have done\n\n\
Written by `mo2fa incidents --out docs/incidents.md` from the files in `scenarios/incidents/`\n\
(their sources, documented figures and assumptions are in each file's header and in\n\
`scenarios/incidents/README.md`). Every row replays the same traffic with the same seed:\n\
first the victim's defences as they were, then each vendor preset added to them\n\
(`docs/defences.md` says what each preset publishes and what mo2fa assumes), then the reverse\n\
flow with each fallback. SMS pumped and the bill are the pumped SMS as the provider billed\n\
them; time to first block runs from the start of the pumping attack to the first send a\n\
defence refused; legit users blocked are legit requests refused an SMS by a defence or by a\n\
suspended provider account.\n\n\
Every run starts from an account with no history: rules that learn from it (Fraud Guard's\n\
baseline, Plivo's suggested caps, Authgear's verified volume) start at their floors, so on\n\
high-volume traffic they refuse much legit traffic at first (docs/defences.md says how to\n\
give them history, e.g. Plivo's `learn`).\n\n";
