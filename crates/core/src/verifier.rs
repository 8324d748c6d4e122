//! The reverse-2FA verifier: issue challenges, match inbound messages, report status.
//!
//! Pure by construction: every method takes `now` from the caller and draws randomness from
//! an RNG the caller passes in, and nothing here performs I/O. The HTTP server passes the wall
//! clock and a CSPRNG; the simulator passes its virtual clock and seeded RNG. Both therefore
//! exercise exactly the same state machine.

use crate::clock::Millis;
use crate::code::{Code, CodeSpec, CodeSpecError};
use crate::dedupe::Dedupe;
use crate::extract::{Candidates, MAX_CANDIDATES, extract};
use crate::metrics::{Counter, Counters};
use crate::sender::{Sender, SenderError};
use crate::store::{
    ChallengeId, ChallengeView, InsertError, MatchOutcome, MemoryStore, MemoryStoreConfig,
    NewChallenge, Status, Store,
};
use rand::Rng;
use std::cell::Cell;
use std::fmt;

/// Protocols a message can arrive over, as Blooio names them. SMS sender ids can be spoofed, so
/// whether anything but iMessage may verify is a policy decision, off by default. `Unknown`
/// stands for a missing, null or unrecognised `protocol`: it verifies only if accepted
/// explicitly, so a provider that stops naming the protocol cannot switch the policy off.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Protocol {
    Imessage,
    Sms,
    Rcs,
    NonImessage,
    Unknown,
}

impl Protocol {
    /// Case-insensitive; a missing or unrecognised protocol is `Unknown`.
    pub fn parse(s: Option<&str>) -> Self {
        let Some(s) = s else { return Self::Unknown };
        [
            ("imessage", Self::Imessage),
            ("sms", Self::Sms),
            ("rcs", Self::Rcs),
            ("non-imessage", Self::NonImessage),
        ]
        .into_iter()
        .find_map(|(name, p)| s.eq_ignore_ascii_case(name).then_some(p))
        .unwrap_or(Self::Unknown)
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub code: CodeSpec,
    pub default_ttl_ms: Millis,
    pub min_ttl_ms: Millis,
    pub max_ttl_ms: Millis,
    /// How many codes one message may try (1..=16).
    pub max_candidates: usize,
    /// Mismatching senders a bound challenge tolerates before it locks.
    pub max_sender_failures: u8,
    pub accepted_protocols: Vec<Protocol>,
    /// How many fresh codes to draw when the first ones are already pending.
    pub code_attempts: u32,
    /// How long a delivery id is remembered (longer than the provider's retry schedule), and
    /// how many are remembered at most; together they bound the dedupe cache's memory.
    pub dedupe_retention_ms: Millis,
    pub dedupe_max_entries: usize,
    /// SipHash keys for delivery ids in the dedupe cache. The server draws them from its
    /// CSPRNG at start; the default is a fixed value, so runs stay deterministic.
    pub dedupe_keys: [u64; 4],
}

/// The dedupe cache's hash keys unless the caller draws its own: any fixed value works.
pub const DEFAULT_DEDUPE_KEYS: [u64; 4] = [
    0x6d6f_3266_615f_6464,
    0x6564_7570_655f_6b30,
    0x5f6d_6f32_6661_5f6b,
    0x3100_0000_0000_0000,
];

impl Default for Config {
    fn default() -> Self {
        Self {
            code: CodeSpec::default(),
            default_ttl_ms: 300_000,
            min_ttl_ms: 10_000,
            max_ttl_ms: 3_600_000,
            max_candidates: 1,
            max_sender_failures: 5,
            accepted_protocols: vec![Protocol::Imessage],
            code_attempts: 16,
            dedupe_retention_ms: crate::dedupe::DEFAULT_RETENTION_MS,
            dedupe_max_entries: 1 << 20,
            dedupe_keys: DEFAULT_DEDUPE_KEYS,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(transparent)]
    Code(#[from] CodeSpecError),
    #[error("max_candidates must be between 1 and {MAX_CANDIDATES}, got {0}")]
    Candidates(usize),
    #[error("ttl bounds are inconsistent: need 0 < min ({min}) <= default ({default}) <= max ({max}) <= {limit} ms", limit = crate::store::MAX_TTL_MS)]
    Ttl {
        min: Millis,
        default: Millis,
        max: Millis,
    },
    #[error("max_sender_failures must be at least 1")]
    SenderFailures,
}

impl Config {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_CANDIDATES).contains(&self.max_candidates) {
            return Err(ConfigError::Candidates(self.max_candidates));
        }
        let (min, default, max) = (self.min_ttl_ms, self.default_ttl_ms, self.max_ttl_ms);
        if !(0 < min && min <= default && default <= max && max <= crate::store::MAX_TTL_MS) {
            return Err(ConfigError::Ttl { min, default, max });
        }
        if self.max_sender_failures == 0 {
            return Err(ConfigError::SenderFailures);
        }
        Ok(())
    }
}

/// A start request that passed [`Config::check_start`]: everything but the random draw.
#[derive(Clone, Debug)]
pub struct CheckedStart {
    pub now: Millis,
    pub expires_at: Millis,
    pub expected_sender: Option<Sender>,
}

impl CheckedStart {
    /// A challenge with a fresh code and tag; the store may still refuse the code as taken.
    pub fn draw<R: Rng + ?Sized>(&self, cfg: &Config, rng: &mut R) -> NewChallenge {
        NewChallenge {
            code: cfg.code.random(rng),
            tag: rng.random(),
            created_at: self.now,
            expires_at: self.expires_at,
            expected_sender: self.expected_sender.clone(),
        }
    }
}

/// What a message amounts to before any store is asked.
pub enum Prepared {
    /// Decided without the store (policy, unusable sender, no code).
    Done(ReceiveOutcome),
    /// Offer these codes, in order, from this sender.
    Match {
        sender: Sender,
        candidates: Candidates,
    },
}

impl Config {
    /// Checks the TTL range and the expected sender.
    pub fn check_start(&self, req: &StartRequest, now: Millis) -> Result<CheckedStart, StartError> {
        let ttl = req.ttl_ms.unwrap_or(self.default_ttl_ms);
        if !(self.min_ttl_ms..=self.max_ttl_ms).contains(&ttl) {
            return Err(StartError::Ttl {
                min: self.min_ttl_ms / 1000,
                max: self.max_ttl_ms / 1000,
            });
        }
        let expected_sender = req
            .expected_sender
            .as_deref()
            .map(Sender::parse)
            .transpose()?;
        Ok(CheckedStart {
            now,
            expires_at: now + ttl,
            expected_sender,
        })
    }

    /// Protocol policy, code extraction and sender parsing: everything about a message that
    /// needs no store. `prefetch` sees the first candidate as soon as it is known, so a store
    /// can start fetching while the sender is parsed. A message carrying more candidates than
    /// may be tried is counted in `stuffed`.
    pub fn prepare(
        &self,
        msg: &InboundMessage<'_>,
        stuffed: &impl Counter,
        prefetch: impl FnOnce(Code),
    ) -> Prepared {
        if !self
            .accepted_protocols
            .contains(&Protocol::parse(msg.protocol))
        {
            let reason = match msg.protocol {
                Some(raw) => format!("protocol {raw:?} is not accepted for verification"),
                None => "a message without a protocol is not accepted for verification".into(),
            };
            return Prepared::Done(ReceiveOutcome::Ignored { reason });
        }
        let candidates = extract(msg.text, &self.code, self.max_candidates);
        if let Some(&first) = candidates.as_slice().first() {
            prefetch(first);
        }
        if candidates.seen > self.max_candidates {
            Counters::inc(stuffed);
        }
        let sender = match Sender::parse(msg.sender) {
            Ok(s) => s,
            Err(e) => {
                return Prepared::Done(ReceiveOutcome::Ignored {
                    reason: format!("sender: {e}"),
                });
            }
        };
        if candidates.is_empty() {
            return Prepared::Done(ReceiveOutcome::NoCode);
        }
        Prepared::Match { sender, candidates }
    }
}

/// The [`Counters`] fields [`count_outcome`] adds to for `outcome`, by their
/// [`Counters::field`] names: what a reader of counted outcomes needs to look at again.
pub fn outcome_fields(outcome: &ReceiveOutcome) -> &'static [&'static str] {
    match outcome {
        ReceiveOutcome::Verified { .. } => &["messages", "verifications"],
        ReceiveOutcome::SenderMismatch { locked: true, .. } => {
            &["messages", "sender_mismatches", "locked"]
        }
        ReceiveOutcome::SenderMismatch { locked: false, .. } => &["messages", "sender_mismatches"],
        ReceiveOutcome::Expired { .. } => &["messages", "expired"],
        ReceiveOutcome::NoMatch { .. } => &["messages", "no_match"],
        ReceiveOutcome::NoCode => &["messages", "no_code"],
        ReceiveOutcome::Ignored { .. } => &["messages", "ignored"],
    }
}

/// Counts one handled message by its outcome.
pub fn count_outcome(c: &Counters, outcome: &ReceiveOutcome) {
    Counters::inc(&c.messages);
    match outcome {
        ReceiveOutcome::Verified { .. } => Counters::inc(&c.verifications),
        ReceiveOutcome::SenderMismatch { locked, .. } => {
            Counters::inc(&c.sender_mismatches);
            if *locked {
                Counters::inc(&c.locked);
            }
        }
        ReceiveOutcome::Expired { .. } => Counters::inc(&c.expired),
        ReceiveOutcome::NoMatch { .. } => Counters::inc(&c.no_match),
        ReceiveOutcome::NoCode => Counters::inc(&c.no_code),
        ReceiveOutcome::Ignored { .. } => Counters::inc(&c.ignored),
    }
}

/// A request to start a challenge, as the app sends it.
#[derive(Clone, Debug, Default)]
pub struct StartRequest {
    pub expected_sender: Option<String>,
    pub ttl_ms: Option<Millis>,
}

#[derive(Clone, Debug)]
pub struct Started {
    pub id: ChallengeId,
    pub code: Code,
    pub expires_at: Millis,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StartError {
    #[error("expected_sender: {0}")]
    Sender(#[from] SenderError),
    #[error("ttl_seconds must be between {min} and {max}")]
    Ttl { min: u64, max: u64 },
    #[error(transparent)]
    Store(InsertError),
    #[error("no free code found after {0} draws: the code space is nearly exhausted")]
    CodeSpace(u32),
    #[error(transparent)]
    Unavailable(#[from] crate::store::Unavailable),
}

/// An inbound message as the provider reported it.
#[derive(Clone, Debug)]
pub struct InboundMessage<'a> {
    pub sender: &'a str,
    pub text: &'a str,
    pub protocol: Option<&'a str>,
}

/// What an inbound message did (the server writes it as the webhook's answer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiveOutcome {
    Verified {
        id: ChallengeId,
    },
    SenderMismatch {
        id: ChallengeId,
        locked: bool,
    },
    Expired {
        id: ChallengeId,
    },
    /// No candidate matched a pending challenge.
    NoMatch {
        candidates_tried: usize,
    },
    NoCode,
    /// Not accepted for verification by policy (protocol) or unusable (sender).
    Ignored {
        reason: String,
    },
}

/// An answer as the dedupe cache keeps it, up to a million of them: 24 bytes instead of the 48
/// of a [`ReceiveOutcome`] (whose 128-bit id aligns it to 16 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Recorded {
    Verified(PackedId),
    SenderMismatch(PackedId, bool),
    Expired(PackedId),
    NoMatch(u8),
    NoCode,
    Ignored(Box<str>),
}

/// A [`ChallengeId`] in 4-byte words.
type PackedId = [u32; 5];

fn pack(id: ChallengeId) -> PackedId {
    let t = id.tag;
    [
        id.locator,
        (t >> 96) as u32,
        (t >> 64) as u32,
        (t >> 32) as u32,
        t as u32,
    ]
}

fn unpack(p: PackedId) -> ChallengeId {
    ChallengeId {
        locator: p[0],
        tag: p[1..]
            .iter()
            .fold(0u128, |tag, &w| (tag << 32) | u128::from(w)),
    }
}

impl From<ReceiveOutcome> for Recorded {
    fn from(o: ReceiveOutcome) -> Self {
        match o {
            ReceiveOutcome::Verified { id } => Self::Verified(pack(id)),
            ReceiveOutcome::SenderMismatch { id, locked } => Self::SenderMismatch(pack(id), locked),
            ReceiveOutcome::Expired { id } => Self::Expired(pack(id)),
            // At most MAX_CANDIDATES (16) are ever tried.
            ReceiveOutcome::NoMatch { candidates_tried } => {
                Self::NoMatch(candidates_tried.min(usize::from(u8::MAX)) as u8)
            }
            ReceiveOutcome::NoCode => Self::NoCode,
            ReceiveOutcome::Ignored { reason } => Self::Ignored(reason.into()),
        }
    }
}

impl Recorded {
    fn outcome(&self) -> ReceiveOutcome {
        match self {
            Self::Verified(id) => ReceiveOutcome::Verified { id: unpack(*id) },
            Self::SenderMismatch(id, locked) => ReceiveOutcome::SenderMismatch {
                id: unpack(*id),
                locked: *locked,
            },
            Self::Expired(id) => ReceiveOutcome::Expired { id: unpack(*id) },
            Self::NoMatch(n) => ReceiveOutcome::NoMatch {
                candidates_tried: usize::from(*n),
            },
            Self::NoCode => ReceiveOutcome::NoCode,
            Self::Ignored(reason) => ReceiveOutcome::Ignored {
                reason: reason.to_string(),
            },
        }
    }
}

/// The public view of a challenge for status polling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusView {
    pub status: Status,
    pub sender: Option<String>,
    pub verified_at: Option<Millis>,
    pub expires_at: Millis,
}

impl From<ChallengeView> for StatusView {
    fn from(v: ChallengeView) -> Self {
        Self {
            status: v.status,
            sender: v.verified.as_ref().map(|(s, _)| s.to_string()),
            verified_at: v.verified.map(|(_, at)| at),
            expires_at: v.expires_at,
        }
    }
}

pub struct Verifier<S: Store = MemoryStore> {
    cfg: Config,
    store: S,
    dedupe: Dedupe<Recorded>,
    pub counters: Counters,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier").field("cfg", &self.cfg).finish()
    }
}

impl Verifier<MemoryStore> {
    /// A verifier over the embedded memory store.
    pub fn in_memory(cfg: Config, store: MemoryStoreConfig) -> Result<Self, ConfigError> {
        Self::new(cfg, MemoryStore::new(store))
    }
}

impl<S: Store> Verifier<S> {
    pub fn new(cfg: Config, store: S) -> Result<Self, ConfigError> {
        cfg.validate()?;
        Ok(Self {
            dedupe: Dedupe::new(
                cfg.dedupe_retention_ms,
                cfg.dedupe_max_entries,
                cfg.dedupe_keys,
            ),
            cfg,
            store,
            counters: Counters::default(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn start<R: Rng + ?Sized>(
        &self,
        req: &StartRequest,
        now: Millis,
        rng: &mut R,
    ) -> Result<Started, StartError> {
        let result = self.try_start(req, now, rng);
        match &result {
            Ok(_) => Counters::inc(&self.counters.starts),
            Err(_) => Counters::inc(&self.counters.starts_refused),
        }
        result
    }

    fn try_start<R: Rng + ?Sized>(
        &self,
        req: &StartRequest,
        now: Millis,
        rng: &mut R,
    ) -> Result<Started, StartError> {
        let checked = self.cfg.check_start(req, now)?;
        for _ in 0..self.cfg.code_attempts {
            let challenge = checked.draw(&self.cfg, rng);
            let (code, expires_at) = (challenge.code, challenge.expires_at);
            match self.store.insert(challenge) {
                Ok(id) => {
                    return Ok(Started {
                        id,
                        code,
                        expires_at,
                    });
                }
                Err(InsertError::CodeTaken) => continue,
                Err(e) => return Err(StartError::Store(e)),
            }
        }
        Err(StartError::CodeSpace(self.cfg.code_attempts))
    }

    /// Status by textual id; `None` for ids that do not exist (or no longer do).
    pub fn status(&self, id: &str, now: Millis) -> Option<StatusView> {
        let id = ChallengeId::parse(id)?;
        self.store.get(&id, now).map(StatusView::from)
    }

    /// Handles one inbound message. Not deduplicated: see [`Self::receive_once`].
    pub fn receive(&self, msg: &InboundMessage<'_>, now: Millis) -> ReceiveOutcome {
        let outcome = self.match_message(msg, now);
        count_outcome(&self.counters, &outcome);
        outcome
    }

    fn match_message(&self, msg: &InboundMessage<'_>, now: Millis) -> ReceiveOutcome {
        let prepared = self
            .cfg
            .prepare(msg, &self.counters.stuffed, |c| self.store.prefetch(c));
        self.match_prepared(prepared, now)
    }

    /// The store's half of [`Self::match_message`]: offers the prepared candidates.
    fn match_prepared(&self, prepared: Prepared, now: Millis) -> ReceiveOutcome {
        let (sender, candidates) = match prepared {
            Prepared::Done(outcome) => return outcome,
            Prepared::Match { sender, candidates } => (sender, candidates),
        };
        for &code in candidates.as_slice() {
            let outcome = self
                .store
                .match_code(code, &sender, now, self.cfg.max_sender_failures);
            match outcome {
                MatchOutcome::NoMatch => continue,
                MatchOutcome::Verified(id) => return ReceiveOutcome::Verified { id },
                MatchOutcome::SenderMismatch { id, locked, .. } => {
                    return ReceiveOutcome::SenderMismatch { id, locked };
                }
                MatchOutcome::Expired(id) => return ReceiveOutcome::Expired { id },
            }
        }
        ReceiveOutcome::NoMatch {
            candidates_tried: candidates.as_slice().len(),
        }
    }

    /// Handles a delivery identified by `delivery_id` exactly once: a redelivery gets the
    /// first answer back and changes nothing. Returns the outcome and whether it was a repeat.
    pub fn receive_once(
        &self,
        delivery_id: &str,
        msg: &InboundMessage<'_>,
        now: Millis,
    ) -> (ReceiveOutcome, bool) {
        // An empty id would make unrelated deliveries share one answer; the adapter refuses it.
        debug_assert!(!delivery_id.is_empty(), "empty delivery id");
        // Prepared before the dedupe table is probed, so that the store's fetch of the first
        // candidate (`prefetch`) is under way while the probe waits for its own cache miss:
        // with hundreds of thousands of deliveries and challenges both are misses, and they
        // used to come one after the other. A repeat discards the preparation; `stuffed` is
        // counted for a first delivery only, as it was.
        let stuffed = Cell::new(0);
        let prepared = self.cfg.prepare(msg, &stuffed, |c| self.store.prefetch(c));
        let (recorded, repeat) = self.dedupe.get_or_insert_with(delivery_id, now, || {
            Counters::add(&self.counters.stuffed, stuffed.get());
            let outcome = self.match_prepared(prepared, now);
            count_outcome(&self.counters, &outcome);
            Recorded::from(outcome)
        });
        let outcome = recorded.outcome();
        if repeat {
            Counters::inc(&self.counters.duplicates);
        }
        (outcome, repeat)
    }

    /// The answer recorded for delivery `delivery_id`, counted as a duplicate, or `None` if it
    /// was never handled (or is forgotten). Records nothing: this is how a replay that names
    /// its original by an unsigned header is answered without that header choosing a new id.
    pub fn recorded(&self, delivery_id: &str) -> Option<ReceiveOutcome> {
        let outcome = self.dedupe.get(delivery_id)?.outcome();
        Counters::inc(&self.counters.duplicates);
        Some(outcome)
    }

    /// Expires due challenges and forgets old deliveries. Call about once a second.
    pub fn sweep(&self, now: Millis) {
        let stats = self.store.sweep(now);
        Counters::add(&self.counters.expired, stats.expired);
        self.dedupe.sweep(now);
    }

    pub fn pending(&self) -> usize {
        self.store.pending()
    }
}

#[cfg(test)]
mod tests;
