//! Offline verification of keyless Sigstore signatures: a bundle
//! (`application/vnd.dev.sigstore.bundle.v0.3+json`) over a component,
//! checked against a trusted root in Sigstore's `trusted_root.json`
//! format, with no network.
//!
//! The `sigstore` crate is not used: its verification path pulls in its own
//! HTTP, TUF and OpenID stacks, and warden needs only the offline checks,
//! which are small with RustCrypto's `x509-cert` and `p256`. Checked, in
//! this order, each refusal naming what failed:
//!
//! 1. the bundle's media type and message digest (SHA-256 of the component);
//! 2. the log entry: a `hashedrekord` 0.0.1 entry by a log whose key is in
//!    the root (valid at the entry's time); its signed entry timestamp
//!    (which is what makes `integratedTime` trustworthy); its inclusion
//!    proof (RFC 9162) to a root hash, and a checkpoint signed by the same
//!    log key naming that root hash and tree size;
//! 3. the certificate: ECDSA P-256 / SHA-256 chain to a certificate
//!    authority of the root, every link valid at the integrated time, the
//!    authority's `validFor` covering it; code-signing usage; the identity
//!    (SAN URI or e-mail) and OIDC issuer (Fulcio extension
//!    1.3.6.1.4.1.57264.1.8, or the older .1.1) matching a trusted keyless
//!    publisher;
//! 4. the signature over the component by the certificate's key;
//! 5. the log entry's body naming this component's digest, this signature
//!    and this certificate.
//!
//! Not checked: the certificate's embedded SCT (certificate-transparency
//! log); RFC 3161 timestamps; P-384 authorities (the public-good Sigstore
//! root's Fulcio CA is P-384, so bundles from public Sigstore are refused
//! as unsupported, not accepted).

use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use std::path::Path;
use x509_cert::Certificate;
use x509_cert::der::{Decode as _, Encode as _};

/// Media type of the bundles read.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Largest bundle or trusted root read.
pub const MAX_BYTES: u64 = 1024 * 1024;
/// Longest inclusion proof accepted (a log of 2^64 entries needs 64).
const MAX_PROOF: usize = 64;

const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const OID_SAN: &str = "2.5.29.17";
const OID_EKU: &str = "2.5.29.37";
const OID_CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";
const OID_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
const OID_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";

/// A trusted keyless publisher: a name for policies and the lock, and the
/// identity and OIDC issuer its certificates must carry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeylessPublisher {
    pub name: String,
    /// Exact, or a pattern where `*` matches any run of characters.
    pub identity: String,
    /// Exact.
    pub issuer: String,
}

/// Whether `value` matches `pattern`, in which `*` stands for any run of
/// characters (and nothing else is special).
pub fn matches(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == value;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !value.starts_with(first) || value.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &value[first.len()..];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

// --- the two JSON formats (only the fields checked) ---

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bundle {
    media_type: String,
    verification_material: Material,
    message_signature: MessageSignature,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Material {
    certificate: Option<Raw>,
    #[serde(default)]
    tlog_entries: Vec<TlogEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    raw_bytes: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TlogEntry {
    log_index: String,
    log_id: KeyId,
    kind_version: KindVersion,
    integrated_time: String,
    inclusion_promise: Option<Promise>,
    inclusion_proof: Option<Proof>,
    canonicalized_body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyId {
    key_id: String,
}

#[derive(Deserialize)]
struct KindVersion {
    kind: String,
    version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Promise {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Proof {
    log_index: String,
    root_hash: String,
    tree_size: String,
    hashes: Vec<String>,
    checkpoint: Checkpoint,
}

#[derive(Deserialize)]
struct Checkpoint {
    envelope: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageSignature {
    message_digest: MessageDigest,
    signature: String,
}

#[derive(Deserialize)]
struct MessageDigest {
    algorithm: String,
    digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TrustedRoot {
    #[serde(default)]
    tlogs: Vec<Tlog>,
    #[serde(default)]
    certificate_authorities: Vec<Authority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Tlog {
    public_key: PublicKey,
    log_id: KeyId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKey {
    raw_bytes: String,
    valid_for: Option<ValidFor>,
}

#[derive(Deserialize)]
struct ValidFor {
    start: Option<String>,
    end: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Authority {
    cert_chain: Chain,
    valid_for: Option<ValidFor>,
}

#[derive(Deserialize)]
struct Chain {
    certificates: Vec<Raw>,
}

// --- helpers ---

fn b64(text: &str, what: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| format!("{what} is not base64"))
}

/// Seconds since the epoch of an RFC 3339 UTC time (`…Z`, fractions
/// ignored), as trusted roots write them.
fn rfc3339(text: &str) -> Result<u64, String> {
    let bad = || format!("`{}` is not an RFC 3339 UTC time", text.escape_debug());
    let t = text.strip_suffix('Z').ok_or_else(bad)?;
    let t = t.split('.').next().unwrap_or(t);
    let (date, time) = t.split_once('T').ok_or_else(bad)?;
    let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
    let d: Vec<&str> = date.split('-').collect();
    let h: Vec<&str> = time.split(':').collect();
    if d.len() != 3 || h.len() != 3 {
        return Err(bad());
    }
    let (y, m, day) = (num(d[0])?, num(d[1])?, num(d[2])?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + num(h[0])? * 3600 + num(h[1])? * 60 + num(h[2])?;
    u64::try_from(secs).map_err(|_| bad())
}

fn covers(valid: Option<&ValidFor>, at: u64) -> Result<bool, String> {
    let Some(v) = valid else { return Ok(true) };
    if let Some(start) = &v.start
        && rfc3339(start)? > at
    {
        return Ok(false);
    }
    if let Some(end) = &v.end
        && rfc3339(end)? < at
    {
        return Ok(false);
    }
    Ok(true)
}

fn node(left: &[u8], right: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root hash an RFC 9162 inclusion proof leads to, if it is well formed.
fn proof_root(index: u64, size: u64, leaf: [u8; 32], proof: &[Vec<u8>]) -> Option<[u8; 32]> {
    if index >= size {
        return None;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf;
    for p in proof {
        if p.len() != 32 || s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

fn ecdsa_ok(key: &VerifyingKey, data: &[u8], der: &[u8]) -> bool {
    Signature::from_der(der)
        .map(|sig| key.verify(data, &sig).is_ok())
        .unwrap_or(false)
}

fn key_of(cert: &Certificate) -> Result<VerifyingKey, String> {
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| format!("a certificate's key cannot be encoded: {e}"))?;
    VerifyingKey::from_public_key_der(&spki).map_err(|_| {
        "a certificate's key is not an ECDSA P-256 key (only P-256 is supported)".into()
    })
}

/// Whether `issuer` signed `cert` (ECDSA P-256 / SHA-256).
fn signed_by(cert: &Certificate, issuer: &Certificate) -> Result<bool, String> {
    if cert.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return Ok(false);
    }
    if cert.signature_algorithm.oid.to_string() != ECDSA_SHA256 {
        return Err(format!(
            "a certificate is signed with {}, not ECDSA with SHA-256 (the only algorithm supported)",
            cert.signature_algorithm.oid
        ));
    }
    let Ok(key) = key_of(issuer) else {
        return Err("a certificate authority's key is not ECDSA P-256 (the only kind supported; the public-good Sigstore root's P-384 CA is not)".into());
    };
    let tbs = cert
        .tbs_certificate
        .to_der()
        .map_err(|e| format!("a certificate cannot be encoded: {e}"))?;
    let Some(sig) = cert.signature.as_bytes() else {
        return Ok(false);
    };
    Ok(ecdsa_ok(&key, &tbs, sig))
}

fn valid_at(cert: &Certificate, at: u64) -> bool {
    let v = &cert.tbs_certificate.validity;
    v.not_before.to_unix_duration().as_secs() <= at
        && at <= v.not_after.to_unix_duration().as_secs()
}

/// The identities (SAN URIs and e-mail addresses) and the OIDC issuer a
/// certificate carries, and whether it allows code signing.
fn claims(cert: &Certificate) -> Result<(Vec<String>, Option<String>, bool), String> {
    use x509_cert::ext::pkix::name::GeneralName;
    let mut identities = Vec::new();
    let (mut issuer_v2, mut issuer_v1, mut code_signing) = (None, None, false);
    for ext in cert.tbs_certificate.extensions.iter().flatten() {
        let value = ext.extn_value.as_bytes();
        match ext.extn_id.to_string().as_str() {
            OID_SAN => {
                let san = x509_cert::ext::pkix::SubjectAltName::from_der(value).map_err(|e| {
                    format!("the certificate's subject alternative name is malformed: {e}")
                })?;
                for name in san.0 {
                    match name {
                        GeneralName::UniformResourceIdentifier(s) | GeneralName::Rfc822Name(s) => {
                            identities.push(s.to_string())
                        }
                        _ => {}
                    }
                }
            }
            OID_EKU => {
                let eku = x509_cert::ext::pkix::ExtendedKeyUsage::from_der(value).map_err(|e| {
                    format!("the certificate's extended key usage is malformed: {e}")
                })?;
                code_signing = eku.0.iter().any(|o| o.to_string() == OID_CODE_SIGNING);
            }
            OID_ISSUER_V2 => {
                let s = x509_cert::der::asn1::Utf8StringRef::from_der(value)
                    .map_err(|e| format!("the certificate's OIDC issuer is malformed: {e}"))?;
                issuer_v2 = Some(s.as_str().to_string());
            }
            OID_ISSUER_V1 => issuer_v1 = String::from_utf8(value.to_vec()).ok(),
            _ => {}
        }
    }
    Ok((identities, issuer_v2.or(issuer_v1), code_signing))
}

fn pem_der(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// Read a trusted root file, refusing one that is not a trusted root.
pub fn read_root(path: &Path) -> anyhow::Result<String> {
    let text = warden_core::configfile::read_text(path, MAX_BYTES)
        .map_err(|e| anyhow::anyhow!("the trusted root {} cannot be read: {e}", path.display()))?
        .ok_or_else(|| anyhow::anyhow!("the trusted root {} does not exist", path.display()))?;
    serde_json::from_str::<TrustedRoot>(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a Sigstore trusted_root.json: {e}",
            path.display()
        )
    })?;
    Ok(text)
}

/// A keyless publisher whose trusted root is `root` (the JSON text).
pub struct Candidate<'a> {
    pub publisher: &'a KeylessPublisher,
    pub root: &'a str,
}

/// Verify `bundle` (the JSON text) over `component` against each
/// candidate in turn: `Ok(name)` of the first that accepts it, or
/// `Err(why)` naming the first check that failed.
pub fn verify(
    bundle: &str,
    component: &[u8],
    candidates: &[Candidate<'_>],
) -> Result<String, String> {
    if candidates.is_empty() {
        return Err("no keyless publisher is trusted (add [[keyless]] name, identity, issuer and trusted_root to trust.toml)".into());
    }
    let bundle: Bundle = serde_json::from_str(bundle)
        .map_err(|e| format!("the bundle is not a Sigstore bundle: {e}"))?;
    let mut why = Vec::new();
    for c in candidates {
        match verify_one(&bundle, component, c) {
            Ok(()) => return Ok(c.publisher.name.clone()),
            Err(e) => why.push(e),
        }
    }
    why.dedup();
    Err(why.join("; "))
}

fn verify_one(bundle: &Bundle, component: &[u8], c: &Candidate<'_>) -> Result<(), String> {
    let root: TrustedRoot =
        serde_json::from_str(c.root).map_err(|e| format!("the trusted root is malformed: {e}"))?;
    if bundle.media_type != BUNDLE_MEDIA_TYPE {
        return Err(format!(
            "the bundle's media type is `{}`, not {BUNDLE_MEDIA_TYPE}",
            bundle.media_type.escape_debug()
        ));
    }
    // 1. The digest.
    let digest: [u8; 32] = Sha256::digest(component).into();
    let md = &bundle.message_signature.message_digest;
    if md.algorithm != "SHA2_256" || b64(&md.digest, "the message digest")? != digest {
        return Err(format!(
            "the bundle is for another artifact: its digest is not this component's sha256:{}",
            hex::encode(digest)
        ));
    }
    let signature = b64(&bundle.message_signature.signature, "the signature")?;

    // 2. The log entry.
    let [entry] = bundle.verification_material.tlog_entries.as_slice() else {
        return Err("the bundle must hold exactly one transparency log entry".into());
    };
    if entry.kind_version.kind != "hashedrekord" || entry.kind_version.version != "0.0.1" {
        return Err(format!(
            "the log entry is a {} {} entry; only hashedrekord 0.0.1 is supported",
            entry.kind_version.kind.escape_debug(),
            entry.kind_version.version.escape_debug()
        ));
    }
    let log_id = b64(&entry.log_id.key_id, "the log id")?;
    let integrated: u64 = entry
        .integrated_time
        .parse()
        .map_err(|_| "the log entry's integrated time is not a number".to_string())?;
    let log_index: u64 = entry
        .log_index
        .parse()
        .map_err(|_| "the log entry's index is not a number".to_string())?;
    let mut log_key = None;
    for tlog in &root.tlogs {
        let raw = b64(&tlog.public_key.raw_bytes, "a log key")?;
        // The key id is the SHA-256 of the key, whatever the root says.
        if Sha256::digest(&raw).as_slice() == log_id.as_slice()
            && b64(&tlog.log_id.key_id, "a log id")? == log_id
        {
            if !covers(tlog.public_key.valid_for.as_ref(), integrated)? {
                return Err(
                    "the log key that recorded the entry was not valid at its integrated time"
                        .into(),
                );
            }
            log_key = Some(VerifyingKey::from_public_key_der(&raw).map_err(|_| {
                "the log key is not ECDSA P-256 (the only kind supported)".to_string()
            })?);
        }
    }
    let log_key = log_key
        .ok_or("the log entry is from a transparency log that is not in the trusted root")?;
    let promise = entry
        .inclusion_promise
        .as_ref()
        .ok_or("the log entry has no signed entry timestamp, so its integrated time cannot be trusted offline")?;
    let set = format!(
        r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
        entry.canonicalized_body.trim(),
        integrated,
        hex::encode(&log_id),
        log_index
    );
    if !ecdsa_ok(
        &log_key,
        set.as_bytes(),
        &b64(
            &promise.signed_entry_timestamp,
            "the signed entry timestamp",
        )?,
    ) {
        return Err("the log entry's signed entry timestamp is not signed by the log's key".into());
    }
    let body = b64(&entry.canonicalized_body, "the log entry body")?;
    let proof = entry
        .inclusion_proof
        .as_ref()
        .ok_or("the log entry has no inclusion proof")?;
    let num = |s: &str, what: &str| {
        s.parse::<u64>()
            .map_err(|_| format!("the inclusion proof's {what} is not a number"))
    };
    let (p_index, p_size) = (
        num(&proof.log_index, "index")?,
        num(&proof.tree_size, "tree size")?,
    );
    if proof.hashes.len() > MAX_PROOF {
        return Err(format!("the inclusion proof has over {MAX_PROOF} hashes"));
    }
    let hashes = proof
        .hashes
        .iter()
        .map(|h| b64(h, "an inclusion proof hash"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut leaf = Sha256::new();
    leaf.update([0u8]);
    leaf.update(&body);
    let computed = proof_root(p_index, p_size, leaf.finalize().into(), &hashes);
    let root_hash = b64(&proof.root_hash, "the inclusion proof's root hash")?;
    if computed.as_ref().map(|r| r.as_slice()) != Some(root_hash.as_slice()) {
        return Err("the inclusion proof does not lead from the entry to the root hash it claims (a tampered proof)".into());
    }
    check_checkpoint(
        &proof.checkpoint.envelope,
        &log_key,
        &log_id,
        p_size,
        &root_hash,
    )?;

    // 3. The certificate.
    let cert_raw = bundle.verification_material.certificate.as_ref().ok_or(
        "the bundle has no signing certificate (a keyed bundle; only keyless bundles are read)",
    )?;
    let cert_der = b64(&cert_raw.raw_bytes, "the certificate")?;
    let cert = Certificate::from_der(&cert_der)
        .map_err(|e| format!("the signing certificate is not DER X.509: {e}"))?;
    if !valid_at(&cert, integrated) {
        return Err(format!(
            "the signing certificate was not valid at the log's integrated time {integrated} (it is valid from {} to {})",
            cert.tbs_certificate.validity.not_before, cert.tbs_certificate.validity.not_after
        ));
    }
    let mut chained = false;
    for ca in &root.certificate_authorities {
        let chain = ca
            .cert_chain
            .certificates
            .iter()
            .map(|r| {
                b64(&r.raw_bytes, "a CA certificate").and_then(|d| {
                    Certificate::from_der(&d).map_err(|e| {
                        format!("a CA certificate of the trusted root is malformed: {e}")
                    })
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let Some(first) = chain.first() else { continue };
        if !signed_by(&cert, first)? {
            continue;
        }
        if !covers(ca.valid_for.as_ref(), integrated)? {
            return Err("the certificate authority that issued the signing certificate was not valid at the log's integrated time".into());
        }
        for (i, link) in chain.iter().enumerate() {
            let parent = chain.get(i + 1).unwrap_or(link);
            if !valid_at(link, integrated) {
                return Err("a certificate of the authority's chain was not valid at the log's integrated time".into());
            }
            if !signed_by(link, parent)? {
                return Err("the trusted root's certificate chain does not verify".into());
            }
        }
        chained = true;
        break;
    }
    if !chained {
        return Err(
            "the signing certificate is not issued by a certificate authority of the trusted root"
                .into(),
        );
    }
    let (identities, issuer, code_signing) = claims(&cert)?;
    if !code_signing {
        return Err("the signing certificate is not for code signing".into());
    }
    let p = c.publisher;
    if !identities.iter().any(|id| matches(&p.identity, id)) {
        return Err(format!(
            "the certificate's identity {} is not `{}` (keyless publisher `{}`)",
            identities
                .iter()
                .map(|i| format!("`{}`", i.escape_debug()))
                .collect::<Vec<_>>()
                .join(", "),
            p.identity.escape_debug(),
            p.name.escape_debug()
        ));
    }
    match &issuer {
        Some(i) if *i == p.issuer => {}
        other => {
            return Err(format!(
                "the certificate's OIDC issuer is {}, not `{}` (keyless publisher `{}`)",
                other
                    .as_deref()
                    .map(|i| format!("`{}`", i.escape_debug()))
                    .unwrap_or_else(|| "missing".into()),
                p.issuer.escape_debug(),
                p.name.escape_debug()
            ));
        }
    }

    // 4. The signature over the component.
    if !ecdsa_ok(&key_of(&cert)?, component, &signature) {
        return Err(
            "the signature does not verify over this component with the certificate's key".into(),
        );
    }

    // 5. The log entry says the same.
    let rekord: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| "the log entry body is not JSON".to_string())?;
    let spec = &rekord["spec"];
    let same_hash = rekord["kind"] == "hashedrekord"
        && spec["data"]["hash"]["algorithm"] == "sha256"
        && spec["data"]["hash"]["value"] == hex::encode(digest).as_str();
    let same_sig = spec["signature"]["content"]
        .as_str()
        .and_then(|s| b64(s, "").ok())
        .is_some_and(|s| s == signature);
    let same_cert = spec["signature"]["publicKey"]["content"]
        .as_str()
        .and_then(|s| b64(s, "").ok())
        .and_then(|pem| pem_der(&pem))
        .is_some_and(|d| d == cert_der);
    if !(same_hash && same_sig && same_cert) {
        return Err(format!(
            "the log entry body does not match the bundle (it records another {})",
            if !same_hash {
                "digest"
            } else if !same_sig {
                "signature"
            } else {
                "certificate"
            }
        ));
    }
    Ok(())
}

fn check_checkpoint(
    envelope: &str,
    key: &VerifyingKey,
    log_id: &[u8],
    size: u64,
    root_hash: &[u8],
) -> Result<(), String> {
    let bad = |why: &str| format!("the checkpoint {why}");
    let (note, sigs) = envelope
        .split_once("\n\n")
        .ok_or_else(|| bad("is not a signed note"))?;
    let note = format!("{note}\n");
    let mut lines = note.lines();
    let (_origin, n, hash) = (lines.next(), lines.next(), lines.next());
    if n.and_then(|n| n.parse::<u64>().ok()) != Some(size)
        || hash.and_then(|h| b64(h, "").ok()).as_deref() != Some(root_hash)
    {
        return Err(bad(
            "names another tree size or root hash than the inclusion proof (a tampered checkpoint)",
        ));
    }
    let signed = sigs.lines().any(|line| {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            return false;
        };
        let Some((_, sig)) = rest.rsplit_once(' ') else {
            return false;
        };
        let Ok(raw) = b64(sig, "") else { return false };
        raw.len() > 4 && raw[..4] == log_id[..4] && ecdsa_ok(key, note.as_bytes(), &raw[4..])
    });
    if !signed {
        return Err(bad(
            "is not signed by the log's key (a tampered checkpoint)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("a@b.c", "a@b.c"));
        assert!(!matches("a@b.c", "a@b.cd"));
        assert!(matches(
            "https://github.com/acme/*",
            "https://github.com/acme/x/.github/w.yml@refs/tags/v1"
        ));
        assert!(!matches(
            "https://github.com/acme/*",
            "https://github.com/acmeevil/x"
        ));
        assert!(matches("*@acme.com", "me@acme.com"));
        assert!(!matches("*@acme.com", "me@acme.com.evil"));
        assert!(matches("a*b*c", "abc") && !matches("a*b*c", "acb") && !matches("ab*ba", "aba"));
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(rfc3339("2021-01-12T11:53:27.000Z"), Ok(1_610_452_407));
        assert!(rfc3339("2021-01-12 11:53:27").is_err());
    }

    #[test]
    fn proofs() {
        let l = |b: &[u8]| -> [u8; 32] {
            let mut h = Sha256::new();
            h.update([0u8]);
            h.update(b);
            h.finalize().into()
        };
        let (a, b, c) = (l(b"a"), l(b"b"), l(b"c"));
        let root = node(&node(&a, &b), &c);
        assert_eq!(proof_root(1, 3, b, &[a.to_vec(), c.to_vec()]), Some(root));
        assert_eq!(proof_root(2, 3, c, &[node(&a, &b).to_vec()]), Some(root));
        assert_ne!(proof_root(1, 3, b, &[c.to_vec(), a.to_vec()]), Some(root));
        assert_eq!(proof_root(3, 3, c, &[]), None);
    }
}
