//! mo2fa: a reverse (mobile-originated) 2FA verifier and the harness around it.
//! See ARCHITECTURE.md for the module map, the data flow and the invariants.

pub mod backend;
pub mod clock;
pub mod code;
pub mod conf;
pub mod cost;
pub mod dedupe;
pub mod dialing;
pub mod extract;
pub mod http;
pub mod limits;
pub mod load;
pub mod metrics;
pub mod report;
pub mod sender;
pub mod sim;
pub mod sms_defences;
pub mod sms_gateway;
pub mod sms_otp;
pub mod store;
pub mod timefmt;
pub mod verifier;
pub mod webhook;
