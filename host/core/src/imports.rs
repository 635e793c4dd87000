//! A component's real imports, checked against what its manifest justifies.

use crate::capability::CapabilityKind;
use crate::manifest::Manifest;
use crate::{Error, Result};
use serde::Serialize;

/// One import of a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Import {
    /// Full name, e.g. `wasi:filesystem/types@0.2.6`.
    pub name: String,
    /// Whether warden offers it at all (`wasi:sockets` and unknown
    /// interfaces are never offered).
    pub offered: bool,
    /// The capability it needs a grant of; `None` for the baseline (clocks,
    /// randomness, I/O plumbing, captured stdio, the environment, which
    /// holds only granted variables, and warden's log).
    pub capability: Option<CapabilityKind>,
    /// Linked with an implementation that refuses every use, whatever is
    /// granted (`wasi:sockets`, which Python and JavaScript runtimes import
    /// whether or not a plugin opens a socket).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deny_all: bool,
}

impl Import {
    /// How `warden plugin audit` names its class: the capability, `baseline`
    /// or `NOT OFFERED`.
    pub fn class(&self) -> &'static str {
        match (self.offered, self.capability) {
            (false, _) => "NOT OFFERED",
            (true, _) if self.deny_all => "deny-all (never granted)",
            (true, None) => "baseline",
            (true, Some(c)) => c.as_str(),
        }
    }
}

/// What an import name is: offered or not, and under which capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Harmless on its own; always linked.
    Baseline,
    /// Linked only with a grant of this capability.
    Needs(CapabilityKind),
    /// Linked, but every use is refused: raw sockets are never granted
    /// (network access is `wasi:http` through warden's checks).
    DenyAll,
}

/// Classify an import name.
pub fn classify(name: &str) -> Option<Class> {
    let (iface, version) = name.split_once('@').unwrap_or((name, ""));
    let wasi_02 = version.starts_with("0.2.");
    match iface {
        "warden:plugin/log" if version == "0.1.0" => Some(Class::Baseline),
        "warden:plugin/process" if version == "0.1.0" => {
            Some(Class::Needs(CapabilityKind::Process))
        }
        "wasi:io/error"
        | "wasi:io/poll"
        | "wasi:io/streams"
        | "wasi:clocks/monotonic-clock"
        | "wasi:clocks/wall-clock"
        | "wasi:random/random"
        | "wasi:random/insecure"
        | "wasi:random/insecure-seed"
        | "wasi:cli/environment"
        | "wasi:cli/exit"
        | "wasi:cli/stdin"
        | "wasi:cli/stdout"
        | "wasi:cli/stderr"
        | "wasi:cli/terminal-input"
        | "wasi:cli/terminal-output"
        | "wasi:cli/terminal-stdin"
        | "wasi:cli/terminal-stdout"
        | "wasi:cli/terminal-stderr"
            if wasi_02 =>
        {
            Some(Class::Baseline)
        }
        "wasi:filesystem/types" | "wasi:filesystem/preopens" if wasi_02 => {
            Some(Class::Needs(CapabilityKind::Files))
        }
        "wasi:http/types" | "wasi:http/outgoing-handler" if wasi_02 => {
            Some(Class::Needs(CapabilityKind::Network))
        }
        "wasi:sockets/network"
        | "wasi:sockets/instance-network"
        | "wasi:sockets/tcp"
        | "wasi:sockets/tcp-create-socket"
        | "wasi:sockets/udp"
        | "wasi:sockets/udp-create-socket"
        | "wasi:sockets/ip-name-lookup"
            if wasi_02 =>
        {
            Some(Class::DenyAll)
        }
        _ => None,
    }
}

/// List a compiled component's imports.
pub fn list(component: &wasmtime::component::Component, engine: &wasmtime::Engine) -> Vec<Import> {
    let mut imports: Vec<Import> = component
        .component_type()
        .imports(engine)
        .map(|(name, _)| {
            let class = classify(name);
            Import {
                name: name.to_string(),
                offered: class.is_some(),
                capability: match class {
                    Some(Class::Needs(c)) => Some(c),
                    _ => None,
                },
                deny_all: class == Some(Class::DenyAll),
            }
        })
        .collect();
    imports.sort_by(|a, b| a.name.cmp(&b.name));
    imports
}

/// Refuse imports that warden does not offer or the manifest does not justify.
pub fn check(imports: &[Import], manifest: &Manifest) -> Result<()> {
    for import in imports {
        match (import.offered, import.capability) {
            (false, _) => {
                return Err(Error::UnknownImport {
                    plugin: manifest.name.clone(),
                    import: import.name.clone(),
                });
            }
            (true, Some(CapabilityKind::Files)) if manifest.files.is_empty() => {
                return Err(Error::UndeclaredImport {
                    plugin: manifest.name.clone(),
                    import: import.name.clone(),
                    capability: CapabilityKind::Files,
                    hint: "the author must add a [[files]] entry to warden.toml and rebuild",
                });
            }
            (true, Some(CapabilityKind::Process)) if manifest.programs.is_empty() => {
                return Err(Error::UndeclaredImport {
                    plugin: manifest.name.clone(),
                    import: import.name.clone(),
                    capability: CapabilityKind::Process,
                    hint: "the author must add a [[programs]] entry to warden.toml and rebuild",
                });
            }
            (true, Some(CapabilityKind::Network)) if manifest.network.is_empty() => {
                return Err(Error::UndeclaredImport {
                    plugin: manifest.name.clone(),
                    import: import.name.clone(),
                    capability: CapabilityKind::Network,
                    hint: "the author must add a [[network]] entry to warden.toml and rebuild",
                });
            }
            (true, _) => {}
        }
    }
    Ok(())
}

/// Whether any import is linked deny-all (`wasi:sockets`).
pub fn denies_all(imports: &[Import]) -> bool {
    imports.iter().any(|i| i.deny_all)
}

/// Whether any import needs the capability.
pub fn needs(imports: &[Import], cap: CapabilityKind) -> bool {
    imports.iter().any(|i| i.capability == Some(cap))
}

#[cfg(test)]
mod tests {
    use super::{CapabilityKind, Class, classify};

    #[test]
    fn classifies_imports() {
        let table = [
            ("wasi:io/streams@0.2.6", Some(Class::Baseline)),
            ("wasi:cli/environment@0.2.0", Some(Class::Baseline)),
            ("warden:plugin/log@0.1.0", Some(Class::Baseline)),
            (
                "wasi:filesystem/types@0.2.3",
                Some(Class::Needs(CapabilityKind::Files)),
            ),
            (
                "wasi:filesystem/preopens@0.2.6",
                Some(Class::Needs(CapabilityKind::Files)),
            ),
            ("wasi:sockets/tcp@0.2.6", Some(Class::DenyAll)),
            ("wasi:sockets/tcp@0.3.0", None),
            ("wasi:sockets/raw@0.2.6", None),
            (
                "wasi:http/outgoing-handler@0.2.6",
                Some(Class::Needs(CapabilityKind::Network)),
            ),
            (
                "wasi:http/types@0.2.0",
                Some(Class::Needs(CapabilityKind::Network)),
            ),
            ("wasi:http/incoming-handler@0.2.6", None),
            ("wasi:http/types@0.3.0-rc-2025-09-16", None),
            ("wasi:sockets/instance-network@0.2.6", Some(Class::DenyAll)),
            ("wasi:io/streams@0.3.0", None),
            ("warden:plugin/log@9.0.0", None),
            (
                "warden:plugin/process@0.1.0",
                Some(Class::Needs(CapabilityKind::Process)),
            ),
            ("evil:thing/x", None),
        ];
        for (name, want) in table {
            assert_eq!(classify(name), want, "{name}");
        }
    }
}
