//! The `glob` tool: find files whose path matches a glob pattern.
//!
//! The walk is breadth-first with each directory's entries sorted, so when
//! a cap stops it the shallow, usually more relevant, files are the ones
//! already found, and the same tree always gives the same answer.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_sdk::ToolError;

use warden_sdk::paths::{RelPath, display_rel};

/// Most paths returned.
pub const MAX_GLOB_RESULTS: usize = 1000;
/// Most bytes of matching paths returned: deep trees have long paths, and
/// the host refuses answers over its output limit.
pub const MAX_GLOB_OUTPUT_BYTES: usize = 256 * 1024;
/// Most directory entries looked at before giving up.
pub const MAX_GLOB_VISITED: usize = 50_000;
/// Longest pattern accepted, in bytes; globset compiles it to a regex.
pub const MAX_PATTERN_BYTES: usize = 1024;

/// Find files by glob pattern.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GlobInput {
    /// Glob matched against each file's path relative to `path`, e.g.
    /// `**/*.rs` or `src/*.toml`. `*` and `?` stay within one path
    /// component, `**` crosses directories, `{a,b}` and `[abc]` work.
    pub pattern: String,
    /// Directory to search, relative to the workspace root.
    #[serde(default = "crate::dot")]
    pub path: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct GlobOutput {
    /// Matching files (and symlinks), relative to the workspace root, sorted.
    pub matches: Vec<String>,
    /// Directory entries looked at.
    pub visited: usize,
    /// A cap stopped the search; there may be more matches.
    pub truncated: bool,
}

pub fn run(root: &Path, input: GlobInput) -> Result<GlobOutput, ToolError> {
    let base = RelPath::parse(&input.path)?;
    let matcher = compile(&input.pattern)?;
    let shown = base.display();
    let start = base.under(root);
    let meta = std::fs::metadata(&start).map_err(|e| ToolError::io(&shown, e))?;
    if !meta.is_dir() {
        return Err(ToolError::invalid(format!("{shown} is not a directory")));
    }

    let mut matches = Vec::new();
    let mut output_bytes = 0;
    let mut visited = 0;
    let mut truncated = false;
    // Paths in the queue are relative to `start`.
    let mut queue = VecDeque::from([PathBuf::new()]);
    'walk: while let Some(dir) = queue.pop_front() {
        // Unreadable subdirectories are skipped: one odd permission should
        // not spoil the whole answer.
        let Ok(reader) = std::fs::read_dir(start.join(&dir)) else {
            continue;
        };
        // Taking one more than the remaining budget is enough to notice the
        // cap, and bounds memory for a directory with millions of entries.
        let budget = MAX_GLOB_VISITED - visited + 1;
        let mut entries: Vec<_> = reader
            .filter_map(Result::ok)
            .take(budget)
            .map(|e| (e.file_name(), e.file_type().ok()))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, file_type) in entries {
            visited += 1;
            if visited > MAX_GLOB_VISITED {
                truncated = true;
                break 'walk;
            }
            let rel = dir.join(&name);
            match file_type {
                Some(t) if t.is_dir() => {
                    if name != ".git" {
                        queue.push_back(rel);
                    }
                }
                _ => {
                    if matcher.is_match(&rel) {
                        let shown = display_rel(&base.as_path().join(&rel));
                        output_bytes += shown.len();
                        if matches.len() == MAX_GLOB_RESULTS || output_bytes > MAX_GLOB_OUTPUT_BYTES
                        {
                            truncated = true;
                            break 'walk;
                        }
                        matches.push(shown);
                    }
                }
            }
        }
    }
    matches.sort();
    Ok(GlobOutput {
        matches,
        visited: visited.min(MAX_GLOB_VISITED),
        truncated,
    })
}

fn compile(pattern: &str) -> Result<GlobMatcher, ToolError> {
    if pattern.is_empty() {
        return Err(ToolError::invalid("pattern is empty"));
    }
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(ToolError::invalid(format!(
            "pattern is longer than {MAX_PATTERN_BYTES} bytes"
        )));
    }
    if pattern.starts_with('/') {
        return Err(ToolError::invalid(
            "pattern is matched against paths relative to `path`; drop the leading `/`",
        ));
    }
    let pattern = pattern.trim_start_matches("./");
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| ToolError::invalid(format!("bad glob pattern: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let ws = tempfile::tempdir().unwrap();
        for (p, c) in [
            ("Cargo.toml", ""),
            ("src/lib.rs", ""),
            ("src/a/b.rs", ""),
            ("src/a/c.txt", ""),
            (".git/config.rs", ""),
        ] {
            let full = ws.path().join(p);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, c).unwrap();
        }
        ws
    }

    fn glob(ws: &tempfile::TempDir, pattern: &str, path: &str) -> GlobOutput {
        let input = GlobInput {
            pattern: pattern.into(),
            path: path.into(),
        };
        run(ws.path(), input).unwrap()
    }

    #[test]
    fn star_stays_in_one_component_and_double_star_crosses() {
        let ws = tree();
        assert_eq!(glob(&ws, "*.toml", ".").matches, ["Cargo.toml"]);
        assert_eq!(glob(&ws, "*.rs", ".").matches, Vec::<String>::new());
        assert_eq!(
            glob(&ws, "**/*.rs", ".").matches,
            ["src/a/b.rs", "src/lib.rs"]
        );
    }

    #[test]
    fn matches_relative_to_path_but_reports_from_root() {
        let ws = tree();
        assert_eq!(
            glob(&ws, "a/*", "src").matches,
            ["src/a/b.rs", "src/a/c.txt"]
        );
    }

    #[test]
    fn skips_git() {
        let ws = tree();
        assert!(glob(&ws, "**/config.rs", ".").matches.is_empty());
    }

    #[test]
    fn caps_results() {
        let ws = tempfile::tempdir().unwrap();
        for i in 0..(MAX_GLOB_RESULTS + 1) {
            std::fs::write(ws.path().join(format!("{i}.txt")), "").unwrap();
        }
        let out = glob(&ws, "*.txt", ".");
        assert!(out.truncated);
        assert_eq!(out.matches.len(), MAX_GLOB_RESULTS);
    }

    #[cfg(unix)]
    #[test]
    fn does_not_follow_symlinked_directories() {
        let ws = tree();
        std::os::unix::fs::symlink("src", ws.path().join("loop")).unwrap();
        let out = glob(&ws, "**/*.rs", ".");
        assert_eq!(out.matches, ["src/a/b.rs", "src/lib.rs"]);
        assert_eq!(glob(&ws, "loop", ".").matches, ["loop"]);
    }

    #[test]
    fn bad_patterns_are_invalid_input() {
        for p in ["", "/abs/*", "a[", &"x".repeat(MAX_PATTERN_BYTES + 1)] {
            let input = GlobInput {
                pattern: p.into(),
                path: ".".into(),
            };
            assert!(matches!(
                run(Path::new("."), input),
                Err(ToolError::InvalidInput(_))
            ));
        }
    }
}
