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

/// The URL schemes of a Redis store: one Redis over TCP (`redis://`; `rediss://` is TLS, which
/// this build's Redis client lacks, so the server refuses it at start-up) or over a Unix socket
/// on the same host (`redis+unix:///PATH`), or Redis Cluster
/// (`redis-cluster://HOST:PORT[,HOST:PORT...]`). The server crate's `redis::conn` opens them.
pub const REDIS_URL_SCHEMES: [&str; 4] =
    ["redis://", "rediss://", "redis+unix://", "redis-cluster://"];

/// Whether `url` names a Redis store (one of [`REDIS_URL_SCHEMES`]).
pub fn is_redis_url(url: &str) -> bool {
    REDIS_URL_SCHEMES.iter().any(|s| url.starts_with(s))
}

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

    /// The textual form into a buffer, without allocating (the webhook answer's hot path):
    /// base64url, so ASCII.
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
mod tests;
