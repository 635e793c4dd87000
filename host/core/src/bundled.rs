//! The first-party plugins that ship inside the warden binary. They are
//! ordinary components, built from `plugins/` by `build.rs`, and go through
//! exactly the same manifest, import and grant checks as any other plugin.
//!
//! `build.rs` also records each one's digest and manifest text, so a start
//! of warden neither hashes nor parses them: their bytes are read only when
//! warden compiles them (once per engine, then from the cache).

/// One bundled plugin.
#[derive(Debug)]
pub struct Bundled {
    /// Its name.
    pub name: &'static str,
    /// The component.
    pub bytes: &'static [u8],
    /// `sha256:<hex>` of `bytes`.
    pub digest: &'static str,
    /// Its `warden.toml`, the text embedded in the component.
    pub manifest: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// The bundled plugin called `name`, if any.
pub fn find(name: &str) -> Option<&'static Bundled> {
    BUNDLED.iter().find(|b| b.name == name)
}

/// The bundled component called `name`, if any.
pub fn get(name: &str) -> Option<&'static [u8]> {
    find(name).map(|b| b.bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use crate::component::Package;

    #[test]
    fn recorded_digests_and_manifests_match_the_components() {
        assert_eq!(super::BUNDLED.len(), 6);
        for b in super::BUNDLED {
            let parsed = Package::from_bytes(b.bytes.to_vec(), b.name).unwrap();
            let recorded = Package::bundled(b).unwrap();
            assert_eq!(parsed.digest, recorded.digest, "{}", b.name);
            assert_eq!(parsed.manifest, recorded.manifest, "{}", b.name);
            assert_eq!(parsed.manifest.name, b.name);
        }
    }
}
