//! The `list` tool: one directory's entries, sorted by name.

use std::collections::BinaryHeap;
use std::fs::FileType;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_sdk::ToolError;

use warden_sdk::paths::RelPath;

/// Most entries returned. The smallest names are kept, so the answer is
/// the same prefix of the sorted listing whatever order the OS reads in.
pub const MAX_LIST_ENTRIES: usize = 1000;
/// Most directory entries examined; `total` stops counting here.
pub const MAX_LIST_SCAN: usize = 100_000;

/// List a directory.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListInput {
    /// Directory to list, relative to the workspace root.
    #[serde(default = "crate::dot")]
    pub path: String,
    /// Also list names starting with `.`.
    #[serde(default)]
    pub include_hidden: bool,
}

/// What kind of thing an entry is. Symlinks are not followed.
#[derive(Debug, Serialize, JsonSchema, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

impl Kind {
    pub fn of(t: FileType) -> Self {
        if t.is_symlink() {
            Self::Symlink
        } else if t.is_dir() {
            Self::Dir
        } else if t.is_file() {
            Self::File
        } else {
            Self::Other
        }
    }
}

/// One directory entry.
#[derive(Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub kind: Kind,
    /// Size in bytes, for files only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ListOutput {
    pub path: String,
    pub entries: Vec<Entry>,
    /// Visible entries in the directory (counting stops at 100000).
    pub total: usize,
    /// Not every visible entry is in `entries`.
    pub truncated: bool,
}

pub fn run(root: &Path, input: ListInput) -> Result<ListOutput, ToolError> {
    let rel = RelPath::parse(&input.path)?;
    let shown = rel.display();
    let dir = rel.under(root);
    let meta = std::fs::metadata(&dir).map_err(|e| ToolError::io(&shown, e))?;
    if !meta.is_dir() {
        return Err(ToolError::invalid(format!(
            "{shown} is not a directory; use `read` for files"
        )));
    }
    let reader = std::fs::read_dir(&dir).map_err(|e| ToolError::io(&shown, e))?;

    // Max-heap on name: popping drops the largest, keeping the smallest.
    let mut kept: BinaryHeap<(String, Kind)> = BinaryHeap::new();
    let mut total = 0;
    let mut scanned = 0;
    for entry in reader {
        scanned += 1;
        if scanned > MAX_LIST_SCAN {
            break;
        }
        let entry = entry.map_err(|e| ToolError::io(&shown, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !input.include_hidden && name.starts_with('.') {
            continue;
        }
        total += 1;
        let kind = entry.file_type().map_or(Kind::Other, Kind::of);
        kept.push((name, kind));
        if kept.len() > MAX_LIST_ENTRIES {
            kept.pop();
        }
    }
    let entries = kept
        .into_sorted_vec()
        .into_iter()
        .map(|(name, kind)| {
            let size = (kind == Kind::File)
                .then(|| std::fs::symlink_metadata(dir.join(&name)).ok())
                .flatten()
                .map(|m| m.len());
            Entry { name, kind, size }
        })
        .collect::<Vec<_>>();
    Ok(ListOutput {
        path: shown,
        truncated: entries.len() < total || scanned > MAX_LIST_SCAN,
        entries,
        total,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn input(path: &str, include_hidden: bool) -> ListInput {
        ListInput {
            path: path.into(),
            include_hidden,
        }
    }

    #[test]
    fn lists_sorted_with_kinds_and_sizes() {
        let ws = tempfile::tempdir().unwrap();
        std::fs::write(ws.path().join("b.txt"), "12345").unwrap();
        std::fs::create_dir(ws.path().join("a")).unwrap();
        std::fs::write(ws.path().join(".hidden"), "").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("b.txt", ws.path().join("c")).unwrap();

        let out = run(ws.path(), input(".", false)).unwrap();
        let names: Vec<_> = out.entries.iter().map(|e| e.name.as_str()).collect();
        #[cfg(unix)]
        assert_eq!(names, ["a", "b.txt", "c"]);
        assert_eq!(out.entries[0].kind, Kind::Dir);
        assert_eq!(out.entries[0].size, None);
        assert_eq!(out.entries[1].size, Some(5));
        #[cfg(unix)]
        assert_eq!(out.entries[2].kind, Kind::Symlink);
        assert!(!out.truncated);

        let all = run(ws.path(), input(".", true)).unwrap();
        assert_eq!(all.entries[0].name, ".hidden");
    }

    #[test]
    fn caps_at_the_smallest_names() {
        let ws = tempfile::tempdir().unwrap();
        for i in 0..(MAX_LIST_ENTRIES + 3) {
            std::fs::write(ws.path().join(format!("f{i:05}")), "").unwrap();
        }
        let out = run(ws.path(), input(".", false)).unwrap();
        assert!(out.truncated);
        assert_eq!(out.total, MAX_LIST_ENTRIES + 3);
        assert_eq!(out.entries.len(), MAX_LIST_ENTRIES);
        assert_eq!(out.entries[0].name, "f00000");
        assert_eq!(out.entries[MAX_LIST_ENTRIES - 1].name, "f00999");
    }

    #[test]
    fn refuses_files() {
        let ws = tempfile::tempdir().unwrap();
        std::fs::write(ws.path().join("f"), "").unwrap();
        assert!(matches!(
            run(ws.path(), input("f", false)),
            Err(ToolError::InvalidInput(_))
        ));
    }
}
