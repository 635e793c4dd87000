//! The env capability: environment variables a plugin may read.
//!
//! WASI hands a guest its whole environment as one list
//! (`wasi:cli/environment`), so this capability is what that list holds: the
//! variables that both the manifest requests and the grant names, with the
//! values warden itself was started with. Nothing else of warden's
//! environment is ever visible; a requested variable that is not granted is
//! simply absent. The guest never names a variable to the host, so there is
//! no access to refuse one by one: `warden plugin audit` lists requested
//! variables that are not granted instead, with the grant that would add
//! them.

use super::CapabilityKind;

/// Longest variable name a manifest or grant may use.
pub const MAX_NAME_BYTES: usize = 128;

/// A variable name as manifests and grants may write it: ASCII letters,
/// digits and `_`, not starting with a digit.
pub fn check_name(var: &str) -> std::result::Result<(), NameError> {
    let ok = (1..=MAX_NAME_BYTES).contains(&var.len())
        && !var.starts_with(|c: char| c.is_ascii_digit())
        && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(NameError(var.to_string()))
    }
}

/// A variable name a manifest or grant may not use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an environment variable name")]
pub struct NameError(pub String);

/// The variables a plugin may read: requested and granted, in the
/// manifest's order.
pub fn meet(requested: &[String], granted: &[String]) -> Vec<String> {
    requested
        .iter()
        .filter(|v| granted.contains(v))
        .cloned()
        .collect()
}

/// Requested variables the grant does not name, each with the grant spec
/// that would add it (`env:NAME`).
pub fn ungranted(requested: &[String], granted: &[String]) -> Vec<(String, String)> {
    requested
        .iter()
        .filter(|v| !granted.contains(v))
        .map(|v| {
            (
                v.clone(),
                format!("{}{v}", CapabilityKind::Env.grant_prefix()),
            )
        })
        .collect()
}

/// The guest's environment: each effective variable that warden's own
/// environment sets, with its value.
pub fn values(
    effective: &[String],
    lookup: impl Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    effective
        .iter()
        .filter_map(|k| lookup(k).map(|v| (k.clone(), v)))
        .collect()
}

/// Refuse an env grant for a variable the manifest does not request.
pub fn check_within(granted: &[String], requested: &[String], plugin: &str) -> crate::Result<()> {
    match granted.iter().find(|v| !requested.contains(v)) {
        Some(var) => Err(crate::Error::Grant {
            reason: format!("plugin `{plugin}` does not request env `{var}`"),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_variable_needs_both_sides_and_a_value() {
        let (req, granted) = (names(&["A", "B", "C"]), names(&["B", "C", "D"]));
        let effective = meet(&req, &granted);
        assert_eq!(effective, ["B", "C"]);
        assert_eq!(ungranted(&req, &granted), [("A".into(), "env:A".into())]);
        let env = values(&effective, |k| (k == "B").then(|| "1".to_string()));
        assert_eq!(env, [("B".to_string(), "1".to_string())]);
    }

    #[test]
    fn names_are_checked() {
        for bad in [
            "",
            "1A",
            "A-B",
            "A B",
            "A=B",
            &"X".repeat(MAX_NAME_BYTES + 1),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["A", "_X", "RUST_LOG", "a1"] {
            assert_eq!(check_name(good), Ok(()));
        }
    }
}
