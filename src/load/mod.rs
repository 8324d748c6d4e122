//! Load generation against the HTTP verifier: a keep-alive client, an open-loop driver that
//! measures latency from scheduled send times, and `mo2fa bench http`.

pub mod bench;
pub mod client;
pub mod openloop;
pub mod soak;
