//! The first-party plugins that ship inside the warden binary. They are
//! ordinary components, built from `plugins/` by `build.rs`, and go through
//! exactly the same manifest, import and grant checks as any other plugin.

/// `(name, component bytes)` of every bundled plugin.
pub const BUNDLED: &[(&str, &[u8])] = &[
    ("fs", include_bytes!(concat!(env!("OUT_DIR"), "/fs.wasm"))),
    (
        "search",
        include_bytes!(concat!(env!("OUT_DIR"), "/search.wasm")),
    ),
    (
        "edit",
        include_bytes!(concat!(env!("OUT_DIR"), "/edit.wasm")),
    ),
    (
        "exec",
        include_bytes!(concat!(env!("OUT_DIR"), "/exec.wasm")),
    ),
    ("git", include_bytes!(concat!(env!("OUT_DIR"), "/git.wasm"))),
    (
        "fetch",
        include_bytes!(concat!(env!("OUT_DIR"), "/fetch.wasm")),
    ),
];

/// The bundled component called `name`, if any.
pub fn get(name: &str) -> Option<&'static [u8]> {
    BUNDLED.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}
