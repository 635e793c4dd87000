//! The `show` tool: one commit (or other object) with stat and patch.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_sdk::ToolError;

use crate::capture::{self, MAX_TEXT_BYTES};
use crate::validate;

/// What to show.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShowInput {
    /// A revision: `HEAD`, `HEAD~2`, a hash, a branch or tag, or
    /// `REV:path` for a file as of that revision.
    pub rev: String,
}

/// git's description of the object.
#[derive(Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct ShowOutput {
    /// The revision asked for.
    pub rev: String,
    /// Header, message, diffstat and patch.
    pub text: String,
    /// Bytes git printed (as captured).
    pub bytes: usize,
    /// The text was cut at 128 KiB (or at the host's output limit).
    pub truncated: bool,
}

/// The git arguments for `input`. The `--` after the revision makes git
/// read it as a revision, never as a path.
pub fn args(input: &ShowInput) -> Result<Vec<String>, ToolError> {
    validate::rev(&input.rev)?;
    let mut args: Vec<String> = [
        "show",
        "--no-ext-diff",
        "--no-textconv",
        "--no-color",
        "--no-show-signature",
        "--stat",
        "--patch",
    ]
    .map(String::from)
    .into();
    args.push(input.rev.clone());
    args.push("--".into());
    Ok(args)
}

/// Bound git's output.
pub fn output(rev: String, stdout: &[u8], host_truncated: bool) -> ShowOutput {
    let head = capture::head(stdout, MAX_TEXT_BYTES);
    ShowOutput {
        rev,
        text: head.text,
        bytes: stdout.len(),
        truncated: head.truncated || host_truncated,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn show(rev: &str) -> ShowInput {
        ShowInput { rev: rev.into() }
    }

    #[test]
    fn revision_comes_before_the_separator() {
        let args = args(&show("HEAD~1")).unwrap();
        assert_eq!(args[0], "show");
        assert_eq!(&args[args.len() - 2..], ["HEAD~1", "--"]);
        assert!(args.contains(&"--no-ext-diff".to_string()));
        assert!(args.contains(&"--no-textconv".to_string()));
    }

    #[test]
    fn option_like_revisions_are_refused() {
        for bad in ["-p", "--output=/tmp/x", ""] {
            assert!(matches!(args(&show(bad)), Err(ToolError::InvalidInput(_))));
        }
    }

    #[test]
    fn output_is_bounded() {
        let out = output(
            "HEAD".into(),
            "x\n".repeat(MAX_TEXT_BYTES).as_bytes(),
            false,
        );
        assert!(out.truncated && out.text.len() <= MAX_TEXT_BYTES);
        assert_eq!(out.bytes, 2 * MAX_TEXT_BYTES);
        let out = output("HEAD".into(), b"commit abc\n", false);
        assert_eq!((out.text.as_str(), out.truncated), ("commit abc\n", false));
    }
}
