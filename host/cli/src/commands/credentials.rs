//! Registry credentials from the Docker config, as `docker login`, `skopeo
//! login` and `wkg` leave them: `$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`, entry `auths.<host>.auth` = base64 of
//! `user:password`. Credential helpers are not run (warden runs no program
//! it was not granted); without an entry, access is anonymous.

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use std::path::PathBuf;

/// Largest Docker config read.
pub const MAX_DOCKER_CONFIG_BYTES: u64 = 1024 * 1024;

fn config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir).join("config.json")),
        _ => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json")),
    }
}

/// The credentials for `host` (`HOST[:PORT]`), or anonymous.
pub fn for_registry(host: &str) -> RegistryAuth {
    let Some(path) = config_path() else {
        return RegistryAuth::Anonymous;
    };
    let text = match warden_core::configfile::read_text(&path, MAX_DOCKER_CONFIG_BYTES) {
        Ok(Some(t)) => t,
        Ok(None) => return RegistryAuth::Anonymous,
        Err(e) => {
            tracing::warn!("ignoring {}: {e}", path.display());
            return RegistryAuth::Anonymous;
        }
    };
    parse(&text, host).unwrap_or(RegistryAuth::Anonymous)
}

fn parse(text: &str, host: &str) -> Option<RegistryAuth> {
    let config: serde_json::Value = serde_json::from_str(text).ok()?;
    let auths = config.get("auths")?.as_object()?;
    // Docker keys Docker Hub and some others by URL.
    let entry = auths.get(host).or_else(|| {
        auths
            .iter()
            .find(|(k, _)| {
                k.trim_start_matches("https://")
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .split('/')
                    .next()
                    == Some(host)
            })
            .map(|(_, v)| v)
    })?;
    if let Some(token) = entry.get("registrytoken").and_then(|t| t.as_str()) {
        return Some(RegistryAuth::Bearer(token.to_string()));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(entry.get("auth")?.as_str()?)
        .ok()?;
    let (user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some(RegistryAuth::Basic(user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_basic_auth_by_host_or_url() {
        let text = r#"{"auths":{"reg.example:5000":{"auth":"YWxpY2U6czNjcmV0"},"https://index.docker.io/v1/":{"auth":"Ym9iOnB3"}}}"#;
        assert_eq!(
            parse(text, "reg.example:5000"),
            Some(RegistryAuth::Basic("alice".into(), "s3cret".into()))
        );
        assert_eq!(
            parse(text, "index.docker.io"),
            Some(RegistryAuth::Basic("bob".into(), "pw".into()))
        );
        assert_eq!(parse(text, "other.example"), None);
        assert_eq!(parse("not json", "reg.example:5000"), None);
    }
}
