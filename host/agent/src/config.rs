//! Which model to talk to: a profile from `config.toml`, or the usual
//! environment variables. With neither, the error says exactly how to set
//! one up; warden never pretends to have a model.

use super::provider::{Endpoint, Kind};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Largest config file read.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;

pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com/v1";
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-5";
pub const DEFAULT_ANTHROPIC_MODEL: &str = "claude-sonnet-4-5";

/// `config.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    default_profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// One `[profiles.NAME]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    /// `chat`, `responses` or `anthropic`.
    provider: String,
    base_url: Option<String>,
    model: Option<String>,
    /// The environment variable holding the API key (never the key itself).
    api_key_env: Option<String>,
    max_output_tokens: Option<u32>,
    /// The model's context window in tokens.
    context_window: Option<u64>,
}

/// Why no model could be chosen.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}", not_configured(.path))]
    NotConfigured { path: String },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

fn not_configured(path: &str) -> String {
    format!(
        "no model is configured. warden needs one of:
  - a local OpenAI-compatible server, e.g. Ollama (`ollama serve`, `ollama pull qwen2.5-coder`):
      export OPENAI_BASE_URL=http://127.0.0.1:11434/v1 WARDEN_MODEL=qwen2.5-coder
    (llama.cpp server, vLLM and LM Studio work the same way with their own URL)
  - OpenAI: export OPENAI_API_KEY=... (optionally WARDEN_MODEL, default {DEFAULT_OPENAI_MODEL})
  - Anthropic: export ANTHROPIC_API_KEY=... (optionally WARDEN_MODEL, default {DEFAULT_ANTHROPIC_MODEL})
  - or a profile in {path}:
      default_profile = \"local\"
      [profiles.local]
      provider = \"chat\"            # chat | responses | anthropic
      base_url = \"http://127.0.0.1:11434/v1\"
      model = \"qwen2.5-coder\"
      # api_key_env = \"MY_KEY_VAR\"  # the variable holding the key, if one is needed"
    )
}

/// Choose the endpoint: `profile` (from `--profile` or `WARDEN_PROFILE`),
/// else the file's `default_profile`, else the environment.
/// `model` (from `--model`) overrides the chosen model.
pub fn resolve(
    path: &Path,
    profile: Option<&str>,
    model: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Endpoint, ConfigError> {
    let shown = path.display().to_string();
    let invalid = |reason: String| ConfigError::Invalid {
        path: shown.clone(),
        reason,
    };
    let file = read(path).map_err(invalid)?;
    let profile = profile
        .map(str::to_string)
        .or_else(|| env("WARDEN_PROFILE").filter(|p| !p.is_empty()))
        .or(file.default_profile.clone());
    let mut endpoint = match profile {
        Some(name) => {
            let p = file.profiles.get(&name).ok_or_else(|| {
                let known: Vec<&str> = file.profiles.keys().map(String::as_str).collect();
                invalid(format!(
                    "no profile `{name}` (profiles: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ))
            })?;
            from_profile(&name, p, env).map_err(invalid)?
        }
        None => from_env(env)
            .map_err(|reason| ConfigError::Invalid {
                path: "environment".into(),
                reason,
            })?
            .ok_or(ConfigError::NotConfigured {
                path: shown.clone(),
            })?,
    };
    if let Some(m) = model {
        endpoint.model = m.to_string();
    }
    // The environment sets the window only where the profile does not.
    if endpoint.context_window.is_none()
        && let Some(w) = env("WARDEN_CONTEXT_WINDOW").filter(|w| !w.trim().is_empty())
    {
        let n = w.trim().parse::<u64>().map_err(|_| ConfigError::Invalid {
            path: "environment".into(),
            reason: format!("WARDEN_CONTEXT_WINDOW=`{w}` is not a number of tokens"),
        })?;
        endpoint.context_window = Some(n);
    }
    if let Some(w) = endpoint.context_window
        && w < crate::context::MIN_WINDOW
    {
        return Err(invalid(format!(
            "a context window of {w} tokens is too small (at least {})",
            crate::context::MIN_WINDOW
        )));
    }
    if endpoint.model.is_empty() {
        return Err(invalid(
            "no model is named: set `model` in the profile, WARDEN_MODEL, or pass --model".into(),
        ));
    }
    check_url(&endpoint).map_err(invalid)?;
    Ok(endpoint)
}

fn read(path: &Path) -> Result<File, String> {
    // Never waits on a FIFO or device planted at the config path.
    let text = match warden_core::configfile::read_bounded(path, MAX_CONFIG_BYTES as u64) {
        Ok(Some(bytes)) => String::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?,
        Ok(None) => return Ok(File::default()),
        Err(e) => return Err(e.to_string()),
    };
    toml::from_str(&text).map_err(|e| format!("invalid config: {}", e.message()))
}

fn from_profile(
    name: &str,
    p: &Profile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Endpoint, String> {
    let kind = Kind::parse(&p.provider).ok_or_else(|| {
        format!(
            "profile `{name}`: unknown provider `{}` (use chat, responses or anthropic)",
            p.provider
        )
    })?;
    let default_base = match kind {
        Kind::Anthropic => ANTHROPIC_BASE_URL,
        Kind::Chat | Kind::Responses => OPENAI_BASE_URL,
    };
    let base_url = p
        .base_url
        .clone()
        .unwrap_or_else(|| default_base.to_string());
    // A key is only sent where the profile says where it is, or to the
    // provider's own service: never an OpenAI key to some other server.
    let key_env = p
        .api_key_env
        .clone()
        .or_else(|| (base_url == default_base).then(|| default_key_env(kind).to_string()));
    let api_key = match &key_env {
        Some(var) => {
            let key = env(var).filter(|k| !k.is_empty());
            if key.is_none() && p.api_key_env.is_some() {
                return Err(format!(
                    "profile `{name}` takes its API key from ${var}, which is not set"
                ));
            }
            key
        }
        None => None,
    };
    Ok(Endpoint {
        kind,
        base_url,
        model: p
            .model
            .clone()
            .unwrap_or_else(|| default_model(kind).to_string()),
        api_key,
        key_source: key_env.map_or_else(
            || format!("`api_key_env` in profile `{name}`"),
            |v| format!("${v}"),
        ),
        max_output_tokens: p.max_output_tokens,
        context_window: p.context_window,
    })
}

fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Endpoint>, String> {
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let kind = match get("WARDEN_PROVIDER") {
        Some(name) => Kind::parse(&name).ok_or_else(|| {
            format!("WARDEN_PROVIDER=`{name}` is not chat, responses or anthropic")
        })?,
        None if get("ANTHROPIC_API_KEY").is_some() => Kind::Anthropic,
        None if get("OPENAI_BASE_URL").is_some() => Kind::Chat,
        None if get("OPENAI_API_KEY").is_some() => Kind::Responses,
        None => return Ok(None),
    };
    let (base_var, key_var, model_var, default_base) = match kind {
        Kind::Anthropic => (
            "ANTHROPIC_BASE_URL",
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_MODEL",
            ANTHROPIC_BASE_URL,
        ),
        Kind::Chat | Kind::Responses => (
            "OPENAI_BASE_URL",
            "OPENAI_API_KEY",
            "OPENAI_MODEL",
            OPENAI_BASE_URL,
        ),
    };
    let base_url = get(base_var).unwrap_or_else(|| default_base.to_string());
    let model = get("WARDEN_MODEL").or_else(|| get(model_var));
    let model = match (model, kind, base_url == default_base) {
        (Some(m), _, _) => m,
        // The provider's own service has a sensible default; a local server
        // serves whatever was pulled, so it must be named.
        (None, _, true) => default_model(kind).to_string(),
        (None, _, false) => {
            return Err(format!(
                "{base_var} points at {base_url} but no model is named: set WARDEN_MODEL (e.g. WARDEN_MODEL=qwen2.5-coder for Ollama)"
            ));
        }
    };
    Ok(Some(Endpoint {
        kind,
        base_url,
        model,
        api_key: get(key_var),
        key_source: format!("${key_var}"),
        max_output_tokens: None,
        context_window: None,
    }))
}

fn default_key_env(kind: Kind) -> &'static str {
    match kind {
        Kind::Anthropic => "ANTHROPIC_API_KEY",
        Kind::Chat | Kind::Responses => "OPENAI_API_KEY",
    }
}

fn default_model(kind: Kind) -> &'static str {
    match kind {
        Kind::Anthropic => DEFAULT_ANTHROPIC_MODEL,
        Kind::Chat | Kind::Responses => DEFAULT_OPENAI_MODEL,
    }
}

/// The base URL must be HTTP(S); an API key is never sent in clear text
/// beyond this machine.
fn check_url(e: &Endpoint) -> Result<(), String> {
    let url = reqwest::Url::parse(&e.base_url)
        .map_err(|err| format!("base URL `{}` is not a URL: {err}", e.base_url))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = url.host_str().unwrap_or_default();
            let loopback = host == "localhost"
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if e.api_key.is_some() && !loopback {
                Err(format!(
                    "refusing to send an API key over plain HTTP to {}: use https, or a server on this machine",
                    e.base_url
                ))
            } else {
                Ok(())
            }
        }
        other => Err(format!(
            "base URL `{}` has scheme `{other}`; use http or https",
            e.base_url
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn with_file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn nothing_configured_says_how() {
        let err =
            resolve(Path::new("/nonexistent/config.toml"), None, None, &env(&[])).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("OPENAI_BASE_URL=http://127.0.0.1:11434/v1"),
            "{msg}"
        );
        assert!(msg.contains("ANTHROPIC_API_KEY"), "{msg}");
        assert!(msg.contains("/nonexistent/config.toml"), "{msg}");
    }

    #[test]
    fn environment_picks_the_provider() {
        let none = Path::new("/nonexistent");
        let e = resolve(none, None, None, &env(&[("OPENAI_API_KEY", "sk")])).unwrap();
        assert_eq!(
            (e.kind, e.model.as_str()),
            (Kind::Responses, DEFAULT_OPENAI_MODEL)
        );
        assert_eq!(e.api_key.as_deref(), Some("sk"));
        let e = resolve(none, None, None, &env(&[("ANTHROPIC_API_KEY", "a")])).unwrap();
        assert_eq!(e.kind, Kind::Anthropic);
        assert_eq!(e.base_url, ANTHROPIC_BASE_URL);
        let vars = [
            ("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1"),
            ("WARDEN_MODEL", "qwen"),
        ];
        let e = resolve(none, None, None, &env(&vars)).unwrap();
        assert_eq!(
            (e.kind, e.model.as_str(), e.api_key.is_none()),
            (Kind::Chat, "qwen", true)
        );
        let msg = resolve(none, None, None, &env(&vars[..1]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("set WARDEN_MODEL"), "{msg}");
        let msg = resolve(none, None, None, &env(&[("WARDEN_PROVIDER", "gemini")]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("is not chat, responses or anthropic"), "{msg}");
    }

    #[test]
    fn profiles_name_where_the_key_is() {
        let f = with_file(
            "default_profile = \"local\"\n[profiles.local]\nprovider = \"chat\"\nbase_url = \"http://localhost:8080/v1\"\nmodel = \"m\"\n\
             [profiles.remote]\nprovider = \"chat\"\nbase_url = \"http://example.com/v1\"\nmodel = \"m\"\napi_key_env = \"K\"\n",
        );
        let e = resolve(f.path(), None, None, &env(&[("OPENAI_API_KEY", "leak")])).unwrap();
        assert_eq!(e.base_url, "http://localhost:8080/v1");
        assert!(
            e.api_key.is_none(),
            "the OpenAI key is not sent to another server"
        );
        let msg = resolve(f.path(), Some("remote"), None, &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("takes its API key from $K, which is not set"),
            "{msg}"
        );
        let msg = resolve(f.path(), Some("remote"), None, &env(&[("K", "v")]))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("refusing to send an API key over plain HTTP"),
            "{msg}"
        );
        let msg = resolve(f.path(), Some("nope"), None, &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("no profile `nope` (profiles: local, remote)"),
            "{msg}"
        );
        let e = resolve(f.path(), None, Some("other"), &env(&[])).unwrap();
        assert_eq!(e.model, "other");
    }

    #[test]
    fn bad_files_are_refused_clearly() {
        let f = with_file("[profiles.x]\nprovider = \"chat\"\napi_key = \"sk-inline\"\n");
        let msg = resolve(f.path(), Some("x"), None, &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("unknown field `api_key`"), "{msg}");
        let f = with_file("[profiles.x]\nprovider = \"gemini\"\n");
        let msg = resolve(f.path(), Some("x"), None, &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("unknown provider `gemini`"), "{msg}");
    }
}
