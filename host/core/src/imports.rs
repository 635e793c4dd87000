//! A component's real imports, checked against what its manifest justifies.

use crate::manifest::Manifest;
use crate::{Error, Result};
use serde::Serialize;

/// The capability an import belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Harmless on its own: clocks, randomness, I/O plumbing, captured stdio,
    /// the environment (which holds only granted variables), warden's log.
    Baseline,
    /// File access through `wasi:filesystem`; needs a `[[files]]` request.
    Files,
    /// Running host programs through `warden:plugin/process`; needs a
    /// `[[programs]]` request.
    Process,
    /// `wasi:http`: outgoing HTTP(S) requests, sent by the host to granted
    /// origins only.
    Network,
}

/// One import of a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Import {
    /// Full name, e.g. `wasi:filesystem/types@0.2.6`.
    pub name: String,
    /// What it gives access to, or `None` when warden does not offer it.
    pub capability: Option<Capability>,
}

/// Classify an import name.
pub fn classify(name: &str) -> Option<Capability> {
    let (iface, version) = name.split_once('@').unwrap_or((name, ""));
    let wasi_02 = version.starts_with("0.2.");
    match iface {
        "warden:plugin/log" if version == "0.1.0" => Some(Capability::Baseline),
        "warden:plugin/process" if version == "0.1.0" => Some(Capability::Process),
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
            Some(Capability::Baseline)
        }
        "wasi:filesystem/types" | "wasi:filesystem/preopens" if wasi_02 => Some(Capability::Files),
        "wasi:http/types" | "wasi:http/outgoing-handler" if wasi_02 => Some(Capability::Network),
        _ => None,
    }
}

/// List a compiled component's imports.
pub fn list(component: &wasmtime::component::Component, engine: &wasmtime::Engine) -> Vec<Import> {
    let mut imports: Vec<Import> = component
        .component_type()
        .imports(engine)
        .map(|(name, _)| Import {
            name: name.to_string(),
            capability: classify(name),
        })
        .collect();
    imports.sort_by(|a, b| a.name.cmp(&b.name));
    imports
}

/// Refuse imports that warden does not offer or the manifest does not justify.
pub fn check(imports: &[Import], manifest: &Manifest) -> Result<()> {
    for import in imports {
        match import.capability {
            None => {
                return Err(Error::UnknownImport {
                    plugin: manifest.name.clone(),
                    import: import.name.clone(),
                });
            }
            Some(Capability::Files) if manifest.files.is_empty() => {
                return Err(Error::UndeclaredImport {
                    plugin: manifest.name.clone(),
                    import: import.name.clone(),
                    capability: "files",
                    hint: "the author must add a [[files]] entry to warden.toml and rebuild",
                });
            }
            Some(Capability::Process) if manifest.programs.is_empty() => {
                return Err(Error::UndeclaredImport {
                    plugin: manifest.name.clone(),
                    import: import.name.clone(),
                    capability: "process",
                    hint: "the author must add a [[programs]] entry to warden.toml and rebuild",
                });
            }
            Some(Capability::Network) if manifest.network.is_empty() => {
                return Err(Error::UndeclaredImport {
                    plugin: manifest.name.clone(),
                    import: import.name.clone(),
                    capability: "network",
                    hint: "the author must add a [[network]] entry to warden.toml and rebuild",
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Whether any import needs the capability.
pub fn needs(imports: &[Import], cap: Capability) -> bool {
    imports.iter().any(|i| i.capability == Some(cap))
}

#[cfg(test)]
mod tests {
    use super::{Capability, classify};

    #[test]
    fn classifies_imports() {
        let table = [
            ("wasi:io/streams@0.2.6", Some(Capability::Baseline)),
            ("wasi:cli/environment@0.2.0", Some(Capability::Baseline)),
            ("warden:plugin/log@0.1.0", Some(Capability::Baseline)),
            ("wasi:filesystem/types@0.2.3", Some(Capability::Files)),
            ("wasi:filesystem/preopens@0.2.6", Some(Capability::Files)),
            ("wasi:sockets/tcp@0.2.6", None),
            (
                "wasi:http/outgoing-handler@0.2.6",
                Some(Capability::Network),
            ),
            ("wasi:http/types@0.2.0", Some(Capability::Network)),
            ("wasi:http/incoming-handler@0.2.6", None),
            ("wasi:http/types@0.3.0-rc-2025-09-16", None),
            ("wasi:sockets/instance-network@0.2.6", None),
            ("wasi:io/streams@0.3.0", None),
            ("warden:plugin/log@9.0.0", None),
            ("warden:plugin/process@0.1.0", Some(Capability::Process)),
            ("evil:thing/x", None),
        ];
        for (name, want) in table {
            assert_eq!(classify(name), want, "{name}");
        }
    }
}
