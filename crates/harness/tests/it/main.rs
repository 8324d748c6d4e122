//! Integration tests of the load harness, one test binary for the crate.

mod openloop;
mod retry_storm;
