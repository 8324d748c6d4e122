//! Waiting until a request's scheduled time, to the microsecond.
//!
//! Tokio's timer ticks in whole milliseconds, so a request released by it could go up to 1 ms
//! late, and the latency (measured from the scheduled time) would charge that to the server.
//! Two ways round it:
//! - [`Pacer`]: a task on the load's own runtime sleeps on a Linux `timerfd`, which the runtime
//!   polls with its sockets. A release then costs the runtime one wake-up and no other thread.
//! - [`sleep_until`] on a thread of its own (after [`precise_sleeps`]): what every platform
//!   can do, at the price of waking that thread and then the runtime for each release.
//!
//! `mo2fa bench http`'s load generator used the second until round nine; on a 2-vCPU VM it
//! cost about 60 µs of CPU per request at 10,000/s, more than the server it measured
//! (docs/performance.md, "Round nine: the load generator's own cost").

use std::io;
use std::time::Instant;

/// Asks the kernel to wake this thread within a microsecond of its sleeps (the default timer
/// slack adds up to 50 µs). One of the crate's two `unsafe` calls, both here.
#[allow(unsafe_code)]
pub fn precise_sleeps() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK only changes this thread's timer slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

/// Blocks this thread until `when` (call [`precise_sleeps`] first for microsecond wake-ups).
pub fn sleep_until(when: Instant) {
    loop {
        let now = Instant::now();
        if now >= when {
            return;
        }
        std::thread::sleep(when - now);
    }
}

/// Sleeps until an instant inside a Tokio runtime: to the microsecond on Linux (a one-shot
/// `timerfd`, not subject to timer slack), to Tokio's millisecond elsewhere.
pub struct Pacer {
    #[cfg(target_os = "linux")]
    timer: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
}

impl Pacer {
    /// Must be called inside a Tokio runtime with I/O enabled.
    #[allow(unsafe_code)]
    pub fn new() -> io::Result<Self> {
        #[cfg(target_os = "linux")]
        {
            use rustix::time::{TimerfdClockId, TimerfdFlags, timerfd_create};
            let fd = timerfd_create(
                TimerfdClockId::Monotonic,
                TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
            )?;
            let readable = tokio::io::Interest::READABLE;
            // SAFETY: an `OwnedFd` is an open descriptor that stays open, and its
            // `as_raw_fd` the same, until the `AsyncFd` that owns it drops it.
            let timer = unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, readable) }
                .map_err(|e| e.into_parts().1)?;
            Ok(Self { timer })
        }
        #[cfg(not(target_os = "linux"))]
        Ok(Self {})
    }

    /// Returns at `when` or at once if it has passed (without a system call then).
    pub async fn until(&self, when: Instant) -> io::Result<()> {
        loop {
            let now = Instant::now();
            if now >= when {
                return Ok(());
            }
            #[cfg(target_os = "linux")]
            self.fire_in(when - now).await?;
            #[cfg(not(target_os = "linux"))]
            tokio::time::sleep_until(when.into()).await;
        }
    }

    /// Arms the timer `after` from now and waits for it.
    #[cfg(target_os = "linux")]
    async fn fire_in(&self, after: std::time::Duration) -> io::Result<()> {
        use rustix::time::{Itimerspec, TimerfdTimerFlags, Timespec, timerfd_settime};
        let it_value = Timespec {
            tv_sec: after.as_secs() as _,
            tv_nsec: after.subsec_nanos() as _,
        };
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let spec = Itimerspec {
            it_interval: zero,
            it_value,
        };
        timerfd_settime(self.timer.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
        loop {
            let mut ready = self.timer.readable().await?;
            let mut expirations = [0u8; 8];
            // Readable once it has fired; the read resets it. A read that would block means
            // the readiness was stale (an earlier expiry already read): wait again.
            match ready.try_io(|fd| Ok(rustix::io::read(fd.get_ref(), &mut expirations)?)) {
                Ok(result) => return result.map(drop),
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_pacer_returns_at_its_instants_and_at_once_for_past_ones() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let pacer = Pacer::new().unwrap();
            let start = Instant::now();
            for i in 1..=20u64 {
                let when = start + Duration::from_micros(300 * i);
                pacer.until(when).await.unwrap();
                // Never early: an early release would shorten the latency it is measured from.
                assert!(
                    Instant::now() >= when,
                    "released before its time at step {i}"
                );
            }
            let past = Instant::now() - Duration::from_millis(5);
            pacer.until(past).await.unwrap();
        });
    }
}
