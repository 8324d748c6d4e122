//! Where a measured step's CPU went, by party: the load generator, the verifier (in this
//! process, or a process of this host named by its id) and a redis-server on this host, read
//! from Linux's `/proc` before and after the step.
//!
//! On one machine the three share the cores, so a saturation is the whole machine's; CPU per
//! request by party says what each costs, and so what one verifier instance would do on a
//! host of its own (its store and its load elsewhere). The verifier's threads are told apart
//! by name ([`SERVER_THREAD`], given by [`crate::server::InProcess`], and thread per core the
//! serving threads'); everything else in this process is the load generator's.

use std::time::Duration;

/// The name of the in-process verifier's runtime threads.
pub const SERVER_THREAD: &str = "mo2fa-server";

/// Whether a thread of this process, by its name, is the in-process verifier's: its runtime's
/// ([`SERVER_THREAD`]) or, thread per core, a serving thread.
fn is_server_thread(name: &str) -> bool {
    name == SERVER_THREAD || name.starts_with(mo2fa_server::http::PER_CORE_THREAD)
}

/// Where the verifier runs, as far as its CPU can be read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verifier {
    /// Elsewhere: its CPU is not read.
    #[default]
    Unread,
    /// In this process, on the threads named [`SERVER_THREAD`].
    InProcess,
    /// Process `pid` of this host (`bench http --target-pid`).
    Process(u32),
}

/// Whose CPU a step reads besides the load generator's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Parties {
    pub verifier: Verifier,
    /// A redis-server on this host ([`is_redis_server`]).
    pub redis_pid: Option<u32>,
}

/// CPU time (user + system) used so far by each party.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// This process less the in-process verifier's threads.
    pub load: Duration,
    /// `None` when the verifier's CPU is not read.
    pub server: Option<Duration>,
    /// `None` when there is no redis-server to read.
    pub redis: Option<Duration>,
}

/// CPU per request in microseconds, by party, between two samples.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct PerRequest {
    pub load_generator: f64,
    /// `None` when the verifier's CPU is not read (a `--target` without `--target-pid`).
    pub verifier: Option<f64>,
    pub redis_server: Option<f64>,
}

impl Sample {
    /// Now; `None` where `/proc` cannot be read (not Linux).
    pub fn take(parties: &Parties) -> Option<Self> {
        let hz = rustix::param::clock_ticks_per_second() as f64;
        let time = |ticks: u64| Duration::from_secs_f64(ticks as f64 / hz);
        let process = process_ticks(std::process::id())?;
        let mut in_process = 0;
        if parties.verifier == Verifier::InProcess {
            for task in std::fs::read_dir("/proc/self/task").ok()? {
                let Ok(stat) = std::fs::read_to_string(task.ok()?.path().join("stat")) else {
                    continue; // the thread ended since the listing
                };
                match cpu_ticks(&stat) {
                    Some((name, ticks)) if is_server_thread(name) => in_process += ticks,
                    _ => {}
                }
            }
        }
        let of = |pid: u32| process_ticks(pid).map(time);
        Some(Self {
            load: time(process.saturating_sub(in_process)),
            server: match parties.verifier {
                Verifier::Unread => None,
                Verifier::InProcess => Some(time(in_process)),
                Verifier::Process(pid) => of(pid),
            },
            redis: parties.redis_pid.and_then(of),
        })
    }

    /// CPU per request from `self` to `later`, `requests` answered in between.
    pub fn per_request(&self, later: &Self, requests: u64) -> PerRequest {
        let n = requests.max(1) as f64;
        let us = |a: Option<Duration>, b: Option<Duration>| {
            a.zip(b)
                .map(|(a, b)| b.saturating_sub(a).as_secs_f64() * 1e6 / n)
        };
        PerRequest {
            load_generator: us(Some(self.load), Some(later.load)).unwrap_or_default(),
            verifier: us(self.server, later.server),
            redis_server: us(self.redis, later.redis),
        }
    }
}

/// The name and user + system clock ticks so far of process `pid` of this host.
fn process(pid: u32) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_ticks(&stat).map(|(name, ticks)| (name.to_string(), ticks))
}

/// User + system clock ticks of process `pid` of this host so far.
pub fn process_ticks(pid: u32) -> Option<u64> {
    process(pid).map(|(_, ticks)| ticks)
}

/// The name and user + system clock ticks of a `/proc/.../stat` line. The name is between the
/// first `(` and the last `)`, and may hold spaces and parentheses of its own.
fn cpu_ticks(stat: &str) -> Option<(&str, u64)> {
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let name = stat.get(open + 1..close)?;
    // After the name: state (field 3), ..., utime (14), stime (15).
    let mut fields = stat.get(close + 1..)?.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((name, utime + stime))
}

/// Whether process `pid` of this host is a Redis (or Valkey) server, by its name: a pid that a
/// Redis reports from another pid namespace (a container) names some other process here.
pub fn is_redis_server(pid: u32) -> bool {
    process(pid).is_some_and(|(name, _)| {
        name.starts_with("redis-server") || name.starts_with("valkey-server")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_its_name_and_cpu_ticks() {
        let line = "4242 (mo2fa-server) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    700 55 0 0 20 0 2 0 99 123456 789 18446744073709551615";
        assert_eq!(cpu_ticks(line), Some(("mo2fa-server", 755)));
        // A name with a space and a parenthesis of its own.
        let odd = "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 5";
        assert_eq!(cpu_ticks(odd), Some(("a (b) c", 7)));
        assert_eq!(cpu_ticks("7 (cut) R 1 2"), None);
        assert_eq!(cpu_ticks(""), None);
    }

    #[test]
    fn this_process_cpu_is_the_load_generators_until_a_server_thread_works() {
        let busy = |until: Duration| {
            let t0 = std::time::Instant::now();
            let mut x = 0u64;
            while t0.elapsed() < until {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
            }
        };
        let inside = Parties {
            verifier: Verifier::InProcess,
            redis_pid: None,
        };
        let before = Sample::take(&inside).unwrap();
        std::thread::Builder::new()
            .name(SERVER_THREAD.into())
            .spawn(move || busy(Duration::from_millis(300)))
            .unwrap()
            .join()
            .unwrap();
        let mid = Sample::take(&inside).unwrap();
        // The thread has ended: its time stays in the process's total but no longer has a
        // task of its own, so it reads as the load generator's. Running threads are told apart.
        let per = before.per_request(&mid, 1);
        assert!(per.load_generator >= 200_000.0, "{per:?}");
        let worker = std::thread::Builder::new()
            .name(SERVER_THREAD.into())
            .spawn(move || {
                busy(Duration::from_millis(300));
                std::thread::sleep(Duration::from_millis(500));
            })
            .unwrap();
        std::thread::sleep(Duration::from_millis(400));
        let after = Sample::take(&inside).unwrap();
        worker.join().unwrap();
        let per = mid.per_request(&after, 1_000);
        // 300 ms over 1,000 requests is 300 µs each; ticks are 10 ms. (Only a floor: the
        // harness's other tests run in this process at the same time, some with threads of
        // this name.)
        assert!(per.verifier.unwrap() >= 250.0, "{per:?}");
        assert_eq!(per.redis_server, None);
        // Read as another process's (this one's, by its id), the verifier is the whole process.
        let this = Parties {
            verifier: Verifier::Process(std::process::id()),
            redis_pid: None,
        };
        let a = Sample::take(&this).unwrap();
        busy(Duration::from_millis(200));
        let b = Sample::take(&this).unwrap();
        assert!(a.per_request(&b, 1).verifier.unwrap() >= 150_000.0);
        assert_eq!(Sample::take(&Parties::default()).unwrap().server, None);
    }
}
