//! warden's integration tests: real components through the real host, and
//! the real `warden` binary. One test binary; the suites are modules.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed test should panic loudly

mod suite;
