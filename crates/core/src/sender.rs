//! Sender identities as the verifier compares them.
//!
//! iMessage senders arrive either as phone numbers or as Apple-ID e-mail addresses, and the
//! app that binds a challenge to an expected sender may have typed the number differently
//! ("+1 (555) 010-0123"). Both sides are normalised before any comparison: phones to E.164
//! (`+` and 8 to 15 digits, without a national trunk 0 written after a calling code whose
//! numbers never begin with 0: `+44 (0)7700 900123` is `+447700900123`), e-mail addresses to
//! ASCII lower case. Anything else is an error, never a silent mismatch.
//!
//! Only ASCII letters are folded. Full Unicode lower-casing would make look-alikes equal: the
//! Kelvin sign `\u{212A}` lower-cases to `k`, so `\u{212A}ate@example.com` would verify a
//! challenge bound to `kate@example.com`. Non-ASCII characters are compared exactly.

use std::fmt;

/// A normalised sender. Invariant: a phone is `+` and 8..=15 digits without a leading zero,
/// kept as its number (no allocation: most iMessage senders are phones and this is on the hot
/// path); an e-mail address is an ASCII-lower-cased `local@domain` without white space, behind one thin
/// pointer so `Option<Sender>` stays 16 bytes inside a challenge slot.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sender {
    Phone(u64),
    Email(Box<Box<str>>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SenderError {
    #[error("sender is empty")]
    Empty,
    #[error("sender is longer than 254 characters")]
    TooLong,
    #[error("phone number must be in international format: '+' and country code, 8 to 15 digits")]
    Phone,
    #[error("e-mail address must look like local@domain without spaces")]
    Email,
}

impl Sender {
    pub fn parse(raw: &str) -> Result<Self, SenderError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(SenderError::Empty);
        }
        if raw.len() > 254 {
            return Err(SenderError::TooLong);
        }
        if raw.contains('@') {
            return Self::parse_email(raw);
        }
        Self::parse_phone(raw)
    }

    fn parse_email(raw: &str) -> Result<Self, SenderError> {
        let (local, domain) = raw.split_once('@').ok_or(SenderError::Email)?;
        let ok = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(SenderError::Email);
        }
        Ok(Sender::Email(Box::new(
            raw.to_ascii_lowercase().into_boxed_str(),
        )))
    }

    fn parse_phone(raw: &str) -> Result<Self, SenderError> {
        let rest = if let Some(r) = raw.strip_prefix('+') {
            r
        } else if let Some(r) = raw.strip_prefix("00") {
            r
        } else {
            return Err(SenderError::Phone);
        };
        let mut number = 0u64;
        let mut digits = 0;
        // A 0 within the first digits after the first (where a calling code of 1 to 3 digits
        // ends) may be a trunk prefix; only then is the calling-code table asked.
        let mut early_zero = false;
        for b in rest.bytes() {
            match b {
                b'0'..=b'9' => {
                    if digits == 0 && b == b'0' {
                        return Err(SenderError::Phone);
                    }
                    early_zero |= b == b'0' && digits <= 3;
                    digits += 1;
                    if digits > 15 {
                        return Err(SenderError::Phone);
                    }
                    number = number * 10 + u64::from(b - b'0');
                }
                b' ' | b'-' | b'.' | b'(' | b')' => {}
                _ => return Err(SenderError::Phone),
            }
        }
        // A trunk prefix written after the calling code (`+44 (0)7700 900123`, `+1 1 415 …`)
        // is dropped where it cannot be part of the number, so it cannot make a second number.
        // Other prefixes are tried first (Hungary's `06` is not a 0 and then a 6), and again
        // after the zeros are gone, since the number is then the one written without them.
        use crate::dialing::national::without_prefix;
        let plain = without_prefix(number);
        let number = if plain != number {
            plain
        } else if early_zero {
            without_prefix(crate::dialing::without_trunk_zeros(number).ok_or(SenderError::Phone)?)
        } else {
            number
        };
        // Fewer than 8 digits (none at all, for a bare `+`).
        if number < 10_000_000 {
            return Err(SenderError::Phone);
        }
        Ok(Sender::Phone(number))
    }

    pub fn is_phone(&self) -> bool {
        matches!(self, Sender::Phone(_))
    }
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sender::Phone(n) => write!(f, "+{n}"),
            Sender::Email(e) => f.write_str(e),
        }
    }
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sender({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_normalise_to_e164() {
        for raw in [
            "+15550100123",
            "+1 (555) 010-0123",
            "001 555.010.0123",
            " +1-555-010-0123 ",
        ] {
            assert_eq!(
                Sender::parse(raw).unwrap().to_string(),
                "+15550100123",
                "{raw}"
            );
        }
    }

    #[test]
    fn bad_phones_are_rejected() {
        for raw in [
            "5550100123",
            "+1555",
            "+1234567890123456",
            "+1555x0100",
            "+0123456789",
            // No digits at all (schemathesis found `+` panicking where the length was taken).
            "+",
            "+ ",
            "+()-. ",
            "+1234567",
        ] {
            assert_eq!(Sender::parse(raw), Err(SenderError::Phone), "{raw}");
        }
        assert_eq!(Sender::parse("   "), Err(SenderError::Empty));
    }

    #[test]
    fn emails_lower_case_and_validated() {
        assert_eq!(
            Sender::parse("Alice@Example.COM").unwrap().to_string(),
            "alice@example.com"
        );
        for raw in [
            "@example.com",
            "alice@",
            "alice@example",
            "a b@example.com",
            "a@b@c.d",
        ] {
            assert_eq!(Sender::parse(raw), Err(SenderError::Email), "{raw}");
        }
    }

    #[test]
    fn only_ascii_letters_fold_so_look_alikes_stay_apart() {
        let kate = Sender::parse("kate@example.com").unwrap();
        assert_eq!(Sender::parse("KATE@Example.com").unwrap(), kate);
        for look_alike in [
            "\u{212A}ate@example.com", // Kelvin sign, lower-cases to 'k'
            "kate@exampl\u{0415}.com", // Cyrillic capital Ie
            "\u{212A}ATE@example.com",
            "kat\u{0435}@example.com", // Cyrillic small ie
            "kate@\u{FF45}xample.com", // full-width e
        ] {
            let s = Sender::parse(look_alike).expect("still a well-formed address");
            assert_ne!(s, kate, "{look_alike}");
        }
        // Non-ASCII characters are kept as they are, not lower-cased.
        assert_eq!(
            Sender::parse("\u{00C9}lodie@example.com")
                .unwrap()
                .to_string(),
            "\u{00C9}lodie@example.com"
        );
    }

    #[test]
    fn small_enough_for_a_slot() {
        assert_eq!(std::mem::size_of::<Option<Sender>>(), 16);
        assert_eq!(
            Sender::parse("+999999999999999").unwrap().to_string(),
            "+999999999999999"
        );
    }

    #[test]
    fn a_trunk_zero_after_the_calling_code_is_not_a_new_number() {
        let plain = Sender::parse("+44 7700 900123").unwrap();
        for raw in [
            "+44 0 7700 900123",
            "+44 00 7700 900123",
            "+44 (0)7700 900123",
        ] {
            assert_eq!(Sender::parse(raw).unwrap(), plain, "{raw}");
        }
        // Other trunk prefixes, where the number's length says they were written by mistake.
        for (raw, plain) in [
            ("+1 1 415 555 0100", "+1 415 555 0100"),
            ("+7 8 912 345 6789", "+7 912 345 6789"),
            ("+36 06 1 234 5678", "+36 1 234 5678"),
            // Found by the property test below: the rule runs again once the zeros are gone.
            ("+1 0 11000000", "+1 11000000"),
        ] {
            assert_eq!(Sender::parse(raw), Sender::parse(plain), "{raw}");
        }
        // Italian numbers begin with 0: the 0 is part of the number.
        assert_eq!(
            Sender::parse("+39 06 1234 5678").unwrap().to_string(),
            "+390612345678"
        );
        assert_eq!(Sender::parse("+44 000000"), Err(SenderError::Phone));
        assert_eq!(
            Sender::parse("+44 0 12345"),
            Err(SenderError::Phone),
            "too short"
        );
    }

    proptest::proptest! {
        /// Any number of zeros between `+44` (or `+1`, `+7`, `+234`) and a national number
        /// parses to the number without them.
        #[test]
        fn zeros_after_a_code_without_leading_zeros_never_change_the_number(
            code in proptest::sample::select(vec!["1", "7", "44", "234", "33"]),
            zeros in 0usize..4,
            national in "[1-9][0-9]{6,8}",
        ) {
            let plain = Sender::parse(&format!("+{code}{national}")).unwrap();
            let padded = Sender::parse(&format!("+{code} {} {national}", "0".repeat(zeros)));
            proptest::prop_assert_eq!(padded, Ok(plain));
        }
    }

    proptest::proptest! {
        /// Whatever a client sends as a sender, parsing answers (an error or a sender) and never
        /// panics: strings of the characters a phone number is written with, short ones most.
        #[test]
        fn parsing_any_phone_shaped_string_never_panics(raw in "[+0-9 ().-]{0,20}") {
            let parsed = Sender::parse(&raw);
            if let Ok(Sender::Phone(n)) = parsed {
                proptest::prop_assert!(n >= 10_000_000, "{raw:?}: {n}");
            }
        }
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        /// A trunk prefix other than 0 (NANP's 1, Russia's 8, Hungary's 06) written between
        /// the calling code and a national number of a valid length never changes the number,
        /// nor do zeros before it.
        #[test]
        fn other_trunk_prefixes_never_change_the_number(
            (code, prefix, national) in proptest::sample::select(vec![
                ("1", "1", "[2-9][0-9]{9}"),
                ("1", "1", "[2-9][0-9]{6}"),
                ("7", "8", "9[0-9]{9}"),
                ("36", "06", "[1-9][0-9]{7,8}"),
            ]).prop_flat_map(|(c, p, re)| (proptest::strategy::Just(c), proptest::strategy::Just(p), proptest::string::string_regex(re).unwrap())),
            zeros in 0usize..2,
        ) {
            // Zeros before Hungary's `06` are the zero rule's: it drops them with the 0 of `06`.
            let zeros = if prefix.starts_with('0') { 0 } else { zeros };
            let plain = Sender::parse(&format!("+{code}{national}")).unwrap();
            let written = Sender::parse(&format!("+{code} {}{prefix} {national}", "0".repeat(zeros)));
            proptest::prop_assert_eq!(written, Ok(plain));
        }
    }

    #[test]
    fn equal_after_normalisation() {
        assert_eq!(
            Sender::parse("+44 20 7946 0958").unwrap(),
            Sender::parse("00442079460958").unwrap()
        );
        assert!(Sender::parse("+442079460958").unwrap().is_phone());
        assert!(!Sender::parse("x@y.z").unwrap().is_phone());
    }
}
