//! Code cases: stuffing many candidates into one message, guessing at a bounded rate (with
//! the odds per hour this implies), expired codes, and the variants a person types (case,
//! one space or hyphen) against a look-alike that only resembles the code.

use super::{Case, Ctx, Found, fail, pass, started, unknown};
use crate::client::{Seen, Started};
use crate::wire::{Exchange, Send};
use std::time::{Duration, Instant};

/// Candidates in the stuffed message (the real code is the last).
const STUFFED: usize = 50;
/// Starts tried to get a code a variant applies to (one with a letter, one with a look-alike).
pub(super) const VARIANT_TRIES: usize = 8;
/// The guessing case fails when one pending challenge's odds of being hit within an hour, at
/// the rate the target accepted guesses, reach this (an assumed bar: 1 %).
const MAX_ODDS_PER_HOUR: f64 = 0.01;

const MO2FA_ALPHABET: &str = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";
const UPPER_ALNUM: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALNUM: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Latin capitals and the Cyrillic letters drawn the same.
const CYRILLIC_TWINS: [(char, char); 10] = [
    ('A', 'А'),
    ('B', 'В'),
    ('C', 'С'),
    ('E', 'Е'),
    ('H', 'Н'),
    ('K', 'К'),
    ('M', 'М'),
    ('P', 'Р'),
    ('T', 'Т'),
    ('X', 'Х'),
];

const REF_GUESS: &str = "THREATS.md §1 (code guessing: one message hits with probability \
                         about k·P/S) and §2 (stuffed messages)";

pub const STUFFING: Case = Case {
    id: "codes.stuffing",
    title: "a message stuffed with 50 candidates does not verify the last one",
    why: "A message is one guess per candidate the verifier tries. Trying every code in a \
          message lets one message of many codes take many guesses at the pending set.",
    pass_means: "a message of 49 wrong codes then the right one did not verify it",
    reference: REF_GUESS,
};
pub const GUESSING: Case = Case {
    id: "codes.guessing",
    title: "random guesses at a bounded rate: the odds per hour they imply",
    why: "Without rate limits, the odds that guessing hits a pending code grow with the rate the \
          target accepts guesses and shrink with the code space.",
    pass_means: "at the rate the target accepted guesses, one pending challenge's odds of being \
                 hit within an hour are below 1 % (an assumed bar), and no guess crashed it",
    reference: REF_GUESS,
};
pub const VARIANTS: Case = Case {
    id: "codes.variants",
    title: "the code retyped in lower case, or split by one space or hyphen, verifies",
    why: "People retype codes rather than send the pre-filled text. A verifier that turns them \
          away pushes users to the costlier fallback.",
    pass_means: "each of the three variants verified a fresh challenge",
    reference: "crates/core/src/extract.rs (the variants mo2fa accepts and why)",
};
pub const LOOKALIKE: Case = Case {
    id: "codes.lookalike",
    title: "a code with a Cyrillic look-alike letter does not verify",
    why: "A verifier that folds look-alikes accepts strings it never issued, so each guess \
          covers more than one code.",
    pass_means: "the code with one letter replaced by its Cyrillic twin did not verify",
    reference: "crates/core/src/extract.rs (\"nothing looser\"); THREATS.md §1",
};
pub const EXPIRED: Case = Case {
    id: "codes.expired",
    title: "an expired code does not verify",
    why: "Codes must die: a pending set that never shrinks is both a guessing target and a \
          memory leak.",
    pass_means: "a code delivered after its lifetime (start.short_ttl_seconds) did not verify",
    reference: "THREATS.md §1 (fewer pending challenges) and §4",
};

fn needs_observation(ctx: &Ctx<'_>) -> Option<Found> {
    (!ctx.t.profile.observes_verification()).then(|| {
        unknown("neither a status route nor the webhook's answer says what a delivery did")
    })
}

/// A small deterministic generator (splitmix64): decoys and guesses need no secrecy.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick(&mut self, from: &[char]) -> char {
        from[(self.next() % from.len() as u64) as usize]
    }
}

/// The alphabet the codes seen so far come from (an inference, named in the result), and
/// their length.
fn code_space(codes: &[String]) -> Option<(usize, &'static str)> {
    let len = codes.first()?.chars().count();
    let all_in = |alphabet: &str| {
        codes
            .iter()
            .all(|c| c.chars().all(|ch| alphabet.contains(ch)))
    };
    let alphabet = [DIGITS, MO2FA_ALPHABET, UPPER_ALNUM, ALNUM]
        .into_iter()
        .find(|a| all_in(a))?;
    (len > 0).then_some((len, alphabet))
}

fn alphabet_name(a: &str) -> &'static str {
    match a {
        DIGITS => "digits",
        MO2FA_ALPHABET => "mo2fa's 31 symbols",
        UPPER_ALNUM => "A-Z and 0-9",
        _ => "letters and digits",
    }
}

/// A random code of `len` symbols from `alphabet`, with a digit when the alphabet has one
/// (so an extractor that prefers digit-bearing candidates meets the decoys first).
fn random_code(mix: &mut Mix, len: usize, alphabet: &str) -> String {
    let symbols: Vec<char> = alphabet.chars().collect();
    let digits: Vec<char> = symbols
        .iter()
        .copied()
        .filter(char::is_ascii_digit)
        .collect();
    let mut code: Vec<char> = (0..len).map(|_| mix.pick(&symbols)).collect();
    if !digits.is_empty() && !code.iter().any(char::is_ascii_digit) {
        let at = (mix.next() % len as u64) as usize;
        code[at] = mix.pick(&digits);
    }
    code.into_iter().collect()
}

fn seed(s: &Started) -> Mix {
    Mix(s
        .code
        .bytes()
        .fold(0xC0DE, |h, b| h.rotate_left(8) ^ u64::from(b)))
}

pub(super) async fn stuffing(ctx: &mut Ctx<'_>, ev: &mut Vec<Exchange>) -> Found {
    if let Some(f) = needs_observation(ctx) {
        return f;
    }
    let t = ctx.t;
    let s = started!(ctx.start(ev).await);
    let Some((len, alphabet)) = code_space(std::slice::from_ref(&s.code)) else {
        return unknown(format!("the code {:?} is not letters and digits", s.code));
    };
    let mut mix = seed(&s);
    let mut words: Vec<String> = Vec::with_capacity(STUFFED);
    while words.len() < STUFFED - 1 {
        let d = random_code(&mut mix, len, alphabet);
        if d != s.code {
            words.push(d);
        }
    }
    words.push(s.code.clone());
    let (_, seen) = t
        .deliver_and_see(ev, &s, &t.message(&s.sender, &words.join(" ")))
        .await;
    match seen {
        Seen::Verified => {
            ctx.candidates_per_message = Some(STUFFED);
            fail(format!(
                "verified: the target tried the candidate at position {STUFFED} of {STUFFED}"
            ))
        }
        Seen::Not(why) => {
            ctx.candidates_per_message = Some(1);
            pass(format!("not verified ({why})"))
        }
        Seen::Unseen => unknown("what the delivery did cannot be seen"),
    }
}

pub(super) async fn guessing(ctx: &mut Ctx<'_>, ev: &mut Vec<Exchange>) -> Found {
    let t = ctx.t;
    if ctx.codes.is_empty() {
        let _ = started!(ctx.start(ev).await);
    }
    let Some((len, alphabet)) = code_space(&ctx.codes) else {
        return unknown("the codes handed out are not letters and digits: no code space to infer");
    };
    let space = (alphabet.chars().count() as f64).powi(i32::try_from(len).unwrap_or(i32::MAX));
    let mut mix = Mix(len as u64 ^ 0x6E55);
    let every = Duration::from_secs_f64(1.0 / ctx.opts.guess_rate_per_s);
    let began = Instant::now();
    let (mut accepted, mut limited, mut broken) = (0usize, 0usize, Vec::new());
    for i in 0..ctx.opts.guesses {
        let due = began + every * u32::try_from(i).unwrap_or(u32::MAX);
        tokio::time::sleep_until(due.into()).await;
        let m = t.message(&t.new_sender(), &random_code(&mut mix, len, alphabet));
        let ex = t
            .send(&t.delivery(&m, crate::client::now_secs()), Send::Normal)
            .await;
        let status = ex.answer().map(|a| a.status);
        match status {
            Some(200..=299) => accepted += 1,
            Some(429 | 503) => limited += 1,
            Some(400..=499) => {}
            _ => broken.push(ex.outcome.clone()),
        }
        // Keep the first few and the first refusals as evidence, not all of them.
        if i < 3 || status.is_none_or(|s| s >= 300) && ev.len() < 20 {
            ev.push(ex);
        }
    }
    let secs = began.elapsed().as_secs_f64().max(1e-3);
    let rate = accepted as f64 / secs;
    let (k, k_source) = match ctx.candidates_per_message {
        Some(k) => (k as f64, "seen by codes.stuffing"),
        None => (
            STUFFED as f64,
            "unknown, as codes.stuffing could not see: counted as its 50",
        ),
    };
    let tries_per_hour = rate * 3600.0 * k;
    let odds = 1.0 - (1.0 - (k / space).min(1.0)).powf(rate * 3600.0);
    let measured = format!(
        "{accepted} of {} guesses accepted in {secs:.1} s ({rate:.1}/s; {limited} refused as \
         rate-limited); code space {space:.3e} ({len} symbols of {}, inferred from the codes \
         handed out); {k} candidate(s) per message ({k_source}); {tries_per_hour:.0} tries an hour give one \
         pending challenge odds of {:.4} % per hour (P pending challenges: about P times that)",
        ctx.opts.guesses,
        alphabet_name(alphabet),
        odds * 100.0
    );
    if !broken.is_empty() {
        return fail(format!(
            "guesses were answered {:?}; {measured}",
            &broken[..broken.len().min(3)]
        ));
    }
    if accepted + limited == 0 {
        return unknown(format!(
            "no guess was accepted or rate-limited (all refused), so no rate was measured; {measured}"
        ));
    }
    if odds >= MAX_ODDS_PER_HOUR {
        fail(format!("odds reach the 1 % bar: {measured}"))
    } else {
        pass(measured)
    }
}

/// Starts challenges until `pick` applies to a code (at most [`VARIANT_TRIES`]).
async fn start_until<F: Fn(&str) -> Option<String>>(
    ctx: &mut Ctx<'_>,
    ev: &mut Vec<Exchange>,
    pick: F,
) -> Result<Option<(Started, String)>, Found> {
    for _ in 0..VARIANT_TRIES {
        let s = match ctx.start(ev).await {
            Ok(s) => s,
            Err(e) => return Err(super::no_start(e)),
        };
        if let Some(text) = pick(&s.code) {
            return Ok(Some((s, text)));
        }
    }
    Ok(None)
}

pub(super) async fn variants(ctx: &mut Ctx<'_>, ev: &mut Vec<Exchange>) -> Found {
    if let Some(f) = needs_observation(ctx) {
        return f;
    }
    let t = ctx.t;
    type Variant = (&'static str, fn(&str) -> Option<String>);
    let kinds: [Variant; 3] = [
        ("lower case", |c| {
            let l = c.to_lowercase();
            (l != c).then_some(l)
        }),
        ("one inner space", |c| split(c, ' ')),
        ("one inner hyphen", |c| split(c, '-')),
    ];
    let mut refused = Vec::new();
    let mut tried = Vec::new();
    for (name, make) in kinds {
        let Some((s, text)) = (match start_until(ctx, ev, make).await {
            Ok(v) => v,
            Err(f) => return f,
        }) else {
            tried.push(format!(
                "{name}: no code it applies to in {VARIANT_TRIES} starts"
            ));
            continue;
        };
        let (_, seen) = t
            .deliver_and_see(ev, &s, &t.message(&s.sender, &text))
            .await;
        match seen {
            Seen::Verified => tried.push(format!("{name} {text:?}: verified")),
            other => refused.push(format!("{name} {text:?}: {other}")),
        }
    }
    if refused.is_empty() && !tried.is_empty() {
        pass(tried.join("; "))
    } else if refused.is_empty() {
        unknown("no variant applied")
    } else {
        fail(format!("turned away: {}", refused.join("; ")))
    }
}

fn split(code: &str, sep: char) -> Option<String> {
    let chars: Vec<char> = code.chars().collect();
    (chars.len() >= 2).then(|| {
        let (a, b) = chars.split_at(chars.len() / 2);
        format!(
            "{}{sep}{}",
            a.iter().collect::<String>(),
            b.iter().collect::<String>()
        )
    })
}

pub(super) async fn lookalike(ctx: &mut Ctx<'_>, ev: &mut Vec<Exchange>) -> Found {
    if let Some(f) = needs_observation(ctx) {
        return f;
    }
    let t = ctx.t;
    let twin = |code: &str| {
        let (latin, cyr) = CYRILLIC_TWINS
            .iter()
            .find(|(l, _)| code.contains(*l))
            .copied()?;
        Some(code.replacen(latin, &cyr.to_string(), 1))
    };
    let found = match start_until(ctx, ev, twin).await {
        Ok(v) => v,
        Err(f) => return f,
    };
    let Some((s, text)) = found else {
        return unknown(format!(
            "no code in {VARIANT_TRIES} starts had a letter with a Cyrillic twin"
        ));
    };
    let (_, seen) = t
        .deliver_and_see(ev, &s, &t.message(&s.sender, &text))
        .await;
    match seen {
        Seen::Verified => fail(format!("{text:?} verified the code {:?}", s.code)),
        Seen::Not(why) => pass(format!("{text:?} did not verify {:?} ({why})", s.code)),
        Seen::Unseen => unknown("what the delivery did cannot be seen"),
    }
}

pub(super) async fn expired(ctx: &mut Ctx<'_>, ev: &mut Vec<Exchange>) -> Found {
    if let Some(f) = needs_observation(ctx) {
        return f;
    }
    let t = ctx.t;
    let Some(short) = t.profile.short_ttl() else {
        return unknown(
            "the profile gives no short lifetime (start.short_ttl_seconds) for a code to outlive",
        );
    };
    let s = started!(t.start(ev, Some(short)).await);
    tokio::time::sleep(Duration::from_secs(short) + Duration::from_millis(1500)).await;
    let (_, seen) = t
        .deliver_and_see(ev, &s, &t.message(&s.sender, &s.code))
        .await;
    match seen {
        Seen::Verified => fail(format!(
            "verified {short} s + 1.5 s after a {short}-second start"
        )),
        Seen::Not(why) => pass(format!(
            "not verified after its {short}-second lifetime ({why})"
        )),
        Seen::Unseen => unknown("what the delivery did cannot be seen"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_space_is_inferred_from_the_codes() {
        let v = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(code_space(&v(&["123456"])), Some((6, DIGITS)));
        assert_eq!(
            code_space(&v(&["9A6N3F", "ABC234"])),
            Some((6, MO2FA_ALPHABET))
        );
        assert_eq!(
            code_space(&v(&["9A6N3F", "ABC0I1"])),
            Some((6, UPPER_ALNUM))
        );
        assert_eq!(code_space(&v(&["ab-12"])), None);
        let mut mix = Mix(1);
        for _ in 0..100 {
            let c = random_code(&mut mix, 6, MO2FA_ALPHABET);
            assert!(
                c.chars().count() == 6 && c.chars().any(|x| x.is_ascii_digit()),
                "{c}"
            );
            assert!(c.chars().all(|x| MO2FA_ALPHABET.contains(x)));
        }
        assert_eq!(split("ABC234", ' ').as_deref(), Some("ABC 234"));
    }
}
