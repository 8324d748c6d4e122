//! Finding the code in what a person actually sent.
//!
//! People paste the pre-filled text, retype it with surrounding words ("my code is abc234,
//! thanks"), or split it the way codes are often printed ("ABC 234", "abc-234"). The extractor
//! accepts exactly those variants and nothing looser:
//!
//! * a word (a maximal run of Unicode alphanumerics) made of exactly `len` alphabet symbols,
//!   in any case, or
//! * two adjacent such words separated by exactly one space or hyphen whose lengths add up
//!   to `len`,
//!
//! and in either case with at least one digit: every issued code has one ([`crate::code`]), so
//! an all-letter word ("THANKS", "MERCI", "SECRET") is never a candidate, never counts towards
//! stuffing and never pushes the real code out.
//!
//! Full-width ASCII letters and digits (as typed on some CJK keyboards) are folded to ASCII
//! first. A word with any other character in it is not a code, so "codeABC234" is not matched.
//!
//! **Why a bound on candidates:** a message is one guess per candidate it contains. An attacker
//! who could stuff hundreds of candidates into one message would multiply their chance of
//! hitting somebody else's pending code, so the verifier only ever tries the first
//! `max_candidates` (default 1).

use crate::code::{Code, CodeSpec, RADIX, symbol_index};

/// The most candidates any configuration may try per message.
pub const MAX_CANDIDATES: usize = 16;

/// The candidates found in one message, in order of appearance, without duplicates.
#[derive(Clone, Debug)]
pub struct Candidates {
    codes: [Code; MAX_CANDIDATES],
    len: u8,
    limit: u8,
    /// Every candidate seen, including those beyond the limit; a large number flags stuffing.
    pub seen: usize,
}

impl Candidates {
    fn new(limit: usize) -> Self {
        Self {
            codes: [Code(0); MAX_CANDIDATES],
            len: 0,
            limit: limit.clamp(1, MAX_CANDIDATES) as u8,
            seen: 0,
        }
    }

    pub fn as_slice(&self) -> &[Code] {
        &self.codes[..usize::from(self.len)]
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps the first `limit` candidates; a word without a digit is not one.
    fn push(&mut self, code: Code, has_digit: bool) {
        if !has_digit {
            return;
        }
        self.seen += 1;
        if self.as_slice().contains(&code) {
            return;
        }
        if self.len < self.limit {
            self.codes[usize::from(self.len)] = code;
            self.len += 1;
        }
    }
}

/// What a character means to the scanner.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// An alphabet symbol, with its index.
    Symbol(u8),
    /// Part of a word but not a symbol (`0`, `O`, `é`, ...): the word cannot be a code.
    OtherWord,
    /// A separator that may sit inside a code.
    Joiner,
    Separator,
}

#[inline]
fn ascii_class(b: u8) -> Class {
    match symbol_index(b) {
        Some(i) => Class::Symbol(i),
        None if b.is_ascii_alphanumeric() => Class::OtherWord,
        None if b == b' ' || b == b'-' => Class::Joiner,
        None => Class::Separator,
    }
}

/// Full-width ASCII (U+FF01..U+FF5E) is folded to ASCII; other letters and digits are words.
#[inline]
fn char_class(c: char) -> Class {
    let c = match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    };
    if c.is_ascii() {
        ascii_class(c as u8)
    } else if c.is_alphanumeric() {
        Class::OtherWord
    } else {
        Class::Separator
    }
}

/// A word being read or just finished: its packed value while it can still be a code.
#[derive(Clone, Copy)]
struct Word {
    len: usize,
    value: Option<u64>,
    has_digit: bool,
}

const EMPTY: Word = Word {
    len: 0,
    value: Some(0),
    has_digit: false,
};

struct Scanner {
    code_len: usize,
    cur: Word,
    /// The previous word, kept only while the gap after it is a single joiner.
    prev: Option<Word>,
    gap_len: usize,
    gap_is_joiner: bool,
    out: Candidates,
}

impl Scanner {
    #[inline]
    fn feed(&mut self, class: Class) {
        match class {
            Class::Symbol(_) | Class::OtherWord => {
                if self.cur.len == 0 {
                    if !(self.gap_len == 1 && self.gap_is_joiner) {
                        self.prev = None;
                    }
                    self.gap_len = 0;
                }
                let w = &mut self.cur;
                w.len += 1;
                w.value = match (w.value, class) {
                    // Words longer than a code can never be (part of) one; stop packing.
                    (Some(v), Class::Symbol(i)) if w.len <= self.code_len => {
                        // The alphabet starts with its eight digits.
                        w.has_digit |= i < 8;
                        Some(v * RADIX + u64::from(i))
                    }
                    _ => None,
                };
            }
            Class::Joiner | Class::Separator => {
                if self.cur.len > 0 {
                    self.finish_word();
                    self.gap_len = 0;
                }
                self.gap_len += 1;
                self.gap_is_joiner = self.gap_len == 1 && class == Class::Joiner;
            }
        }
    }

    fn finish_word(&mut self) {
        let word = std::mem::replace(&mut self.cur, EMPTY);
        if word.len == 0 {
            return;
        }
        if word.len == self.code_len
            && let Some(v) = word.value
        {
            self.out.push(Code(v), word.has_digit);
        }
        if let Some(p) = self.prev
            && p.len + word.len == self.code_len
            && let (Some(a), Some(b)) = (p.value, word.value)
        {
            let joined = a * RADIX.pow(word.len as u32) + b;
            self.out.push(Code(joined), p.has_digit || word.has_digit);
        }
        self.prev = Some(word);
    }
}

/// Extracts at most `max_candidates` (clamped to 1..=[`MAX_CANDIDATES`]) candidate codes.
pub fn extract(text: &str, spec: &CodeSpec, max_candidates: usize) -> Candidates {
    let mut sc = Scanner {
        code_len: spec.len(),
        cur: EMPTY,
        prev: None,
        gap_len: 0,
        gap_is_joiner: false,
        out: Candidates::new(max_candidates),
    };
    if text.is_ascii() {
        for &b in text.as_bytes() {
            sc.feed(ascii_class(b));
        }
    } else {
        for c in text.chars() {
            sc.feed(char_class(c));
        }
    }
    sc.finish_word();
    sc.out
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
    fn words_without_a_digit_are_never_candidates() {
        // "SECRET" and "NUMBER" are made of alphabet symbols but have no digit.
        assert_eq!(texts("SECRET number ABC234", 1), ["ABC234"]);
        assert_eq!(texts("SECRET number ABC234", 3), ["ABC234"]);
        assert!(texts("SECRET", 1).is_empty(), "no code is all letters");
        assert!(texts("TCY KWK", 1).is_empty());
        assert_eq!(texts("TCY KW2", 1), ["TCYKW2"], "a digit in either half");
    }

    /// Issue 23: "Thanks! TCYKWK" lost to THANKS. With codes that always hold a digit, common
    /// replies in several languages around any code leave exactly the code.
    #[test]
    fn polite_replies_around_a_code_leave_only_the_code() {
        let spec = CodeSpec::default();
        let replies = [
            "Thanks! {}",
            "{} thanks",
            "Merci {} merci",
            "Danke! {}",
            "OK {}",
            "Here you go: {}",
            "Gracias, {}",
            "Obrigado {} obrigado",
            "THANKS {} CHEERS",
            "Спасибо {}",
            "ありがとう {}",
        ];
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(23);
        for _ in 0..200 {
            let code = spec.random(&mut rng);
            for reply in replies {
                let text = reply.replace("{}", spec.format(code).as_str());
                let c = extract(&text, &spec, 1);
                assert_eq!(c.as_slice(), [code], "{text}");
                assert_eq!(c.seen, 1, "{text}: polite words are not candidates");
            }
        }
    }

    #[test]
    fn stuffed_message_yields_only_max_candidates() {
        let spec = CodeSpec::default();
        let stuffed: String = (0..)
            .map(|i: u64| Code(i * 1_000_003))
            .filter(|&c| spec.has_digit(c))
            .take(500)
            .map(|c| format!("{} ", spec.format(c)))
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

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Six symbols with at least one digit, as every issued code has.
        fn code_strategy() -> impl Strategy<Value = String> {
            (
                proptest::collection::vec(0usize..31, 6),
                0usize..6,
                0usize..8,
            )
                .prop_map(|(mut ix, at, digit)| {
                    if ix.iter().all(|&i| i >= 8) {
                        ix[at] = digit;
                    }
                    ix.into_iter()
                        .map(|i| crate::code::ALPHABET[i] as char)
                        .collect()
                })
        }

        proptest! {
            #[test]
            fn never_panics_and_respects_the_limit(text in ".{0,300}", k in 0usize..40) {
                let c = extract(&text, &CodeSpec::default(), k);
                prop_assert!(c.as_slice().len() <= k.clamp(1, MAX_CANDIDATES));
                prop_assert!(c.as_slice().len() <= c.seen);
            }

            /// A code typed between words, in any case, optionally split once, is found.
            #[test]
            fn finds_the_code_among_words(
                code in code_strategy(),
                before in "([a-z]{1,5} ){0,3}",
                after in "( [a-z]{1,5}){0,3}",
                split in prop::option::of((1usize..6, prop::bool::ANY)),
                lower in prop::bool::ANY,
            ) {
                let spec = CodeSpec::default();
                let mut typed = if lower { code.to_lowercase() } else { code.clone() };
                if let Some((at, hyphen)) = split {
                    typed.insert(at, if hyphen { '-' } else { ' ' });
                }
                let text = format!("{before}{typed}{after}");
                let found: Vec<String> = extract(&text, &spec, MAX_CANDIDATES)
                    .as_slice().iter().map(|&c| spec.format(c).to_string()).collect();
                prop_assert!(found.contains(&code), "{text:?} gave {found:?}");
            }

            /// Extracting from the canonical text of what was extracted gives the same codes.
            #[test]
            fn idempotent_on_normalised_text(text in "[ A-Za-z0-9,.:-]{0,80}") {
                let spec = CodeSpec::default();
                let first = extract(&text, &spec, MAX_CANDIDATES);
                let normalised: Vec<String> =
                    first.as_slice().iter().map(|&c| spec.format(c).to_string()).collect();
                let again = extract(&normalised.join(" . "), &spec, MAX_CANDIDATES);
                let mut a = first.as_slice().to_vec();
                let mut b = again.as_slice().to_vec();
                a.sort();
                b.sort();
                prop_assert_eq!(a, b);
            }
        }
    }
}
