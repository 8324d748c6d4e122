//! Why an import or a fit stopped. Row-level problems are [`crate::scan::BadRow`]s (skipped and
//! counted) unless `--strict` turns the first one into [`ImportError::Strict`].

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be opened or read.
    #[error("{file}: cannot read: {source}")]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not in the format asked for (decided within its first rows).
    #[error("{file}:{line}: not in the {format} format: {message}")]
    WrongFormat {
        file: String,
        line: u64,
        format: &'static str,
        message: String,
    },
    /// A bad row under `--strict`.
    #[error("{file}:{line}: {field}: {message} (--strict stops at the first bad row)")]
    Strict {
        file: String,
        line: u64,
        field: String,
        message: String,
    },
    /// No file held a single usable row.
    #[error("no SMS sends in the input ({bad} bad rows, {skipped} rows skipped)")]
    Empty { bad: u64, skipped: u64 },
    /// A defences file, preset or other option is invalid.
    #[error("{0}")]
    Config(String),
    /// Prices or the cost model refused their input.
    #[error(transparent)]
    Cost(#[from] mo2fa_cost::error::CostError),
    /// An output file could not be written.
    #[error("{file}: cannot write: {source}")]
    Write {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
