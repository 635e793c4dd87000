//! Issue 12: keyless Sigstore signatures verified offline. Each test builds
//! its own Sigstore world with tests/fixtures/sigstore/make.py (a
//! Fulcio-style CA, a Rekor-style log key, a CT log key, a
//! `trusted_root.json` and a v0.3 bundle); warden verifies the bundle
//! against the root named in trust.toml, and sigstore-python (the official
//! client, installed by .ci/setup) verifies the same bundle offline as a
//! differential check: it accepts what warden accepts and refuses what
//! warden refuses.

use super::*;

const IDENTITY: &str =
    "https://github.com/acme/tools/.github/workflows/release.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/sigstore")
        .join(name)
}

/// Build a world for `component` in `dir`: (bundle, trusted root) paths.
fn world(
    dir: &Path,
    component: &str,
    identity: &str,
    issuer: &str,
    variant: &str,
) -> (String, PathBuf) {
    std::fs::create_dir_all(dir).expect("world dir");
    let out = Command::new("python3")
        .arg(fixture("make.py"))
        .args([
            component,
            dir.to_str().expect("utf-8"),
            identity,
            issuer,
            "--variant",
            variant,
        ])
        .output()
        .expect("python3 is installed");
    assert!(
        out.status.success(),
        "make.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        dir.join("bundle.json").to_str().expect("utf-8").to_string(),
        dir.join("trusted_root.json"),
    )
}

/// What sigstore-python says of the bundle: "ok" or "refused: …".
fn sigstore_python(
    component: &str,
    bundle: &str,
    root: &Path,
    identity: &str,
    issuer: &str,
) -> String {
    let out = Command::new("python3")
        .arg(fixture("check.py"))
        .args([
            component,
            bundle,
            root.to_str().expect("utf-8"),
            identity,
            issuer,
        ])
        .output()
        .expect("python3 is installed");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "sigstore-python is needed for the differential check (.ci/setup installs it: pip install 'sigstore==3.6.*'): {text}"
    );
    text
}

/// Trust keyless `acme-ci` for identities under acme's workflows, from the
/// trusted root copied beside trust.toml; signatures required.
fn trust_keyless(w: &Warden, root: &Path) {
    let dir = w.home.path().join("config/warden");
    std::fs::create_dir_all(&dir).expect("config dir");
    std::fs::copy(root, dir.join("trusted_root.json")).expect("copy root");
    std::fs::write(
        dir.join("trust.toml"),
        format!(
            "require_signatures = true\ntrusted_root = \"trusted_root.json\"\n[[keyless]]\nname = \"acme-ci\"\nidentity = \"https://github.com/acme/tools/.github/workflows/*\"\nissuer = \"{ISSUER}\"\n"
        ),
    )
    .expect("trust.toml");
}

#[test]
fn issue12_a_keyless_bundle_verifies_offline_against_the_trusted_root_and_sigstore_python_agrees() {
    let w = Warden::new();
    let path = file(w.home.path(), "v1.wasm", &hostile("0.1.0", WHOLE_WORKSPACE));
    let (bundle, root) = world(
        &w.home.path().join("world"),
        &path,
        IDENTITY,
        ISSUER,
        "good",
    );
    assert_eq!(
        sigstore_python(&path, &bundle, &root, IDENTITY, ISSUER),
        "ok"
    );
    trust_keyless(&w, &root);

    // Without the bundle, the requirement refuses the file.
    let r = w.run(&["plugin", "install", &path, "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("requires a signature"), "{}", r.stderr);

    let r = w.ok(&["plugin", "install", &path, "--bundle", &bundle, "--yes"]);
    assert!(r.stderr.contains("signed by acme-ci"), "{}", r.stderr);
    assert_eq!(w.listed("hostile")["signer"], "acme-ci");
    let install = w.records("install").last().cloned().expect("record");
    assert_eq!(
        (&install["decision"], &install["detail"]["signed_by"]),
        (&json!("allow"), &json!("acme-ci"))
    );
    w.still_answers();

    // --bundle is for files and URLs; on OCI it is refused, not ignored.
    let r = w.run(&[
        "plugin",
        "install",
        "oci://127.0.0.1:1/x:1",
        "--bundle",
        &bundle,
        "--yes",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--bundle applies to a file or URL"),
        "{}",
        r.stderr
    );
}

#[test]
fn issue12_hostile_keyless_bundles_are_refused_by_warden_and_by_sigstore_python() {
    // The installed version, signed keylessly by acme-ci.
    let w = Warden::new();
    let v1 = file(w.home.path(), "v1.wasm", &hostile("0.1.0", WHOLE_WORKSPACE));
    let (bundle, root) = world(&w.home.path().join("w1"), &v1, IDENTITY, ISSUER, "good");
    trust_keyless(&w, &root);
    w.ok(&["plugin", "install", &v1, "--bundle", &bundle, "--yes"]);
    let installed = w.listed("hostile")["digest"].clone();
    let v2 = file(w.home.path(), "v2.wasm", &hostile("0.2.0", WHOLE_WORKSPACE));

    let evil = "https://github.com/evil/tools/.github/workflows/release.yml@refs/heads/main";
    let cases: [(&str, &str, &str, &str); 9] = [
        (
            "good",
            evil,
            ISSUER,
            "the certificate's identity `https://github.com/evil/tools",
        ),
        (
            "good",
            IDENTITY,
            "https://accounts.example.com",
            "the certificate's OIDC issuer is `https://accounts.example.com`",
        ),
        (
            "wrong-ca",
            IDENTITY,
            ISSUER,
            "the signing certificate is not issued by a certificate authority of the trusted root",
        ),
        (
            "expired-at-integration",
            IDENTITY,
            ISSUER,
            "the signing certificate was not valid at the log's integrated time",
        ),
        (
            "tampered-proof",
            IDENTITY,
            ISSUER,
            "the inclusion proof does not lead from the entry to the root hash it claims",
        ),
        (
            "tampered-checkpoint",
            IDENTITY,
            ISSUER,
            "the checkpoint is not signed by the log's key",
        ),
        (
            "other-digest",
            IDENTITY,
            ISSUER,
            "the bundle is for another artifact",
        ),
        (
            "body-mismatch",
            IDENTITY,
            ISSUER,
            "the log entry body does not match the bundle (it records another digest)",
        ),
        // A bundle made for v1 does not sign v2.
        (
            "v1-bundle",
            IDENTITY,
            ISSUER,
            "the bundle is for another artifact",
        ),
    ];
    for (i, (variant, identity, issuer, needle)) in cases.iter().enumerate() {
        let (bundle, root) = if *variant == "v1-bundle" {
            (bundle.clone(), root.clone())
        } else {
            world(
                &w.home.path().join(format!("h{i}")),
                &v2,
                identity,
                issuer,
                variant,
            )
        };
        trust_keyless(&w, &root);
        // The official client refuses it too (it checks the identity the
        // trust file expects).
        let theirs = sigstore_python(&v2, &bundle, &root, IDENTITY, ISSUER);
        assert!(
            theirs.starts_with("refused:"),
            "{variant}/{identity}/{issuer}: sigstore-python says {theirs}"
        );

        let before = w.records("install").len();
        let r = w.run(&["plugin", "install", &v2, "--bundle", &bundle, "--yes"]);
        assert_eq!(r.code, 2, "{variant}: {}", r.stderr);
        assert!(
            r.stderr.contains(needle),
            "{variant}: wanted {needle:?} in: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains("to trust a keyless publisher"),
            "{}",
            r.stderr
        );
        let records = w.records("install");
        assert_eq!(records.len(), before + 1, "{variant}: one record");
        let last = records.last().expect("record");
        assert_eq!(last["decision"], "deny", "{last}");
        assert!(
            last["reason"].as_str().unwrap_or_default().contains(needle),
            "{last}"
        );
        assert_eq!(w.listed("hostile")["digest"], installed, "{variant}");
        w.still_answers();
    }
}

#[test]
fn issue12_a_keyless_publisher_needs_a_trusted_root_and_cannot_take_an_org_name() {
    let w = Warden::new();
    let dir = w.home.path().join("config/warden");
    std::fs::create_dir_all(&dir).expect("config dir");
    std::fs::write(
        dir.join("trust.toml"),
        format!(
            "[[keyless]]\nname = \"acme-ci\"\nidentity = \"{IDENTITY}\"\nissuer = \"{ISSUER}\"\n"
        ),
    )
    .expect("trust.toml");
    let path = file(w.home.path(), "v1.wasm", &hostile("0.1.0", WHOLE_WORKSPACE));
    let r = w.run(&["plugin", "install", &path, "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("[[keyless]] publishers need trusted_root"),
        "{}",
        r.stderr
    );

    std::fs::write(dir.join("trust.toml"), "trusted_root = \"missing.json\"\n[[keyless]]\nname = \"a\"\nidentity = \"x\"\nissuer = \"y\"\n").expect("trust.toml");
    let r = w.run(&["plugin", "install", &path, "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("missing.json does not exist"),
        "{}",
        r.stderr
    );
    assert!(w.listed("hostile").is_null());
}
