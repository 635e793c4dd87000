//! Where a plugin is installed from: a file, `oci://…`, or an HTTPS URL
//! pinned by `--sha256`. Whatever the source, the result is the
//! component's bytes and the source as the lock records it.

use super::oci::{self, OciRef};
use super::signing::{self, Trust};
use std::path::PathBuf;
use warden_core::Error;
use warden_core::component::MAX_COMPONENT_BYTES;
use warden_core::registry::Source;

/// What the user named.
#[derive(Debug, Clone)]
pub enum Wanted {
    /// A component file.
    Path(PathBuf),
    /// A component in an OCI registry.
    Oci(OciRef),
    /// A component at a URL, pinned by the SHA-256 of its bytes.
    Url { url: String, sha256: String },
}

impl Wanted {
    /// Parse what follows `warden plugin install`.
    pub fn parse(raw: &str, sha256: Option<&str>) -> anyhow::Result<Self> {
        let bad = |reason: String| -> anyhow::Error {
            Error::InvalidInput {
                tool: "warden plugin install".into(),
                reason,
            }
            .into()
        };
        if let Some(rest) = raw.strip_prefix("oci://") {
            if sha256.is_some() {
                return Err(bad(
                    "--sha256 pins a URL; pin an OCI component with @sha256:… instead".into(),
                ));
            }
            return Ok(Wanted::Oci(OciRef::parse(rest)?));
        }
        if raw.starts_with("https://") || raw.starts_with("http://") {
            let url = reqwest::Url::parse(raw).map_err(|e| bad(format!("`{raw}`: {e}")))?;
            let host = url.host_str().unwrap_or_default();
            if url.scheme() == "http" && !oci::is_loopback(host) {
                return Err(bad(format!(
                    "`{raw}` is plain HTTP; use https:// (plain HTTP is accepted only from this machine)"
                )));
            }
            let Some(hex) = sha256 else {
                return Err(bad(
                    "a component from a URL must be pinned: add --sha256 HEX (the SHA-256 of the .wasm file, e.g. from `sha256sum`)".into()
                ));
            };
            let hex = hex.trim_start_matches("sha256:").to_ascii_lowercase();
            if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad(format!(
                    "--sha256 {hex:?} is not 64 hexadecimal digits"
                )));
            }
            return Ok(Wanted::Url {
                url: url.to_string(),
                sha256: hex,
            });
        }
        if sha256.is_some() {
            return Err(bad("--sha256 applies only to an https:// URL".into()));
        }
        Ok(Wanted::Path(PathBuf::from(raw)))
    }

    /// The name shown in messages and audit records.
    pub fn display(&self) -> String {
        match self {
            Wanted::Path(p) => p.display().to_string(),
            Wanted::Oci(r) => r.to_string(),
            Wanted::Url { url, .. } => url.clone(),
        }
    }
}

/// A fetched component and the source to record for it.
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub source: Source,
    /// The trusted publisher whose signature was verified (the first of
    /// `signers`, or the one an update keeps).
    pub signer: Option<String>,
    /// Every trusted publisher whose signature verified.
    pub signers: Vec<String>,
    /// Why no trusted signature was found, when none was.
    pub unsigned: Option<String>,
}

/// Fetch what was named. Nothing from the network is trusted until its
/// digest matches; a signature is checked against `trust`.
pub async fn fetch(wanted: &Wanted, trust: &Trust) -> anyhow::Result<Fetched> {
    fetch_with(wanted, trust, None).await
}

/// [`fetch`], with a keyless Sigstore bundle for a file or URL: the bundle
/// must verify (a bundle that does not is refused, never ignored), and its
/// publisher is the signer.
pub async fn fetch_with(
    wanted: &Wanted,
    trust: &Trust,
    bundle: Option<&std::path::Path>,
) -> anyhow::Result<Fetched> {
    if let Some(bundle) = bundle {
        if let Wanted::Oci(_) = wanted {
            return Err(Error::InvalidInput {
                tool: "warden plugin install".into(),
                reason: "--bundle applies to a file or URL; a component on OCI carries its own signatures".into(),
            }
            .into());
        }
        let unchecked = Trust::none();
        let mut fetched = Box::pin(fetch_with(wanted, &unchecked, None)).await?;
        let signer = trust.verify_bundle(&wanted.display(), bundle, &fetched.bytes)?;
        fetched.signer = Some(signer.clone());
        fetched.signers = vec![signer];
        fetched.unsigned = None;
        return Ok(fetched);
    }
    match wanted {
        Wanted::Path(path) => {
            trust.allow_unsigned(&wanted.display(), "a file carries no signature")?;
            let package = super::component_at(path)?;
            Ok(Fetched {
                bytes: package.bytes.into_owned(),
                source: Source::Installed {
                    from: path.display().to_string(),
                },
                signer: None,
                signers: Vec::new(),
                unsigned: Some("a file carries no signature".into()),
            })
        }
        Wanted::Oci(what) => {
            let registry = oci::Registry::new(what)?;
            let pulled = registry.pull(what).await?;
            let (signers, unsigned) =
                match signing::verify(&registry, what, &pulled.manifest_digest, trust).await? {
                    Ok(names) => (names, None),
                    Err(why) => {
                        trust.allow_unsigned(&wanted.display(), &why)?;
                        (Vec::new(), Some(why))
                    }
                };
            Ok(Fetched {
                bytes: pulled.bytes,
                source: Source::Oci {
                    reference: what.to_string(),
                    manifest: pulled.manifest_digest,
                },
                signer: signers.first().cloned(),
                signers,
                unsigned,
            })
        }
        Wanted::Url { url, sha256 } => {
            trust.allow_unsigned(url, "a URL carries no signature")?;
            let bytes = download(url).await?;
            let got = oci::sha256(&bytes);
            if got != format!("sha256:{sha256}") {
                return Err(Error::NotAComponent {
                    path: url.clone(),
                    reason: format!(
                        "its SHA-256 is {got}, not the sha256:{sha256} given with --sha256"
                    ),
                }
                .into());
            }
            Ok(Fetched {
                bytes,
                source: Source::Url { url: url.clone() },
                signer: None,
                signers: Vec::new(),
                unsigned: Some("a URL carries no signature".into()),
            })
        }
    }
}

/// Download at most [`MAX_COMPONENT_BYTES`]. Redirects are followed (the
/// bytes are pinned by digest, wherever they come from).
async fn download(url: &str) -> anyhow::Result<Vec<u8>> {
    let refuse = |reason: String| -> anyhow::Error {
        Error::NotAComponent {
            path: url.to_string(),
            reason,
        }
        .into()
    };
    let client = reqwest::Client::builder()
        .timeout(oci::REQUEST_TIMEOUT)
        .build()
        .map_err(|e| refuse(format!("cannot start an HTTP client: {e}")))?;
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| refuse(format!("cannot fetch it: {e}")))?;
    if !response.status().is_success() {
        return Err(refuse(format!("the server answered {}", response.status())));
    }
    let too_big = || {
        refuse(format!(
            "it is over the limit of {MAX_COMPONENT_BYTES} bytes"
        ))
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_COMPONENT_BYTES as u64)
    {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| refuse(format!("it did not arrive whole: {e}")))?
    {
        if body.len() + chunk.len() > MAX_COMPONENT_BYTES {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
