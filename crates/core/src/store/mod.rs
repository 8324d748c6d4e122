//! Where challenges live: the [`Store`] trait and the embedded [`MemoryStore`].
//!
//! # Invariants (every implementation)
//! * A code maps to at most one *pending* challenge; inserting a code that is pending is
//!   refused with [`InsertError::CodeTaken`] so the caller draws another.
//! * `match_code` is the only way out of `Pending` except expiry, and it is atomic: a pending
//!   challenge turns `Verified` at most once, whatever races with it.
//! * The number of pending challenges never exceeds `max_pending`; a full store refuses new
//!   challenges and never evicts a pending one early. Only live challenges count: one past its
//!   time gives its place back when an insert finds the bound reached, whether or not the
//!   sweep has come.
//! * Terminal challenges (verified, expired, locked) stay readable until `expires_at +
//!   retention`, then their memory is freed.
//!
//! # The memory store
//! Challenges are sharded by code, so a verification locks one shard. Each shard holds a slab
//! of one-cache-line slots, an index from pending code to slot (the private `code_index`: one index
//! line and one slot line per lookup), and a hashed timing wheel of slot indices. The
//! challenge id carries the shard and slot, so reading a status needs no index at all; the
//! 128-bit random tag in the id, compared in constant time, is what makes it unguessable.
//! Every occupied slot has exactly one wheel entry, and only the wheel frees slots.

use crate::clock::Millis;
use crate::code::Code;
use crate::sender::Sender;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use subtle::ConstantTimeEq;

mod code_index;
mod hugepage;
use code_index::{CodeIndex, RESERVED_SLOT};

/// A challenge's public handle: where it lives plus 128 random bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ChallengeId {
    /// Store-specific location (the memory store packs shard and slot into it).
    pub locator: u32,
    pub tag: u128,
}

/// Length of the textual id: base64url of 4 + 16 bytes, unpadded.
pub const ID_TEXT_LEN: usize = 27;

impl ChallengeId {
    pub fn encode(&self) -> String {
        let mut text = [0u8; ID_TEXT_LEN];
        self.encode_into(&mut text);
        text.iter().map(|&b| char::from(b)).collect()
    }

    /// The textual form into a buffer, without allocating (the webhook answer's hot path).
    /// The textual form into a buffer (no allocation): base64url, so ASCII.
    pub fn encode_into(&self, text: &mut [u8; ID_TEXT_LEN]) {
        let mut raw = [0u8; 20];
        raw[..4].copy_from_slice(&self.locator.to_be_bytes());
        raw[4..].copy_from_slice(&self.tag.to_be_bytes());
        let written = URL_SAFE_NO_PAD.encode_slice(raw, text);
        debug_assert_eq!(written, Ok(ID_TEXT_LEN));
    }

    /// Parses the textual form; `None` for anything that is not exactly one.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != ID_TEXT_LEN {
            return None;
        }
        let mut raw = [0u8; 21];
        let n = URL_SAFE_NO_PAD
            .decode_slice(text.as_bytes(), &mut raw)
            .ok()?;
        if n != 20 {
            return None;
        }
        let locator = u32::from_be_bytes(raw[..4].try_into().ok()?);
        let tag = u128::from_be_bytes(raw[4..20].try_into().ok()?);
        Some(Self { locator, tag })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Status {
    Pending,
    Verified,
    Expired,
    /// Too many messages carried the code from the wrong sender; the challenge is dead.
    Locked,
}

/// What the verifier asks the store to keep.
#[derive(Clone, Debug)]
pub struct NewChallenge {
    pub code: Code,
    pub tag: u128,
    pub created_at: Millis,
    /// Must be after `created_at` and at most [`MAX_TTL_MS`] later.
    pub expires_at: Millis,
    pub expected_sender: Option<Sender>,
}

/// The longest lifetime a store must support (the memory store keeps offsets in 32 bits).
pub const MAX_TTL_MS: Millis = u32::MAX as Millis;

/// A read-only copy of a challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeView {
    pub code: Code,
    pub status: Status,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub expected_sender: Option<Sender>,
    /// Set exactly when `status` is `Verified`.
    pub verified: Option<(Sender, Millis)>,
    pub sender_failures: u8,
}

/// The result of offering one code from one sender.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MatchOutcome {
    Verified(ChallengeId),
    /// The code is pending but bound to another sender; it stays pending unless `locked`.
    SenderMismatch {
        id: ChallengeId,
        failures: u8,
        locked: bool,
    },
    /// The code belonged to a challenge whose time ran out before the sweep removed it.
    Expired(ChallengeId),
    NoMatch,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum InsertError {
    #[error("too many pending challenges (max_pending = {max_pending}); try again later")]
    Full { max_pending: usize },
    #[error("code is already pending")]
    CodeTaken,
    #[error("challenge lifetime must be positive and at most {MAX_TTL_MS} ms")]
    BadLifetime,
}

/// Counts of what one sweep did.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct SweepStats {
    /// Pending challenges whose time ran out.
    pub expired: u64,
    /// Slots whose retention ended and whose memory was released.
    pub freed: u64,
}

/// The store could not be reached or did not answer in time. No decision is known: the caller
/// must not report success or failure, only "try again". The request may still have taken
/// effect (a script that ran after the answer timed out); a retry is safe, and a retried
/// delivery gets that first answer as a duplicate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("store unavailable: {0}")]
pub struct Unavailable(pub String);

pub trait Store: Send + Sync {
    fn insert(&self, challenge: NewChallenge) -> Result<ChallengeId, InsertError>;
    /// A challenge as of `now` (a pending one past `expires_at` reads as expired).
    fn get(&self, id: &ChallengeId, now: Millis) -> Option<ChallengeView>;
    /// Offers `code` from `sender`; see [`MatchOutcome`]. Atomic per challenge.
    fn match_code(
        &self,
        code: Code,
        sender: &Sender,
        now: Millis,
        max_sender_failures: u8,
    ) -> MatchOutcome;
    /// A hint that `code` is about to be matched, so its memory can be fetched while the
    /// caller does other work. Never changes anything observable.
    fn prefetch(&self, _code: Code) {}
    /// Expires what is due and frees what is past retention. Call about once a second.
    fn sweep(&self, now: Millis) -> SweepStats;
    fn pending(&self) -> usize;
    fn max_pending(&self) -> usize;
}

// ---------------------------------------------------------------------------------------------
// Memory store
// ---------------------------------------------------------------------------------------------

const SLOT_BITS: u32 = 24;
/// Slot numbers fit 24 bits, less the one the index reserves as its empty marker.
const MAX_SLOTS_PER_SHARD: usize = RESERVED_SLOT as usize;
const MAX_SHARDS: usize = 1 << (32 - SLOT_BITS);
/// Wheel resolution and size: 4096 one-second buckets cover 68 minutes per round.
const TICK_MS: Millis = 1_000;
const WHEEL_BUCKETS: usize = 4096;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SlotState {
    Free,
    Pending,
    Verified,
    Expired,
    Locked,
}

/// One challenge. Kept at 64 bytes, one cache line: offsets instead of absolute times, and one
/// sender field whose meaning follows the state (expected sender while pending, verified after).
#[repr(align(64))]
struct Slot {
    tag: [u64; 2],
    code: u64,
    created_at: Millis,
    expires_after: u32,
    verified_after: u32,
    sender: Option<Sender>,
    state: SlotState,
    failures: u8,
}

impl Slot {
    fn expires_at(&self) -> Millis {
        self.created_at + Millis::from(self.expires_after)
    }

    fn tag_matches(&self, tag: u128) -> bool {
        let want = [(tag >> 64) as u64, tag as u64];
        let a = self.tag[0].to_ne_bytes();
        let b = self.tag[1].to_ne_bytes();
        let (wa, wb) = (want[0].to_ne_bytes(), want[1].to_ne_bytes());
        (a.ct_eq(&wa) & b.ct_eq(&wb)).into()
    }
}

/// Spreads a code's bits; codes are uniform already, but shard and table bits must not overlap.
#[inline]
fn mix(code: u64) -> u64 {
    let mut x = code ^ (code >> 31);
    x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 29)
}

struct Shard {
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_code: CodeIndex,
    wheel: Vec<Vec<u32>>,
    /// The last wheel tick processed; `None` until the shard first sees time.
    last_tick: Option<u64>,
}

impl Shard {
    fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            by_code: CodeIndex::new(),
            wheel: (0..WHEEL_BUCKETS).map(|_| Vec::new()).collect(),
            last_tick: None,
        }
    }

    fn find_pending(&self, code: u64) -> Option<u32> {
        let slots = &self.slots;
        self.by_code
            .find(mix(code), |i| slots[i as usize].code == code)
    }

    fn unindex(&mut self, code: u64) {
        let slots = &self.slots;
        self.by_code
            .remove(mix(code), |i| slots[i as usize].code == code);
    }

    /// Queues `slot` to be looked at once `due` has passed. The wheel's cursor starts at the
    /// current time (never at a due time, which lies in the future).
    fn schedule(&mut self, slot: u32, due: Millis, now: Millis) {
        let mut tick = due.div_ceil(TICK_MS);
        let last = *self.last_tick.get_or_insert(now / TICK_MS);
        if tick <= last {
            tick = last + 1;
        }
        self.wheel[(tick % WHEEL_BUCKETS as u64) as usize].push(slot);
    }

    /// When the wheel must next act on a slot: expire it, or free it after retention.
    fn due(&self, slot: u32, retention: Millis) -> Millis {
        let s = &self.slots[slot as usize];
        match s.state {
            SlotState::Pending => s.expires_at(),
            _ => s.expires_at() + retention,
        }
    }

    fn sweep(&mut self, now: Millis, retention: Millis, pending: &AtomicUsize) -> SweepStats {
        let mut stats = SweepStats::default();
        let now_tick = now / TICK_MS;
        let last = *self.last_tick.get_or_insert(now_tick);
        if now_tick <= last {
            return stats;
        }
        // After a jump longer than a round every bucket is visited once: entries compare
        // their own due time with `now`, so nothing is missed or fired early.
        let ticks = (now_tick - last).min(WHEEL_BUCKETS as u64);
        self.last_tick = Some(now_tick);
        for t in (now_tick + 1 - ticks)..=now_tick {
            let bucket = std::mem::take(&mut self.wheel[(t % WHEEL_BUCKETS as u64) as usize]);
            for slot in bucket {
                let due = self.due(slot, retention);
                if due > now {
                    self.schedule(slot, due, now);
                    continue;
                }
                let s = &mut self.slots[slot as usize];
                if s.state == SlotState::Pending {
                    s.state = SlotState::Expired;
                    let code = s.code;
                    self.unindex(code);
                    pending.fetch_sub(1, Ordering::Relaxed);
                    stats.expired += 1;
                    let due = self.due(slot, retention);
                    self.schedule(slot, due.max(now + 1), now);
                } else {
                    s.state = SlotState::Free;
                    s.sender = None;
                    self.free.push(slot);
                    stats.freed += 1;
                }
            }
        }
        stats
    }

    /// Expires the pending challenges due by `now` that [`Shard::sweep`] leaves for the next
    /// tick (those due within the current second sit in the next tick's bucket), so that after
    /// both every challenge due by `now` has left `Pending`. Each keeps its one wheel entry.
    fn expire_rest_of_second(
        &mut self,
        now: Millis,
        retention: Millis,
        pending: &AtomicUsize,
    ) -> u64 {
        let bucket = ((now / TICK_MS + 1) % WHEEL_BUCKETS as u64) as usize;
        let mut expired = 0;
        let mut i = 0;
        while i < self.wheel[bucket].len() {
            let slot = self.wheel[bucket][i];
            let s = &mut self.slots[slot as usize];
            if s.state != SlotState::Pending || s.expires_at() > now {
                i += 1;
                continue;
            }
            s.state = SlotState::Expired;
            let code = s.code;
            self.unindex(code);
            pending.fetch_sub(1, Ordering::Relaxed);
            expired += 1;
            self.wheel[bucket].swap_remove(i);
            let due = self.due(slot, retention);
            self.schedule(slot, due.max(now + 1), now);
        }
        expired
    }
}

/// The embedded store: in memory, sharded, bounded.
/// A shard and, outside its lock, where its index lives (for prefetch hints only: a stale
/// value costs a useless prefetch, never a wrong answer).
struct ShardCell {
    state: Mutex<Shard>,
    index_base: AtomicPtr<u64>,
    index_mask: AtomicUsize,
}

pub struct MemoryStore {
    shards: Box<[ShardCell]>,
    shard_mask: u64,
    max_pending: usize,
    pending: AtomicUsize,
    retention: Millis,
    /// What inserts into a full store expired on the way ([`MemoryStore::take_place`]), handed
    /// to the next [`Store::sweep`]'s stats so that each expiry is counted once.
    expired_early: AtomicU64,
    freed_early: AtomicU64,
}

#[derive(Clone, Copy, Debug)]
pub struct MemoryStoreConfig {
    /// Rounded up to a power of two, at most 256.
    pub shards: usize,
    pub max_pending: usize,
    /// How long a finished challenge stays readable after its expiry time.
    pub retention_ms: Millis,
}

impl Default for MemoryStoreConfig {
    fn default() -> Self {
        Self {
            shards: 8,
            max_pending: 1_000_000,
            retention_ms: 10 * 60 * 1000,
        }
    }
}

impl MemoryStore {
    pub fn new(cfg: MemoryStoreConfig) -> Self {
        let n = cfg.shards.clamp(1, MAX_SHARDS).next_power_of_two();
        Self {
            shards: (0..n)
                .map(|_| {
                    let shard = Shard::new();
                    let (base, mask) = shard.by_code.probe_start();
                    ShardCell {
                        state: Mutex::new(shard),
                        index_base: AtomicPtr::new(base.cast_mut()),
                        index_mask: AtomicUsize::new(mask),
                    }
                })
                .collect(),
            shard_mask: (n - 1) as u64,
            max_pending: cfg.max_pending,
            pending: AtomicUsize::new(0),
            retention: cfg.retention_ms,
            expired_early: AtomicU64::new(0),
            freed_early: AtomicU64::new(0),
        }
    }

    #[inline]
    fn shard_of(&self, code: u64) -> usize {
        ((mix(code) >> 40) & self.shard_mask) as usize
    }

    fn locate(&self, id: &ChallengeId) -> Option<(usize, usize)> {
        let shard = (id.locator >> SLOT_BITS) as usize;
        let slot = (id.locator & ((1 << SLOT_BITS) - 1)) as usize;
        (shard < self.shards.len()).then_some((shard, slot))
    }

    fn id(shard: usize, slot: u32, tag: [u64; 2]) -> ChallengeId {
        ChallengeId {
            locator: ((shard as u32) << SLOT_BITS) | slot,
            tag: (u128::from(tag[0]) << 64) | u128::from(tag[1]),
        }
    }

    /// A challenge left `Pending` (or an insert gave its place back).
    fn release_pending(&self) {
        let before = self.pending.fetch_sub(1, Ordering::Relaxed);
        debug_assert!(before > 0, "more challenges left Pending than entered it");
    }

    /// Takes a place under `max_pending` for a challenge created at `now`. Only *live*
    /// challenges count: when the bound is reached, what is due by `now` is expired first (the
    /// sweep may not have come yet), and the place is refused only if the live ones fill it.
    /// Costs nothing below the bound.
    fn take_place(&self, now: Millis) -> bool {
        if self.pending.fetch_add(1, Ordering::Relaxed) < self.max_pending {
            return true;
        }
        self.release_pending();
        let mut expired = 0;
        for cell in self.shards.iter() {
            let mut shard = cell.state.lock();
            let s = shard.sweep(now, self.retention, &self.pending);
            expired += s.expired + shard.expire_rest_of_second(now, self.retention, &self.pending);
            self.freed_early.fetch_add(s.freed, Ordering::Relaxed);
        }
        if expired == 0 {
            return false;
        }
        self.expired_early.fetch_add(expired, Ordering::Relaxed);
        if self.pending.fetch_add(1, Ordering::Relaxed) < self.max_pending {
            return true;
        }
        self.release_pending();
        false
    }
}

impl Store for MemoryStore {
    fn insert(&self, c: NewChallenge) -> Result<ChallengeId, InsertError> {
        let lifetime = c.expires_at.saturating_sub(c.created_at);
        if lifetime == 0 || lifetime > MAX_TTL_MS {
            return Err(InsertError::BadLifetime);
        }
        if !self.take_place(c.created_at) {
            return Err(InsertError::Full {
                max_pending: self.max_pending,
            });
        }
        let shard_idx = self.shard_of(c.code.0);
        let cell = &self.shards[shard_idx];
        let mut shard = cell.state.lock();
        if shard.find_pending(c.code.0).is_some() {
            self.release_pending();
            return Err(InsertError::CodeTaken);
        }
        let tag = [(c.tag >> 64) as u64, c.tag as u64];
        let slot = Slot {
            tag,
            code: c.code.0,
            created_at: c.created_at,
            expires_after: lifetime as u32,
            verified_after: 0,
            sender: c.expected_sender,
            state: SlotState::Pending,
            failures: 0,
        };
        let idx = match shard.free.pop() {
            Some(i) => {
                shard.slots[i as usize] = slot;
                i
            }
            None if shard.slots.len() < MAX_SLOTS_PER_SHARD => {
                if shard.slots.len() == shard.slots.capacity() {
                    hugepage::grow(&mut shard.slots);
                }
                shard.slots.push(slot);
                (shard.slots.len() - 1) as u32
            }
            None => {
                self.release_pending();
                return Err(InsertError::Full {
                    max_pending: self.max_pending,
                });
            }
        };
        shard.by_code.insert(mix(c.code.0), idx);
        let (base, mask) = shard.by_code.probe_start();
        cell.index_base.store(base.cast_mut(), Ordering::Relaxed);
        cell.index_mask.store(mask, Ordering::Relaxed);
        shard.schedule(idx, c.expires_at, c.created_at);
        // Bounded memory: the place was taken before the slot, so the bound holds here.
        debug_assert!(self.pending.load(Ordering::Relaxed) <= self.max_pending);
        Ok(Self::id(shard_idx, idx, tag))
    }

    fn get(&self, id: &ChallengeId, now: Millis) -> Option<ChallengeView> {
        let (shard_idx, slot) = self.locate(id)?;
        let shard = self.shards[shard_idx].state.lock();
        let s = shard.slots.get(slot)?;
        if s.state == SlotState::Free || !s.tag_matches(id.tag) {
            return None;
        }
        let status = match s.state {
            SlotState::Pending if now >= s.expires_at() => Status::Expired,
            SlotState::Pending => Status::Pending,
            SlotState::Verified => Status::Verified,
            SlotState::Locked => Status::Locked,
            SlotState::Expired | SlotState::Free => Status::Expired,
        };
        let verified = (s.state == SlotState::Verified).then(|| {
            let at = s.created_at + Millis::from(s.verified_after);
            (s.sender.clone(), at)
        });
        Some(ChallengeView {
            code: Code(s.code),
            status,
            created_at: s.created_at,
            expires_at: s.expires_at(),
            expected_sender: if s.state == SlotState::Verified {
                None
            } else {
                s.sender.clone()
            },
            verified: verified.and_then(|(sender, at)| Some((sender?, at))),
            sender_failures: s.failures,
        })
    }

    fn match_code(
        &self,
        code: Code,
        sender: &Sender,
        now: Millis,
        max_sender_failures: u8,
    ) -> MatchOutcome {
        let shard_idx = self.shard_of(code.0);
        let mut guard = self.shards[shard_idx].state.lock();
        let Shard { slots, by_code, .. } = &mut *guard;
        let hash = mix(code.0);
        let Some(idx) = by_code.find(hash, |i| slots[i as usize].code == code.0) else {
            return MatchOutcome::NoMatch;
        };
        // Leaving `Pending` removes the entry; the index line is still in cache from `find`.
        let mut unindex = || by_code.remove(hash, |i| i == idx);
        let s = &mut slots[idx as usize];
        // One-shot challenges: only a pending challenge is in the code index, and each way out
        // of `Pending` below removes it, so none is matched twice.
        debug_assert_eq!(
            s.state,
            SlotState::Pending,
            "a finished challenge was indexed"
        );
        let id = Self::id(shard_idx, idx, s.tag);
        if now >= s.expires_at() {
            s.state = SlotState::Expired;
            unindex();
            self.release_pending();
            return MatchOutcome::Expired(id);
        }
        if let Some(expected) = &s.sender
            && expected != sender
        {
            s.failures = s.failures.saturating_add(1);
            let failures = s.failures;
            let locked = failures >= max_sender_failures;
            if locked {
                s.state = SlotState::Locked;
                unindex();
                self.release_pending();
            }
            return MatchOutcome::SenderMismatch {
                id,
                failures,
                locked,
            };
        }
        s.state = SlotState::Verified;
        s.verified_after = now.saturating_sub(s.created_at).min(u64::from(u32::MAX)) as u32;
        if s.sender.as_ref() != Some(sender) {
            s.sender = Some(sender.clone());
        }
        unindex();
        self.release_pending();
        MatchOutcome::Verified(id)
    }

    fn sweep(&self, now: Millis) -> SweepStats {
        let mut total = SweepStats {
            expired: self.expired_early.swap(0, Ordering::Relaxed),
            freed: self.freed_early.swap(0, Ordering::Relaxed),
        };
        for shard in self.shards.iter() {
            let s = shard.state.lock().sweep(now, self.retention, &self.pending);
            total.expired += s.expired;
            total.freed += s.freed;
        }
        total
    }

    fn prefetch(&self, code: Code) {
        let cell = &self.shards[self.shard_of(code.0)];
        let base = cell.index_base.load(Ordering::Relaxed);
        let mask = cell.index_mask.load(Ordering::Relaxed);
        let addr = CodeIndex::home_address(base, mask, mix(code.0));
        #[cfg(target_arch = "x86_64")]
        // SAFETY: PREFETCH never faults and reads nothing architecturally, so even a stale or
        // torn (base, mask) pair is harmless.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(addr.cast());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = addr;
    }

    fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    fn max_pending(&self) -> usize {
        self.max_pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_700_000_000_000;

    fn store(max_pending: usize, retention_ms: Millis) -> MemoryStore {
        MemoryStore::new(MemoryStoreConfig {
            shards: 4,
            max_pending,
            retention_ms,
        })
    }

    fn challenge(code: u64, ttl: Millis, expected: Option<&str>) -> NewChallenge {
        NewChallenge {
            code: Code(code),
            tag: u128::from(code) * 0x1234_5678_9abc_def1 + 7,
            created_at: T0,
            expires_at: T0 + ttl,
            expected_sender: expected.map(|s| Sender::parse(s).unwrap()),
        }
    }

    fn alice() -> Sender {
        Sender::parse("+15550100001").unwrap()
    }

    #[test]
    fn id_round_trips_and_rejects_garbage() {
        let id = ChallengeId {
            locator: 0x0300_0102,
            tag: u128::MAX - 5,
        };
        let text = id.encode();
        assert_eq!(text.len(), ID_TEXT_LEN);
        assert_eq!(ChallengeId::parse(&text), Some(id));
        assert_eq!(ChallengeId::parse("short"), None);
        assert_eq!(ChallengeId::parse(&"!".repeat(ID_TEXT_LEN)), None);
        assert_eq!(ChallengeId::parse(&format!("{text}A")), None);
    }

    #[test]
    fn verify_is_one_shot() {
        let st = store(10, 0);
        let id = st.insert(challenge(42, 60_000, None)).unwrap();
        assert_eq!(st.pending(), 1);
        assert_eq!(
            st.match_code(Code(42), &alice(), T0 + 5, 5),
            MatchOutcome::Verified(id)
        );
        assert_eq!(st.pending(), 0);
        assert_eq!(
            st.match_code(Code(42), &alice(), T0 + 6, 5),
            MatchOutcome::NoMatch
        );
        let view = st.get(&id, T0 + 7).unwrap();
        assert_eq!(view.status, Status::Verified);
        assert_eq!(view.verified, Some((alice(), T0 + 5)));
    }

    #[test]
    fn wrong_tag_reads_nothing() {
        let st = store(10, 0);
        let id = st.insert(challenge(42, 60_000, None)).unwrap();
        let forged = ChallengeId {
            tag: id.tag ^ 1,
            ..id
        };
        assert!(st.get(&forged, T0).is_none());
        let far = ChallengeId {
            locator: u32::MAX,
            ..id
        };
        assert!(st.get(&far, T0).is_none());
    }

    #[test]
    fn codes_are_unique_among_pending_only() {
        let st = store(10, 0);
        st.insert(challenge(42, 60_000, None)).unwrap();
        assert_eq!(
            st.insert(challenge(42, 60_000, None)),
            Err(InsertError::CodeTaken)
        );
        assert_eq!(st.pending(), 1, "a refused insert does not count");
        st.match_code(Code(42), &alice(), T0, 5);
        assert!(
            st.insert(challenge(42, 60_000, None)).is_ok(),
            "verified code is free again"
        );
    }

    #[test]
    fn full_store_refuses_and_evicts_nothing() {
        let st = store(3, 0);
        let ids: Vec<_> = (1..=3)
            .map(|c| st.insert(challenge(c, 60_000, None)).unwrap())
            .collect();
        assert_eq!(
            st.insert(challenge(9, 60_000, None)),
            Err(InsertError::Full { max_pending: 3 })
        );
        for id in &ids {
            assert_eq!(st.get(id, T0).unwrap().status, Status::Pending);
        }
        st.match_code(Code(2), &alice(), T0, 5);
        assert!(
            st.insert(challenge(9, 60_000, None)).is_ok(),
            "room after a verification"
        );
    }

    #[test]
    fn sender_binding_counts_and_locks() {
        let st = store(10, 0);
        let id = st
            .insert(challenge(7, 60_000, Some("+15550100001")))
            .unwrap();
        let mallory = Sender::parse("+15550100666").unwrap();
        for n in 1..3 {
            assert_eq!(
                st.match_code(Code(7), &mallory, T0, 3),
                MatchOutcome::SenderMismatch {
                    id,
                    failures: n,
                    locked: false
                }
            );
            assert_eq!(st.get(&id, T0).unwrap().status, Status::Pending);
        }
        assert_eq!(
            st.match_code(Code(7), &mallory, T0, 3),
            MatchOutcome::SenderMismatch {
                id,
                failures: 3,
                locked: true
            }
        );
        assert_eq!(st.get(&id, T0).unwrap().status, Status::Locked);
        assert_eq!(
            st.match_code(Code(7), &alice(), T0, 3),
            MatchOutcome::NoMatch
        );
        assert_eq!(st.pending(), 0);
    }

    #[test]
    fn bound_sender_verifies() {
        let st = store(10, 0);
        let id = st
            .insert(challenge(7, 60_000, Some("+1 555 010 0001")))
            .unwrap();
        assert_eq!(
            st.match_code(Code(7), &alice(), T0, 3),
            MatchOutcome::Verified(id)
        );
    }

    #[test]
    fn expiry_is_exact_for_reads_and_matches_before_any_sweep() {
        let st = store(10, 0);
        let id = st.insert(challenge(5, 1_000, None)).unwrap();
        assert_eq!(st.get(&id, T0 + 999).unwrap().status, Status::Pending);
        assert_eq!(st.get(&id, T0 + 1_000).unwrap().status, Status::Expired);
        assert_eq!(
            st.match_code(Code(5), &alice(), T0 + 1_000, 5),
            MatchOutcome::Expired(id)
        );
        assert_eq!(st.pending(), 0);
        assert_eq!(
            st.match_code(Code(5), &alice(), T0 + 1_001, 5),
            MatchOutcome::NoMatch
        );
    }

    #[test]
    fn sweep_expires_then_frees_after_retention() {
        let st = store(100, 5_000);
        let short = st.insert(challenge(1, 2_000, None)).unwrap();
        let long = st.insert(challenge(2, 10_000, None)).unwrap();
        assert_eq!(st.sweep(T0 + 1_000), SweepStats::default());
        assert_eq!(
            st.sweep(T0 + 2_000),
            SweepStats {
                expired: 1,
                freed: 0
            }
        );
        assert_eq!(st.pending(), 1);
        assert_eq!(st.get(&short, T0 + 3_000).unwrap().status, Status::Expired);
        assert_eq!(
            st.sweep(T0 + 7_000),
            SweepStats {
                expired: 0,
                freed: 1
            }
        );
        assert!(
            st.get(&short, T0 + 7_000).is_none(),
            "freed after retention"
        );
        assert_eq!(st.get(&long, T0 + 7_000).unwrap().status, Status::Pending);
        // Expiry and release happen in separate sweeps, even after a long gap.
        assert_eq!(
            st.sweep(T0 + 20_000),
            SweepStats {
                expired: 1,
                freed: 0
            }
        );
        assert_eq!(st.pending(), 0);
        assert_eq!(
            st.sweep(T0 + 21_000),
            SweepStats {
                expired: 0,
                freed: 1
            }
        );
    }

    #[test]
    fn a_later_insert_that_expires_sooner_is_not_delayed() {
        // Found by the model test: the wheel's cursor must start at the insert time, not at
        // the first challenge's due time.
        let st = MemoryStore::new(MemoryStoreConfig {
            shards: 1,
            max_pending: 10,
            retention_ms: 0,
        });
        st.insert(challenge(1, 3_000, None)).unwrap();
        st.insert(challenge(2, 1_000, None)).unwrap();
        assert_eq!(st.sweep(T0 + 1_000).expired, 1);
        assert_eq!(st.pending(), 1);
    }

    #[test]
    fn sweep_after_a_jump_longer_than_a_round_misses_nothing() {
        let st = store(100, 0);
        let round = TICK_MS * WHEEL_BUCKETS as Millis;
        for (code, ttl) in [(1, 1_000), (2, round + 500), (3, 3 * round), (4, 5 * round)] {
            st.insert(challenge(code, ttl, None)).unwrap();
        }
        let s = st.sweep(T0 + 4 * round);
        assert_eq!(s.expired, 3);
        assert_eq!(st.pending(), 1);
        assert_eq!(st.sweep(T0 + 6 * round).expired, 1);
    }

    #[test]
    fn slots_are_reused_and_old_ids_stay_dead() {
        let st = store(10, 0);
        let old = st.insert(challenge(1, 1_000, None)).unwrap();
        st.sweep(T0 + 1_000);
        st.sweep(T0 + 2_000);
        // The same code lands in the same shard, where the freed slot waits.
        let mut new = challenge(1, 60_000, None);
        new.created_at = T0 + 2_000;
        new.expires_at = T0 + 62_000;
        new.tag ^= 1;
        let fresh = st.insert(new).unwrap();
        assert_eq!(fresh.locator, old.locator, "slot reused");
        assert!(
            st.get(&old, T0 + 2_000).is_none(),
            "the old tag no longer reads"
        );
    }

    #[test]
    fn lifetime_must_be_positive_and_bounded() {
        let st = store(10, 0);
        let mut c = challenge(1, 0, None);
        assert_eq!(st.insert(c.clone()), Err(InsertError::BadLifetime));
        c.expires_at = T0 + MAX_TTL_MS + 1;
        assert_eq!(st.insert(c), Err(InsertError::BadLifetime));
        assert_eq!(st.pending(), 0);
    }

    #[test]
    fn slot_stays_small() {
        assert_eq!(std::mem::size_of::<Slot>(), 64, "one cache line");
    }

    #[test]
    fn racing_matches_verify_exactly_once() {
        let st = std::sync::Arc::new(store(10_000, 0));
        for c in 0..2_000u64 {
            st.insert(challenge(c, 60_000, None)).unwrap();
        }
        let wins: u64 = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let st = st.clone();
                    scope.spawn(move || {
                        (0..2_000u64)
                            .filter(|&c| {
                                matches!(
                                    st.match_code(Code(c), &alice(), T0, 5),
                                    MatchOutcome::Verified(_)
                                )
                            })
                            .count() as u64
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 2_000);
        assert_eq!(st.pending(), 0);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use std::collections::BTreeMap;

        #[derive(Debug, Clone)]
        enum Op {
            Insert { code: u64, ttl_s: u64 },
            Match { code: u64, wrong_sender: bool },
            Advance { secs: u64 },
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (0u64..40, 1u64..20).prop_map(|(code, ttl_s)| Op::Insert { code, ttl_s }),
                (0u64..40, prop::bool::weighted(0.2))
                    .prop_map(|(code, wrong_sender)| Op::Match { code, wrong_sender }),
                (0u64..6).prop_map(|secs| Op::Advance { secs }),
            ]
        }

        proptest! {
            /// The matcher against a model: a map of pending codes with expiry times.
            #[test]
            fn matches_like_the_model(ops in proptest::collection::vec(op(), 1..300)) {
                let st = MemoryStore::new(MemoryStoreConfig { shards: 2, max_pending: 25, retention_ms: 3_000 });
                let owner = Sender::parse("+15550100001").unwrap();
                let other = Sender::parse("+15550100002").unwrap();
                // code -> (expires_at, failures) for pending challenges.
                let mut model: BTreeMap<u64, (Millis, u8)> = BTreeMap::new();
                let mut now = T0;
                for op in ops {
                    match op {
                        Op::Insert { code, ttl_s } => {
                            let c = NewChallenge {
                                code: Code(code),
                                tag: u128::from(code) << 64 | u128::from(now),
                                created_at: now,
                                expires_at: now + ttl_s * 1000,
                                expected_sender: Some(owner.clone()),
                            };
                            let live = model.get(&code).is_some_and(|(exp, _)| now < *exp);
                            if !live {
                                model.remove(&code);
                            }
                            let got = st.insert(c);
                            if live {
                                prop_assert_eq!(got, Err(InsertError::CodeTaken));
                            } else if model.len() >= 25 {
                                prop_assert_eq!(got, Err(InsertError::Full { max_pending: 25 }));
                            } else {
                                prop_assert!(got.is_ok());
                                model.insert(code, (now + ttl_s * 1000, 0));
                            }
                        }
                        Op::Match { code, wrong_sender } => {
                            let sender = if wrong_sender { &other } else { &owner };
                            let got = st.match_code(Code(code), sender, now, 3);
                            match model.get_mut(&code) {
                                None => prop_assert_eq!(got, MatchOutcome::NoMatch),
                                Some((exp, _)) if now >= *exp => {
                                    let ok = matches!(got, MatchOutcome::Expired(_) | MatchOutcome::NoMatch);
                                    prop_assert!(ok, "{:?}", got);
                                    model.remove(&code);
                                }
                                Some((_, failures)) if wrong_sender => {
                                    *failures += 1;
                                    let locked = *failures >= 3;
                                    let ok = matches!(got, MatchOutcome::SenderMismatch { locked: l, .. } if l == locked);
                                    prop_assert!(ok, "{:?}", got);
                                    if locked {
                                        model.remove(&code);
                                    }
                                }
                                Some(_) => {
                                    let ok = matches!(got, MatchOutcome::Verified(_));
                                    prop_assert!(ok, "{:?}", got);
                                    model.remove(&code);
                                }
                            }
                        }
                        Op::Advance { secs } => {
                            now += secs * 1000;
                            st.sweep(now);
                            model.retain(|_, (exp, _)| now < *exp);
                        }
                    }
                    let live = model.values().filter(|(exp, _)| now < *exp).count();
                    // Pending counts challenges not yet swept: between `live` and the model size.
                    prop_assert!(st.pending() >= live && st.pending() <= model.len(), "{} vs {live}", st.pending());
                }
            }
        }
    }
}
