//! Issue 12: signed plugins. Keys are made fresh by `openssl` (PKCS#8 and
//! SPKI PEM, as cosign reads them), signatures are pushed by `warden plugin
//! publish --key` in cosign's layout, and checked on install and update
//! against the user's and the organisation's trust files.

use super::*;

/// A fresh P-256 key pair in `dir`: the private key's path and the public
/// key's PEM.
fn keypair(dir: &Path, name: &str) -> (String, String) {
    let key = dir.join(format!("{name}.key"));
    let made = Command::new("openssl")
        .args(["genpkey", "-algorithm", "EC", "-pkeyopt"])
        .arg("ec_paramgen_curve:P-256")
        .arg("-out")
        .arg(&key)
        .output()
        .expect("openssl is installed");
    assert!(made.status.success(), "{made:?}");
    let public = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .output()
        .expect("openssl");
    assert!(public.status.success(), "{public:?}");
    (
        key.to_str().expect("utf-8").to_string(),
        String::from_utf8(public.stdout).expect("PEM"),
    )
}

/// A trust file naming `publishers` (name, public key PEM).
fn trust_file(require: bool, publishers: &[(&str, &str)]) -> String {
    let mut text = format!("require_signatures = {require}\n");
    for (name, key) in publishers {
        text.push_str(&format!(
            "[[publisher]]\nname = \"{name}\"\nkey = \"\"\"\n{key}\"\"\"\n"
        ));
    }
    text
}

fn trust(w: &Warden, text: &str) {
    let dir = w.home.path().join("config/warden");
    std::fs::create_dir_all(&dir).expect("config dir");
    std::fs::write(dir.join("trust.toml"), text).expect("trust.toml");
}

/// Publish `bytes` to `target`, signed with `key` when given; the manifest
/// digest.
fn publish_signed(w: &Warden, bytes: &[u8], target: &str, key: Option<&str>) -> String {
    let path = file(
        w.home.path(),
        &format!("c-{}.wasm", &sha256(bytes)[7..19]),
        bytes,
    );
    let mut args = vec!["plugin", "publish", &path, target, "--json"];
    if let Some(k) = key {
        args.extend(["--key", k]);
    }
    let r = w.ok(&args);
    r.json()["manifest"].as_str().expect("digest").to_string()
}

/// `install target` is refused with exit `code` and `needle`, the refusal
/// is recorded, and nothing is installed.
fn refused_install(w: &Warden, target: &str, code: i32, needle: &str) {
    let r = w.run(&["plugin", "install", target, "--yes"]);
    assert_eq!(r.code, code, "{}", r.stderr);
    assert!(
        r.stderr.contains(needle),
        "wanted {needle:?} in: {}",
        r.stderr
    );
    let last = w
        .records("install")
        .last()
        .cloned()
        .expect("install record");
    assert_eq!(last["decision"], "deny", "{last}");
    assert!(w.listed("hostile").is_null(), "nothing installed");
}

#[test]
fn issue12_a_signed_plugin_shows_its_signer_in_the_list_the_lock_and_the_audit_log() {
    let reg = OciRegistry::start();
    let w = Warden::new();
    let (key, public) = keypair(w.home.path(), "acme");
    trust(&w, &trust_file(true, &[("acme", &public)]));
    let bytes = hostile("0.1.0", WHOLE_WORKSPACE);
    let tag = reg.oci("plugins/hostile:0.1.0");
    let digest = publish_signed(&w, &bytes, &tag, Some(&key));

    let r = w.ok(&["plugin", "install", &tag, "--yes"]);
    assert!(r.stderr.contains("signed by acme"), "{}", r.stderr);
    let listed = w.listed("hostile");
    assert_eq!(listed["signer"], "acme");
    assert_eq!(listed["source"]["oci"]["manifest"], digest.as_str());
    let install = w.records("install").last().cloned().expect("record");
    assert_eq!(
        (&install["decision"], &install["detail"]["signed_by"]),
        (&json!("allow"), &json!("acme"))
    );
    let text = w.ok(&["plugin", "list"]).stdout;
    assert!(text.contains("signed by acme"), "{text}");
    w.still_answers();

    // The lock carries the signer, and another machine verifies it again.
    let lock = w.home.path().join("warden.lock.json");
    std::fs::write(&lock, w.ok(&["plugin", "list", "--json"]).stdout).expect("lock");
    let other = Warden::new();
    trust(&other, &trust_file(true, &[("acme", &public)]));
    other.ok(&[
        "plugin",
        "install",
        "--locked",
        lock.to_str().expect("utf-8"),
        "--yes",
    ]);
    assert_eq!(other.listed("hostile")["signer"], "acme");
    other.still_answers();

    // A machine that does not trust acme does not reproduce the set.
    let untrusting = Warden::new();
    let r = untrusting.run(&[
        "plugin",
        "install",
        "--locked",
        lock.to_str().expect("utf-8"),
        "--yes",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the lock says `hostile` is signed by `acme`, but here it verifies as signed by no publisher you trust"),
        "{}",
        r.stderr
    );
    let refusal = untrusting
        .records("install")
        .last()
        .cloned()
        .expect("record");
    assert_eq!(refusal["decision"], "deny");
    assert!(untrusting.listed("hostile").is_null());
}

#[test]
fn issue12_unsigned_wrongly_signed_and_replayed_signatures_are_refused_saying_how_to_trust_a_key() {
    let reg = OciRegistry::start();
    let w = Warden::new();
    let (acme_key, acme) = keypair(w.home.path(), "acme");
    let (other_key, _) = keypair(w.home.path(), "other");
    trust(&w, &trust_file(true, &[("acme", &acme)]));
    let trust_path = w.home.path().join("config/warden/trust.toml");
    let trust_path = trust_path.to_str().expect("utf-8");

    // Unsigned.
    let unsigned = reg.oci("plugins/hostile:unsigned");
    publish_signed(&w, &hostile("0.1.0", WHOLE_WORKSPACE), &unsigned, None);
    refused_install(&w, &unsigned, 2, "it is not signed");
    let r = w.run(&["plugin", "install", &unsigned, "--yes"]);
    assert!(
        r.stderr
            .contains(&format!("{trust_path} requires a signature")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("add its cosign public key to {trust_path}")),
        "{}",
        r.stderr
    );

    // Signed by a key nobody trusts.
    let stranger = reg.oci("plugins/hostile:stranger");
    publish_signed(
        &w,
        &hostile("0.1.1", WHOLE_WORKSPACE),
        &stranger,
        Some(&other_key),
    );
    refused_install(&w, &stranger, 2, "it is signed, but by no key you trust");

    // acme's real signature of 0.1.0, replayed onto 0.2.0 (copied to the
    // tag where 0.2.0's signatures belong).
    let old = reg.oci("plugins/hostile:0.1.0");
    let old_digest = publish_signed(&w, &hostile("0.1.0", READ_ONLY), &old, Some(&acme_key));
    let new = reg.oci("plugins/hostile:0.2.0");
    let new_digest = publish_signed(&w, &hostile("0.2.0", WHOLE_WORKSPACE), &new, None);
    let sig_tag = |d: &str| {
        format!(
            "docker://{}/plugins/hostile:{}.sig",
            reg.host(),
            d.replace(':', "-")
        )
    };
    let copied = Command::new("skopeo")
        .args([
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &sig_tag(&old_digest),
            &sig_tag(&new_digest),
        ])
        .output()
        .expect("skopeo");
    assert!(copied.status.success(), "{copied:?}");
    refused_install(&w, &new, 2, "(a replayed signature)");

    // The signed version installs and works after all these refusals.
    let r = w.ok(&["plugin", "install", &old, "--yes"]);
    assert!(r.stderr.contains("signed by acme"), "{}", r.stderr);
    w.still_answers();
}

#[test]
fn issue12_an_update_by_another_signer_is_refused_unless_the_user_accepts_it() {
    let reg = OciRegistry::start();
    let w = Warden::new();
    let (acme_key, acme) = keypair(w.home.path(), "acme");
    let (beta_key, beta) = keypair(w.home.path(), "beta");
    trust(&w, &trust_file(false, &[("acme", &acme), ("beta", &beta)]));
    let v1 = reg.oci("plugins/hostile:0.1.0");
    publish_signed(&w, &hostile("0.1.0", WHOLE_WORKSPACE), &v1, Some(&acme_key));
    w.ok(&["plugin", "install", &v1, "--yes"]);
    assert_eq!(w.listed("hostile")["signer"], "acme");

    // Signed by beta, whom the user trusts, but not for this plugin.
    let by_beta = reg.oci("plugins/hostile:0.2.0");
    publish_signed(
        &w,
        &hostile("0.2.0", WHOLE_WORKSPACE),
        &by_beta,
        Some(&beta_key),
    );
    refused_update(
        &w,
        &by_beta,
        "the installed version is signed by `acme`, this one by `beta`",
    );
    let r = w.run(&["plugin", "update", "hostile", "--to", &by_beta, "--yes"]);
    assert!(
        r.stderr.contains("--accept-signer beta"),
        "says how: {}",
        r.stderr
    );
    assert_eq!(w.listed("hostile")["signer"], "acme");

    // Unsigned (not required here): continuity refuses it all the same.
    let unsigned = reg.oci("plugins/hostile:0.2.1");
    publish_signed(&w, &hostile("0.2.1", WHOLE_WORKSPACE), &unsigned, None);
    refused_update(
        &w,
        &unsigned,
        "this one by no publisher you trust (it is not signed)",
    );
    // Accepting beta does not accept an unsigned one.
    let r = w.run(&[
        "plugin",
        "update",
        "hostile",
        "--to",
        &unsigned,
        "--accept-signer",
        "beta",
        "--yes",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);

    // The user re-trusts: beta now signs this plugin.
    let r = w.ok(&[
        "plugin",
        "update",
        "hostile",
        "--to",
        &by_beta,
        "--accept-signer",
        "beta",
        "--yes",
    ]);
    assert!(
        r.stderr.contains("updated hostile to 0.2.0"),
        "{}",
        r.stderr
    );
    assert_eq!(w.listed("hostile")["signer"], "beta");
    let record = w.records("update").last().cloned().expect("record");
    assert_eq!(
        record["detail"]["signed_by"],
        json!({"from": "acme", "to": "beta"})
    );
    w.still_answers();
    // Rollback brings back acme's version and its signer.
    w.ok(&["plugin", "rollback", "hostile"]);
    assert_eq!(w.listed("hostile")["signer"], "acme");
}

#[test]
fn issue12_the_organisation_requires_signatures_by_its_publishers_through_cedar() {
    let reg = OciRegistry::start();
    let org = tempfile::tempdir().expect("org dir");
    let policy = org.path().join("policy.cedar");
    std::fs::write(
        &policy,
        "@id(\"only-acme-plugins\")\nforbid (principal, action == Warden::Action::\"install\", resource)\nunless { context.signed_by == \"acme\" };\n",
    )
    .expect("policy");
    let w = Warden {
        policy: Some(policy.clone()),
        ..Warden::new()
    };
    let (acme_key, acme) = keypair(org.path(), "acme");
    let (mine_key, mine) = keypair(w.home.path(), "mine");
    std::fs::write(
        org.path().join("trust.toml"),
        trust_file(false, &[("acme", &acme)]),
    )
    .expect("org trust");

    // A user's key cannot take the organisation's publisher's name.
    trust(&w, &trust_file(false, &[("acme", &mine)]));
    // (Other bytes than acme's below: signatures belong to a digest.)
    let signed_by_me = reg.oci("plugins/hostile:mine");
    publish_signed(
        &w,
        &hostile("0.0.9", WHOLE_WORKSPACE),
        &signed_by_me,
        Some(&mine_key),
    );
    let r = w.run(&["plugin", "install", &signed_by_me, "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("publisher `acme` is named by the organisation's trust file"),
        "{}",
        r.stderr
    );

    // Under another name it is trusted, but the organisation's rule wants acme.
    trust(&w, &trust_file(false, &[("mine", &mine)]));
    let r = w.run(&["plugin", "install", &signed_by_me, "--yes"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("only-acme-plugins"), "{}", r.stderr);
    let refusal = w.records("install").last().cloned().expect("record");
    assert_eq!(refusal["decision"], "deny", "{refusal}");
    assert!(w.listed("hostile").is_null());

    // Signed by the organisation's acme, it installs and runs.
    let signed = reg.oci("plugins/hostile:acme");
    publish_signed(
        &w,
        &hostile("0.1.0", WHOLE_WORKSPACE),
        &signed,
        Some(&acme_key),
    );
    let r = w.ok(&["plugin", "install", &signed, "--yes"]);
    assert!(r.stderr.contains("signed by acme"), "{}", r.stderr);
    w.still_answers();
    let explained = w.run(&[
        "policy", "explain", "--action", "install", "--plugin", "hostile", "--json",
    ]);
    assert_eq!(explained.code, 0, "{}", explained.stderr);

    // When the organisation requires signatures, the user's keys no longer
    // count, and a user file saying otherwise changes nothing.
    std::fs::write(
        org.path().join("trust.toml"),
        trust_file(true, &[("acme", &acme)]),
    )
    .expect("org trust");
    w.ok(&["plugin", "remove", "hostile"]);
    trust(&w, "require_signatures = false\n");
    let r = w.run(&["plugin", "install", &signed_by_me, "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("ask your organisation to add the publisher's key to"),
        "{}",
        r.stderr
    );
}

#[test]
fn issue17_an_update_carries_workspace_grants_and_rollback_restores_them() {
    let reg = OciRegistry::start();
    let w = Warden::new();
    let fx = Fixture::new();
    let ws = fx.ws.to_str().expect("utf-8");
    let v1 = reg.oci("plugins/hostile:0.1.0");
    publish_signed(&w, &hostile("0.1.0", WHOLE_WORKSPACE), &v1, None);
    w.ok(&["plugin", "install", &v1, "--yes"]);
    w.ok(&[
        "plugin",
        "grant",
        "hostile",
        "--workspace",
        ws,
        "--grant",
        "file:.:read",
        "--grant",
        "env:WARDEN_OTHER_VAR",
    ]);
    let scoped = |w: &Warden| w.listed("hostile")["workspace_grants"].clone();
    let before = scoped(&w);
    assert_eq!(
        before[0]["grant"]["env"],
        json!(["WARDEN_OTHER_VAR"]),
        "{before}"
    );

    // 0.2.0 no longer asks for WARDEN_OTHER_VAR: the workspace's grant loses it.
    let base = std::fs::read(component("hostile")).expect("hostile built");
    let manifest = format!(
        "name = \"hostile\"\nversion = \"0.2.0\"\ndescription = \"Test guest: tries to escape its grants and exhaust the host.\"\nenv = [\"WARDEN_TEST_VAR\"]\n{WHOLE_WORKSPACE}\n{HOSTILE_LIMITS}"
    );
    let v2 = super::with_manifest(&base, &manifest);
    let r = update_to(&w, &reg, &v2, &["--yes"], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("(in workspace {})", fx.ws.display())),
        "{}",
        r.stderr
    );
    let after = scoped(&w);
    assert_eq!(after[0]["workspace"], before[0]["workspace"]);
    assert_eq!(after[0]["grant"]["files"], before[0]["grant"]["files"]);
    assert_eq!(after[0]["grant"]["env"], json!([]), "{after}");
    let record = w.records("update").last().cloned().expect("record");
    assert_eq!(
        record["detail"]["workspace_dropped"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{record}"
    );
    // The workspace's read grant still holds there.
    let read = w.run(&[
        "call",
        "hostile.read",
        "--workspace",
        ws,
        "--input",
        r#"{"path":"a.txt"}"#,
    ]);
    assert_eq!(
        (read.code, read.stdout.trim()),
        (0, "hi"),
        "{}",
        read.stderr
    );

    // Rollback gives the workspace its old grant back, and rolling back
    // again the carried one.
    w.ok(&["plugin", "rollback", "hostile"]);
    assert_eq!(scoped(&w), before);
    w.ok(&["plugin", "rollback", "hostile"]);
    assert_eq!(scoped(&w), after);
}

#[test]
fn issue12_a_second_signature_adds_to_the_first_and_either_trusted_one_verifies() {
    let reg = OciRegistry::start();
    let w = Warden::new();
    let (acme_key, acme) = keypair(w.home.path(), "acme");
    let (beta_key, beta) = keypair(w.home.path(), "beta");
    let bytes = hostile("0.1.0", WHOLE_WORKSPACE);
    let tag = reg.oci("plugins/hostile:0.1.0");
    let digest = publish_signed(&w, &bytes, &tag, Some(&acme_key));
    // The same bytes again, signed by beta, and by acme a second time.
    assert_eq!(publish_signed(&w, &bytes, &tag, Some(&beta_key)), digest);
    assert_eq!(publish_signed(&w, &bytes, &tag, Some(&acme_key)), digest);

    // Trusting only acme, or only beta: each finds its signature.
    for (name, key) in [("acme", &acme), ("beta", &beta)] {
        let other = Warden::new();
        trust(&other, &trust_file(true, &[(name, key)]));
        let r = other.ok(&["plugin", "install", &tag, "--yes"]);
        assert!(
            r.stderr.contains(&format!("signed by {name}")),
            "{}",
            r.stderr
        );
        assert_eq!(other.listed("hostile")["signer"], name);
        other.still_answers();
    }
    // Trusting both: both are shown, the first signature's is the signer.
    let both = Warden::new();
    trust(
        &both,
        &trust_file(true, &[("acme", &acme), ("beta", &beta)]),
    );
    let r = both.ok(&["plugin", "install", &tag, "--yes"]);
    assert!(
        r.stderr
            .contains("signatures by trusted publishers: acme, beta"),
        "{}",
        r.stderr
    );
    assert_eq!(both.listed("hostile")["signer"], "acme");

    // The signature manifest holds two layers, not three: acme's signature
    // was not duplicated, beta's did not replace it.
    let sig_tag = format!(
        "{}/plugins/hostile:{}.sig",
        reg.host(),
        digest.replacen(':', "-", 1)
    );
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{sig_tag}"))
        .output()
        .expect("skopeo is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: Value = serde_json::from_slice(&out.stdout).expect("manifest");
    assert_eq!(
        manifest["layers"].as_array().map(Vec::len),
        Some(2),
        "{manifest}"
    );
}

#[test]
fn issue12_publish_signs_with_a_cosign_encrypted_key_given_its_password() {
    let reg = OciRegistry::start();
    let w = Warden::new();
    let key = w.home.path().join("cosign.key");
    let public = w.home.path().join("cosign.pub");
    let made = Command::new("python3")
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/fixtures/sigstore/cosign_key.py"),
        )
        .args([
            "s3cret pass",
            key.to_str().expect("utf-8"),
            public.to_str().expect("utf-8"),
        ])
        .output()
        .expect("python3 is installed");
    assert!(
        made.status.success(),
        "cosign_key.py (needs PyNaCl, .ci/setup installs it): {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let public = std::fs::read_to_string(&public).expect("public key");
    let key = key.to_str().expect("utf-8");
    let bytes = hostile("0.1.0", WHOLE_WORKSPACE);
    let path = file(w.home.path(), "c.wasm", &bytes);
    let tag = reg.oci("plugins/hostile:0.1.0");

    // No password and no terminal: refused, saying how to give it.
    let r = w.run_env(&["plugin", "publish", &path, &tag, "--key", key], b"", &[]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("is encrypted: set COSIGN_PASSWORD"),
        "{}",
        r.stderr
    );
    // The wrong password: refused.
    let r = w.run_env(
        &["plugin", "publish", &path, &tag, "--key", key],
        b"",
        &[("COSIGN_PASSWORD", "nope")],
    );
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("the password is wrong"), "{}", r.stderr);
    // Nothing was pushed: the key is read before the component goes up.
    let r = w.run(&["plugin", "install", &tag, "--yes"]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("no such manifest"), "{}", r.stderr);

    let r = w.run_env(
        &["plugin", "publish", &path, &tag, "--key", key],
        b"",
        &[("COSIGN_PASSWORD", "s3cret pass")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    trust(&w, &trust_file(true, &[("acme", &public)]));
    let r = w.ok(&["plugin", "install", &tag, "--yes"]);
    assert!(r.stderr.contains("signed by acme"), "{}", r.stderr);
    assert_eq!(w.listed("hostile")["signer"], "acme");
    w.still_answers();
}
