//! `mo2fa incidents`: replays the incident library (scenarios/incidents/) as written, with
//! each vendor defence preset and through the reverse flow with each fallback, on every core
//! (rayon), and assembles one Markdown table per incident (docs/incidents.md is its output).

use crate::error::HarnessError;
use mo2fa_sim::engine::{self, Control};
use mo2fa_sim::incidents::{self, Measured};
use mo2fa_sim::scenario::Scenario;
use mo2fa_sim::variants::Variant;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Where the library lives, relative to the working directory.
pub const LIBRARY: &str = "scenarios/incidents";

/// What the replays gave.
pub struct Library {
    /// docs/incidents.md: the header, then one section per incident.
    pub doc: String,
    /// Figures of a replay as written outside ±10 % of the documented ones, "file: miss".
    pub misses: Vec<String>,
    /// Each file's replay as written, with its misses.
    pub as_written: Vec<(String, Measured, Vec<String>)>,
}

impl Library {
    /// One line per incident: what its replay as written measured, and whether that is
    /// within ±10 % of the documented figures.
    pub fn short_table(&self) -> String {
        let mut out = format!(
            "{:<40} {:>11} {:>9} {:>12} {:>12} {:>13}  documented\n",
            "incident", "pumped SMS", "blocked", "bill USD", "first block", "legit blocked"
        );
        for (file, m, misses) in &self.as_written {
            let first = m.first_block_ms.map_or("none".to_string(), |ms| {
                format!("{:.0} s", ms as f64 / 1000.0)
            });
            let verdict = if misses.is_empty() {
                "OK (±10 %)".to_string()
            } else {
                format!("MISSED {}", misses.len())
            };
            out.push_str(&format!(
                "{file:<40} {:>11} {:>9} {:>12.2} {first:>12} {:>13}  {verdict}\n",
                m.pumped_sms, m.blocked, m.bill_usd, m.legit_blocked
            ));
        }
        out
    }
}

/// Every `.toml` file in `dir`, sorted.
pub fn library_files(dir: &Path) -> Result<Vec<PathBuf>, HarnessError> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(HarnessError::file(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    Ok(v)
}

/// One incident file: its name, text and parsed scenario.
struct Incident {
    file: String,
    text: String,
    sc: Scenario,
}

/// Reads `files` (each must have an `[incident]` section) and replays them: only as written
/// with `check`, else with every variant. `tick(total)` is called after each run; an
/// interruption stops the runs and writes nothing.
pub fn replay(
    files: &[PathBuf],
    check: bool,
    interrupt: &AtomicBool,
    tick: &(dyn Fn(usize) + Sync),
) -> Result<Library, HarnessError> {
    let mut read = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(HarnessError::file(f))?;
        let sc =
            Scenario::parse(&f.display().to_string(), &text).map_err(mo2fa_sim::SimError::from)?;
        if sc.incident.is_none() {
            return Err(HarnessError::NoIncident(f.clone()));
        }
        read.push(Incident {
            file: f.display().to_string(),
            text,
            sc,
        });
    }
    let variants = if check {
        vec![Variant::AsWritten]
    } else {
        incidents::variants(mo2fa_core::sms_defences::PRESET_NAMES)
    };
    let jobs: Vec<(usize, &Variant)> = (0..read.len())
        .flat_map(|f| variants.iter().map(move |v| (f, v)))
        .collect();
    let total = jobs.len();
    // Results in job order, whichever core ran each.
    let results: Vec<Option<Result<Measured, HarnessError>>> = jobs
        .par_iter()
        .map(|&(f, variant)| {
            if interrupt.load(Ordering::Relaxed) {
                return None;
            }
            let measured = measure(&read[f], variant, interrupt);
            tick(total);
            Some(measured)
        })
        .collect();
    if interrupt.load(Ordering::Relaxed) {
        return Err(HarnessError::Interrupted("no tables written"));
    }
    let mut doc = String::from(HEADER);
    let mut misses = Vec::new();
    let mut as_written = Vec::new();
    let mut results = jobs.iter().zip(results);
    for inc in &read {
        let mut rows = Vec::new();
        for ((_, variant), result) in (&mut results).take(variants.len()) {
            let m = result.ok_or(HarnessError::Interrupted("no tables written"))??;
            if **variant == Variant::AsWritten
                && let Some(documented) = &inc.sc.incident
            {
                let missed = incidents::misses(documented, &m);
                misses.extend(missed.iter().map(|miss| format!("{}: {miss}", inc.file)));
                as_written.push((inc.file.clone(), m.clone(), missed));
            }
            rows.push(((*variant).clone(), m));
        }
        debug_assert!(rows.len() == variants.len(), "incident {}", inc.file);
        doc.push_str(&incidents::section(&inc.file, &inc.sc, &rows));
    }
    Ok(Library {
        doc,
        misses,
        as_written,
    })
}

/// One variant of one incident, simulated.
fn measure(
    inc: &Incident,
    variant: &Variant,
    interrupt: &AtomicBool,
) -> Result<Measured, HarnessError> {
    let sc = variant
        .apply(&inc.file, &inc.text)
        .map_err(mo2fa_sim::SimError::from)?;
    let control = Control {
        interrupt,
        progress: &|_| {},
    };
    let o = engine::simulate(&sc, sc.seed, &control)?;
    if o.interrupted {
        return Err(HarnessError::Interrupted("no tables written"));
    }
    Ok(Measured::of(&sc, incidents::flow_of(&sc, variant), &o))
}

pub const HEADER: &str = "# Incidents: what each defence would have done\n\n\
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
