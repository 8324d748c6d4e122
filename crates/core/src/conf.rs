//! Checked configuration values and TOML files whose errors name the file, the line and the key.
//!
//! Shared by scenario files (`mo2fa run`) and the server's `--sms-defences` file, so a value a
//! scenario accepts is accepted, with the same meaning, by the server that deploys it. Every
//! value is checked while it is parsed (the newtypes below), so a bad value is reported like an
//! unknown key: with the file, the line and the key.

use serde::Deserialize;
use std::fmt;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Parse {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}: {key}: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
    /// Every error of a file, in file order, one a line: `file:line: key: message`.
    #[error("{}", show_problems(file, problems))]
    Problems {
        file: String,
        problems: Vec<Problem>,
    },
}

/// One error in a file: the line where there is one, the key's path (`attacker[2].end`;
/// empty for a syntax error) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

impl Problem {
    /// The one wording of an error in a file: `file:line: key: message`, leaving out the line
    /// or the key where there is none.
    pub fn show(&self, file: &str) -> String {
        let at = match self.line {
            Some(l) => format!("{file}:{l}"),
            None => file.to_string(),
        };
        if self.key.is_empty() {
            format!("{at}: {}", self.message)
        } else {
            format!("{at}: {}: {}", self.key, self.message)
        }
    }
}

fn show_problems(file: &str, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| p.show(file))
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    /// `problems` (at least one) as an error, in file order: errors without a line last.
    pub fn problems(file: &str, mut problems: Vec<Problem>) -> Self {
        problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        ConfigError::Problems {
            file: file.to_string(),
            problems,
        }
    }

    /// The errors this one holds, as [`Problem`]s (a read error has no line or key).
    pub fn into_problems(self) -> Vec<Problem> {
        match self {
            ConfigError::Problems { problems, .. } => problems,
            ConfigError::Parse { line, message, .. } => vec![Problem {
                line: Some(line),
                key: String::new(),
                message,
            }],
            ConfigError::Invalid { key, message, .. } => vec![Problem {
                line: None,
                key,
                message,
            }],
            ConfigError::Read { source, .. } => vec![Problem {
                line: None,
                key: String::new(),
                message: format!("cannot read: {source}"),
            }],
        }
    }
}

mod collect;
pub use collect::{Collected, KeyLines, closest, collect};

/// A duration written as `90s`, `15m`, `2h`, `30d`, `250ms`, `1h30m`, or a plain number of
/// seconds (`ttl = 300`), read by [`parse_duration`] as on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub u64);

impl Dur {
    pub fn ms(self) -> u64 {
        self.0
    }
}

/// Written back in the largest unit that divides it exactly, as a file would say it (`6h`).
impl std::fmt::Display for Dur {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const UNITS: [(u64, &str); 4] = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1_000, "s"),
        ];
        match UNITS
            .iter()
            .find(|(ms, _)| self.0 > 0 && self.0.is_multiple_of(*ms))
        {
            Some((ms, unit)) => write!(f, "{}{unit}", self.0 / ms),
            None => write!(f, "{}ms", self.0),
        }
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"90s\", \"15m\", \"1h30m\" or a number of seconds")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Dur, E> {
                parse_duration(s).map(Dur).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Dur, E> {
                self.visit_f64(v as f64)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Dur, E> {
                self.visit_f64(v as f64)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Dur, E> {
                crate::timefmt::seconds_to_ms(v).map(Dur).map_err(E::custom)
            }
        }
        d.deserialize_any(Visit)
    }
}

pub use crate::timefmt::parse_duration;

/// A probability in [0, 1].
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Default)]
pub struct Prob(pub f64);

impl<'de> Deserialize<'de> for Prob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if (0.0..=1.0).contains(&v) {
            Ok(Prob(v))
        } else {
            Err(serde::de::Error::custom(format!(
                "{v} is not a probability between 0 and 1"
            )))
        }
    }
}

/// A finite, non-negative number (rates, prices, factors).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Default)]
pub struct NonNeg(pub f64);

impl<'de> Deserialize<'de> for NonNeg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if v.is_finite() && v >= 0.0 {
            Ok(NonNeg(v))
        } else {
            Err(serde::de::Error::custom(format!(
                "{v} must be a finite number >= 0"
            )))
        }
    }
}

/// An assigned ISO 3166-1 alpha-2 code (see [`crate::iso3166`]): every key and value in a file
/// that names a country is one, so a typo (`UK`, `XX`, `gb`) is refused at its line with the
/// code that was meant.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Iso(pub String);

impl Iso {
    /// The code as written, if it is assigned; else the error [`crate::iso3166::check`] gives.
    pub fn parse(s: &str) -> Result<Self, String> {
        crate::iso3166::check(s).map(|()| Iso(s.to_string()))
    }
}

impl<'de> Deserialize<'de> for Iso {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Iso::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Iso {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads a config file, naming it in the error.
pub fn read(path: &Path) -> Result<(String, String), ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: file.clone(),
        source,
    })?;
    Ok((file, text))
}

/// Parses TOML text into `T`. Every error is reported at once, in file order, each with
/// its line and key path ([`collect`]).
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
) -> Result<T, ConfigError> {
    let c = collect::<T>(text);
    match c.value {
        Some(v) if c.problems.is_empty() => Ok(v),
        _ if c.problems.is_empty() => Err(ConfigError::problems(
            file,
            vec![Problem {
                line: None,
                key: String::new(),
                message: "cannot be read as this kind of file".into(),
            }],
        )),
        _ => Err(ConfigError::problems(file, c.problems)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_prints_as_a_file_would_write_it_and_reads_back() {
        for (ms, text) in [
            (86_400_000, "1d"),
            (21_600_000, "6h"),
            (90_000, "90s"),
            (250, "250ms"),
            (0, "0ms"),
        ] {
            assert_eq!(Dur(ms).to_string(), text);
            assert_eq!(parse_duration(text), Ok(ms));
        }
    }
}
