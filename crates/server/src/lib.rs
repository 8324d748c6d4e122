//! mo2fa-server: the verifier as an HTTP service.
//!
//! `http` is the hyper adapter (routes, bounds, the one place errors become HTTP answers),
//! `backend` what it needs from wherever challenges live (the embedded core or `redis`),
//! `sms_gateway` the simulated outbound-SMS side billed at list prices, `wire` the JSON the
//! server answers with (core values mapped in one place).

#![forbid(unsafe_code)]
#![deny(rustdoc::broken_intra_doc_links, rustdoc::private_intra_doc_links)]

pub mod backend;
pub mod http;
pub mod redis;
pub mod sms_gateway;
pub mod wire;
