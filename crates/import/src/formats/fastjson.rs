//! A fast path for the JSON formats: a cursor over JSON text (already checked as UTF-8) that
//! walks objects member by member, hands out strings without escapes borrowed, and skips the
//! values
//! a format does not read after checking their grammar. It accepts a subset of what
//! `serde_json` accepts, and reads that subset the same way; whatever it does not accept (an
//! escape where a value is read, a duplicate field, a nested `detail`, a syntax error, deep
//! nesting...) it returns `None` for, and the caller reads the record again with `serde_json`,
//! which gives the same result or the same error as before. So a row's result never depends
//! on which path read it; the fast path only decides how quickly.

/// Nesting deeper than this is left to `serde_json` (whose own limit is 128).
const MAX_DEPTH: u32 = 64;

/// Number tokens longer than this are left to `serde_json` (range checks, rounding).
const MAX_NUMBER: usize = 24;

pub(crate) struct Cursor<'a> {
    s: &'a str,
    b: &'a [u8],
    pub i: usize,
    /// Line feeds passed so far (they can only be white space: raw ones in strings are
    /// refused).
    pub newlines: u64,
    /// The text ended where more was needed (the record may continue past the buffer).
    pub short: bool,
    /// Backslash escapes and exponents are refused even in skipped values (for a slow path
    /// that builds every value, checking escapes and number ranges fully).
    pub strict: bool,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The bytes of `v` that are `"`, `\` or a control character, as high bits; the lowest set bit
/// is exact (a false positive can only follow a true one).
fn specials(v: u64) -> u64 {
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    zero(v ^ (ONES * u64::from(b'"')))
        | zero(v ^ (ONES * u64::from(b'\\')))
        | (v.wrapping_sub(ONES * 0x20) & !v & HIGHS)
}

impl<'a> Cursor<'a> {
    pub fn new(s: &'a str) -> Self {
        Cursor {
            s,
            b: s.as_bytes(),
            i: 0,
            newlines: 0,
            short: false,
            strict: false,
        }
    }

    fn short<T>(&mut self) -> Option<T> {
        self.short = true;
        None
    }

    /// The next byte after white space, not consumed.
    #[inline(always)]
    pub fn peek(&mut self) -> Option<u8> {
        match self.b.get(self.i) {
            Some(&c) if c > b' ' => Some(c),
            // One space, as after `:` and `,` in most writers' output.
            Some(b' ') => match self.b.get(self.i + 1) {
                Some(&c) if c > b' ' => {
                    self.i += 1;
                    Some(c)
                }
                _ => self.white(),
            },
            _ => self.white(),
        }
    }

    fn white(&mut self) -> Option<u8> {
        let (b, mut i, mut newlines) = (self.b, self.i, self.newlines);
        while i < b.len() {
            match b[i] {
                b' ' => {
                    // A run of spaces (a pretty-printed page's indentation), eight at a time.
                    if let Some(w) = b.get(i..i + 8) {
                        let mut word = [0u8; 8];
                        word.copy_from_slice(w);
                        let others = u64::from_le_bytes(word) ^ (ONES * u64::from(b' '));
                        i += if others == 0 {
                            8
                        } else {
                            (others.trailing_zeros() / 8) as usize
                        };
                        continue;
                    }
                }
                b'\t' | b'\r' => {}
                b'\n' => newlines += 1,
                c => {
                    (self.i, self.newlines) = (i, newlines);
                    return Some(c);
                }
            }
            i += 1;
        }
        (self.i, self.newlines) = (i, newlines);
        self.short()
    }

    pub fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek()? == c {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    /// Whether only white space is left.
    pub fn at_end(&mut self) -> bool {
        let end = self.peek().is_none();
        self.short = false;
        end
    }

    /// The index of the first `"`, `\` or control character from `self.i`.
    #[inline]
    fn special(&mut self) -> Option<usize> {
        let b = self.b;
        let mut j = self.i;
        while j + 8 <= b.len() {
            let mut word = [0u8; 8];
            word.copy_from_slice(&b[j..j + 8]);
            let mask = specials(u64::from_le_bytes(word));
            if mask != 0 {
                return Some(j + (mask.trailing_zeros() / 8) as usize);
            }
            j += 8;
        }
        while j < b.len() {
            let c = b[j];
            if c == b'"' || c == b'\\' || c < 0x20 {
                return Some(j);
            }
            j += 1;
        }
        self.short()
    }

    /// A string without escapes, at its opening quote; borrowed.
    #[inline]
    pub fn plain_str(&mut self) -> Option<&'a str> {
        if self.peek()? != b'"' {
            return None;
        }
        self.i += 1;
        let start = self.i;
        let end = self.special()?;
        if self.b[end] != b'"' {
            return None;
        }
        self.i = end + 1;
        self.s.get(start..end)
    }

    /// Skips a string at its opening quote, checking its escapes as `serde_json` does for a
    /// value it ignores.
    fn skip_str(&mut self) -> Option<()> {
        self.i += 1;
        loop {
            let at = self.special()?;
            match self.b[at] {
                b'"' => {
                    self.i = at + 1;
                    return Some(());
                }
                b'\\' if !self.strict => {
                    let Some(&e) = self.b.get(at + 1) else {
                        return self.short();
                    };
                    self.i = at + 2;
                    match e {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            let Some(hex) = self.b.get(at + 2..at + 6) else {
                                return self.short();
                            };
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.i = at + 6;
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
    }

    /// A number token (JSON's grammar), at its first character.
    pub fn number(&mut self) -> Option<&'a str> {
        let start = self.i;
        let b = self.b;
        let mut j = start;
        let digits = |j: &mut usize| {
            let from = *j;
            while b.get(*j).is_some_and(u8::is_ascii_digit) {
                *j += 1;
            }
            *j - from
        };
        if b.get(j) == Some(&b'-') {
            j += 1;
        }
        match b.get(j) {
            Some(b'0') => j += 1,
            Some(b'1'..=b'9') => {
                digits(&mut j);
            }
            _ => return None,
        }
        if b.get(j) == Some(&b'.') {
            j += 1;
            if digits(&mut j) == 0 {
                return None;
            }
        }
        if matches!(b.get(j), Some(b'e' | b'E')) {
            if self.strict {
                return None;
            }
            j += 1;
            if matches!(b.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            if digits(&mut j) == 0 {
                return None;
            }
        }
        if j == b.len() {
            // A number at the end of the text may go on in the next buffer.
            return self.short();
        }
        if j - start > MAX_NUMBER {
            return None;
        }
        self.i = j;
        self.s.get(start..j)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        match self.b.get(self.i..self.i + word.len()) {
            Some(w) if w == word => {
                self.i += word.len();
                Some(())
            }
            Some(_) => None,
            None => self.short(),
        }
    }

    /// `null` (consumed), or `false` without consuming anything.
    pub fn null(&mut self) -> Option<bool> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            Some(true)
        } else {
            Some(false)
        }
    }

    /// `true` or `false`.
    pub fn boolean(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| false),
            _ => None,
        }
    }

    /// Skips any value, checking its grammar.
    pub fn skip(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_str(),
            b'{' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.object(|c, _| c.skip(depth + 1))
            }
            b'[' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.skip(depth + 1)?;
                    if self.next_or_end(b']')? {
                        return Some(());
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number().map(|_| ()),
        }
    }

    /// Walks an object at its `{`: `member` gets each key (without escapes) and must consume
    /// its value.
    pub fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            let key = self.plain_str()?;
            self.eat(b':')?;
            member(self, key)?;
            if self.next_or_end(b'}')? {
                return Some(());
            }
        }
    }

    /// After a member or an element: a `,` (taken; `Some(false)`, another follows) or `close`
    /// (taken; `Some(true)`, the object or array ends); anything else is not taken (`None`).
    pub fn next_or_end(&mut self, close: u8) -> Option<bool> {
        let next = self.peek()?;
        if next != b',' && next != close {
            return None;
        }
        self.i += 1;
        Some(next == close)
    }
}

/// For the fast paths' differential tests: `text` with each edit applied in turn. An edit is
/// (position, operation, byte): remove the byte there; insert, or write over it, one of
/// `picks` or the edit's own byte (chosen by the byte); or repeat the byte there.
#[cfg(test)]
pub fn mutate(mut text: Vec<u8>, edits: &[(usize, usize, u8)], picks: &[u8]) -> Vec<u8> {
    for &(at, op, byte) in edits {
        if text.is_empty() {
            break;
        }
        let at = at % text.len();
        let i = usize::from(byte) % (picks.len() + 1);
        let pick = picks.get(i).copied().unwrap_or(byte);
        match op {
            0 => {
                text.remove(at);
            }
            1 => text.insert(at, pick),
            2 => text[at] = pick,
            _ => text.insert(at, text[at]),
        }
    }
    text
}
