//! The network capability's request, grant and their meeting: a manifest's
//! `[[network]]` entry is a [`NetworkRequest`], a user's `net:ORIGIN` an
//! [`OriginGrant`], and [`meet`] gives the origins a call may reach.

use super::OriginGrant;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// One requested origin pattern. What the user grants must fall within one
/// of these (or be narrowed to them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkRequest {
    /// `scheme://host[:port]`, e.g. `https://*.example.com`, `http://*:*`.
    pub origin: OriginGrant,
    /// Why, in the plugin author's words (shown escaped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// The origins both sides allow: a granted origin inside a requested one as
/// granted, and a requested origin inside a broader grant as requested.
pub fn meet(requests: &[NetworkRequest], grants: &[OriginGrant]) -> Vec<OriginGrant> {
    let mut out: Vec<OriginGrant> = Vec::new();
    for g in grants {
        if requests.iter().any(|r| r.origin.covers(g)) {
            out.push(g.clone());
        } else {
            out.extend(
                requests
                    .iter()
                    .filter(|r| g.covers(&r.origin))
                    .map(|r| r.origin.clone()),
            );
        }
    }
    let mut unique: Vec<OriginGrant> = Vec::with_capacity(out.len());
    for o in out {
        if !unique.contains(&o) {
            unique.push(o);
        }
    }
    unique
}

/// Refuse an origin grant that no request covers or narrows.
pub fn check_within(
    grants: &[OriginGrant],
    requests: &[NetworkRequest],
    plugin: &str,
) -> Result<()> {
    let Some(o) = grants.iter().find(|g| {
        !requests
            .iter()
            .any(|r| r.origin.covers(g) || g.covers(&r.origin))
    }) else {
        return Ok(());
    };
    let requested: Vec<String> = requests.iter().map(|r| r.origin.to_string()).collect();
    Err(Error::Grant {
        reason: if requested.is_empty() {
            format!(
                "plugin `{plugin}` does not request network access, so `net:{o}` would grant nothing"
            )
        } else {
            format!(
                "plugin `{plugin}` does not request the origin `{o}` (it requests {})",
                requested.join(", ")
            )
        },
    })
}
