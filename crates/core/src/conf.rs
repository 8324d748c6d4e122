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
}

/// A duration written as `90s`, `15m`, `2h`, `30d` or `250ms`.
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
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

pub fn parse_duration(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("duration {s:?} needs a unit: ms, s, m, h or d"))?;
    let (num, unit) = s.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("duration {s:?} does not start with a number"))?;
    let unit_ms = match unit {
        "ms" => 1.0,
        "s" => 1e3,
        "m" => 60e3,
        "h" => 3600e3,
        "d" => 86_400e3,
        _ => {
            return Err(format!(
                "duration {s:?}: unknown unit {unit:?} (ms, s, m, h, d)"
            ));
        }
    };
    let ms = v * unit_ms;
    if !ms.is_finite() || ms > 400.0 * 86_400e3 {
        return Err(format!("duration {s:?} is longer than 400 days"));
    }
    Ok(ms.round() as u64)
}

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

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
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

/// Parses TOML text into `T`; an error names `file`, the line and the key as written there.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |sp| line_of(text, sp.start));
        // Name the key as written on that line, unless the message already does.
        let key = text
            .lines()
            .nth(line - 1)
            .and_then(|l| l.split_once('='))
            .map(|(k, _)| k.trim().to_string())
            .filter(|k| !k.is_empty() && !e.message().contains(k.as_str()));
        ConfigError::Parse {
            file: file.to_string(),
            line,
            message: match key {
                Some(k) => format!("{k}: {}", e.message()),
                None => e.message().to_string(),
            },
        }
    })
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
