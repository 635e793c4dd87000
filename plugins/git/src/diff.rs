//! The `diff` tool: unstaged or staged changes as a unified diff.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_sdk::ToolError;

use crate::capture::{self, MAX_TEXT_BYTES};
use crate::validate;

/// Most context lines around each change.
pub const MAX_CONTEXT: u32 = 10_000;

/// Which changes to show.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiffInput {
    /// Show staged changes (index against HEAD) instead of unstaged ones
    /// (working tree against index).
    #[serde(default)]
    pub staged: bool,
    /// Limit the diff to these paths (relative to the repository root).
    #[serde(default)]
    pub paths: Vec<String>,
    /// Lines of context around each change (git's default is 3).
    #[schemars(range(max = 10_000))]
    pub context: Option<u32>,
}

/// The diff, possibly cut short.
#[derive(Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct DiffOutput {
    /// Unified diff text; empty when there are no changes.
    pub diff: String,
    /// Bytes git printed (as captured).
    pub bytes: usize,
    /// The diff was cut at 128 KiB (or at the host's output limit); narrow
    /// it with `paths`.
    pub truncated: bool,
}

/// The git arguments for `input`.
pub fn args(input: &DiffInput) -> Result<Vec<String>, ToolError> {
    validate::paths(&input.paths)?;
    let mut args: Vec<String> = ["diff", "--no-ext-diff", "--no-textconv", "--no-color"]
        .map(String::from)
        .into();
    if input.staged {
        args.push("--cached".into());
    }
    if let Some(n) = input.context {
        if n > MAX_CONTEXT {
            return Err(ToolError::invalid(format!(
                "context is {n}; at most {MAX_CONTEXT} lines are allowed"
            )));
        }
        args.push(format!("-U{n}"));
    }
    args.push("--".into());
    args.extend(input.paths.iter().cloned());
    Ok(args)
}

/// Bound git's output.
pub fn output(stdout: &[u8], host_truncated: bool) -> DiffOutput {
    let head = capture::head(stdout, MAX_TEXT_BYTES);
    DiffOutput {
        diff: head.text,
        bytes: stdout.len(),
        truncated: head.truncated || host_truncated,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn input(json: &str) -> DiffInput {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn default_diff() {
        assert_eq!(
            args(&input("{}")).unwrap(),
            ["diff", "--no-ext-diff", "--no-textconv", "--no-color", "--"]
        );
    }

    #[test]
    fn staged_context_and_paths() {
        assert_eq!(
            args(&input(
                r#"{"staged": true, "context": 0, "paths": ["src", "a b"]}"#
            ))
            .unwrap(),
            [
                "diff",
                "--no-ext-diff",
                "--no-textconv",
                "--no-color",
                "--cached",
                "-U0",
                "--",
                "src",
                "a b"
            ]
        );
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(args(&input(r#"{"paths": ["--output=x"]}"#)).is_err());
        assert!(args(&input(r#"{"context": 10001}"#)).is_err());
        assert!(serde_json::from_str::<DiffInput>(r#"{"ext_diff": true}"#).is_err());
    }

    #[test]
    fn long_diffs_are_cut_on_a_line() {
        let diff = "+line\n".repeat(MAX_TEXT_BYTES);
        let out = output(diff.as_bytes(), false);
        assert!(out.truncated);
        assert_eq!(out.bytes, diff.len());
        assert!(out.diff.len() <= MAX_TEXT_BYTES && out.diff.ends_with("+line\n"));
        assert!(output(b"", true).truncated);
        assert!(!output(b"", false).truncated);
    }
}
