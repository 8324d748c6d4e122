//! Finding the code in what a person actually sent.
//!
//! People paste the pre-filled text, retype it with surrounding words ("my code is abc234,
//! thanks"), or split it the way codes are often printed ("ABC 234", "abc-234"). The extractor
//! accepts exactly those variants and nothing looser:
//!
//! * a word (a maximal run of Unicode alphanumerics) made of exactly `len` alphabet symbols,
//!   in any case, or
//! * two adjacent such words separated by exactly one space or hyphen whose lengths add up
//!   to `len`.
//!
//! Full-width ASCII letters and digits (as typed on some CJK keyboards) are folded to ASCII
//! first. A word with any other character in it is not a code, so "codeABC234" is not matched.
//!
//! **Why a bound on candidates:** a message is one guess per candidate it contains. An attacker
//! who could stuff hundreds of candidates into one message would multiply their chance of
//! hitting somebody else's pending code, so the verifier only ever tries the first
//! `max_candidates` (default 1). Candidates containing a digit are tried before all-letter
//! ones, because surrounding prose ("SECRET", "NUMBER") is made of letter-only words while
//! five in six codes contain a digit.

use crate::code::{Code, CodeSpec, RADIX, symbol_index};

/// The most candidates any configuration may try per message.
pub const MAX_CANDIDATES: usize = 16;

/// The candidates found in one message, best first, without duplicates.
#[derive(Clone, Debug, Default)]
pub struct Candidates {
    codes: [Code; MAX_CANDIDATES],
    len: usize,
    /// Every candidate seen, including those beyond the limit; a large number flags stuffing.
    pub seen: usize,
}

impl Candidates {
    pub fn as_slice(&self) -> &[Code] {
        &self.codes[..self.len]
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A finished word: its packed value if it is made only of alphabet symbols.
#[derive(Clone, Copy)]
struct Word {
    len: usize,
    value: Option<u64>,
    has_digit: bool,
}

/// Collects candidates in two priority classes, keeping the order of appearance in each.
struct Collector {
    with_digit: [Code; MAX_CANDIDATES],
    n_digit: usize,
    letters_only: [Code; MAX_CANDIDATES],
    n_letters: usize,
    limit: usize,
    seen: usize,
}

impl Collector {
    fn push(&mut self, code: Code, has_digit: bool) {
        self.seen += 1;
        let (buf, n) = if has_digit {
            (&mut self.with_digit, &mut self.n_digit)
        } else {
            (&mut self.letters_only, &mut self.n_letters)
        };
        if *n < self.limit && !buf[..*n].contains(&code) {
            buf[*n] = code;
            *n += 1;
        }
    }

    fn finish(self) -> Candidates {
        let mut out = Candidates {
            seen: self.seen,
            ..Candidates::default()
        };
        let ordered = self.with_digit[..self.n_digit]
            .iter()
            .chain(&self.letters_only[..self.n_letters]);
        for &code in ordered {
            if out.len == self.limit {
                break;
            }
            if !out.as_slice().contains(&code) {
                out.codes[out.len] = code;
                out.len += 1;
            }
        }
        out
    }
}

/// Folds full-width ASCII (U+FF01..U+FF5E) to ASCII; leaves everything else alone.
#[inline]
fn fold_fullwidth(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// Extracts at most `max_candidates` (clamped to 1..=[`MAX_CANDIDATES`]) candidate codes.
pub fn extract(text: &str, spec: &CodeSpec, max_candidates: usize) -> Candidates {
    let code_len = spec.len();
    let mut out = Collector {
        with_digit: Default::default(),
        n_digit: 0,
        letters_only: Default::default(),
        n_letters: 0,
        limit: max_candidates.clamp(1, MAX_CANDIDATES),
        seen: 0,
    };
    // The word being read, the previous finished word, and the gap since it ended.
    let mut cur = Word {
        len: 0,
        value: Some(0),
        has_digit: false,
    };
    let mut prev: Option<Word> = None;
    let mut gap_is_single_joiner = false;
    let mut gap_len = 0usize;

    let mut finish_word = |cur: &mut Word, prev: &mut Option<Word>| {
        if cur.len == 0 {
            return;
        }
        let word = *cur;
        if word.len == code_len
            && let Some(v) = word.value
        {
            out.push(Code(v), word.has_digit);
        }
        if let Some(p) = *prev
            && p.len + word.len == code_len
            && let (Some(a), Some(b)) = (p.value, word.value)
        {
            let joined = a * RADIX.pow(word.len as u32) + b;
            out.push(Code(joined), p.has_digit || word.has_digit);
        }
        *prev = Some(word);
        *cur = Word {
            len: 0,
            value: Some(0),
            has_digit: false,
        };
    };

    for c in text.chars().map(fold_fullwidth) {
        if c.is_alphanumeric() {
            if cur.len == 0 {
                // A word starts: it may join the previous one only across one ' ' or '-'.
                if !(gap_len == 1 && gap_is_single_joiner) {
                    prev = None;
                }
                gap_len = 0;
            }
            cur.len += 1;
            cur.value = match (cur.value, c.is_ascii()) {
                // Words longer than a code can never be (part of) one; stop packing.
                (Some(v), true) if cur.len <= code_len => {
                    symbol_index(c as u8).map(|i| v * RADIX + u64::from(i))
                }
                _ => None,
            };
            cur.has_digit |= c.is_ascii_digit();
        } else {
            if cur.len > 0 {
                finish_word(&mut cur, &mut prev);
                gap_len = 0;
            }
            gap_len += 1;
            gap_is_single_joiner = gap_len == 1 && (c == ' ' || c == '-');
        }
    }
    finish_word(&mut cur, &mut prev);
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str, k: usize) -> Vec<String> {
        let spec = CodeSpec::default();
        extract(text, &spec, k)
            .as_slice()
            .iter()
            .map(|&c| spec.format(c).to_string())
            .collect()
    }

    #[test]
    fn plain_code_any_case() {
        assert_eq!(texts("ABC234", 1), ["ABC234"]);
        assert_eq!(texts("abc234", 1), ["ABC234"]);
        assert_eq!(texts("  aBc234\n", 1), ["ABC234"]);
    }

    #[test]
    fn surrounding_words_and_punctuation() {
        assert_eq!(texts("My code is ABC234, thanks!", 1), ["ABC234"]);
        assert_eq!(texts("code:abc234.", 1), ["ABC234"]);
        assert_eq!(texts("(ABC234)", 1), ["ABC234"]);
        assert_eq!(texts("\"ABC234\"", 1), ["ABC234"]);
    }

    #[test]
    fn one_space_or_hyphen_inside() {
        assert_eq!(texts("ABC 234", 1), ["ABC234"]);
        assert_eq!(texts("abc-234", 1), ["ABC234"]);
        assert_eq!(texts("A-BC234", 1), ["ABC234"]);
        assert_eq!(texts("my code ABC-234 ok", 1), ["ABC234"]);
    }

    #[test]
    fn rejects_looser_splits_and_embedded_codes() {
        assert!(texts("ABC  234", 4).is_empty(), "two spaces");
        assert!(texts("ABC--234", 4).is_empty(), "two hyphens");
        assert!(texts("AB C 234", 4).is_empty(), "two separators");
        assert!(texts("ABC_234", 4).is_empty(), "underscore is not a joiner");
        assert!(texts("codeABC234", 4).is_empty());
        assert!(texts("ABC2345", 4).is_empty(), "too long");
        assert!(texts("ABC2O4", 4).is_empty(), "O is not a symbol");
        assert!(
            texts("ÄBC234", 4).is_empty(),
            "non-ASCII letter in the word"
        );
        assert!(texts("", 4).is_empty());
    }

    #[test]
    fn full_width_characters_are_folded() {
        assert_eq!(texts("ＡＢＣ２３４", 1), ["ABC234"]);
        assert_eq!(texts("コード：ａｂｃ２３４", 1), ["ABC234"]);
        assert!(texts("コードａｂｃ２３４", 1).is_empty(), "glued to a word");
    }

    #[test]
    fn codes_with_digits_beat_prose_words() {
        // "SECRET" is made of alphabet symbols but has no digit.
        assert_eq!(texts("SECRET number ABC234", 1), ["ABC234"]);
        assert_eq!(
            texts("SECRET number ABC234", 3),
            ["ABC234", "SECRET", "NUMBER"]
        );
        assert_eq!(
            texts("SECRET", 1),
            ["SECRET"],
            "all-letter codes still match"
        );
    }

    #[test]
    fn stuffed_message_yields_only_max_candidates() {
        let spec = CodeSpec::default();
        let stuffed: String = (0..500u64)
            .map(|i| format!("{} ", spec.format(Code(i * 1_000_003))))
            .collect();
        let c = extract(&stuffed, &spec, 1);
        assert_eq!(c.as_slice().len(), 1);
        assert_eq!(c.seen, 500);
        assert_eq!(
            extract(&stuffed, &spec, 500).as_slice().len(),
            MAX_CANDIDATES
        );
    }

    #[test]
    fn duplicates_count_once() {
        assert_eq!(texts("ABC234 abc234 ABC-234", 3), ["ABC234"]);
    }
}
