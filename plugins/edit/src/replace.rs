//! The `replace` tool: exact string replacement in one file.
//!
//! The match must be exact so that an edit never lands somewhere the model
//! did not mean; the one allowance is line endings: when `old` is written
//! with `\n` but the file uses `\r\n`, both `old` and `new` are converted,
//! because a model cannot see the difference in what `read` shows it.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_sdk::ToolError;

use crate::files::{self, MAX_EDIT_FILE_BYTES};
use warden_sdk::paths::RelPath;

/// Replace text in a file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceInput {
    /// Path of the file, relative to the workspace root.
    pub path: String,
    /// The exact text to replace, including whitespace and indentation.
    pub old: String,
    /// The text to put in its place.
    pub new: String,
    /// How many occurrences of `old` to replace. Without it, `old` must
    /// occur exactly once; with it, it must occur exactly this many times.
    #[schemars(range(min = 1))]
    pub expected_count: Option<usize>,
}

#[derive(Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct ReplaceOutput {
    pub path: String,
    pub replacements: usize,
}

pub fn run(root: &Path, input: ReplaceInput) -> Result<ReplaceOutput, ToolError> {
    let rel = RelPath::parse(&input.path)?;
    let shown = rel.display();
    if input.old.is_empty() {
        return Err(ToolError::invalid(
            "old is empty; to write a whole file use `write`",
        ));
    }
    if input.old == input.new {
        return Err(ToolError::invalid(
            "old and new are the same; nothing to change",
        ));
    }
    if input.expected_count == Some(0) {
        return Err(ToolError::invalid("expected_count must be at least 1"));
    }
    let full = rel.under(root);
    let text = files::read_text(&full, &shown)?;

    let (old, new) = match_line_endings(&text, &input.old, &input.new);
    let count = text.matches(old.as_str()).count();
    if count == 0 {
        return Err(ToolError::failed(no_match_message(
            &text, &input.old, &shown,
        )));
    }
    match input.expected_count {
        None if count > 1 => {
            return Err(ToolError::invalid(format!(
                "old matches {count} times in {shown}; include more surrounding lines to make it unique, or set expected_count to {count} to replace every occurrence"
            )));
        }
        Some(expected) if expected != count => {
            return Err(ToolError::invalid(format!(
                "expected_count is {expected} but old matches {count} times in {shown}; nothing was changed"
            )));
        }
        _ => {}
    }
    let new_len = text.len() - count * old.len() + count * new.len();
    if new_len as u64 > MAX_EDIT_FILE_BYTES {
        return Err(ToolError::failed(format!(
            "the result would be larger than {} MiB; nothing was changed",
            MAX_EDIT_FILE_BYTES / (1024 * 1024)
        )));
    }
    let updated = text.replace(old.as_str(), &new);
    std::fs::write(&full, updated).map_err(|e| ToolError::io(&shown, e))?;
    Ok(ReplaceOutput {
        path: shown,
        replacements: count,
    })
}

/// `old` and `new` with `\r\n` line breaks if the file uses them and `old`
/// does not already match as given.
fn match_line_endings(text: &str, old: &str, new: &str) -> (String, String) {
    let convert =
        !text.contains(old) && text.contains("\r\n") && old.contains('\n') && !old.contains("\r\n");
    if convert {
        (old.replace('\n', "\r\n"), new.replace('\n', "\r\n"))
    } else {
        (old.to_string(), new.to_string())
    }
}

fn no_match_message(text: &str, old: &str, shown: &str) -> String {
    let mut msg = format!(
        "0 matches: old does not occur in {shown}. It must match the file exactly, including indentation and line breaks; read the file again and copy the text"
    );
    let trimmed = old.trim();
    if !trimmed.is_empty() && trimmed != old && text.contains(trimmed) {
        msg.push_str(
            ". Without its leading and trailing whitespace it does occur, so check the whitespace at its ends",
        );
    }
    msg
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn setup(content: &str) -> tempfile::TempDir {
        let ws = tempfile::tempdir().unwrap();
        std::fs::write(ws.path().join("f.txt"), content).unwrap();
        ws
    }

    fn replace(
        ws: &tempfile::TempDir,
        old: &str,
        new: &str,
        expected_count: Option<usize>,
    ) -> Result<ReplaceOutput, ToolError> {
        let input = ReplaceInput {
            path: "f.txt".into(),
            old: old.into(),
            new: new.into(),
            expected_count,
        };
        run(ws.path(), input)
    }

    fn content(ws: &tempfile::TempDir) -> String {
        std::fs::read_to_string(ws.path().join("f.txt")).unwrap()
    }

    #[test]
    fn replaces_a_unique_match() {
        let ws = setup("let a = 1;\nlet b = 2;\n");
        let out = replace(&ws, "b = 2", "b = 3", None).unwrap();
        assert_eq!(out.replacements, 1);
        assert_eq!(content(&ws), "let a = 1;\nlet b = 3;\n");
    }

    #[test]
    fn several_matches_need_expected_count() {
        let ws = setup("x x x");
        match replace(&ws, "x", "y", None) {
            Err(ToolError::InvalidInput(m)) => {
                assert!(m.contains("3 times") && m.contains("expected_count"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            replace(&ws, "x", "y", Some(2)),
            Err(ToolError::InvalidInput(_))
        ));
        assert_eq!(content(&ws), "x x x");
        assert_eq!(replace(&ws, "x", "y", Some(3)).unwrap().replacements, 3);
        assert_eq!(content(&ws), "y y y");
    }

    #[test]
    fn no_match_says_zero_and_hints_at_whitespace() {
        let ws = setup("    indented\n");
        match replace(&ws, "missing", "y", None) {
            Err(ToolError::Failed(m)) => assert!(m.starts_with("0 matches")),
            other => panic!("{other:?}"),
        }
        match replace(&ws, "  indented  \n\n", "y", None) {
            Err(ToolError::Failed(m)) => assert!(m.contains("whitespace at its ends")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn adapts_lf_text_to_a_crlf_file() {
        let ws = setup("a\r\nb\r\nc\r\n");
        replace(&ws, "a\nb\n", "a\nB\n", None).unwrap();
        assert_eq!(content(&ws), "a\r\nB\r\nc\r\n");
    }

    #[test]
    fn refuses_useless_or_unsafe_input() {
        let ws = setup("abc");
        let invalid = |r| matches!(r, Err(ToolError::InvalidInput(_)));
        assert!(invalid(replace(&ws, "", "x", None)));
        assert!(invalid(replace(&ws, "a", "a", None)));
        assert!(invalid(replace(&ws, "a", "b", Some(0))));
        std::fs::write(ws.path().join("f.txt"), b"\xff\xfe").unwrap();
        assert!(matches!(
            replace(&ws, "a", "b", None),
            Err(ToolError::Failed(_))
        ));
        let missing = ReplaceInput {
            path: "nope".into(),
            old: "a".into(),
            new: "b".into(),
            expected_count: None,
        };
        assert!(matches!(
            run(ws.path(), missing),
            Err(ToolError::NotFound(_))
        ));
    }
}
