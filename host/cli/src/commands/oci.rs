//! Components in OCI registries, in the standard Wasm artifact layout: an
//! OCI image manifest whose config has media type [`CONFIG_MEDIA_TYPE`] and
//! whose one layer is the component ([`LAYER_MEDIA_TYPE`]). This is what
//! `wkg oci push` writes and what `skopeo` copies unchanged.
//!
//! The manifest is fetched here, bounded and without following redirects
//! (a registry has no reason to send its manifests elsewhere); blobs are
//! fetched by `oci-client`, which handles authentication and blob redirects
//! (registries commonly send blobs to a CDN), into a bounded buffer, and
//! every blob is checked against the digest the manifest names.

use anyhow::Context as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use warden_core::Error;
use warden_core::component::MAX_COMPONENT_BYTES;

/// Media type of the config of a Wasm OCI artifact.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// Media type of the layer holding the component.
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";
/// Media type of the OCI image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Largest manifest read: a Wasm artifact's manifest is well under a
/// kilobyte; registries themselves refuse manifests over 4 MiB.
pub const MAX_MANIFEST_BYTES: usize = 256 * 1024;
/// Longest a registry request may take, connection included.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A parsed `oci://HOST/REPO:TAG` or `oci://HOST/REPO@sha256:HEX`.
#[derive(Debug, Clone)]
pub struct OciRef(pub Reference);

impl OciRef {
    /// Parse the part after `oci://`.
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let refuse = |why: String| Error::InvalidInput {
            tool: "oci reference".into(),
            reason: format!(
                "`oci://{raw}`: {why}; write oci://HOST[:PORT]/REPOSITORY:TAG or oci://HOST[:PORT]/REPOSITORY@sha256:HEX"
            ),
        };
        // Without a host, the reference would silently mean Docker Hub.
        let host = raw.split('/').next().unwrap_or_default();
        if !raw.contains('/') || !(host.contains('.') || host.contains(':') || host == "localhost")
        {
            return Err(refuse("it names no registry host".into()).into());
        }
        let reference: Reference = raw.parse().map_err(|e| refuse(format!("{e}")))?;
        if reference.tag().is_none() && reference.digest().is_none() {
            return Err(refuse("it names neither a tag nor a digest".into()).into());
        }
        Ok(OciRef(reference))
    }

    /// The same repository at `digest`.
    pub fn at(&self, digest: &str) -> Self {
        OciRef(Reference::with_digest(
            self.0.registry().to_string(),
            self.0.repository().to_string(),
            digest.to_string(),
        ))
    }

    /// The same repository at `tag`.
    pub fn tagged(&self, tag: &str) -> Self {
        OciRef(Reference::with_tag(
            self.0.registry().to_string(),
            self.0.repository().to_string(),
            tag.to_string(),
        ))
    }

    fn host(&self) -> &str {
        self.0.resolve_registry()
    }

    /// Loopback registries are spoken to in plain HTTP (as Docker does for
    /// `localhost`); every other registry only over HTTPS.
    fn scheme(&self) -> &'static str {
        if is_loopback(self.host()) {
            "http"
        } else {
            "https"
        }
    }
}

impl std::fmt::Display for OciRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "oci://{}", self.0.whole())
    }
}

/// Whether `host[:port]` is this machine.
pub fn is_loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// What was pulled: the component and the digest of the manifest that
/// named it (what a lock pins).
pub struct Pulled {
    pub bytes: Vec<u8>,
    pub manifest_digest: String,
}

/// A registry client with the user's credentials for one reference.
pub struct Registry {
    client: Client,
    http: reqwest::Client,
    auth: RegistryAuth,
}

fn refuse(what: &OciRef, reason: impl Into<String>) -> anyhow::Error {
    Error::NotAComponent {
        path: what.to_string(),
        reason: reason.into(),
    }
    .into()
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl Registry {
    /// A client for `what`'s registry, with credentials from the Docker
    /// config (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`).
    pub fn new(what: &OciRef) -> anyhow::Result<Self> {
        let host = what.host().to_string();
        let protocol = if what.scheme() == "http" {
            ClientProtocol::HttpsExcept(vec![host.clone()])
        } else {
            ClientProtocol::Https
        };
        let client = Client::new(ClientConfig {
            protocol,
            connect_timeout: Some(REQUEST_TIMEOUT),
            read_timeout: Some(REQUEST_TIMEOUT),
            // Only single components are installed; an index is refused.
            platform_resolver: None,
            ..ClientConfig::default()
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("cannot start an HTTP client")?;
        Ok(Registry {
            client,
            http,
            auth: super::credentials::for_registry(&host),
        })
    }

    /// Fetch the manifest `what` names, bounded, checking it against the
    /// digest of a `@sha256:` reference.
    pub async fn manifest(&self, what: &OciRef) -> anyhow::Result<(Vec<u8>, String)> {
        self.manifest_if_any(what)
            .await?
            .ok_or_else(|| refuse(what, "the registry has no such manifest (404 Not Found)"))
    }

    /// [`Registry::manifest`], with `None` when the registry has none.
    pub async fn manifest_if_any(
        &self,
        what: &OciRef,
    ) -> anyhow::Result<Option<(Vec<u8>, String)>> {
        let token = self
            .client
            .auth(&what.0, &self.auth, RegistryOperation::Pull)
            .await
            .map_err(|e| refuse(what, format!("the registry refused to authenticate: {e}")))?;
        let reference = what
            .0
            .digest()
            .or(what.0.tag())
            .unwrap_or("latest")
            .to_string();
        let url = format!(
            "{}://{}/v2/{}/manifests/{reference}",
            what.scheme(),
            what.host(),
            what.0.repository()
        );
        let mut request = self.http.get(&url).header(
            reqwest::header::ACCEPT,
            format!("{MANIFEST_MEDIA_TYPE}, application/vnd.oci.image.index.v1+json"),
        );
        request = match (&token, &self.auth) {
            (Some(t), _) => request.bearer_auth(t),
            (None, RegistryAuth::Basic(u, p)) => request.basic_auth(u, Some(p)),
            (None, RegistryAuth::Bearer(t)) => request.bearer_auth(t),
            (None, RegistryAuth::Anonymous) => request,
        };
        let mut response = request
            .send()
            .await
            .map_err(|e| refuse(what, format!("cannot reach the registry: {e}")))?;
        let status = response.status();
        if status.is_redirection() {
            let to = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("somewhere unnamed");
            return Err(refuse(
                what,
                format!(
                    "the registry redirected the manifest request to {}; warden fetches manifests only from the registry named",
                    warden_core::escape::escape(to)
                ),
            ));
        }
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(refuse(
                what,
                format!("the registry answered {status} for the manifest"),
            ));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_MANIFEST_BYTES as u64)
        {
            return Err(refuse(
                what,
                format!("its manifest is over the limit of {MAX_MANIFEST_BYTES} bytes"),
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| refuse(what, format!("the manifest did not arrive whole: {e}")))?
        {
            if body.len() + chunk.len() > MAX_MANIFEST_BYTES {
                return Err(refuse(
                    what,
                    format!("its manifest is over the limit of {MAX_MANIFEST_BYTES} bytes"),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let digest = sha256(&body);
        if let Some(pinned) = what.0.digest()
            && pinned != digest
        {
            return Err(refuse(
                what,
                format!(
                    "the registry sent a manifest with digest {digest}, not the pinned {pinned}"
                ),
            ));
        }
        Ok(Some((body, digest)))
    }

    /// Pull the component `what` names.
    pub async fn pull(&self, what: &OciRef) -> anyhow::Result<Pulled> {
        let (body, manifest_digest) = self.manifest(what).await?;
        let manifest: OciImageManifest = serde_json::from_slice(&body).map_err(|e| {
            refuse(
                what,
                format!("it is not an OCI image manifest (an image index or a Docker image is not a component): {e}"),
            )
        })?;
        if manifest.config.media_type != CONFIG_MEDIA_TYPE {
            return Err(refuse(
                what,
                format!(
                    "its config has media type `{}`, not `{CONFIG_MEDIA_TYPE}`: it is not a Wasm component artifact",
                    warden_core::escape::escape(&manifest.config.media_type)
                ),
            ));
        }
        let [layer] = manifest.layers.as_slice() else {
            return Err(refuse(
                what,
                format!(
                    "it has {} layers; a Wasm component artifact has exactly one",
                    manifest.layers.len()
                ),
            ));
        };
        if layer.media_type != LAYER_MEDIA_TYPE {
            return Err(refuse(
                what,
                format!(
                    "its layer has media type `{}`, not `{LAYER_MEDIA_TYPE}`",
                    warden_core::escape::escape(&layer.media_type)
                ),
            ));
        }
        // Foreign URLs in a descriptor would send the client elsewhere.
        let layer = OciDescriptor {
            urls: None,
            ..layer.clone()
        };
        let bytes = self.blob(what, &layer).await?;
        Ok(Pulled {
            bytes,
            manifest_digest,
        })
    }

    /// One blob, at most the size its descriptor states (itself at most
    /// [`MAX_COMPONENT_BYTES`]), verified against its digest.
    pub async fn blob(&self, what: &OciRef, layer: &OciDescriptor) -> anyhow::Result<Vec<u8>> {
        let size = usize::try_from(layer.size).unwrap_or(usize::MAX);
        if size > MAX_COMPONENT_BYTES {
            return Err(refuse(
                what,
                format!(
                    "its layer is {} bytes, over the limit of {MAX_COMPONENT_BYTES}",
                    layer.size
                ),
            ));
        }
        let mut out = Bounded {
            data: Vec::with_capacity(size),
            limit: size,
        };
        self.client
            .pull_blob(&what.0, layer, &mut out)
            .await
            .map_err(|e| match e {
                oci_client::errors::OciDistributionError::IoError(io)
                    if io.kind() == std::io::ErrorKind::FileTooLarge =>
                {
                    refuse(
                        what,
                        format!(
                            "the registry sent more than the {size} bytes the manifest states for layer {}",
                            layer.digest
                        ),
                    )
                }
                oci_client::errors::OciDistributionError::DigestError(d) => refuse(
                    what,
                    format!("layer {} failed its digest check: {d}", layer.digest),
                ),
                other => refuse(what, format!("cannot fetch layer {}: {other}", layer.digest)),
            })?;
        if out.data.len() != size {
            return Err(refuse(
                what,
                format!(
                    "layer {} is {} bytes, not the {size} its manifest states",
                    layer.digest,
                    out.data.len()
                ),
            ));
        }
        // oci-client checked it already; checked again here because the
        // component's integrity is the point.
        if sha256(&out.data) != layer.digest {
            return Err(refuse(
                what,
                format!("layer {} failed its digest check", layer.digest),
            ));
        }
        Ok(out.data)
    }

    /// Push `bytes` as a Wasm component artifact; returns the manifest's
    /// digest.
    pub async fn push(
        &self,
        what: &OciRef,
        bytes: &[u8],
        annotations: BTreeMap<String, String>,
    ) -> anyhow::Result<String> {
        let push_err = |step: &str, e: oci_client::errors::OciDistributionError| {
            anyhow::anyhow!("cannot push {step} to {what}: {e}")
        };
        self.client
            .auth(&what.0, &self.auth, RegistryOperation::Push)
            .await
            .map_err(|e| push_err("(authentication)", e))?;
        let layer_digest = sha256(bytes);
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "wasm",
            "os": "wasip2",
            "layerDigests": [layer_digest],
        }))?;
        let config_digest = sha256(&config);
        self.client
            .push_blob(&what.0, bytes, &layer_digest)
            .await
            .map_err(|e| push_err("the component", e))?;
        self.client
            .push_blob(&what.0, &config, &config_digest)
            .await
            .map_err(|e| push_err("the config", e))?;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": layer_digest, "size": bytes.len()}],
            "annotations": annotations,
        });
        let body = serde_json::to_vec(&manifest)?;
        let digest = sha256(&body);
        self.client
            .push_manifest_raw(
                &what.0,
                body,
                reqwest::header::HeaderValue::from_static(MANIFEST_MEDIA_TYPE),
            )
            .await
            .map_err(|e| push_err("the manifest", e))?;
        Ok(digest)
    }
}

impl Registry {
    /// Add a signature to the cosign signature manifest at `tag_ref`: a
    /// simple-signing payload layer carrying `signature` in its annotation,
    /// after the signature layers already there (as cosign does, so a
    /// second publisher's signature does not replace the first's; the same
    /// signature twice is kept once).
    pub async fn push_signature(
        &self,
        tag_ref: &OciRef,
        payload: &[u8],
        signature: &str,
    ) -> anyhow::Result<()> {
        let push_err = |step: &str, e: oci_client::errors::OciDistributionError| {
            anyhow::anyhow!("cannot push {step} to {tag_ref}: {e}")
        };
        self.client
            .auth(&tag_ref.0, &self.auth, RegistryOperation::Push)
            .await
            .map_err(|e| push_err("(authentication)", e))?;
        let payload_digest = sha256(payload);
        let new_layer = serde_json::json!({
            "mediaType": super::signing::PAYLOAD_MEDIA_TYPE,
            "digest": payload_digest,
            "size": payload.len(),
            "annotations": {super::signing::SIGNATURE_ANNOTATION: signature},
        });
        let mut layers = Vec::new();
        if let Some((body, _)) = self.manifest_if_any(tag_ref).await? {
            let existing: oci_client::manifest::OciImageManifest = serde_json::from_slice(&body)
                .map_err(|e| {
                    anyhow::anyhow!(
                        "{tag_ref} holds something that is not a signature manifest ({e}); not adding to it"
                    )
                })?;
            for layer in existing.layers {
                let signed = layer.media_type == super::signing::PAYLOAD_MEDIA_TYPE
                    && layer
                        .annotations
                        .as_ref()
                        .is_some_and(|a| a.contains_key(super::signing::SIGNATURE_ANNOTATION));
                if signed {
                    layers.push(serde_json::to_value(&layer)?);
                }
            }
        }
        if !layers.contains(&new_layer) {
            layers.push(new_layer);
        }
        if layers.len() > super::signing::MAX_SIGNATURES {
            return Err(anyhow::anyhow!(
                "{tag_ref} already holds {} signatures, the most warden reads; not adding another",
                super::signing::MAX_SIGNATURES
            ));
        }
        let diff_ids: Vec<_> = layers.iter().map(|l| l["digest"].clone()).collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))?;
        let config_digest = sha256(&config);
        self.client
            .push_blob(&tag_ref.0, payload, &payload_digest)
            .await
            .map_err(|e| push_err("the signature payload", e))?;
        self.client
            .push_blob(&tag_ref.0, &config, &config_digest)
            .await
            .map_err(|e| push_err("the signature config", e))?;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": layers,
        });
        self.client
            .push_manifest_raw(
                &tag_ref.0,
                serde_json::to_vec(&manifest)?,
                reqwest::header::HeaderValue::from_static(MANIFEST_MEDIA_TYPE),
            )
            .await
            .map_err(|e| push_err("the signature manifest", e))?;
        Ok(())
    }
}

/// A sink that refuses to grow past `limit` bytes.
struct Bounded {
    data: Vec<u8>,
    limit: usize,
}

impl tokio::io::AsyncWrite for Bounded {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.data.len() + buf.len() > self.limit {
            return std::task::Poll::Ready(Err(std::io::ErrorKind::FileTooLarge.into()));
        }
        self.data.extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
