//! The `commit` tool: record the staged changes.
//!
//! The identity goes through the environment, not `-c user.name=…` (which
//! would be a global option before the subcommand), and defaults to warden's
//! own so that a commit works without any git configuration.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_sdk::ToolError;

use crate::capture;

/// Name used when none is given.
pub const DEFAULT_NAME: &str = "warden";
/// Email used when none is given.
pub const DEFAULT_EMAIL: &str = "warden@localhost";
/// Longest commit message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Longest name or email, in bytes.
pub const MAX_IDENT_BYTES: usize = 256;
/// Most bytes of git's report returned.
pub const MAX_SUMMARY_BYTES: usize = 4 * 1024;

/// The arguments of the invocation that reads back the new commit's hash.
pub const REV_PARSE_ARGS: [&str; 3] = ["rev-parse", "--verify", "HEAD"];

/// The commit to make from what is staged.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitInput {
    /// The commit message: a subject line, optionally a blank line and a body.
    pub message: String,
    /// Author and committer name; defaults to "warden".
    pub author_name: Option<String>,
    /// Author and committer email; defaults to "warden@localhost".
    pub author_email: Option<String>,
}

/// The commit made.
#[derive(Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct CommitOutput {
    /// Full hash of the new commit (`null` if it could not be read back).
    pub hash: Option<String>,
    /// git's report, e.g. `[main 1a2b3c4] Fix parser` and the file counts.
    pub summary: String,
}

/// The git arguments for `input`. Hooks are neutralised by the host;
/// `--no-verify` and `--no-gpg-sign` also keep repository configuration from
/// running hook or signing programs.
pub fn args(input: &CommitInput) -> Result<Vec<String>, ToolError> {
    let message = &input.message;
    if message.trim().is_empty() {
        return Err(ToolError::invalid("message is empty"));
    }
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(ToolError::invalid(format!(
            "message is longer than {MAX_MESSAGE_BYTES} bytes"
        )));
    }
    if message.contains('\0') {
        return Err(ToolError::invalid("message contains a NUL byte"));
    }
    Ok(vec![
        "commit".into(),
        "--no-verify".into(),
        "--no-gpg-sign".into(),
        "-m".into(),
        message.clone(),
    ])
}

/// The identity variables for `input`.
pub fn env(input: &CommitInput) -> Result<Vec<(String, String)>, ToolError> {
    let name = ident("author_name", input.author_name.as_deref(), DEFAULT_NAME)?;
    let email = ident("author_email", input.author_email.as_deref(), DEFAULT_EMAIL)?;
    Ok(vec![
        ("GIT_AUTHOR_NAME".into(), name.clone()),
        ("GIT_AUTHOR_EMAIL".into(), email.clone()),
        ("GIT_COMMITTER_NAME".into(), name),
        ("GIT_COMMITTER_EMAIL".into(), email),
    ])
}

fn ident(field: &str, given: Option<&str>, default: &str) -> Result<String, ToolError> {
    let Some(value) = given else {
        return Ok(default.to_string());
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(ToolError::invalid(format!(
            "{field} is empty; leave it out to use the default"
        )));
    }
    if value.len() > MAX_IDENT_BYTES {
        return Err(ToolError::invalid(format!(
            "{field} is longer than {MAX_IDENT_BYTES} bytes"
        )));
    }
    // git would silently strip `<`, `>` and newlines from an identity.
    if value
        .chars()
        .any(|c| c.is_control() || c == '<' || c == '>')
    {
        return Err(ToolError::invalid(format!(
            "{field} may not contain `<`, `>` or control characters"
        )));
    }
    Ok(value.to_string())
}

/// Assemble the answer from `git commit`'s and `git rev-parse`'s output.
pub fn output(commit_stdout: &[u8], rev_parse_stdout: Option<&[u8]>) -> CommitOutput {
    let hash = rev_parse_stdout
        .map(|s| String::from_utf8_lossy(s).trim().to_string())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()));
    let summary = String::from_utf8_lossy(commit_stdout).trim().to_string();
    CommitOutput {
        hash,
        summary: capture::clip(summary, MAX_SUMMARY_BYTES),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn input(json: &str) -> CommitInput {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn message_is_one_argument_after_the_subcommand() {
        let args = args(&input(r#"{"message": "-rf: fix\n\nbody with \"quotes\""}"#)).unwrap();
        assert_eq!(
            args,
            [
                "commit",
                "--no-verify",
                "--no-gpg-sign",
                "-m",
                "-rf: fix\n\nbody with \"quotes\""
            ]
        );
    }

    #[test]
    fn bad_messages_are_refused() {
        for bad in [r#""""#, r#"" \n ""#, r#""a\u0000b""#] {
            let json = format!(r#"{{"message": {bad}}}"#);
            assert!(
                matches!(args(&input(&json)), Err(ToolError::InvalidInput(_))),
                "{bad}"
            );
        }
        let long = serde_json::json!({ "message": "m".repeat(MAX_MESSAGE_BYTES + 1) });
        assert!(args(&serde_json::from_value(long).unwrap()).is_err());
    }

    #[test]
    fn default_identity() {
        let env = env(&input(r#"{"message": "m"}"#)).unwrap();
        assert_eq!(
            env,
            [
                ("GIT_AUTHOR_NAME".to_string(), "warden".to_string()),
                ("GIT_AUTHOR_EMAIL".into(), "warden@localhost".into()),
                ("GIT_COMMITTER_NAME".into(), "warden".into()),
                ("GIT_COMMITTER_EMAIL".into(), "warden@localhost".into()),
            ]
        );
    }

    #[test]
    fn given_identity_is_author_and_committer() {
        let env = env(&input(
            r#"{"message": "m", "author_name": " Ada Lovelace ", "author_email": "ada@example.com"}"#,
        ))
        .unwrap();
        assert_eq!(env[0].1, "Ada Lovelace");
        assert_eq!(env[2].1, "Ada Lovelace");
        assert_eq!(env[1].1, "ada@example.com");
        assert_eq!(env[3].1, "ada@example.com");
        // Only one given: the other keeps its default.
        let env = crate::commit::env(&input(r#"{"message": "m", "author_name": "Ada"}"#)).unwrap();
        assert_eq!(
            (env[0].1.as_str(), env[1].1.as_str()),
            ("Ada", DEFAULT_EMAIL)
        );
    }

    #[test]
    fn bad_identities_are_refused() {
        for (field, value) in [
            ("author_name", ""),
            ("author_name", "a <b>"),
            ("author_email", "x@y\nz"),
            ("author_email", "a\u{0}"),
        ] {
            let json = serde_json::json!({ "message": "m", field: value });
            let input: CommitInput = serde_json::from_value(json).unwrap();
            assert!(
                matches!(env(&input), Err(ToolError::InvalidInput(m)) if m.contains(field)),
                "{field}={value:?}"
            );
        }
    }

    #[test]
    fn output_reads_the_hash_back() {
        let out = output(
            b"[main 1a2b3c4] fix\n 1 file changed, 1 insertion(+)\n",
            Some(b"1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d\n"),
        );
        assert_eq!(
            out,
            CommitOutput {
                hash: Some("1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d".into()),
                summary: "[main 1a2b3c4] fix\n 1 file changed, 1 insertion(+)".into(),
            }
        );
        assert_eq!(output(b"x", None).hash, None);
        assert_eq!(output(b"x", Some(b"fatal: bad\n")).hash, None);
    }
}
