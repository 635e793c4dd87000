//! The `read` tool: a window of lines from one text file.

use std::fs::File;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_sdk::ToolError;

use crate::window::{self, Request};
use warden_sdk::paths::RelPath;

/// Most bytes of file content returned by one call, counted as encoded in
/// the JSON answer (see `window::json_cost`). Even if every byte were
/// invalid UTF-8, the answer stays under the host's default 1 MiB limit.
pub const MAX_READ_BYTES: usize = 256 * 1024;
/// Most lines returned by one call; also the default `limit_lines`.
pub const MAX_READ_LINES: usize = 2000;
/// Bytes scanned to count lines. Past this `total_lines` is `null` rather
/// than spending the whole call timeout counting a huge log file.
pub const MAX_SCAN_BYTES: u64 = 64 * 1024 * 1024;

/// Read part of a text file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadInput {
    /// Path of the file, relative to the workspace root.
    pub path: String,
    /// First line to return, 1-based. Defaults to 1.
    #[schemars(range(min = 1))]
    pub offset_line: Option<usize>,
    /// How many lines to return. Defaults to, and is capped at, 2000.
    #[schemars(range(min = 1))]
    pub limit_lines: Option<usize>,
}

/// The returned part of the file.
#[derive(Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct ReadOutput {
    /// The file, as given back in canonical form.
    pub path: String,
    /// The lines, with their original line endings.
    pub content: String,
    /// First line in `content`, 1-based.
    pub start_line: usize,
    /// Last line in `content` (`start_line - 1` when `content` is empty).
    pub end_line: usize,
    /// Lines in the whole file; `null` if the file is too large to count.
    pub total_lines: Option<usize>,
    /// A cap (bytes per call, or lines per call when `limit_lines` was not
    /// given or larger than the cap) stopped `content` before the lines
    /// asked for; read on from `end_line + 1`.
    pub truncated: bool,
}

pub fn run(root: &Path, input: ReadInput) -> Result<ReadOutput, ToolError> {
    let rel = RelPath::parse(&input.path)?;
    let shown = rel.display();
    let start = input.offset_line.unwrap_or(1);
    if start == 0 {
        return Err(ToolError::invalid(
            "offset_line is 1-based; use 1 for the first line",
        ));
    }
    if input.limit_lines == Some(0) {
        return Err(ToolError::invalid("limit_lines must be at least 1"));
    }
    let limit = input
        .limit_lines
        .unwrap_or(MAX_READ_LINES)
        .min(MAX_READ_LINES);
    let limit_is_cap = input.limit_lines.is_none_or(|n| n > MAX_READ_LINES);

    let full = rel.under(root);
    let meta = std::fs::metadata(&full).map_err(|e| ToolError::io(&shown, e))?;
    if meta.is_dir() {
        return Err(ToolError::invalid(format!(
            "{shown} is a directory; use `list` to see its entries"
        )));
    }
    let file = File::open(&full).map_err(|e| ToolError::io(&shown, e))?;
    let request = Request {
        start,
        limit,
        max_bytes: MAX_READ_BYTES,
        max_scan: MAX_SCAN_BYTES,
    };
    let Some(w) = window::cut(file, request).map_err(|e| ToolError::io(&shown, e))? else {
        return Err(ToolError::invalid(format!(
            "{shown} looks like a binary file (it has NUL bytes in its first {} KiB); only text files can be read",
            window::BINARY_SNIFF_BYTES / 1024
        )));
    };

    if start > w.lines_seen && !(start == 1 && w.lines_seen == 0) {
        let counted = if w.complete { "" } else { " counted so far" };
        return Err(ToolError::invalid(format!(
            "offset_line {start} is past the end of {shown} ({} lines{counted})",
            w.lines_seen
        )));
    }
    let more_after = !w.complete || w.lines_seen > w.end_line;
    Ok(ReadOutput {
        path: shown,
        content: window::decode(w.content),
        start_line: start,
        end_line: w.end_line,
        total_lines: w.complete.then_some(w.lines_seen),
        truncated: w.byte_capped || (limit_is_cap && more_after),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn input(path: &str, offset: Option<usize>, limit: Option<usize>) -> ReadInput {
        ReadInput {
            path: path.into(),
            offset_line: offset,
            limit_lines: limit,
        }
    }

    fn workspace(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, data) in files {
            std::fs::write(dir.path().join(name), data).unwrap();
        }
        dir
    }

    #[test]
    fn reads_a_window() {
        let ws = workspace(&[("a.txt", b"one\ntwo\nthree\n")]);
        let out = run(ws.path(), input("./a.txt", Some(2), Some(1))).unwrap();
        assert_eq!(
            out,
            ReadOutput {
                path: "a.txt".into(),
                content: "two\n".into(),
                start_line: 2,
                end_line: 2,
                total_lines: Some(3),
                truncated: false,
            }
        );
    }

    #[test]
    fn default_limit_marks_truncation() {
        let text = "x\n".repeat(MAX_READ_LINES + 5);
        let ws = workspace(&[("big.txt", text.as_bytes())]);
        let out = run(ws.path(), input("big.txt", None, None)).unwrap();
        assert_eq!(out.end_line, MAX_READ_LINES);
        assert_eq!(out.total_lines, Some(MAX_READ_LINES + 5));
        assert!(out.truncated);
        let asked = run(ws.path(), input("big.txt", None, Some(10))).unwrap();
        assert!(!asked.truncated);
    }

    #[test]
    fn empty_file_reads_as_nothing() {
        let ws = workspace(&[("e.txt", b"")]);
        let out = run(ws.path(), input("e.txt", None, None)).unwrap();
        assert_eq!((out.content.as_str(), out.end_line), ("", 0));
        assert_eq!(out.total_lines, Some(0));
    }

    #[test]
    fn refuses_binary_directories_and_bad_offsets() {
        let ws = workspace(&[("b.bin", b"\x7fELF\0\0"), ("t.txt", b"a\n")]);
        std::fs::create_dir(ws.path().join("d")).unwrap();
        let err = |i| match run(ws.path(), i) {
            Err(ToolError::InvalidInput(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(err(input("b.bin", None, None)).contains("binary"));
        assert!(err(input("d", None, None)).contains("directory"));
        assert!(err(input("t.txt", Some(3), None)).contains("past the end"));
        assert!(err(input("t.txt", Some(0), None)).contains("1-based"));
        assert!(err(input("t.txt", None, Some(0))).contains("at least 1"));
        assert!(err(input("../t.txt", None, None)).contains(".."));
        assert!(matches!(
            run(ws.path(), input("missing", None, None)),
            Err(ToolError::NotFound(_))
        ));
    }
}
