//! The `write` tool: create or overwrite one file.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_sdk::ToolError;

use crate::files;
use warden_sdk::paths::RelPath;

/// Largest `content` accepted.
pub const MAX_WRITE_BYTES: usize = 4 * 1024 * 1024;

/// Write a whole file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteInput {
    /// Path of the file, relative to the workspace root. Missing parent
    /// directories are created.
    pub path: String,
    /// The complete new content of the file.
    pub content: String,
}

#[derive(Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct WriteOutput {
    pub path: String,
    /// Bytes written.
    pub bytes: usize,
    /// The file did not exist before.
    pub created: bool,
}

pub fn run(root: &Path, input: WriteInput) -> Result<WriteOutput, ToolError> {
    let rel = RelPath::parse(&input.path)?;
    let shown = rel.display();
    if rel.is_root() {
        return Err(ToolError::invalid(
            "path names the workspace root, not a file",
        ));
    }
    if input.content.len() > MAX_WRITE_BYTES {
        return Err(ToolError::invalid(format!(
            "content is larger than {} MiB",
            MAX_WRITE_BYTES / (1024 * 1024)
        )));
    }
    let full = rel.under(root);
    let fail = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::IsADirectory {
            ToolError::invalid(format!("{shown} is a directory"))
        } else {
            ToolError::io(&shown, e)
        }
    };
    files::create_parents(&full).map_err(fail)?;
    // The open itself says whether the file is new: nothing is looked at
    // first, since a grant may allow writing a file and nothing beside it.
    let (mut file, created) = match OpenOptions::new().write(true).create_new(true).open(&full) {
        Ok(f) => (f, true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let f = OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&full)
                .map_err(fail)?;
            (f, false)
        }
        Err(e) => return Err(fail(e)),
    };
    file.write_all(input.content.as_bytes()).map_err(fail)?;
    Ok(WriteOutput {
        path: shown,
        bytes: input.content.len(),
        created,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, content: &str) -> Result<WriteOutput, ToolError> {
        run(
            root,
            WriteInput {
                path: path.into(),
                content: content.into(),
            },
        )
    }

    #[test]
    fn creates_then_overwrites() {
        let ws = tempfile::tempdir().unwrap();
        let first = write(ws.path(), "a/b/c.txt", "hello").unwrap();
        assert_eq!(
            first,
            WriteOutput {
                path: "a/b/c.txt".into(),
                bytes: 5,
                created: true
            }
        );
        let again = write(ws.path(), "./a/b/c.txt", "bye").unwrap();
        assert!(!again.created);
        assert_eq!(
            std::fs::read_to_string(ws.path().join("a/b/c.txt")).unwrap(),
            "bye"
        );
    }

    #[test]
    fn refuses_directories_escapes_and_huge_content() {
        let ws = tempfile::tempdir().unwrap();
        std::fs::create_dir(ws.path().join("d")).unwrap();
        let invalid = |r| matches!(r, Err(ToolError::InvalidInput(_)));
        assert!(invalid(write(ws.path(), "d", "x")));
        assert!(invalid(write(ws.path(), ".", "x")));
        assert!(invalid(write(ws.path(), "../x", "x")));
        assert!(invalid(write(ws.path(), "/tmp/x", "x")));
        let huge = "x".repeat(MAX_WRITE_BYTES + 1);
        assert!(invalid(write(ws.path(), "big", &huge)));
    }
}
