//! The event parse's fast path: reads a body that is in the plain subset of JSON that provider
//! events are written in, without serde. Anything outside that subset (an escape, a number
//! with a fraction or an exponent, a non-empty array, an object other than the envelope's
//! `data`, a repeated field, a value of the wrong type, invalid JSON) makes it answer `None`,
//! and [`super::Event::parse`] reads the body with serde_json instead, which then decides, and
//! names the error. So whenever this answers, serde_json would have answered the same `Wire`:
//! the fast path changes what a delivery costs, never what it means (the tests check both on
//! every one-byte change of each documented shape).
//!
//! Measured with `benches/callgrind.sh` on Blooio's v2 body, `Event::parse` took 5,600
//! instructions a delivery through serde_json (much of it checking each string's UTF-8 apart
//! and in the generic visitor) and 3,100 through this (strings are scanned eight bytes at a
//! time, the body's UTF-8 checked once).

use super::Wire;
use std::borrow::Cow;

/// `body` as a [`Wire`], if it is in the plain subset; `None` leaves it to serde_json.
pub(super) fn wire(body: &[u8]) -> Option<Wire<'_>> {
    // Checked once for the whole body: every slice below starts and ends at an ASCII quote,
    // so each is valid UTF-8 too.
    let text = std::str::from_utf8(body).ok()?;
    let mut s = Scan { text, at: 0 };
    s.space();
    let wire = s.object(true)?;
    s.space();
    (s.at == text.len()).then_some(wire)
}

/// The bytes that end a plain string: its closing quote, or an escape or a control character,
/// which the fast path leaves to serde.
const ENDS_PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Where the first byte that ends a plain string is in `rest`, eight bytes at a time: a
/// quote, a backslash or a control character. In each mask a byte's top bit is set if that
/// byte is one (exactly for the lowest such byte; a borrow can only mark bytes above it), so
/// the lowest bit set over the three is the first.
fn plain_len(rest: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const TOPS: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x;
    let mut chunks = rest.chunks_exact(8);
    for (i, chunk) in chunks.by_ref().enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let hits = (zero(w ^ (ONES * u64::from(b'"')))
            | zero(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w))
            & TOPS;
        if hits != 0 {
            return Some(i * 8 + hits.trailing_zeros() as usize / 8);
        }
    }
    let tail = chunks.remainder();
    let at = tail.iter().position(|&c| ENDS_PLAIN[usize::from(c)])?;
    Some(rest.len() - tail.len() + at)
}

struct Scan<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// JSON's whitespace (not `is_ascii_whitespace`, which also takes form feed).
    fn space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek() == Some(c)).then(|| self.at += 1)
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        self.text[self.at..]
            .starts_with(word)
            .then(|| self.at += word.len())
    }

    /// A string with no escape and no control character (serde would copy the one and refuse
    /// the other).
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let rest = &self.text.as_bytes()[start..];
        let len = plain_len(rest)?;
        if rest[len] != b'"' {
            return None;
        }
        self.at = start + len + 1;
        Some(&self.text[start..start + len])
    }

    /// What the `borrowed` deserializer accepts: a string or null.
    fn text_or_null(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.peek()? == b'n' {
            self.literal("null")?;
            return Some(None);
        }
        self.string().map(|s| Some(Cow::Borrowed(s)))
    }

    /// An integer; a fraction or an exponent is left to serde.
    fn integer(&mut self) -> Option<()> {
        let _ = self.eat(b'-');
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.at += 1;
                }
            }
            _ => return None,
        }
        (!matches!(self.peek(), Some(b'.' | b'e' | b'E'))).then_some(())
    }

    /// A value of a field `Wire` does not read: a scalar or an empty array.
    fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'-' | b'0'..=b'9' => self.integer(),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            b'[' => {
                self.at += 1;
                self.space();
                self.eat(b']')
            }
            _ => None,
        }
    }

    /// An object read as a `Wire`; only the top one may hold `data` as an object.
    fn object(&mut self, top: bool) -> Option<Wire<'a>> {
        self.eat(b'{')?;
        let mut wire = Wire::default();
        self.space();
        if self.eat(b'}').is_some() {
            return Some(wire);
        }
        // The fields read so far: serde refuses a field given twice, even after a null.
        let mut seen = 0u16;
        loop {
            self.space();
            let key = self.string()?;
            self.space();
            self.eat(b':')?;
            self.space();
            let (bit, slot) = match key {
                "event" => (0, Some(&mut wire.event)),
                "type" => (1, Some(&mut wire.kind)),
                "id" => (2, Some(&mut wire.id)),
                "message_id" => (3, Some(&mut wire.message_id)),
                "external_id" => (4, Some(&mut wire.external_id)),
                "sender" => (5, Some(&mut wire.sender)),
                "text" => (6, Some(&mut wire.text)),
                "protocol" => (7, Some(&mut wire.protocol)),
                "internal_id" => (8, Some(&mut wire.internal_id)),
                "data" => (9, None),
                _ => {
                    self.skip()?;
                    (16, None)
                }
            };
            if bit < 16 {
                if seen & (1 << bit) != 0 {
                    return None;
                }
                seen |= 1 << bit;
                match slot {
                    Some(slot) => *slot = self.text_or_null()?,
                    None => match self.peek()? {
                        b'{' if top => wire.data = Some(Box::new(self.object(false)?)),
                        b'n' => self.literal("null")?,
                        _ => return None,
                    },
                }
            }
            self.space();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(wire);
                }
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Inbound, PayloadShape};
    use super::*;

    /// Whenever the fast path answers, serde_json answers the same.
    fn agrees(body: &[u8]) -> bool {
        let fast = wire(body);
        if let Some(fast) = &fast {
            let slow: Wire<'_> = serde_json::from_slice(body)
                .unwrap_or_else(|e| panic!("{:?}: fast read it, serde: {e}", bstr(body)));
            assert_eq!(*fast, slow, "{:?}", bstr(body));
        }
        fast.is_some()
    }

    fn bstr(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    fn shapes() -> Vec<Vec<u8>> {
        let m = Inbound {
            message_id: "msg_1",
            sender: "+15550100001",
            text: "Code: ABC234 ✓",
            protocol: "imessage",
            received_at_ms: 1_700_000_000_000,
        };
        [PayloadShape::V2, PayloadShape::Legacy, PayloadShape::V4]
            .iter()
            .map(|s| s.body(&m))
            .collect()
    }

    #[test]
    fn a_plain_string_ends_where_the_first_stop_byte_is() {
        for len in 0..20 {
            for stop in [b'"', b'\\', 0x00, 0x1f] {
                for fill in [b'a', b' ', 0x7f, 0x80, 0xff, b'!', b'#', b'[', b']'] {
                    let mut s = vec![fill; len];
                    s.push(stop);
                    s.extend_from_slice(b"x\"\x01");
                    assert_eq!(plain_len(&s), Some(len), "{s:?}");
                }
            }
            assert_eq!(plain_len(&vec![b'a'; len]), None);
        }
    }

    #[test]
    fn every_emitted_shape_takes_the_fast_path() {
        for body in shapes() {
            assert!(agrees(&body), "slow path for {}", bstr(&body));
        }
        let spaced = b" {\n\t\"event\" : \"message.received\" ,\r\n \"data\" : null ,\"n\":-0, \"a\": [ ], \"b\": true, \"c\": false, \"d\": null } ";
        assert!(agrees(spaced));
        assert!(agrees(b"{}"));
    }

    #[test]
    fn what_it_leaves_to_serde() {
        for body in [
            &br#"{"event":"a\"b"}"#[..],      // an escape
            br#"{"event":"a","event":"b"}"#,  // a field twice
            br#"{"event":null,"event":"b"}"#, // even after a null
            br#"{"event":5}"#,                // a wrong type
            br#"{"x":1.5}"#,                  // a fraction
            br#"{"x":1e3}"#,                  // an exponent
            br#"{"x":[1]}"#,                  // a non-empty array
            br#"{"x":{}}"#,                   // an unknown object
            br#"{"data":{"data":{}}}"#,       // data inside data
            br#"{"data":[]}"#,                // a struct from an array
            br#"{"event":"a",}"#,             // a trailing comma
            br#"{"event":"a"} x"#,            // trailing characters
            b"\x0c{}",                        // form feed is not JSON's
            b"{\"event\":\"a\x01\"}",         // a control character
            b"{\"event\":\"\xff\"}",          // invalid UTF-8
            br#"{"x":01}"#,                   // a leading zero
            br#"{"x":-}"#,                    // a bare minus
            br#"{"x":nul}"#,                  // a broken literal
            br#"[{"event":"a"}]"#,            // not an object
        ] {
            assert!(!agrees(body), "fast path took {}", bstr(body));
        }
    }

    #[test]
    fn any_one_byte_change_of_a_shape_reads_as_serde_reads_it() {
        const BYTES: &[u8] = b" ,:{}[]\"\\x0-1.en\x01\x0c\xc3";
        let mut fast = 0;
        for body in shapes() {
            for i in 0..body.len() {
                let mut cut = body.clone();
                cut.remove(i);
                fast += usize::from(agrees(&cut));
                for &b in BYTES {
                    let mut changed = body.clone();
                    changed[i] = b;
                    fast += usize::from(agrees(&changed));
                    let mut added = body.clone();
                    added.insert(i, b);
                    fast += usize::from(agrees(&added));
                }
            }
        }
        assert!(
            fast > 1000,
            "the fast path took only {fast} of the changed bodies"
        );
    }
}
