//! Errors of the cost model. Every input problem names the file, the line and the key or field,
//! so a finance user editing a scenario can find the mistake without reading code.

use std::path::PathBuf;

/// Why a price table, price file, mix file or command-line value was refused.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    /// The file could not be read at all.
    #[error("{file}: cannot read: {source}")]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A report (or its directory) could not be written.
    #[error("{file}: cannot write: {source}")]
    Write {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A value in a file is malformed or out of range. `line` is 1-based; 0 means the whole
    /// file, which is then named without a line (`file: key: message`).
    #[error("{}", mo2fa_core::conf::Problem { line: (*line > 0).then_some(*line), key: key.clone(), message: message.clone() }.show(file))]
    Invalid {
        file: String,
        line: usize,
        key: String,
        message: String,
    },
    /// Every error the parse of a file found, in file order, one a line:
    /// `file:line: key: message` (mo2fa_core::conf::Problem).
    #[error("{}", problems.iter().map(|p| p.show(file)).collect::<Vec<_>>().join("\n"))]
    Problems {
        file: String,
        problems: Vec<mo2fa_core::conf::Problem>,
    },
    /// A command-line argument is malformed or out of range.
    #[error("--{arg}: {message}")]
    Argument { arg: String, message: String },
    /// A model input (usually from a simulation) is inconsistent.
    #[error("{0}")]
    Model(String),
}

impl CostError {
    pub(crate) fn invalid(
        file: &str,
        line: usize,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        CostError::Invalid {
            file: file.to_string(),
            line,
            key: key.into(),
            message: message.into(),
        }
    }

    /// Every error of a file, in file order (errors without a line last).
    pub(crate) fn problems(file: &str, mut problems: Vec<mo2fa_core::conf::Problem>) -> Self {
        problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        CostError::Problems {
            file: file.to_string(),
            problems,
        }
    }

    pub fn argument(arg: &str, message: impl Into<String>) -> Self {
        CostError::Argument {
            arg: arg.to_string(),
            message: message.into(),
        }
    }
}

/// 1-based line number of byte offset `pos` in `text` (clamped to the text).
pub(crate) fn line_of(text: &str, pos: usize) -> usize {
    let end = pos.min(text.len());
    let prefix = text.get(..end).unwrap_or(text);
    prefix.bytes().filter(|&b| b == b'\n').count() + 1
}
