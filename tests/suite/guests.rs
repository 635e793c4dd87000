//! Every test guest has a host test named after it, in this module: adding
//! a guest to build.rs without one fails to compile (`foreach_guest!`
//! expands to one `use` per guest). Each test here checks that the guest
//! is the component its suite assumes — which capabilities its imports
//! need, or why warden refuses it — so a guest that silently lost the
//! import its attacks go through makes these fail first.

use super::common::{component, loaded};
use warden_core::Error;
use warden_core::capability::CapabilityKind;
use warden_core::component::Package;

macro_rules! assert_test_exists {
    ($name:ident) => {
        #[allow(unused_imports)]
        use self::$name as _;
    };
}
warden_core::foreach_guest!(assert_test_exists);

/// The capabilities a loaded guest's imports need.
fn needs(name: &str) -> Vec<CapabilityKind> {
    let mut caps: Vec<CapabilityKind> = loaded(name)
        .imports
        .iter()
        .filter_map(|i| i.capability)
        .collect();
    caps.sort();
    caps.dedup();
    caps
}

/// Why warden refuses to load a guest.
fn refusal(name: &str) -> Error {
    let bytes = std::fs::read(component(name)).expect("component built");
    let package = Package::from_bytes(bytes, name).expect("package");
    match super::common::runtime().load(&package) {
        Ok(_) => panic!("{name} must be refused"),
        Err(e) => e,
    }
}

/// File and limit attacks: tests/suite/sandbox.rs, limits.rs.
#[test]
fn hostile() {
    assert_eq!(needs("hostile"), [CapabilityKind::Files]);
}

/// Process attacks: tests/suite/process.rs.
#[test]
fn spawner() {
    assert!(needs("spawner").contains(&CapabilityKind::Process));
}

/// Network attacks: tests/suite/network.rs.
#[test]
fn netprobe() {
    assert_eq!(needs("netprobe"), [CapabilityKind::Network]);
}

/// Imports beyond its manifest: refused at install (tests/suite/cli.rs).
#[test]
fn overreach() {
    assert!(
        matches!(
            refusal("overreach"),
            Error::UndeclaredImport {
                capability: CapabilityKind::Files,
                ..
            }
        ),
        "overreach imports the filesystem without asking"
    );
}

/// Raw sockets: linked deny-all, never granted (tests/suite/cli.rs).
#[test]
fn socketeer() {
    assert!(needs("socketeer").is_empty());
    assert!(
        loaded("socketeer")
            .imports
            .iter()
            .any(|i| i.name.starts_with("wasi:sockets/") && i.deny_all)
    );
}
