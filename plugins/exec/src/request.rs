//! The `run` tool's input, checked before anything is started.
//!
//! The host enforces the grant (program, argv pattern, env keys, cwd inside
//! the file grants); these checks only turn malformed input into an
//! `InvalidInput` that tells the model what to fix.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use schemars::JsonSchema;
use serde::Deserialize;
use warden_sdk::ToolError;

/// Most arguments in one command, program included.
pub const MAX_ARGS: usize = 1024;
/// Most bytes of all arguments together.
pub const MAX_ARGV_BYTES: usize = 128 * 1024;
/// Most environment variables set for one command.
pub const MAX_ENV_VARS: usize = 32;
/// Longest environment value, in bytes.
pub const MAX_ENV_VALUE_BYTES: usize = 4096;
/// Longest `cwd`, in bytes.
pub const MAX_CWD_BYTES: usize = 4096;
/// Largest `timeout_ms`: the call limit this plugin's manifest asks for. A
/// command cannot outlive its call, and the user may grant less.
pub const MAX_TIMEOUT_MS: u64 = 900_000;

/// Run one program with arguments, without a shell.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunInput {
    /// The program then its arguments, e.g. `["cargo", "test", "-p", "fs"]`.
    /// Passed as a list: quotes, `*`, `$VAR`, `&&` and pipes have no
    /// special meaning.
    pub cmd: Vec<String>,
    /// Directory to run in, relative to the workspace root. Defaults to the
    /// root.
    pub cwd: Option<String>,
    /// Wall-time limit in milliseconds (at most 900000, and at most what the
    /// user granted).
    #[schemars(range(min = 1, max = 900_000))]
    pub timeout_ms: Option<u64>,
    /// Environment variables to set; only keys granted for the program are
    /// accepted (e.g. `RUST_BACKTRACE` for cargo).
    pub env: Option<BTreeMap<String, String>>,
}

/// Check everything the host would otherwise refuse with a less helpful
/// message.
pub fn validate(input: &RunInput) -> Result<(), ToolError> {
    let Some(program) = input.cmd.first() else {
        return Err(ToolError::invalid(
            "cmd is empty; give the program then its arguments, e.g. [\"cargo\", \"test\"]",
        ));
    };
    if program.is_empty() {
        return Err(ToolError::invalid("cmd[0], the program, is empty"));
    }
    if input.cmd.len() > MAX_ARGS {
        return Err(ToolError::invalid(format!(
            "cmd has {} entries; at most {MAX_ARGS} are accepted",
            input.cmd.len()
        )));
    }
    if input.cmd.iter().map(String::len).sum::<usize>() > MAX_ARGV_BYTES {
        return Err(ToolError::invalid(format!(
            "cmd is longer than {MAX_ARGV_BYTES} bytes"
        )));
    }
    if let Some(i) = input.cmd.iter().position(|a| a.contains('\0')) {
        return Err(ToolError::invalid(format!("cmd[{i}] contains a NUL byte")));
    }
    if let Some(cwd) = &input.cwd {
        check_cwd(cwd)?;
    }
    match input.timeout_ms {
        Some(0) => return Err(ToolError::invalid("timeout_ms must be at least 1")),
        Some(ms) if ms > MAX_TIMEOUT_MS => {
            return Err(ToolError::invalid(format!(
                "timeout_ms is {ms}; at most {MAX_TIMEOUT_MS} is allowed"
            )));
        }
        _ => {}
    }
    if let Some(env) = &input.env {
        check_env(env)?;
    }
    Ok(())
}

fn check_cwd(cwd: &str) -> Result<(), ToolError> {
    if cwd.is_empty() {
        return Err(ToolError::invalid(
            "cwd is empty; leave it out or use \".\" for the workspace root",
        ));
    }
    if cwd.len() > MAX_CWD_BYTES {
        return Err(ToolError::invalid(format!(
            "cwd is longer than {MAX_CWD_BYTES} bytes"
        )));
    }
    if cwd.contains('\0') {
        return Err(ToolError::invalid("cwd contains a NUL byte"));
    }
    for part in Path::new(cwd).components() {
        match part {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => {
                return Err(ToolError::invalid(format!(
                    "cwd {cwd:?} contains `..`; name the directory relative to the workspace root"
                )));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(ToolError::invalid(format!(
                    "cwd {cwd:?} is absolute; give it relative to the workspace root"
                )));
            }
        }
    }
    Ok(())
}

fn check_env(env: &BTreeMap<String, String>) -> Result<(), ToolError> {
    if env.len() > MAX_ENV_VARS {
        return Err(ToolError::invalid(format!(
            "env has {} variables; at most {MAX_ENV_VARS} are accepted",
            env.len()
        )));
    }
    for (key, value) in env {
        let name_ok = (1..=128).contains(&key.len())
            && !key.starts_with(|c: char| c.is_ascii_digit())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok {
            return Err(ToolError::invalid(format!(
                "env key {key:?} is not a variable name (letters, digits, `_`)"
            )));
        }
        if value.contains('\0') {
            return Err(ToolError::invalid(format!(
                "env value of {key} contains a NUL byte"
            )));
        }
        if value.len() > MAX_ENV_VALUE_BYTES {
            return Err(ToolError::invalid(format!(
                "env value of {key} is longer than {MAX_ENV_VALUE_BYTES} bytes"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn input(json: &str) -> RunInput {
        serde_json::from_str(json).unwrap()
    }

    fn refusal(json: &str) -> String {
        match validate(&input(json)) {
            Err(ToolError::InvalidInput(m)) => m,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn accepts_a_plain_command() {
        validate(&input(r#"{"cmd": ["cargo", "test"]}"#)).unwrap();
        validate(&input(
            r#"{"cmd": ["make"], "cwd": "./sub/dir", "timeout_ms": 900000,
                "env": {"RUST_BACKTRACE": "1"}}"#,
        ))
        .unwrap();
    }

    #[test]
    fn unknown_fields_are_refused_when_decoding() {
        assert!(serde_json::from_str::<RunInput>(r#"{"cmd": ["ls"], "shell": true}"#).is_err());
    }

    #[test]
    fn empty_cmd_is_invalid() {
        assert!(refusal(r#"{"cmd": []}"#).contains("cmd is empty"));
        assert!(refusal(r#"{"cmd": [""]}"#).contains("program"));
    }

    #[test]
    fn nul_in_any_argument_is_invalid() {
        assert_eq!(
            refusal(r#"{"cmd": ["cargo", "test", "a\u0000b"]}"#),
            "cmd[2] contains a NUL byte"
        );
        assert!(refusal(r#"{"cmd": ["car\u0000go"]}"#).contains("cmd[0]"));
    }

    #[test]
    fn oversized_argv_is_invalid() {
        let many = vec!["x".to_string(); MAX_ARGS + 1];
        let json = serde_json::json!({ "cmd": many }).to_string();
        assert!(refusal(&json).contains("entries"));
        let long = "x".repeat(MAX_ARGV_BYTES + 1);
        let json = serde_json::json!({ "cmd": ["make", long] }).to_string();
        assert!(refusal(&json).contains("bytes"));
    }

    #[test]
    fn cwd_must_stay_relative_to_the_workspace() {
        assert!(refusal(r#"{"cmd": ["make"], "cwd": "/etc"}"#).contains("absolute"));
        assert!(refusal(r#"{"cmd": ["make"], "cwd": "a/../../b"}"#).contains(".."));
        assert!(refusal(r#"{"cmd": ["make"], "cwd": ""}"#).contains("empty"));
        assert!(refusal(r#"{"cmd": ["make"], "cwd": "a\u0000"}"#).contains("NUL"));
    }

    #[test]
    fn timeout_must_be_in_range() {
        assert!(refusal(r#"{"cmd": ["make"], "timeout_ms": 0}"#).contains("at least 1"));
        assert!(refusal(r#"{"cmd": ["make"], "timeout_ms": 900001}"#).contains("900000"));
    }

    #[test]
    fn env_keys_and_values_are_checked() {
        assert!(refusal(r#"{"cmd": ["make"], "env": {"A=B": "1"}}"#).contains("not a variable"));
        assert!(refusal(r#"{"cmd": ["make"], "env": {"": "1"}}"#).contains("not a variable"));
        assert!(refusal(r#"{"cmd": ["make"], "env": {"1X": "1"}}"#).contains("not a variable"));
        assert!(refusal(r#"{"cmd": ["make"], "env": {"X": "a\u0000"}}"#).contains("NUL"));
    }
}
