//! A verifier under test: target profiles, a client for them, and the audit suite.
//!
//! * [`profile`]: how to talk to any reverse-2FA verifier (TOML; built-ins `mo2fa` and
//!   `blooio-demo`), and what a profile cannot observe;
//! * [`client`]: start, deliver and read status through a profile; deliveries are written and
//!   signed by `mo2fa_core::webhook`, the one writer of provider bodies;
//! * [`wire`]: the raw HTTP/1.1 client the audit needs (exact bytes, early answers, trickles);
//! * [`safety`]: loopback unless a host is allowed, resolved once and pinned;
//! * [`audit`]: the cases and their verdicts; [`report`]: audit.json, audit.md, report.html.
//!
//! Not here: load generation (`mo2fa-harness`), or anything of mo2fa's server: a target is
//! only ever reached over HTTP.
#![forbid(unsafe_code)]

pub mod audit;
pub mod client;
pub mod profile;
pub mod report;
pub mod safety;
pub mod wire;
