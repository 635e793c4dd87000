//! Reading a plugin binary: size bound, component check, embedded manifest.

use crate::manifest::{self, Manifest};
use crate::{Error, Result};
use sha2::{Digest, Sha256};
use wasmparser::{Encoding, Parser, Payload};

/// Largest component accepted, in bytes.
pub const MAX_COMPONENT_BYTES: usize = 64 * 1024 * 1024;

/// A component binary with its manifest and digest, not yet compiled.
#[derive(Debug, Clone)]
pub struct Package {
    /// The raw component (borrowed for a bundled plugin).
    pub bytes: std::borrow::Cow<'static, [u8]>,
    /// `sha256:<hex>` of `bytes`; covers the embedded manifest.
    pub digest: String,
    /// The manifest from the component's custom section.
    pub manifest: Manifest,
}

/// Embed `manifest` (the text of a `warden.toml`) in a component built by
/// any toolchain (componentize-py, componentize-js, `cargo component`) as
/// its `warden:manifest` custom section, so the component's digest covers
/// it. The manifest is parsed first, and a component that already carries
/// one is refused, since two would be ambiguous. The result is checked as
/// [`Package::from_bytes`] checks an install; checking its imports against
/// the manifest takes the engine ([`crate::runtime::Runtime::load`]).
/// `manifest_origin` names the manifest's file in its errors, `origin` the
/// component's.
pub fn pack(
    component: Vec<u8>,
    manifest: &str,
    manifest_origin: &str,
    origin: &str,
) -> Result<Package> {
    use wasm_encoder::ComponentSection;
    Manifest::parse(manifest, manifest_origin)?;
    let refuse = |reason: String| Error::NotAComponent {
        path: origin.to_string(),
        reason,
    };
    let mut is_component = false;
    for payload in Parser::new(0).parse_all(&component) {
        match payload.map_err(|e| refuse(format!("not a valid WebAssembly binary: {e}")))? {
            Payload::Version { encoding, .. } if !is_component => {
                if encoding == Encoding::Module {
                    return Err(refuse(
                        "this is a core WebAssembly module, not a component".into(),
                    ));
                }
                is_component = true;
            }
            Payload::CustomSection(section) if section.name() == manifest::SECTION => {
                return Err(refuse(format!(
                    "it already carries a `{}` section; pack the component as its toolchain built it",
                    manifest::SECTION
                )));
            }
            _ => {}
        }
    }
    let mut bytes = component;
    // A custom section may follow any section of a component, so the
    // manifest goes last and nothing before it moves.
    wasm_encoder::CustomSection {
        name: manifest::SECTION.into(),
        data: manifest.as_bytes().into(),
    }
    .append_to_component(&mut bytes);
    Package::from_bytes(bytes, origin)
}

/// The digest warden uses to name a component.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl Package {
    /// Check that `bytes` is a component carrying exactly one manifest.
    /// `origin` names the file in errors.
    pub fn from_bytes(bytes: Vec<u8>, origin: &str) -> Result<Self> {
        let refuse = |reason: String| Error::NotAComponent {
            path: origin.to_string(),
            reason,
        };
        if bytes.len() > MAX_COMPONENT_BYTES {
            return Err(refuse(format!(
                "{} bytes is over the limit of {MAX_COMPONENT_BYTES}",
                bytes.len()
            )));
        }
        let mut manifest_bytes: Option<&[u8]> = None;
        let mut first = true;
        for payload in Parser::new(0).parse_all(&bytes) {
            let payload =
                payload.map_err(|e| refuse(format!("not a valid WebAssembly binary: {e}")))?;
            match payload {
                Payload::Version { encoding, .. } if first => {
                    first = false;
                    if encoding == Encoding::Module {
                        return Err(refuse(
                            "this is a core WebAssembly module, not a component; build plugins with `--target wasm32-wasip2`".into(),
                        ));
                    }
                }
                Payload::CustomSection(section) if section.name() == manifest::SECTION => {
                    if manifest_bytes.is_some() {
                        return Err(refuse(format!(
                            "it carries more than one `{}` section",
                            manifest::SECTION
                        )));
                    }
                    manifest_bytes = Some(section.data());
                }
                _ => {}
            }
        }
        let Some(raw) = manifest_bytes else {
            return Err(refuse(format!(
                "it has no `{}` section; build it with warden-sdk's `plugin!` macro and a warden.toml",
                manifest::SECTION
            )));
        };
        let manifest = Manifest::parse_bytes(raw, origin)?;
        Ok(Package {
            digest: digest(&bytes),
            manifest,
            bytes: bytes.into(),
        })
    }

    /// A bundled plugin, from what `build.rs` recorded of it: no hashing or
    /// parsing of the component itself.
    pub fn bundled(b: &'static crate::bundled::Bundled) -> Result<Self> {
        let origin = format!("bundled plugin {}", b.name);
        let manifest = Manifest::parse(b.manifest, &origin)?;
        if manifest.name != b.name {
            return Err(Error::NotAComponent {
                path: origin,
                reason: format!("its manifest names it `{}`", manifest.name),
            });
        }
        Ok(Package {
            bytes: std::borrow::Cow::Borrowed(b.bytes),
            digest: b.digest.to_string(),
            manifest,
        })
    }

    /// Read a component file, refusing oversized files before reading them.
    /// A FIFO or device is refused at once rather than waited on.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        use crate::configfile::ReadError;
        let bytes = match crate::configfile::read_bounded(path, MAX_COMPONENT_BYTES as u64) {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Err(Error::io(
                    "cannot read",
                    path,
                    std::io::ErrorKind::NotFound.into(),
                ));
            }
            Err(ReadError::TooLarge(_)) => {
                let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or_default();
                return Err(Error::NotAComponent {
                    path: path.display().to_string(),
                    reason: format!("{size} bytes is over the limit of {MAX_COMPONENT_BYTES}"),
                });
            }
            Err(e) => return Err(Error::io("cannot read", path, e.into())),
        };
        Self::from_bytes(bytes, &path.display().to_string())
    }
}
