//! `mo2fa incidents`: replays the incident library (scenarios/incidents/), or any scenario,
//! as written, with each vendor defence preset's published defaults cold and warm, over
//! another range size and through the reverse flow with each fallback, on every core (rayon),
//! and assembles one Markdown table per file (docs/incidents.md is its output).

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
    /// Each incident file's replay as written, with its misses (predicted figures only).
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
                "OK (predicted figures met)".to_string()
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
        .map_err(HarnessError::read(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    Ok(v)
}

/// One scenario file: its name, text, parsed scenario and the variants it is run under.
struct Incident {
    file: String,
    text: String,
    sc: Scenario,
    variants: Vec<Variant>,
}

/// Reads `files` (scenarios, with or without `[incident]`) and replays them: only as written
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
        let text = std::fs::read_to_string(f).map_err(HarnessError::read(f))?;
        let sc =
            Scenario::parse(&f.display().to_string(), &text).map_err(mo2fa_sim::SimError::from)?;
        let variants = if check {
            vec![Variant::AsWritten]
        } else {
            incidents::variants(
                mo2fa_core::sms_defences::PRESET_NAMES,
                incidents::other_range(&sc),
            )
        };
        read.push(Incident {
            file: f.display().to_string(),
            text,
            sc,
            variants,
        });
    }
    let jobs: Vec<(usize, &Variant)> = read
        .iter()
        .enumerate()
        .flat_map(|(f, inc)| inc.variants.iter().map(move |v| (f, v)))
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
        for ((_, variant), result) in (&mut results).take(inc.variants.len()) {
            let m = result.ok_or(HarnessError::Interrupted("no tables written"))??;
            if **variant == Variant::AsWritten
                && let Some(documented) = &inc.sc.criteria.incident
            {
                let missed = incidents::misses(documented, &m);
                misses.extend(missed.iter().map(|miss| format!("{}: {miss}", inc.file)));
                as_written.push((inc.file.clone(), m.clone(), missed));
            }
            rows.push(((*variant).clone(), m));
        }
        debug_assert!(rows.len() == inc.variants.len(), "incident {}", inc.file);
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
    let o = engine::simulate(&sc, sc.run.seed, &control)?;
    if o.interrupted {
        return Err(HarnessError::Interrupted("no tables written"));
    }
    Ok(Measured::of(&sc, incidents::flow_of(&sc, variant), &o))
}

pub const HEADER: &str = "# Incidents: what each defence would have done\n\n\
Written by `mo2fa incidents --out docs/incidents.md` from the files in `scenarios/incidents/`\n\
(their sources, documented figures and assumptions are in each file's header and in\n\
`scenarios/incidents/README.md`; `mo2fa incidents FILE` gives the same table for any\n\
scenario). Every row replays the same traffic with the same seed: first the file as written\n\
(the victim's own defences and history), then each vendor preset with its published defaults\n\
in place of the file's SMS defences, from an empty account (cold) and from the file's\n\
history or a 15-day warm-up (warm) (`docs/defences.md` says what each preset publishes and\n\
what mo2fa assumes), then the file with the pumping spread over another range size, as written\n\
and under Fraud Guard Standard from an empty account (it blocks prefixes, the number without\n\
its last 4 digits, so what it lets through scales with the prefixes the range spans), then the\n\
reverse flow with each fallback. A warm-up is the account's traffic as it was sent: the rules\n\
that learn from history learn it without refusing it, as an explicit history seeds them\n\
(`docs/defences.md`, \"Account history\").\n\n\
SMS pumped and the bill are the pumped SMS as the provider billed them. Fees are the\n\
defences' own charges (assumed prices, in the total cost); a credit is what the vendor would\n\
credit back (Twilio's Fraud Guard Promise, at Max), claimable and not taken off the bill.\n\
Time to first block runs from the start of the first pumping attack to the first send a\n\
defence refused (negative when a legit send was refused before the attack). Legit users\n\
blocked are legit users refused an SMS by a defence or by a suspended provider account (a\n\
refused user does not ask again in that flow), with their share of the run's legit users.\n\
Alerts are sends a monitor-mode rule would have refused. Each documented figure is an\n\
*input* (the file was built to give it, so meeting it tests nothing) or *predicted* (not used\n\
to build the file): only predicted figures are held to \u{b1}10 % (or to their documented\n\
range).\n\n\
Reading the table: three results are the model's real behaviour, not bugs.\n\n\
- Authgear (`authgear_deny`) from an empty account can refuse every legit user of a country\n\
  whose codes come faster than its hourly floor leaks (3 an hour). Each request fills the\n\
  bucket before the decision and only a verified code drains it; the hourly threshold grows\n\
  with the codes verified in the past hour, so once a few unverified codes (never entered,\n\
  lost, resent) pass the floor before verifications raise it, every later request is refused,\n\
  never verified, and the threshold stays at its floor (`docs/defences.md`, \"authgear,\n\
  authgear_deny\"). Whether a cold account escapes depends on its first minutes: Blackpanda's\n\
  Hong Kong app (~180 codes an hour) escaped with a fixed 10 s SMS delivery (1 legit user\n\
  refused) and does not with the cited delivery, whose lost codes and resends leave more codes\n\
  unverified early. With history (the warm rows) the threshold starts from the account's\n\
  traffic.\n\
- Twilio Messaging's and AWS Filter's stand-ins refuse random numbers only when one 1k range\n\
  gets more than 10 sends in one hour's window. Spread over 1,000,000 numbers that is a rare\n\
  event (Blackpanda's 2.2/s over five countries: about once a day on average, by the Poisson\n\
  tail), so their first block is a draw of the random stream, not a property of the product:\n\
  Blackpanda's moved from 47h 59m to 5h 58m when the cited SMS delivery added draws to the\n\
  stream.\n\
- A row that refuses little or none of the attack can differ from the file as written by a few\n\
  hundred pumped SMS: each refusal changes the draws that follow it, and a count of ~950,000\n\
  random arrivals varies by about \u{b1}975 (one standard deviation) from one stream to another.\n\n";
