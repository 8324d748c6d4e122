//! One import from files to analysed figures: the scan, the analysis, the replays and the
//! reverse pricing, wired together; and the defences the user asked to replay.

use crate::analysis::{Analysis, Suspects};
use crate::countries::{Countries, Prices};
use crate::error::ImportError;
use crate::formats::Format;
use crate::replay::{Defence, Replays};
use crate::reverse::{ReverseReport, Shares};
use crate::scan::{BadRow, ScanStats, Scanner};
use mo2fa_core::conf::ConfigError;
use mo2fa_core::sms_defences::{PRESET_NAMES, SmsDefences};
use mo2fa_cost::prices::Date;
use std::path::{Path, PathBuf};

/// What `mo2fa import` was asked to do.
pub struct ImportOptions {
    pub format: Format,
    pub strict: bool,
    pub show_numbers: bool,
    pub defences: Vec<Defence>,
    /// The log's first milliseconds replayed only to build the rules' history.
    pub warmup_ms: u64,
    pub shares: Shares,
    /// Price every inferred send from this snapshot instead of the one of its day.
    pub price_date: Option<Date>,
}

/// Everything an import found.
pub struct Imported {
    pub files: Vec<PathBuf>,
    pub format: Format,
    pub show_numbers: bool,
    pub warmup_ms: u64,
    pub countries: Countries,
    pub price_dates: Vec<String>,
    pub stats: ScanStats,
    pub analysis: Analysis,
    pub suspects: Suspects,
    pub replays: Replays,
    pub reverse: ReverseReport,
}

/// Reads, analyses and prices the files; `on_bad` sees each bad row as it is found.
pub fn import(
    files: &[PathBuf],
    opts: ImportOptions,
    on_bad: &mut dyn FnMut(&BadRow),
) -> Result<Imported, ImportError> {
    let countries = Countries::builtin();
    let prices = Prices::new(&countries, opts.price_date)?;
    let mut analysis = Analysis::new(countries.len());
    let mut replays = Replays::new(opts.defences, &countries.iso, opts.warmup_ms);
    let scanner = Scanner {
        countries: &countries,
        prices: &prices,
        format: opts.format,
        strict: opts.strict,
    };
    let stats = scanner.scan(
        files,
        &mut |s| {
            if !s.refused {
                analysis.add(s);
            }
            replays.push(s);
        },
        on_bad,
    )?;
    analysis.finish();
    if analysis.total.sms == 0 {
        return Err(ImportError::Empty {
            bad: stats.bad,
            skipped: stats.skipped_total(),
        });
    }
    replays.finish();
    let suspects = analysis.suspects();
    let reverse = crate::reverse::price(&analysis, &countries, &opts.shares)?;
    Ok(Imported {
        files: files.to_vec(),
        format: opts.format,
        show_numbers: opts.show_numbers,
        warmup_ms: opts.warmup_ms,
        price_dates: prices.dates(),
        countries,
        stats,
        analysis,
        suspects,
        replays,
        reverse,
    })
}

/// A vendor preset by name (`all`: every preset).
pub fn presets(name: &str) -> Result<Vec<Defence>, ImportError> {
    let names: Vec<&str> = if name == "all" {
        PRESET_NAMES.to_vec()
    } else {
        vec![name]
    };
    names
        .into_iter()
        .map(|n| {
            let cfg = SmsDefences {
                preset: Some(n.to_string()),
                ..SmsDefences::default()
            }
            .resolve()
            .map_err(|all| {
                let why: Vec<String> = all
                    .into_iter()
                    .map(|e| format!("{}: {}", e.key, e.message))
                    .collect();
                ImportError::Config(format!("--preset {n}: {}", why.join("; ")))
            })?;
            Ok(Defence {
                name: n.to_string(),
                cfg,
            })
        })
        .collect()
}

/// The `[defences.sms]` section of a scenario file (none: the defaults, as the simulator runs
/// it), or a defences file (the same keys at its top level, as `serve --sms-defences` reads).
/// Errors read as every config file's: `file:line: key: message`, all at once.
pub fn defences_file(path: &Path) -> Result<Defence, ImportError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    let bad = |e: ConfigError| ImportError::Config(e.to_string());
    // A scenario has a `[legit]` or `[defences.sms]` table; anything else (a syntax error
    // too) is read as a defences file.
    let scenario = text.parse::<toml::Table>().is_ok_and(|t| {
        t.get("legit").is_some_and(toml::Value::is_table)
            || t.get("defences")
                .and_then(|d| d.get("sms"))
                .is_some_and(toml::Value::is_table)
    });
    if !scenario {
        let cfg = SmsDefences::parse(&name, &text).map_err(bad)?;
        return Ok(Defence { name, cfg });
    }
    // The section read where it is written, so each error has the scenario's line.
    #[derive(serde::Deserialize)]
    struct Scenario {
        #[serde(default)]
        defences: Defences,
    }
    #[derive(serde::Deserialize, Default)]
    struct Defences {
        #[serde(default)]
        sms: SmsDefences,
    }
    let mut c = mo2fa_core::conf::collect::<Scenario>(&text);
    let mut problems = c.problems.clone();
    match c.value.take().map(|s| s.defences.sms.resolve()) {
        Some(Ok(cfg)) if problems.is_empty() => return Ok(Defence { name, cfg }),
        Some(Err(all)) => problems.extend(all.into_iter().filter_map(|e| {
            let key = format!("defences.sms.{}", e.key);
            (!c.touches_removed(&key)).then(|| c.keys.problem(key, e.message))
        })),
        _ => {}
    }
    if problems.is_empty() {
        problems.push(
            c.keys
                .problem("defences.sms", "cannot be read as a defences section"),
        );
    }
    Err(bad(ConfigError::problems(&name, problems)))
}
