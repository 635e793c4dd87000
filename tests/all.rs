//! warden's integration tests: real components through the real host, and
//! the real `warden` binary. One test binary; the suites are modules.

mod suite;
