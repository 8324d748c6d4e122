//! `HarnessError`: everything that can stop a load run, a bench or a live replay before or
//! while it runs. Each kind of problem has one wording: the option or file it concerns first,
//! then what is wrong with it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// An I/O error that concerns no particular file (a socket, a runtime).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A file (or directory) that could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file (or its directory) that could not be written.
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] mo2fa_core::verifier::ConfigError),
    #[error(transparent)]
    Secret(#[from] mo2fa_core::webhook::SecretError),
    #[error(transparent)]
    SmsOtp(#[from] mo2fa_core::sms_otp::SmsOtpError),
    #[error(transparent)]
    Sim(#[from] mo2fa_sim::SimError),
    /// A store that is neither `memory` nor a Redis URL; `key` is the option or scenario key.
    #[error(
        "{key}: {url:?} is neither \"memory\" nor a Redis URL ({})",
        mo2fa_core::store::REDIS_URL_SCHEMES.join(", ")
    )]
    StoreUrl { key: &'static str, url: String },
    /// The in-process server's store could not be set up.
    #[error("--store: {0}")]
    Store(String),
    #[error("--target: {0}")]
    TargetUrl(String),
    #[error("--target {target}: cannot connect: {source}")]
    Unreachable {
        target: String,
        source: std::io::Error,
    },
    #[error("--target {target}: {route} {problem}")]
    TargetStart {
        target: String,
        route: String,
        problem: String,
    },
    #[error("--profile: {0}")]
    Profile(#[from] mo2fa_target::profile::ProfileError),
    /// A built-in profile failed its own check (a unit test keeps this from shipping).
    #[error("the built-in profile mo2fa does not parse")]
    NoBuiltinProfile,
    #[error(
        "the webhook endpoint of a --target needs the secret the target checks deliveries with"
    )]
    NoSecret,
    #[error("starting the async runtime: {0}")]
    Runtime(String),
    #[error("{option}: cannot listen on {addr}: {source}")]
    Listen {
        option: &'static str,
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("--speed: must be a positive number, got {0}")]
    Speed(f64),
    #[error(
        "the scenario makes more than {0} requests, too many to replay live; shorten it with --duration"
    )]
    TraceTooLong(usize),
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    #[cfg(feature = "load")]
    #[error("goose: {0}")]
    Goose(Box<goose::GooseError>),
    #[error(
        "{} holds the report of another run ({theirs}); this run ({ours}) would replace it: \
         pass --force to replace it, or give another --out",
        dir.display()
    )]
    OtherReport {
        dir: PathBuf,
        theirs: String,
        ours: String,
    },
    /// Stopped by Ctrl-C; says what was (not) written.
    #[error("interrupted: {0}")]
    Interrupted(&'static str),
    /// A `--shard I/N` out of range.
    #[error("{0}")]
    Shard(String),
    /// Shards that cannot be merged (another run, a missing or repeated shard, a bad file).
    #[error("merge: {0}")]
    Merge(String),
    #[error("scraping {url}: {reason}")]
    Scrape { url: String, reason: String },
}

#[cfg(feature = "load")]
impl From<goose::GooseError> for HarnessError {
    fn from(e: goose::GooseError) -> Self {
        Self::Goose(Box::new(e))
    }
}

impl HarnessError {
    /// A failed read of `path`.
    pub fn read(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Read { path, source }
    }

    /// A failed write of `path` (or creation of the directory `path`).
    pub fn write(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Write { path, source }
    }
}

#[cfg(test)]
mod tests {
    use crate::shard::{read_histogram, write_histograms};
    use hdrhistogram::Histogram;

    #[test]
    fn a_failed_read_and_a_failed_write_say_which_they_were() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let missing = dir.join("missing.hdr");
        let read = read_histogram(&missing).unwrap_err().to_string();
        let want = format!("{}: cannot read: ", missing.display());
        assert!(read.starts_with(&want), "{read}");
        // A file where the histograms' directory should be.
        let file = dir.join("a-file");
        std::fs::write(&file, "").unwrap();
        let h = Histogram::<u64>::new(3).unwrap();
        let write = write_histograms(&file, "load", &h, &h)
            .unwrap_err()
            .to_string();
        let want = format!("{}: cannot write: ", file.join("load.hdr").display());
        assert!(write.starts_with(&want), "{write}");
    }
}
