//! Decisions across many runs of the simulator.
//!
//! - `metrics`: the dotted metric names of `docs/metrics.md` (compiled in) with their units,
//!   and a run's `summary.json` flattened to numbers by those names;
//! - `keys`: a `--set` key checked against the simulator's list of the keys its parser
//!   accepts (`mo2fa_sim::scenario::keys`), and the closest one to a typo;
//! - `source`: a scenario file with its `[expect]` table taken out before the simulator
//!   parses the rest, and one run from TOML text to `summary.json`;
//! - `grid`: `--set KEY=...` values, the grid of settings, its shards;
//! - `stats`: means and t-based 95 % intervals across seeds;
//! - `sweep`: the runs of a sweep on every core, its files (`sweep.json`, `runs.jsonl`,
//!   `sweep.csv`, `report.html`) and the merge of shards; `pareto` the chart;
//! - `expect`: the expression language of expectations (docs/expect.md);
//! - `diff`: two runs' or sweeps' outputs compared.
//!
//! Not here: clap, progress bars, Ctrl-C handlers, exit codes (the binary's `sweep_cli` and
//! `diff_cli`), or anything that changes how one run is simulated (`mo2fa-sim`).

#![forbid(unsafe_code)]

pub mod diff;
pub mod expect;
pub mod grid;
pub mod keys;
pub mod metrics;
pub mod pareto;
pub mod source;
pub mod stats;
pub mod sweep;

/// Everything that can go wrong in this crate; each message names the file, key or metric.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error(transparent)]
    Scenario(#[from] mo2fa_sim::scenario::ScenarioError),
    #[error(transparent)]
    Sim(#[from] mo2fa_sim::SimError),
    #[error("{0}")]
    Input(String),
    /// A file (or directory) that could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// A file (or its directory) that could not be written.
    #[error("{path}: cannot write: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: String, message: String },
}

impl DecideError {
    pub(crate) fn read(path: &std::path::Path, source: std::io::Error) -> Self {
        DecideError::Read {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn write(path: &std::path::Path, source: std::io::Error) -> Self {
        DecideError::Write {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn format(path: &std::path::Path, message: impl Into<String>) -> Self {
        DecideError::Format {
            path: path.display().to_string(),
            message: message.into(),
        }
    }
}

/// Levenshtein distance, for "did you mean" suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = (up + 1).min(row[j] + 1).min(diag + usize::from(ca != *cb));
            diag = up;
        }
    }
    row[b.len()]
}

/// The candidate closest to `word` by edit distance (the first of equals, in order).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(super::edit_distance("per_ip", "per_ip"), 0);
        assert_eq!(super::edit_distance("per_iq", "per_ip"), 1);
        assert_eq!(super::edit_distance("perip", "per_ip"), 1);
        assert_eq!(super::edit_distance("kitten", "sitting"), 3);
        assert_eq!(super::edit_distance("", "abc"), 3);
        assert_eq!(
            super::closest("per_iq", ["per_number", "per_ip", "window"]),
            Some("per_ip")
        );
    }

    #[test]
    fn a_failed_read_and_a_failed_write_say_which_they_were() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        // A directory where sweep.json should be: it cannot be read as a file.
        std::fs::create_dir_all(dir.join("sweep.json")).unwrap();
        let read = match crate::sweep::read(dir) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("a directory read as sweep.json"),
        };
        let want = format!("{}: cannot read: ", dir.join("sweep.json").display());
        assert!(read.starts_with(&want), "{read}");
        let file = dir.join("sweep.json").join("x");
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let write = super::DecideError::write(&file, denied).to_string();
        assert!(
            write.starts_with(&format!("{}: cannot write: ", file.display())),
            "{write}"
        );
    }
}
