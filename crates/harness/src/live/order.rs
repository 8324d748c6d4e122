//! The order the virtual run gave requests that act on the same state.
//!
//! The replay sends each step as its own task at its scheduled time, so two steps due a few
//! milliseconds apart can overtake each other whenever one task is held up (waiting for a
//! connection, or for a core on a busy machine). Where both act on the same state, their
//! answers then change places: a provider's redelivery answered `verified` and the original
//! `duplicate`, a status poll answered `verified` although the code arrived after it, a
//! typed code checked before the code was texted. Such a swap says nothing about the
//! servers, so each step waits until the earlier steps on its state have their answers. A
//! step's state is the delivery id it sends, the challenge (or SMS code) it names, and for SMS
//! steps the phone number. A delivery whose text is not a code the run handed out (a guess, a
//! phished code) may act on any challenge: such deliveries go in their virtual order, and a
//! status poll also waits for the last of them before it, since it may have verified the
//! polled challenge (a guess that hijacks it). Polls only read that order, so they are not
//! chained to each other.

use mo2fa_sim::trace::{Action, Text, Trace};
use rustc_hash::FxHashMap;

#[derive(Clone, Copy, Hash, PartialEq, Eq)]
enum State {
    Delivery(u32),
    Key(u32),
    Phone(u64),
    /// Deliveries of text that names no key: they may act on any challenge.
    AnyChallenge,
}

/// The state step `action` acts on (at most two parts).
fn states(action: &Action) -> [Option<State>; 2] {
    match action {
        Action::Start { key, .. } => [key.map(State::Key), None],
        Action::Webhook { msg, text, .. } => {
            let challenge = match text {
                Text::Code(k) | Text::Typo(k) => State::Key(*k),
                Text::Literal(_) => State::AnyChallenge,
            };
            [Some(State::Delivery(*msg)), Some(challenge)]
        }
        Action::Replay { msg } => [Some(State::Delivery(*msg)), None],
        Action::Poll { key, .. } => [Some(State::Key(*key)), Some(State::AnyChallenge)],
        Action::SmsStart { key, number, .. } => [key.map(State::Key), Some(State::Phone(*number))],
        Action::SmsRead { key, number, .. } => {
            [Some(State::Key(*key)), Some(State::Phone(*number))]
        }
        Action::Forged { .. } => [None, None],
    }
}

/// For every step, the latest earlier steps on each part of its state: it is sent once they
/// are answered.
pub(super) fn predecessors(trace: &Trace) -> Vec<[Option<u32>; 2]> {
    let mut last: FxHashMap<State, u32> = FxHashMap::default();
    trace
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let reads_only = matches!(step.action, Action::Poll { .. });
            states(&step.action).map(|s| match s? {
                // A poll waits for the last such delivery, but the next one need not wait for it.
                State::AnyChallenge if reads_only => last.get(&State::AnyChallenge).copied(),
                s => last.insert(s, i as u32),
            })
        })
        .collect()
}
