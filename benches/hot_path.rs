//! The verifier's hot path: one inbound message → extraction, match, state change, with
//! 1,000,000 challenges pending. Target: median ≤ 200 ns per message.
//!
//! Also prints the heap bytes per pending challenge at 1M pending (target ≤ 128), measured by
//! a counting allocator around the store's whole growth, so every index and queue is included.
//!
//! Run: `cargo bench --bench hot_path`.

use criterion::{Criterion, criterion_group, criterion_main};
use mo2fa_core::extract::extract;
use mo2fa_core::store::MemoryStoreConfig;
use mo2fa_core::verifier::{Config, InboundMessage, ReceiveOutcome, StartRequest, Verifier};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

/// Counts live heap bytes so the bench can report memory per challenge.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Overridable (MO2FA_BENCH_PENDING) to separate compute from memory latency.
fn pending_target() -> usize {
    std::env::var("MO2FA_BENCH_PENDING")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}
const T0: u64 = 1_700_000_000_000;
const DAY_MS: u64 = 86_400_000;
/// Challenges verified per timed batch; small so the population stays near 1M.
const CHUNK: u64 = 10_000;

fn verifier() -> Verifier {
    let cfg = Config {
        max_ttl_ms: DAY_MS,
        ..Config::default()
    };
    let store = MemoryStoreConfig {
        max_pending: pending_target() + 2 * CHUNK as usize,
        retention_ms: 0,
        ..MemoryStoreConfig::default()
    };
    Verifier::in_memory(cfg, store).expect("valid config")
}

/// Starts `n` challenges at `now` and returns the texts a user would send for them.
fn start_many(v: &Verifier, n: usize, now: u64, ttl_ms: u64, rng: &mut ChaCha8Rng) -> Vec<String> {
    let req = StartRequest {
        ttl_ms: Some(ttl_ms),
        ..StartRequest::default()
    };
    (0..n)
        .map(|_| {
            let s = v.start(&req, now, rng).expect("room for the challenge");
            v.config().code.format(s.code).to_string()
        })
        .collect()
}

/// What the timed benches share: they draw on one store, so they must also share its clock and
/// rng for every challenge to be new and every sweep to free the batch before it.
struct Population<'a> {
    v: &'a Verifier,
    now: u64,
    rng: ChaCha8Rng,
}

impl Population<'_> {
    /// Times `handle` alone over `iters` messages, each verifying a fresh challenge. Challenges
    /// are started and swept in untimed batches of [`CHUNK`] so the population stays near the
    /// target, and whatever a message needs besides its text (`extras`, one per message) is
    /// built before the clock starts, so neither setup nor cleanup pollutes the figure.
    fn time<E>(
        &mut self,
        iters: u64,
        mut extras: impl FnMut(u64) -> Vec<E>,
        mut handle: impl FnMut(&E, &InboundMessage, u64) -> ReceiveOutcome,
    ) -> Duration {
        let mut timed = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(CHUNK);
            left -= n;
            let texts = start_many(self.v, n as usize, self.now, 10_000, &mut self.rng);
            let extras = extras(n);
            let mut verified = 0;
            let t = Instant::now();
            for (text, extra) in texts.iter().zip(&extras) {
                let msg = InboundMessage {
                    sender: "+15550100001",
                    text,
                    protocol: Some("imessage"),
                };
                let out = handle(extra, black_box(&msg), self.now);
                verified += u64::from(matches!(out, ReceiveOutcome::Verified { .. }));
            }
            timed += t.elapsed();
            // Every message must really verify, or the timing means nothing.
            assert_eq!(verified, n, "not every message verified");
            // Free the verified batch (retention 0) so the population returns to the target.
            self.now += 11_000;
            self.v.sweep(self.now);
        }
        timed
    }
}

fn hot_path(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let before = LIVE.load(Ordering::Relaxed);
    let v = verifier();
    let baseline = start_many(&v, pending_target(), T0, DAY_MS, &mut rng);
    let texts_bytes: isize = baseline
        .iter()
        .map(|t| t.capacity() as isize)
        .sum::<isize>()
        + (baseline.capacity() * std::mem::size_of::<String>()) as isize;
    let store_bytes = LIVE.load(Ordering::Relaxed) - before - texts_bytes;
    println!(
        "memory: {} pending challenges use {:.1} MiB of heap = {:.1} bytes per pending challenge",
        v.pending(),
        store_bytes as f64 / (1 << 20) as f64,
        store_bytes as f64 / v.pending() as f64
    );
    drop(baseline);

    let mut pop = Population {
        v: &v,
        now: T0,
        rng,
    };
    let mut group = c.benchmark_group("hot_path");
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("receive_1M_pending", |b| {
        b.iter_custom(|iters| {
            pop.time(
                iters,
                |n| vec![(); n as usize],
                |_, msg, now| v.receive(msg, now),
            )
        })
    });
    // Delivery ids must stay unique across criterion's repeated calls of the closure.
    let mut id = 0u64;
    group.bench_function("receive_once_1M_pending", |b| {
        b.iter_custom(|iters| {
            let ids = |n| {
                let ids: Vec<String> = (0..n).map(|i| format!("m_{}", id + i)).collect();
                id += n;
                ids
            };
            pop.time(iters, ids, |delivery, msg, now| {
                v.receive_once(delivery, msg, now).0
            })
        })
    });
    group.bench_function("extract_only", |b| {
        let spec = v.config().code;
        b.iter(|| extract(black_box("my code is abc-234, thanks"), &spec, 1))
    });
    group.finish();
    println!("pending after the benches: {}", v.pending());
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
