//! mo2fa-core: the reverse-2FA verifier as pure code, shared by the server and the simulator.
//!
//! Nothing here reads a clock, draws OS randomness or does I/O: time comes in as `now`
//! arguments, randomness as an `Rng`, so the simulator and the server run the same decisions.
//! See ARCHITECTURE.md for the map and the invariants.
// A doc link to a private item (or to nothing) is an error, so `cargo doc` stays clean.
#![deny(rustdoc::broken_intra_doc_links, rustdoc::private_intra_doc_links)]

pub mod clock;
pub mod code;
pub mod conf;
pub mod dedupe;
pub mod dialing;
pub mod extract;
pub mod iso3166;
pub mod limits;
pub mod metrics;
pub mod sender;
pub mod sms_defences;
pub mod sms_otp;
pub mod store;
pub mod timefmt;
pub mod verifier;
pub mod webhook;
