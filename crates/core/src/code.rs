//! One-time codes: the alphabet, their packed form and their generation.
//!
//! A code is shown to a person who retypes (or taps a deep link that pre-fills) it, so the
//! alphabet leaves out every character that has a look-alike: `0`/`O` and `1`/`I`/`L`. Both
//! members of each confusable pair are gone, so there is nothing to "correct" when matching.
//!
//! Codes are packed into a `u64` (base 31, first character most significant) so the store
//! can key and compare them without touching strings on the hot path.

use rand::Rng;
use std::fmt;

/// The 31 symbols a code is drawn from: digits 2-9 and capitals without I, L and O.
pub const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// Radix of the packed representation.
pub const RADIX: u64 = ALPHABET.len() as u64;

/// Shortest code the verifier accepts: below this the code space is too small to be safe
/// against guessing with any realistic pending population.
pub const MIN_LEN: u8 = 4;

/// Longest code: 31^12 < 2^63, so a packed code always fits a `u64`.
pub const MAX_LEN: u8 = 12;

/// Marker for "not an alphabet symbol" in [`SYMBOL_INDEX`].
const NONE: u8 = u8::MAX;

/// Byte → symbol index, case-insensitive. Built at compile time so decoding is one load.
static SYMBOL_INDEX: [u8; 256] = {
    let mut table = [NONE; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        let upper = ALPHABET[i];
        table[upper as usize] = i as u8;
        table[upper.to_ascii_lowercase() as usize] = i as u8;
        i += 1;
    }
    table
};

/// Index of an ASCII byte in [`ALPHABET`], ignoring case; `None` for any other byte.
#[inline]
pub fn symbol_index(byte: u8) -> Option<u8> {
    let v = SYMBOL_INDEX[byte as usize];
    (v != NONE).then_some(v)
}

/// A packed code. Only meaningful together with the [`CodeSpec`] (length) that made it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Code(pub u64);

/// Errors in a code configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodeSpecError {
    #[error("code length {0} is out of range: it must be between {MIN_LEN} and {MAX_LEN}")]
    Length(u8),
}

/// The shape of codes a verifier issues: for now only their length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeSpec {
    len: u8,
    space: u64,
}

impl Default for CodeSpec {
    fn default() -> Self {
        Self::new(6).expect("6 is a valid length")
    }
}

impl CodeSpec {
    pub fn new(len: u8) -> Result<Self, CodeSpecError> {
        if !(MIN_LEN..=MAX_LEN).contains(&len) {
            return Err(CodeSpecError::Length(len));
        }
        Ok(Self {
            len,
            space: RADIX.pow(u32::from(len)),
        })
    }

    /// Symbols per code (never zero).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Number of distinct codes: the denominator of every guessing probability.
    pub fn space(&self) -> u64 {
        self.space
    }

    /// A uniformly random code. Pass a CSPRNG in production; the simulator passes its seeded RNG.
    pub fn random<R: Rng + ?Sized>(&self, rng: &mut R) -> Code {
        Code(rng.random_range(0..self.space))
    }

    /// Parses exactly `len` alphabet symbols (any case). Anything else is `None`.
    pub fn parse(&self, s: &str) -> Option<Code> {
        let bytes = s.as_bytes();
        if bytes.len() != self.len() {
            return None;
        }
        let mut v = 0u64;
        for &b in bytes {
            v = v * RADIX + u64::from(symbol_index(b)?);
        }
        Some(Code(v))
    }

    /// The canonical (upper-case) text of a code.
    pub fn format(&self, code: Code) -> CodeText {
        let mut buf = [0u8; MAX_LEN as usize];
        let mut v = code.0;
        for slot in buf[..self.len()].iter_mut().rev() {
            *slot = ALPHABET[(v % RADIX) as usize];
            v /= RADIX;
        }
        CodeText { buf, len: self.len }
    }
}

/// A formatted code on the stack, so formatting never allocates.
#[derive(Clone, Copy)]
pub struct CodeText {
    buf: [u8; MAX_LEN as usize],
    len: u8,
}

impl CodeText {
    pub fn as_str(&self) -> &str {
        // The buffer holds only ASCII symbols from ALPHABET.
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Display for CodeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CodeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn alphabet_has_no_confusable_symbols() {
        for bad in [b'0', b'O', b'1', b'I', b'L', b'o', b'i', b'l'] {
            assert_eq!(symbol_index(bad), None, "{}", bad as char);
        }
        assert_eq!(ALPHABET.len(), 31);
        let mut sorted = ALPHABET.to_vec();
        sorted.dedup();
        assert_eq!(sorted.len(), 31, "symbols are distinct");
    }

    #[test]
    fn length_bounds() {
        assert_eq!(CodeSpec::new(3), Err(CodeSpecError::Length(3)));
        assert_eq!(CodeSpec::new(13), Err(CodeSpecError::Length(13)));
        assert_eq!(CodeSpec::new(6).unwrap().space(), 887_503_681);
        assert!(CodeSpec::new(12).unwrap().space() < 1 << 63);
    }

    #[test]
    fn format_parse_round_trip_and_case_insensitive() {
        let spec = CodeSpec::default();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..1000 {
            let c = spec.random(&mut rng);
            let text = spec.format(c);
            assert_eq!(text.as_str().len(), 6);
            assert_eq!(spec.parse(text.as_str()), Some(c));
            assert_eq!(spec.parse(&text.as_str().to_lowercase()), Some(c));
        }
        assert_eq!(spec.parse("ABC23"), None);
        assert_eq!(spec.parse("ABC2O4"), None, "O is not a symbol");
        assert_eq!(spec.format(Code(0)).as_str(), "222222");
        assert_eq!(spec.format(Code(spec.space() - 1)).as_str(), "ZZZZZZ");
    }

    #[test]
    fn random_codes_use_every_symbol_in_every_position() {
        let spec = CodeSpec::new(4).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut seen = [[0u32; 31]; 4];
        for _ in 0..31 * 200 {
            let text = spec.format(spec.random(&mut rng));
            for (pos, b) in text.as_str().bytes().enumerate() {
                seen[pos][usize::from(symbol_index(b).unwrap())] += 1;
            }
        }
        for pos in seen {
            // Expected 200 each; a uniform draw stays far from these bounds.
            assert!(pos.iter().all(|&n| (120..=290).contains(&n)), "{pos:?}");
        }
    }
}
