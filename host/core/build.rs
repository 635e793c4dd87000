#![allow(clippy::expect_used, clippy::unwrap_used)] // a build script should fail loudly

//! Build the first-party plugins and the guest test programs as WASI
//! components (`wasm32-wasip2`), so a plain `cargo build` or `cargo test`
//! produces every component from source; nothing prebuilt is checked in.
//!
//! The inner cargo gets its own target directory: the outer build holds the
//! lock on its own.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Bundled plugins, in the order `warden plugin list` shows them; each is
/// `plugins/<name>`.
const BUNDLED: &[&str] = &["fs", "search", "edit", "exec", "git", "fetch"];

/// Test guests built as components beside the bundled plugins; each is
/// `tests/guests/<name>`.
const GUESTS: &[&str] = &["hostile", "overreach", "spawner", "netprobe", "socketeer"];

fn main() {
    let manifest_dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let root = manifest_dir
        .ancestors()
        .nth(2)
        .expect("host/core lies two levels below the repository root")
        .to_path_buf();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));

    for watched in [
        "plugins",
        "sdk",
        "wit",
        "tests/guests",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let target_dir = wasm_target_dir(&out);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .args(["--target", "wasm32-wasip2", "--profile", "plugin"])
        .arg("--target-dir")
        .arg(&target_dir);
    for package in BUNDLED.iter().chain(GUESTS) {
        cmd.args(["-p", package]);
    }
    // The outer build's flags and wrappers (clippy, coverage) are for the
    // host, not for the guests.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_PROFILE_RELEASE_LTO",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("cannot run cargo to build the plugins");
    if !status.success() {
        panic!(
            "building the plugin components failed (see above). If the target is missing, run: rustup target add wasm32-wasip2"
        );
    }
    let built = target_dir.join("wasm32-wasip2").join("plugin");
    for package in BUNDLED.iter().chain(GUESTS) {
        let file = format!("{package}.wasm");
        let from = built.join(&file);
        std::fs::copy(&from, out.join(&file))
            .unwrap_or_else(|e| panic!("cannot copy {}: {e}", from.display()));
    }
    write_bundled_table(&root, &out);
    write_guest_table(&out);
}

/// `OUT_DIR/guests.rs`: where the test guests are, and `foreach_guest!`, so
/// the integration tests can require a host test for every guest.
fn write_guest_table(out: &Path) {
    let mut table = format!(
        "/// Where the test guests' components are.\npub const DIR: &str = {:?};\n/// Every test guest.\npub const GUESTS: &[&str] = &{GUESTS:?};\n",
        out.display().to_string()
    );
    table.push_str(
        "/// Apply a macro to the name of every test guest.\n#[macro_export]\nmacro_rules! foreach_guest {\n    ($mac:ident) => {\n",
    );
    for guest in GUESTS {
        table.push_str(&format!("        $mac!({guest});\n"));
    }
    table.push_str("    };\n}\n");
    std::fs::write(out.join("guests.rs"), table).expect("cannot write guests.rs");
}

/// `OUT_DIR/bundled.rs`: each bundled plugin's bytes, digest and manifest
/// text, so warden neither hashes nor parses its own plugins at every start
/// (which would also keep their pages resident). The manifest is the same
/// `warden.toml` the plugin! macro embeds; `bundled.rs` tests that they
/// agree with the component.
fn write_bundled_table(root: &Path, out: &Path) {
    use sha2::Digest;
    let mut table = String::from(
        "/// Every bundled plugin.
pub const BUNDLED: &[Bundled] = &[
",
    );
    for name in BUNDLED {
        let wasm = out.join(format!("{name}.wasm"));
        let bytes =
            std::fs::read(&wasm).unwrap_or_else(|e| panic!("cannot read {}: {e}", wasm.display()));
        let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)));
        let manifest = root.join("plugins").join(name).join("warden.toml");
        table.push_str(&format!(
            "    Bundled {{\n        name: {name:?},\n        bytes: include_bytes!({wasm:?}),\n        digest: {digest:?},\n        manifest: include_str!({manifest:?}),\n    }},\n",
            wasm = wasm.display().to_string(),
            manifest = manifest.display().to_string(),
        ));
    }
    table.push_str("];\n");
    std::fs::write(out.join("bundled.rs"), table).expect("cannot write bundled.rs");
}

/// `<target>/wasm-components`, found from OUT_DIR
/// (`<target>[/<triple>]/<profile>/build/<pkg>-<hash>/out`).
fn wasm_target_dir(out: &Path) -> PathBuf {
    let build = out
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .expect("OUT_DIR lies under a build directory");
    let mut target = build
        .parent()
        .and_then(Path::parent)
        .expect("build/ lies under <target>/<profile>");
    // With an explicit --target the profile directory sits under the triple.
    if target.join("CACHEDIR.TAG").exists() || target.parent().is_none() {
        return target.join("wasm-components");
    }
    if let Some(up) = target.parent()
        && up.join("CACHEDIR.TAG").exists()
    {
        target = up;
    }
    target.join("wasm-components")
}
