//! Reading the files of one import: every row becomes a complete [`Sent`] (missing fields
//! inferred and counted as inferred), a skipped row, or a [`BadRow`]. Under `strict` the first
//! bad row is an error; a file whose first [`WRONG_FORMAT_ROWS`] rows are all bad is in the
//! wrong format, an error at once rather than a million skipped lines.

use crate::countries::{Countries, Prices};
use crate::error::ImportError;
use crate::formats::{Format, Item, Raw};
use crate::privacy::Addr;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Bad rows before the first good one that make a file "in the wrong format".
pub const WRONG_FORMAT_ROWS: u64 = 10;
/// Bad rows listed one by one in the summary (all are counted).
pub const LISTED_BAD_ROWS: usize = 100;

/// One outbound SMS as the analysis sees it: every field known or inferred.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sent {
    pub ts_ms: u64,
    pub number: u64,
    /// Index into [`Countries`].
    pub country: u16,
    pub ip: Option<Addr>,
    pub account: u64,
    /// `None`: the log does not say whether the code was used.
    pub converted: Option<bool>,
    pub price_usd: f64,
    pub segments: u32,
    pub carrier: Option<(u16, u16)>,
    /// Not sent (refused by a defence or the provider account): replayed, not counted.
    pub refused: bool,
    /// When the code was used (Unix ms), where the log says.
    pub verified_ms: Option<u64>,
}

/// A row that was skipped because a field is malformed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BadRow {
    pub file: String,
    pub line: u64,
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.field, self.message
        )
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct FileStats {
    pub file: String,
    pub sends: u64,
    /// Attempts the log marks as not sent (`refused`).
    pub refused: u64,
    pub bad: u64,
    pub skipped: u64,
}

/// Fields filled in because the log did not have them.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Inferred {
    /// Country from the number's E.164 calling code.
    pub country: u64,
    /// Of those, from a calling code several countries share (+1, +7, +44...): a best guess.
    pub country_shared_code: u64,
    /// Price from the dated list-price table.
    pub price_usd: u64,
    /// Of those, countries the snapshot does not list (priced at its "Unknown" row).
    pub price_unlisted: u64,
    /// Segments taken as 1.
    pub segments: u64,
    /// Conversion read off a delivery status (failed or undelivered: not converted).
    pub verified: u64,
}

#[derive(Clone, Debug, Default)]
pub struct ScanStats {
    pub files: Vec<FileStats>,
    pub bad: u64,
    pub bad_by_field: BTreeMap<String, u64>,
    pub first_bad: Vec<BadRow>,
    pub skipped: BTreeMap<&'static str, u64>,
    pub inferred: Inferred,
}

impl ScanStats {
    pub fn sends(&self) -> u64 {
        self.files.iter().map(|f| f.sends).sum()
    }

    /// Attempts the logs mark as not sent.
    pub fn refused(&self) -> u64 {
        self.files.iter().map(|f| f.refused).sum()
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

/// How the files are read.
pub struct Scanner<'c> {
    pub countries: &'c Countries,
    pub prices: &'c Prices,
    pub format: Format,
    pub strict: bool,
}

impl Scanner<'_> {
    /// Reads every file in turn; `on_send` gets each send, `on_bad` each bad row (as it is
    /// found, for the console).
    pub fn scan(
        &self,
        files: &[PathBuf],
        on_send: &mut dyn FnMut(&Sent),
        on_bad: &mut dyn FnMut(&BadRow),
    ) -> Result<ScanStats, ImportError> {
        let mut stats = ScanStats::default();
        for path in files {
            let input = crate::source::open(path, self.format.name())?;
            let name = input.name.clone();
            let mut file = FileStats {
                file: name.clone(),
                ..FileStats::default()
            };
            let mut first_bad: Option<BadRow> = None;
            let mut sink = |line: u64, item: Item| -> Result<(), ImportError> {
                let item = match item {
                    Item::Send(raw) => match self.complete(&raw, &mut stats.inferred) {
                        Ok(sent) => {
                            if sent.refused {
                                file.refused += 1;
                            } else {
                                file.sends += 1;
                            }
                            on_send(&sent);
                            return Ok(());
                        }
                        Err(bad) => bad,
                    },
                    other => other,
                };
                match item {
                    Item::Send(_) => Ok(()),
                    Item::Skip(why) => {
                        file.skipped += 1;
                        *stats.skipped.entry(why).or_default() += 1;
                        Ok(())
                    }
                    Item::Bad { field, message } => {
                        let bad = BadRow {
                            file: name.clone(),
                            line,
                            field,
                            message,
                        };
                        if self.strict {
                            return Err(ImportError::Strict {
                                file: bad.file,
                                line: bad.line,
                                field: bad.field,
                                message: bad.message,
                            });
                        }
                        file.bad += 1;
                        if file.sends + file.refused == 0 && file.bad >= WRONG_FORMAT_ROWS {
                            let first = first_bad.clone().unwrap_or(bad.clone());
                            return Err(ImportError::WrongFormat {
                                file: first.file,
                                line: first.line,
                                format: self.format.name(),
                                message: format!(
                                    "its first {WRONG_FORMAT_ROWS} rows are all bad; the first: {}: {}",
                                    first.field, first.message
                                ),
                            });
                        }
                        first_bad.get_or_insert_with(|| bad.clone());
                        stats.bad += 1;
                        *stats.bad_by_field.entry(bad.field.clone()).or_default() += 1;
                        on_bad(&bad);
                        if stats.first_bad.len() < LISTED_BAD_ROWS {
                            stats.first_bad.push(bad);
                        }
                        Ok(())
                    }
                }
            };
            self.format.read(input, &mut sink)?;
            if let (0, Some(first)) = (file.sends + file.refused, first_bad) {
                return Err(ImportError::WrongFormat {
                    file: first.file,
                    line: first.line,
                    format: self.format.name(),
                    message: format!(
                        "none of its rows can be read; the first: {}: {}",
                        first.field, first.message
                    ),
                });
            }
            stats.files.push(file);
        }
        Ok(stats)
    }

    /// Fills in what the row lacks, or says why it cannot be used.
    fn complete(&self, raw: &Raw, inferred: &mut Inferred) -> Result<Sent, Item> {
        let given = raw.country.and_then(|c| {
            std::str::from_utf8(&c)
                .ok()
                .and_then(|s| self.countries.index(s))
        });
        let country = match given {
            Some(c) => c,
            None => {
                let found =
                    mo2fa_core::dialing::country_of_number(raw.number).ok_or_else(|| {
                        Item::bad("phone", "its calling code is not in the calling-code table")
                    })?;
                let c = self.countries.index(found.country).ok_or_else(|| {
                    Item::bad("phone", "its country is not in the calling-code table")
                })?;
                inferred.country += 1;
                if found.shared() {
                    inferred.country_shared_code += 1;
                }
                c
            }
        };
        let segments = raw.segments.unwrap_or_else(|| {
            inferred.segments += 1;
            1
        });
        let price_usd = match raw.price_usd {
            _ if raw.refused => 0.0,
            Some(p) => p,
            None => {
                let (per, listed) = self.prices.per_segment(country, raw.ts_ms);
                inferred.price_usd += 1;
                if !listed {
                    inferred.price_unlisted += 1;
                }
                per * f64::from(segments)
            }
        };
        if raw.conversion_inferred {
            inferred.verified += 1;
        }
        Ok(Sent {
            ts_ms: raw.ts_ms,
            number: raw.number,
            country,
            ip: raw.ip,
            account: raw.account,
            converted: raw.converted,
            price_usd,
            segments,
            carrier: raw.carrier,
            refused: raw.refused,
            verified_ms: raw.verified_ms,
        })
    }
}
