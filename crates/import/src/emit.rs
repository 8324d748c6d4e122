//! Logs written in the formats `mo2fa import` reads, from sends described by [`Record`]s:
//! `mo2fa run --emit-log` writes a run's simulated SMS traffic with these, so the importer can
//! be checked against traffic whose truth is known (docs/import.md, "Round trip"). Each
//! format's writer sits in its module next to its reader, on the same field names.
//!
//! Vendor logs hold what the vendor was asked to send: an attempt the app's own defences
//! refused never reached Twilio or AWS, so only the generic CSV carries refused attempts (its
//! `refused` column), and only it carries the client address and the app account.

use crate::formats::{Format, aws, generic, twilio_messaging, twilio_verify};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// One attempt at an outbound SMS, as the log is to show it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Record {
    /// Unix milliseconds.
    pub ts_ms: u64,
    /// E.164 digits.
    pub number: u64,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: [u8; 2],
    /// The client's IPv4 address.
    pub ip: Option<u32>,
    /// The app account (0: none).
    pub account: u64,
    /// Whether the code was used (`None`: unknown).
    pub verified: Option<bool>,
    /// When it was used (Unix ms).
    pub verified_ms: Option<u64>,
    /// The price billed, all segments (0 when not sent).
    pub price_usd: f64,
    pub segments: u32,
    /// Not sent: refused by a defence or by the provider account.
    pub refused: bool,
}

impl Record {
    pub(crate) fn country(&self) -> &str {
        std::str::from_utf8(&self.country).unwrap_or("")
    }
}

/// The logs `--emit-log` writes: one per import format, Twilio Messaging in both its forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    TwilioVerifyAttempts,
    /// The console's Messaging Logs CSV export.
    TwilioMessaging,
    /// BulkExport day files (JSON lines).
    TwilioBulkExport,
    AwsSmsEvents,
    Csv,
}

impl LogFormat {
    pub const ALL: [LogFormat; 5] = [
        LogFormat::TwilioVerifyAttempts,
        LogFormat::TwilioMessaging,
        LogFormat::TwilioBulkExport,
        LogFormat::AwsSmsEvents,
        LogFormat::Csv,
    ];

    /// The `--emit-log` value.
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::TwilioVerifyAttempts => "twilio-verify-attempts",
            LogFormat::TwilioMessaging => "twilio-messaging",
            LogFormat::TwilioBulkExport => "twilio-bulkexport",
            LogFormat::AwsSmsEvents => "aws-sms-events",
            LogFormat::Csv => "csv",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == s.trim())
    }

    /// The `--format` that reads it back.
    pub fn import_format(self) -> Format {
        match self {
            LogFormat::TwilioVerifyAttempts => Format::TwilioVerifyAttempts,
            LogFormat::TwilioMessaging | LogFormat::TwilioBulkExport => Format::TwilioMessaging,
            LogFormat::AwsSmsEvents => Format::AwsSmsEvents,
            LogFormat::Csv => Format::Csv,
        }
    }

    /// The file's name after `stem` (`traffic`): `.json`, `.jsonl` and `.csv` for the formats
    /// alone on their extension; Twilio Messaging's two forms are named after the form, since
    /// each shares its extension with another format.
    pub fn file_name(self, stem: &str) -> String {
        match self {
            LogFormat::TwilioVerifyAttempts => format!("{stem}.json"),
            LogFormat::TwilioMessaging => format!("{stem}.twilio-messaging.csv"),
            LogFormat::TwilioBulkExport => format!("{stem}.twilio-bulkexport.jsonl"),
            LogFormat::AwsSmsEvents => format!("{stem}.jsonl"),
            LogFormat::Csv => format!("{stem}.csv"),
        }
    }

    /// Whether the log holds attempts that were not sent (vendors' logs hold only sends).
    pub fn carries_refused(self) -> bool {
        self == LogFormat::Csv
    }

    /// Whether the log holds the client address and the app account.
    pub fn carries_client(self) -> bool {
        self == LogFormat::Csv
    }

    /// Whether the log says which codes were used, and when.
    pub fn carries_verified(self) -> bool {
        matches!(self, LogFormat::Csv | LogFormat::TwilioVerifyAttempts)
    }

    /// Writes `records` (in time order) in this format.
    pub fn write(self, w: &mut dyn Write, records: &[Record]) -> io::Result<()> {
        let sent = || records.iter().filter(|r| !r.refused);
        match self {
            LogFormat::TwilioVerifyAttempts => twilio_verify::write(w, sent()),
            LogFormat::TwilioMessaging => twilio_messaging::write_csv(w, sent()),
            LogFormat::TwilioBulkExport => twilio_messaging::write_bulk(w, sent()),
            LogFormat::AwsSmsEvents => aws::write(w, sent()),
            LogFormat::Csv => generic::write(w, records.iter()),
        }
    }

    /// Writes `records` to `dir`/[`Self::file_name`]; the file's path.
    pub fn write_file(self, dir: &Path, stem: &str, records: &[Record]) -> io::Result<PathBuf> {
        let path = dir.join(self.file_name(stem));
        let mut w = io::BufWriter::new(std::fs::File::create(&path)?);
        self.write(&mut w, records)?;
        w.flush()?;
        Ok(path)
    }
}

/// A price as the shortest decimal that reads back to the same `f64`, so a log's spend sums
/// to the run's to the cent whatever its length.
pub(crate) fn price(usd: f64) -> String {
    format!("{}", usd + 0.0)
}

/// ISO 8601 in whole seconds, as Twilio writes its dates (`2026-01-01T00:00:00Z`).
pub(crate) fn iso_seconds(ms: u64) -> String {
    let full = mo2fa_core::timefmt::rfc3339_ms(ms);
    format!("{}Z", &full[..19])
}

/// A 32-hex-digit id with a two-letter prefix, as Twilio's SIDs are (`SM…`, `VL…`).
pub(crate) fn sid(prefix: &str, n: u64) -> String {
    format!("{prefix}{n:032x}")
}

#[cfg(test)]
mod tests;
