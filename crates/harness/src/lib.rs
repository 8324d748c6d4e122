//! Load generation against the HTTP verifier and the orchestration behind the `mo2fa`
//! subcommands that drive real servers: a keep-alive client, an open-loop driver that measures
//! latency from scheduled send times, `bench http`, `soak`, `load`, the live replay of
//! simulated traces, `serve`'s start-up, the incident library's parallel replays and a
//! scenario run's steps.

#![deny(unsafe_code)]

pub mod bench;
pub mod client;
#[cfg(feature = "load")]
pub mod closed;
pub mod cpu;
pub mod error;
pub mod incidents;
pub mod live;
pub mod merge;
pub mod openloop;
pub mod pace;
pub mod retry;
pub mod scenario_run;
pub mod serve;
pub mod server;
pub mod shard;
pub mod soak;
pub mod target;

pub use error::HarnessError;
pub use server::InProcess;
