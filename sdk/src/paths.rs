//! Turning a tool's `path` argument into a checked workspace-relative path.
//!
//! The sandbox refuses escapes on its own, but its refusal arrives as an
//! opaque I/O error. Checking here gives the model an `InvalidInput` that
//! says what to do instead, and gives every output one spelling of a path
//! (`/`-separated, no `.` components, `.` for the root).

use std::path::{Component, Path, PathBuf};

use crate::ToolError;

/// Longest path argument accepted, in bytes. Real paths are far shorter;
/// this only stops a pathological input from being copied around.
pub const MAX_PATH_BYTES: usize = 4096;

/// A validated path relative to the workspace root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelPath {
    /// Normal components only; empty for the workspace root.
    rel: PathBuf,
}

impl RelPath {
    /// Check a path given by the model.
    pub fn parse(input: &str) -> Result<Self, ToolError> {
        if input.is_empty() {
            return Err(ToolError::invalid(
                "path is empty; use \".\" for the workspace root",
            ));
        }
        if input.len() > MAX_PATH_BYTES {
            return Err(ToolError::invalid(format!(
                "path is longer than {MAX_PATH_BYTES} bytes"
            )));
        }
        if input.contains('\0') {
            return Err(ToolError::invalid("path contains a NUL byte"));
        }
        if looks_absolute(input) {
            return Err(ToolError::invalid(format!(
                "{input:?} is absolute; paths are relative to the workspace root"
            )));
        }
        let mut rel = PathBuf::new();
        for component in Path::new(input).components() {
            match component {
                Component::Normal(part) => rel.push(part),
                Component::CurDir => {}
                Component::ParentDir => {
                    return Err(ToolError::invalid(format!(
                        "{input:?} contains `..`; paths are relative to the workspace root and stay inside it"
                    )));
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(ToolError::invalid(format!(
                        "{input:?} is absolute; paths are relative to the workspace root"
                    )));
                }
            }
        }
        Ok(Self { rel })
    }

    /// Whether this is the workspace root.
    pub fn is_root(&self) -> bool {
        self.rel.as_os_str().is_empty()
    }

    /// The relative path, empty for the root.
    #[allow(
        dead_code,
        reason = "identical copies in each plugin; `edit` does not need it"
    )]
    pub fn as_path(&self) -> &Path {
        &self.rel
    }

    /// Where this path is on the filesystem, given the workspace root.
    pub fn under(&self, root: &Path) -> PathBuf {
        if self.is_root() {
            root.to_path_buf()
        } else {
            root.join(&self.rel)
        }
    }

    /// The canonical spelling shown to the model.
    pub fn display(&self) -> String {
        display_rel(&self.rel)
    }
}

/// Spell a relative path with `/` separators, `.` for the empty path.
pub fn display_rel(rel: &Path) -> String {
    let parts: Vec<_> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy()),
            _ => None,
        })
        .collect();
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// Also catches Windows spellings, which WASI would take as odd relative
/// names rather than absolute paths.
fn looks_absolute(input: &str) -> bool {
    let bytes = input.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    input.starts_with('/') || input.starts_with('\\') || drive || Path::new(input).is_absolute()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        RelPath::parse(s).unwrap().display()
    }

    fn invalid(s: &str) -> String {
        match RelPath::parse(s) {
            Err(ToolError::InvalidInput(m)) => m,
            other => panic!("expected InvalidInput for {s:?}, got {other:?}"),
        }
    }

    #[test]
    fn normalises_relative_paths() {
        assert_eq!(ok("."), ".");
        assert_eq!(ok("./"), ".");
        assert_eq!(ok("src/lib.rs"), "src/lib.rs");
        assert_eq!(ok("./src//./lib.rs"), "src/lib.rs");
        assert_eq!(ok("a/b/"), "a/b");
        assert!(RelPath::parse(".").unwrap().is_root());
    }

    #[test]
    fn refuses_escapes_and_absolute_paths() {
        assert!(invalid("/etc/passwd").contains("relative to the workspace root"));
        assert!(invalid("../x").contains("`..`"));
        assert!(invalid("a/../../x").contains("`..`"));
        assert!(invalid("a/..").contains("`..`"));
        assert!(invalid("C:\\x").contains("absolute"));
        assert!(invalid("\\\\server\\x").contains("absolute"));
    }

    #[test]
    fn refuses_empty_nul_and_huge() {
        assert!(invalid("").contains("empty"));
        assert!(invalid("a\0b").contains("NUL"));
        assert!(invalid(&"a".repeat(MAX_PATH_BYTES + 1)).contains("longer"));
    }

    #[test]
    fn joins_onto_the_root() {
        let root = Path::new("/ws");
        assert_eq!(
            RelPath::parse(".").unwrap().under(root),
            PathBuf::from("/ws")
        );
        assert_eq!(
            RelPath::parse("a/b").unwrap().under(root),
            PathBuf::from("/ws/a/b")
        );
    }
}
