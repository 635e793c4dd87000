//! Keyed signatures in cosign's layout, checked against trusted publisher
//! keys.
//!
//! The `sigstore` crate brings its own HTTP, TUF and X.509 stacks; warden
//! needs only cosign's keyed scheme, so it is implemented here with
//! RustCrypto's `p256`: the "simple signing" JSON payload naming the
//! repository and the manifest digest, an ECDSA P-256 / SHA-256 signature of
//! it (DER, base64) in the layer annotation
//! `dev.cosignproject.cosign/signature`, stored in the same repository
//! under the tag `sha256-<hex>.sig`. Public keys are PEM `PUBLIC KEY`, as
//! `cosign generate-key-pair` writes them; signing keys are unencrypted
//! PKCS#8 PEM or cosign's encrypted key files (`ENCRYPTED SIGSTORE PRIVATE
//! KEY`: scrypt, then NaCl secretbox; the password from `COSIGN_PASSWORD`
//! or typed at a terminal). Keyless
//! signatures (Fulcio certificate + Rekor entry in a Sigstore bundle) are
//! verified offline by [`super::keyless`] for publishers under
//! `[[keyless]]`, against the file's `trusted_root`.
//!
//! Trust: the user's `$XDG_CONFIG_HOME/warden/trust.toml` and an
//! organisation file `trust.toml` beside the managed policy (and beside
//! `$WARDEN_POLICY`). If any of them requires signatures, they are
//! required. A user file cannot lower the organisation's: when the
//! organisation requires signatures only its keys count, and a user's key
//! can never take a name the organisation's file gives (a Cedar rule on
//! `context.signed_by == "acme"` means the organisation's acme).
//!
//! ```toml
//! require_signatures = true
//! [[publisher]]
//! name = "acme"
//! key = """
//! -----BEGIN PUBLIC KEY-----
//! …
//! -----END PUBLIC KEY-----
//! """
//! trusted_root = "trusted_root.json"
//! [[keyless]]
//! name = "acme-ci"
//! identity = "https://github.com/acme/tools/.github/workflows/*"
//! issuer = "https://token.actions.githubusercontent.com"
//! ```

use super::oci::{self, OciRef};
use base64::Engine as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use warden_core::Error;
use warden_core::escape::escape;

/// Media type of a cosign simple-signing payload layer.
pub const PAYLOAD_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Annotation holding the base64 signature of the payload.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Largest payload read; cosign's are a few hundred bytes.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Most signature layers looked at.
pub const MAX_SIGNATURES: usize = 16;
/// Largest trust file read.
pub const MAX_TRUST_BYTES: u64 = 1024 * 1024;
/// Most publishers one trust file may name.
pub const MAX_PUBLISHERS: usize = 256;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustFile {
    #[serde(default)]
    require_signatures: bool,
    #[serde(default)]
    publisher: Vec<PublisherEntry>,
    /// A Sigstore `trusted_root.json` (relative to this file) that keyless
    /// bundles of this file's `[[keyless]]` publishers are checked against.
    trusted_root: Option<PathBuf>,
    #[serde(default)]
    keyless: Vec<super::keyless::KeylessPublisher>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublisherEntry {
    name: String,
    key: String,
}

/// The keys warden trusts, and whether a signature is required.
pub struct Trust {
    /// The file that requires signatures, if one does.
    pub required_by: Option<PathBuf>,
    /// Whether that file is the organisation's: then only the
    /// organisation's keys count, so a user cannot lower the requirement
    /// by trusting a key of their own.
    org_requires: bool,
    keys: Vec<(String, VerifyingKey)>,
    /// Keyless publishers, each with the trusted root (JSON text) of the
    /// file that names it.
    keyless: Vec<(super::keyless::KeylessPublisher, String)>,
    /// The user's trust file (named in hints).
    pub user_file: PathBuf,
}

impl Trust {
    /// Trust nothing and require nothing: for fetching bytes whose
    /// signature is checked separately (a `--bundle`).
    pub fn none() -> Self {
        Trust {
            required_by: None,
            org_requires: false,
            keys: Vec::new(),
            keyless: Vec::new(),
            user_file: PathBuf::new(),
        }
    }

    /// Read the user's file in `config` (warden's config directory) and the
    /// organisation's files.
    pub fn load(config: &Path) -> anyhow::Result<Self> {
        let user_file = config.join("trust.toml");
        let managed = Path::new(warden_core::policy::MANAGED_POLICY);
        let mut org = Vec::new();
        org.extend(managed.parent().map(|d| d.join("trust.toml")));
        if let Some(p) = std::env::var_os(warden_core::policy::POLICY_VAR).filter(|v| !v.is_empty())
        {
            org.extend(Path::new(&p).parent().map(|d| d.join("trust.toml")));
        }
        let mut trust = Trust {
            required_by: None,
            org_requires: false,
            keys: Vec::new(),
            keyless: Vec::new(),
            user_file: user_file.clone(),
        };
        let mut user_keys = Vec::new();
        let mut org_keys: Vec<(String, VerifyingKey)> = Vec::new();
        let mut user_keyless = Vec::new();
        let mut org_keyless: Vec<(super::keyless::KeylessPublisher, String)> = Vec::new();
        // The organisation's files first: their requirement wins.
        for (path, is_org) in org
            .into_iter()
            .map(|p| (p, true))
            .chain([(user_file, false)])
        {
            let Some(file) = read_file(&path)? else {
                continue;
            };
            if file.require_signatures && trust.required_by.is_none() {
                trust.required_by = Some(path.clone());
                trust.org_requires = is_org;
            }
            let bad = |reason: String| Error::Policy {
                file: path.clone(),
                reason,
            };
            if !file.keyless.is_empty() {
                let Some(root) = &file.trusted_root else {
                    return Err(bad(
                        "[[keyless]] publishers need trusted_root = \"PATH\" (a Sigstore trusted_root.json) in the same file".into(),
                    )
                    .into());
                };
                let root = path.parent().unwrap_or(Path::new(".")).join(root);
                let text = super::keyless::read_root(&root).map_err(|e| bad(format!("{e:#}")))?;
                for k in file.keyless {
                    let taken = org_keys.iter().any(|(n, _)| *n == k.name)
                        || org_keyless.iter().any(|(o, _)| o.name == k.name);
                    if is_org {
                        org_keyless.push((k, text.clone()));
                    } else if taken {
                        return Err(bad(format!(
                            "publisher `{}` is named by the organisation's trust file; yours cannot give that name to another identity (choose another name)",
                            escape(&k.name)
                        ))
                        .into());
                    } else {
                        user_keyless.push((k, text.clone()));
                    }
                }
            }
            for p in file.publisher {
                let bad = |reason: String| Error::Policy {
                    file: path.clone(),
                    reason,
                };
                let key = VerifyingKey::from_public_key_pem(p.key.trim()).map_err(|e| {
                    bad(format!(
                        "the key of publisher `{}` is not a PEM P-256 public key: {e}",
                        escape(&p.name)
                    ))
                })?;
                if is_org {
                    org_keys.push((p.name, key));
                } else if org_keys.iter().any(|(n, _)| *n == p.name)
                    || org_keyless.iter().any(|(o, _)| o.name == p.name)
                {
                    // A policy on `context.signed_by == "acme"` must mean
                    // the organisation's acme.
                    return Err(bad(format!(
                        "publisher `{}` is named by the organisation's trust file; yours cannot give that name to another key (choose another name)",
                        escape(&p.name)
                    ))
                    .into());
                } else {
                    user_keys.push((p.name, key));
                }
            }
        }
        trust.keys = org_keys;
        trust.keyless = org_keyless;
        if !trust.org_requires {
            trust.keys.extend(user_keys);
            trust.keyless.extend(user_keyless);
        }
        Ok(trust)
    }

    /// Where a key must be added to be trusted, as a hint.
    pub fn how_to_trust(&self) -> String {
        let file = if self.org_requires {
            self.required_by.as_ref().unwrap_or(&self.user_file)
        } else {
            &self.user_file
        };
        let who = if self.org_requires {
            "ask your organisation to add the publisher's key to"
        } else {
            "to trust a publisher, add its cosign public key to"
        };
        format!(
            "{who} {} as [[publisher]] name = \"NAME\" key = \"\"\"-----BEGIN PUBLIC KEY-----…\"\"\" (for a keyless signer: [[keyless]] name, identity, issuer and trusted_root there, and install the file or URL with --bundle FILE)",
            file.display()
        )
    }

    /// Verify a keyless Sigstore bundle (the file `bundle`) over the
    /// component `bytes` offline, against the trusted keyless publishers:
    /// the name of the one it verifies for, or a refusal saying why not.
    pub fn verify_bundle(&self, what: &str, bundle: &Path, bytes: &[u8]) -> anyhow::Result<String> {
        let text = warden_core::configfile::read_text(bundle, super::keyless::MAX_BYTES)
            .map_err(|e| anyhow::anyhow!("the bundle {} cannot be read: {e}", bundle.display()))?
            .ok_or_else(|| anyhow::anyhow!("there is no bundle at {}", bundle.display()))?;
        let candidates: Vec<_> = self
            .keyless
            .iter()
            .map(|(publisher, root)| super::keyless::Candidate { publisher, root })
            .collect();
        super::keyless::verify(&text, bytes, &candidates).map_err(|why| {
            Error::NotAComponent {
                path: what.to_string(),
                reason: format!(
                    "its Sigstore bundle {} does not verify: {why}; to trust a keyless publisher, add to {} trusted_root = \"trusted_root.json\" and [[keyless]] name = \"NAME\" identity = \"…\" issuer = \"…\"",
                    bundle.display(),
                    self.user_file.display()
                ),
            }
            .into()
        })
    }

    /// Refuse an unsigned component when signatures are required.
    pub fn allow_unsigned(&self, what: &str, why: &str) -> anyhow::Result<()> {
        match &self.required_by {
            None => Ok(()),
            Some(file) => Err(Error::NotAComponent {
                path: what.to_string(),
                reason: format!(
                    "{why}, and {} requires a signature by a trusted publisher; {}",
                    file.display(),
                    self.how_to_trust()
                ),
            }
            .into()),
        }
    }
}

fn read_file(path: &Path) -> anyhow::Result<Option<TrustFile>> {
    let bad = |reason: String| Error::Policy {
        file: path.to_path_buf(),
        reason,
    };
    let text = match warden_core::configfile::read_text(path, MAX_TRUST_BYTES) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(None),
        // A trust file that cannot be read fails closed.
        Err(e) => return Err(bad(e.to_string()).into()),
    };
    let file: TrustFile = toml::from_str(&text).map_err(|e| bad(e.message().to_string()))?;
    if file.publisher.len() > MAX_PUBLISHERS {
        return Err(bad(format!("more than {MAX_PUBLISHERS} publishers")).into());
    }
    Ok(Some(file))
}

/// The part of a simple-signing payload that is checked.
#[derive(Deserialize)]
struct SimpleSigning {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    identity: Identity,
    image: Image,
}

#[derive(Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// Whether a signed `docker-reference` names `repository`: cosign writes
/// the bare repository, skopeo (containers/image) the reference it pushed,
/// with its tag or digest.
fn names_repository(signed: &str, repository: &str) -> bool {
    match signed.strip_prefix(repository) {
        Some("") => true,
        Some(rest) => {
            (rest.starts_with(':') && !rest.contains('/')) || rest.starts_with("@sha256:")
        }
        None => false,
    }
}

/// The tag cosign stores the signatures of `digest` under.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

/// The payload cosign signs for `repository` (`HOST/REPO`) at `digest`.
pub fn payload(repository: &str, digest: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": null,
    }))
    .unwrap_or_default()
}

fn repository(what: &OciRef) -> String {
    format!("{}/{}", what.0.registry(), what.0.repository())
}

/// Read the signing key at `path` (PKCS#8 PEM, or cosign's encrypted key
/// file), before anything is pushed: a wrong password must not leave an
/// unsigned component behind the tag.
pub fn load_key(path: &Path) -> anyhow::Result<SigningKey> {
    let pem = warden_core::configfile::read_text(path, MAX_TRUST_BYTES)?
        .ok_or_else(|| anyhow::anyhow!("no signing key at {}", path.display()))?;
    signing_key(path, &pem)
}

/// Sign the manifest `digest` of `what` with `key`.
pub async fn sign(
    registry: &oci::Registry,
    what: &OciRef,
    digest: &str,
    key: &SigningKey,
) -> anyhow::Result<()> {
    let body = payload(&repository(what), digest);
    let signature: Signature = key.sign(&body);
    let encoded = base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes());
    registry
        .push_signature(&what.tagged(&signature_tag(digest)), &body, &encoded)
        .await
}

/// PEM labels of cosign's encrypted private keys (current and older).
const ENCRYPTED_LABELS: [&str; 2] = [
    "ENCRYPTED SIGSTORE PRIVATE KEY",
    "ENCRYPTED COSIGN PRIVATE KEY",
];
/// The largest scrypt cost accepted (cosign writes N = 2^15).
const MAX_SCRYPT_LOG_N: u8 = 20;

/// The signing key in `pem` (read from `path`): unencrypted PKCS#8, or
/// cosign's encrypted key file, decrypted with `COSIGN_PASSWORD` or a
/// password typed at a terminal.
fn signing_key(path: &Path, pem: &str) -> anyhow::Result<SigningKey> {
    let text = pem.trim();
    let Some(label) = ENCRYPTED_LABELS
        .iter()
        .find(|l| text.starts_with(&format!("-----BEGIN {l}-----")))
    else {
        return SigningKey::from_pkcs8_pem(text).map_err(|e| {
            anyhow::anyhow!(
                "{} is neither a PKCS#8 PEM P-256 key nor a cosign encrypted key: {e}",
                path.display()
            )
        });
    };
    let bad =
        |why: String| anyhow::anyhow!("{} is a cosign encrypted key, but {why}", path.display());
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.decode(s.trim());
    let json = b64(&body).map_err(|_| bad(format!("its {label} block is not base64")))?;
    let sealed: Sealed = serde_json::from_slice(&json).map_err(|e| {
        bad(format!(
            "its contents are not cosign's encrypted-key JSON: {e}"
        ))
    })?;
    if sealed.kdf.name != "scrypt" || sealed.cipher.name != "nacl/secretbox" {
        return Err(bad(format!(
            "it uses {} and {}; only scrypt with nacl/secretbox is read",
            escape(&sealed.kdf.name),
            escape(&sealed.cipher.name)
        )));
    }
    let n = sealed.kdf.params.n;
    if !n.is_power_of_two() || n < 2 || n.trailing_zeros() > u32::from(MAX_SCRYPT_LOG_N) {
        return Err(bad(format!(
            "its scrypt N = {n} is not a power of two up to 2^{MAX_SCRYPT_LOG_N}"
        )));
    }
    let log_n =
        u8::try_from(n.trailing_zeros()).map_err(|_| bad("its scrypt N is too large".into()))?;
    let params = scrypt::Params::new(log_n, sealed.kdf.params.r, sealed.kdf.params.p, 32)
        .map_err(|e| bad(format!("its scrypt parameters are invalid: {e}")))?;
    let salt = b64(&sealed.kdf.salt).map_err(|_| bad("its salt is not base64".into()))?;
    let nonce = b64(&sealed.cipher.nonce).map_err(|_| bad("its nonce is not base64".into()))?;
    let ciphertext =
        b64(&sealed.ciphertext).map_err(|_| bad("its ciphertext is not base64".into()))?;
    if nonce.len() != 24 {
        return Err(bad("its nonce is not 24 bytes".into()));
    }
    let password = password(path)?;
    let mut secret = [0u8; 32];
    scrypt::scrypt(password.as_bytes(), &salt, &params, &mut secret)
        .map_err(|e| bad(format!("scrypt failed: {e}")))?;
    use crypto_secretbox::aead::{Aead as _, KeyInit as _};
    let cipher = crypto_secretbox::XSalsa20Poly1305::new(&secret.into());
    let der = cipher
        .decrypt(
            crypto_secretbox::Nonce::from_slice(&nonce),
            ciphertext.as_slice(),
        )
        .map_err(|_| {
            bad("the password is wrong (or the file is damaged): it does not decrypt".into())
        })?;
    SigningKey::from_pkcs8_der(&der).map_err(|e| {
        bad(format!(
            "what it decrypts to is not a PKCS#8 P-256 key: {e}"
        ))
    })
}

/// The key's password: `COSIGN_PASSWORD` (as cosign reads it, empty
/// allowed), else typed at a terminal with echo off; without either the
/// key is refused rather than waiting.
fn password(path: &Path) -> anyhow::Result<String> {
    if let Some(p) = std::env::var_os("COSIGN_PASSWORD") {
        return p
            .into_string()
            .map_err(|_| anyhow::anyhow!("COSIGN_PASSWORD is not UTF-8"));
    }
    use std::io::IsTerminal as _;
    use std::os::fd::AsFd as _;
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(anyhow::anyhow!(
            "{} is encrypted: set COSIGN_PASSWORD to its password (no terminal to ask on)",
            path.display()
        ));
    }
    eprint!("Password for {}: ", path.display());
    let saved = rustix::termios::tcgetattr(stdin.as_fd()).ok();
    if let Some(t) = &saved {
        let mut quiet = t.clone();
        quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
        let _ = rustix::termios::tcsetattr(
            stdin.as_fd(),
            rustix::termios::OptionalActions::Now,
            &quiet,
        );
    }
    let mut line = String::new();
    let read = stdin.read_line(&mut line);
    if let Some(t) = &saved {
        let _ = rustix::termios::tcsetattr(stdin.as_fd(), rustix::termios::OptionalActions::Now, t);
    }
    eprintln!();
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

#[derive(Deserialize)]
struct Sealed {
    kdf: Kdf,
    cipher: CipherSpec,
    ciphertext: String,
}

#[derive(Deserialize)]
struct Kdf {
    name: String,
    params: KdfParams,
    salt: String,
}

#[derive(Deserialize)]
struct KdfParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Deserialize)]
struct CipherSpec {
    name: String,
    nonce: String,
}

/// Who signed manifest `digest` of `what`: the names of the trusted
/// publishers whose keys verify a signature naming exactly this
/// repository and digest, in the order of the signatures (never empty).
/// `Err` explains why none did.
pub async fn verify(
    registry: &oci::Registry,
    what: &OciRef,
    digest: &str,
    trust: &Trust,
) -> anyhow::Result<std::result::Result<Vec<String>, String>> {
    let sig_ref = what.tagged(&signature_tag(digest));
    let Some((body, _)) = registry.manifest_if_any(&sig_ref).await? else {
        return Ok(Err("it is not signed".into()));
    };
    let manifest: oci_client::manifest::OciImageManifest = serde_json::from_slice(&body)
        .map_err(|e| anyhow::anyhow!("{sig_ref} is not a signature manifest: {e}"))?;
    let mut why = Vec::new();
    let mut signers: Vec<String> = Vec::new();
    for layer in manifest.layers.iter().take(MAX_SIGNATURES) {
        if layer.media_type != PAYLOAD_MEDIA_TYPE {
            continue;
        }
        let Some(sig) = layer
            .annotations
            .as_ref()
            .and_then(|a| a.get(SIGNATURE_ANNOTATION))
        else {
            continue;
        };
        if usize::try_from(layer.size).unwrap_or(usize::MAX) > MAX_PAYLOAD_BYTES {
            why.push(format!(
                "a signature payload is over {MAX_PAYLOAD_BYTES} bytes"
            ));
            continue;
        }
        let payload = registry.blob(&sig_ref, layer).await?;
        let Ok(signature) = base64::engine::general_purpose::STANDARD
            .decode(sig)
            .map_err(|_| ())
            .and_then(|der| Signature::from_der(&der).map_err(|_| ()))
        else {
            why.push("a signature is not a DER ECDSA signature".into());
            continue;
        };
        let Some(name) = trust
            .keys
            .iter()
            .find(|(_, key)| key.verify(&payload, &signature).is_ok())
            .map(|(name, _)| name.clone())
        else {
            if !signers.is_empty() {
                // Another signature is trusted; this one is someone else's.
                continue;
            }
            why.push(format!(
                "it is signed, but by no key you trust ({})",
                trust.how_to_trust()
            ));
            continue;
        };
        // A valid signature of something else (an older release, another
        // repository) says nothing about this manifest.
        let Ok(claims) = serde_json::from_slice::<SimpleSigning>(&payload) else {
            why.push(format!(
                "its signature by `{name}` is over something that is not a simple-signing payload"
            ));
            continue;
        };
        let signed_digest = &claims.critical.image.docker_manifest_digest;
        let signed_repo = &claims.critical.identity.docker_reference;
        if signed_digest != digest {
            why.push(format!(
                "its signature by `{name}` is for {}, not this manifest {digest} (a replayed signature)",
                warden_core::escape::escape(signed_digest)
            ));
            continue;
        }
        if !names_repository(signed_repo, &repository(what)) {
            why.push(format!(
                "its signature by `{name}` is for the repository {}, not {}",
                warden_core::escape::escape(signed_repo),
                repository(what)
            ));
            continue;
        }
        if !signers.contains(&name) {
            signers.push(name);
        }
    }
    if !signers.is_empty() {
        return Ok(Ok(signers));
    }
    if why.is_empty() {
        why.push("it has no cosign signature".into());
    }
    Ok(Err(why.join("; ")))
}
