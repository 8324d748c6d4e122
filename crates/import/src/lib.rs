//! mo2fa-import: bring your own traffic. Reads real OTP send logs (Twilio Verify attempts,
//! Twilio Messaging exports, AWS End User Messaging SMS events, a documented generic CSV),
//! prices them, replays the SMS defences on them and fits a scenario to them.
//!
//! - [`formats`]: one module per log format, each turning rows into [`formats::Item`]s;
//!   [`source`] opens files (gzip, byte-order marks, UTF-16 refused).
//! - [`scan`]: the rows of every file as complete sends, inferred fields marked, bad rows
//!   reported with file, line and field.
//! - [`analysis`]: spend by country, range, carrier and day; likely pumping by conversion;
//!   [`replay`]: `[defences.sms]` and vendor presets replayed in time order through the
//!   core's `SmsGuard`; [`reverse`]: the same traffic priced through reverse iMessage.
//! - [`report`]: summary.json, summary.md and report.html (numbers masked, addresses as
//!   blocks); [`fit`]: a scenario for `mo2fa run` fitted to the log.
//!
//! Rules and prices are the simulator's and the server's own code (`mo2fa_core::sms_defences`,
//! `mo2fa_core::dialing`, `mo2fa_cost::prices`), used as libraries. Memory is bounded whatever
//! the log's length: every table has a named limit. Nothing is sent anywhere.

#![forbid(unsafe_code)]

pub mod analysis;
pub mod countries;
pub mod emit;
pub mod error;
pub mod fit;
pub mod formats;
pub mod privacy;
pub mod replay;
pub mod report;
pub mod reverse;
pub mod run;
pub mod scan;
pub mod source;
pub mod time;

pub use error::ImportError;
pub use formats::Format;
pub use run::{ImportOptions, Imported, import};

#[cfg(test)]
mod tests;
