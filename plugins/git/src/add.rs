//! The `add` tool: stage paths for the next commit.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_sdk::ToolError;

use crate::validate;

/// Most staged paths listed in the answer.
pub const MAX_LISTED: usize = 1000;
/// Most bytes of listed paths in all.
pub const MAX_LISTED_BYTES: usize = 128 * 1024;

/// What to stage.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddInput {
    /// Files or directories to stage, relative to the repository root
    /// (at least one; `.` stages everything). Deleted files are staged as
    /// removals.
    pub paths: Vec<String>,
}

/// What git staged.
#[derive(Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct AddOutput {
    /// Paths whose new content was staged.
    pub added: Vec<String>,
    /// Paths staged for removal.
    pub removed: Vec<String>,
    /// The lists were cut short.
    pub truncated: bool,
}

/// The git arguments for `input`. `--verbose` makes git name each path it
/// stages, which becomes the answer.
pub fn args(input: &AddInput) -> Result<Vec<String>, ToolError> {
    if input.paths.is_empty() {
        return Err(ToolError::invalid(
            "paths is empty; name the files to stage, or \".\" for all changes",
        ));
    }
    validate::paths(&input.paths)?;
    let mut args: Vec<String> = ["add", "--verbose", "--"].map(String::from).into();
    args.extend(input.paths.iter().cloned());
    Ok(args)
}

/// Parse `add 'path'` and `remove 'path'` lines.
pub fn parse(stdout: &[u8], host_truncated: bool) -> AddOutput {
    let text = String::from_utf8_lossy(stdout);
    let mut out = AddOutput {
        added: Vec::new(),
        removed: Vec::new(),
        truncated: host_truncated,
    };
    let mut listed = 0;
    let mut bytes = 0;
    for line in text.lines() {
        let (removal, rest) = if let Some(rest) = line.strip_prefix("add '") {
            (false, rest)
        } else if let Some(rest) = line.strip_prefix("remove '") {
            (true, rest)
        } else {
            continue;
        };
        let Some(path) = rest.strip_suffix('\'') else {
            continue;
        };
        listed += 1;
        bytes += path.len();
        if listed > MAX_LISTED || bytes > MAX_LISTED_BYTES {
            out.truncated = true;
            break;
        }
        let list = if removal {
            &mut out.removed
        } else {
            &mut out.added
        };
        list.push(path.to_string());
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn input(paths: &[&str]) -> AddInput {
        AddInput {
            paths: paths.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn arguments() {
        assert_eq!(
            args(&input(&["src/a.rs", "b c"])).unwrap(),
            ["add", "--verbose", "--", "src/a.rs", "b c"]
        );
    }

    #[test]
    fn at_least_one_path_and_no_options() {
        assert!(matches!(args(&input(&[])), Err(ToolError::InvalidInput(_))));
        assert!(matches!(
            args(&input(&["-A"])),
            Err(ToolError::InvalidInput(_))
        ));
        assert!(matches!(
            args(&input(&["ok", "--force"])),
            Err(ToolError::InvalidInput(_))
        ));
    }

    #[test]
    fn parses_verbose_output() {
        // Captured from git 2.47.
        let out = parse(b"add 'y'\nadd 'a b.txt'\nremove 'old'\nadd 'it's'\n", false);
        assert_eq!(out.added, ["y", "a b.txt", "it's"]);
        assert_eq!(out.removed, ["old"]);
        assert!(!out.truncated);
        assert_eq!(parse(b"", false).added, Vec::<String>::new());
    }

    #[test]
    fn lists_are_capped() {
        let many: String = (0..MAX_LISTED + 1)
            .map(|i| format!("add 'f{i}'\n"))
            .collect();
        let out = parse(many.as_bytes(), false);
        assert_eq!(out.added.len(), MAX_LISTED);
        assert!(out.truncated);
    }
}
