//! One-time codes: the alphabet, their packed form and their generation.
//!
//! A code is shown to a person who retypes (or taps a deep link that pre-fills) it, so the
//! alphabet leaves out every character that has a look-alike: `0`/`O` and `1`/`I`/`L`. Both
//! members of each confusable pair are gone, so there is nothing to "correct" when matching.
//!
//! Codes are packed into a `u64` (base 31, first character most significant) so the store
//! can key and compare them without touching strings on the hot path.
//!
//! Every issued code contains at least one digit. A reply like "Thanks! TCYKWK" has two
//! six-letter words; if codes could be all letters, "THANKS" would be as good a candidate as
//! the code and, tried first, would lose it. With a digit in every code, an all-letter word is
//! never a candidate ([`crate::extract`]), so polite words cost nothing. The price: at 6
//! symbols 23^6 of the 31^6 packings (16.7 %) are never issued, so the space a guess is drawn
//! from is 739,467,792 instead of 887,503,681 (THREATS.md has the trade-off).

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

/// Symbols `0..DIGITS` of [`ALPHABET`] are its digits (`2`..`9`).
pub const DIGITS: u8 = 8;

/// The shape of codes a verifier issues: for now only their length. `packed` is 31^len, the
/// packed values; `space` those with a digit, the codes actually issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeSpec {
    len: u8,
    packed: u64,
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
        let letters = RADIX - u64::from(DIGITS);
        let packed = RADIX.pow(u32::from(len));
        Ok(Self {
            len,
            packed,
            space: packed - letters.pow(u32::from(len)),
        })
    }

    /// Symbols per code (never zero).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Number of distinct codes issued (those with a digit): the denominator of every
    /// guessing probability.
    pub fn space(&self) -> u64 {
        self.space
    }

    /// Number of packed values, with or without a digit (31^len).
    pub fn packed_space(&self) -> u64 {
        self.packed
    }

    /// Whether `code` has at least one digit, i.e. could have been issued.
    pub fn has_digit(&self, code: Code) -> bool {
        let mut v = code.0;
        (0..self.len).any(|_| {
            let symbol = v % RADIX;
            v /= RADIX;
            symbol < u64::from(DIGITS)
        })
    }

    /// A uniformly random code with at least one digit: packed values are drawn uniformly and
    /// an all-letter one is drawn again (one in six at 6 symbols), so a draw that already has a
    /// digit gives the code it always gave. Pass a CSPRNG in production; the simulator passes
    /// its seeded RNG.
    pub fn random<R: Rng + ?Sized>(&self, rng: &mut R) -> Code {
        loop {
            let code = Code(rng.random_range(0..self.packed));
            if self.has_digit(code) {
                return code;
            }
        }
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
        let six = CodeSpec::new(6).unwrap();
        assert_eq!(six.packed_space(), 887_503_681);
        assert_eq!(six.space(), 887_503_681 - 148_035_889, "31^6 - 23^6");
        assert!(CodeSpec::new(12).unwrap().packed_space() < 1 << 63);
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
        assert_eq!(
            spec.format(Code(spec.packed_space() - 1)).as_str(),
            "ZZZZZZ"
        );
    }

    #[test]
    fn every_random_code_has_a_digit_and_all_letter_draws_are_redrawn() {
        let spec = CodeSpec::default();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut twin = ChaCha8Rng::seed_from_u64(3);
        let mut same_first_draw = 0;
        for _ in 0..10_000 {
            let c = spec.random(&mut rng);
            let text = spec.format(c);
            assert!(text.as_str().bytes().any(|b| b.is_ascii_digit()), "{text}");
            assert!(spec.has_digit(c));
            // What the old draw gave from the same stream: the same code when it had a digit.
            let old = Code(twin.random_range(0..spec.packed_space()));
            if spec.has_digit(old) && old == c {
                same_first_draw += 1;
            }
            twin = rng.clone();
        }
        // About 5 in 6 draws keep the code the old generator gave.
        assert!(
            (8_000..=8_700).contains(&same_first_draw),
            "{same_first_draw}"
        );
        assert!(!spec.has_digit(spec.parse("TCYKWK").unwrap()));
        assert!(spec.has_digit(spec.parse("TCYKW2").unwrap()));
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
        // With a digit required, a position holds a given digit with probability 31^3/space
        // and a given letter with (31^3 - 23^3)/space (space = 31^4 - 23^4): expected about
        // 287 and 170 of 6200 draws.
        for pos in seen {
            let (digits, letters) = pos.split_at(usize::from(DIGITS));
            assert!(digits.iter().all(|&n| (220..=360).contains(&n)), "{pos:?}");
            assert!(letters.iter().all(|&n| (110..=240).contains(&n)), "{pos:?}");
        }
    }
}
