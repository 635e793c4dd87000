//! Which files a search looks at.
//!
//! The `ignore` crate's sequential walker starts at the search path and
//! applies `.gitignore`, `.ignore` and `.git/info/exclude` found there and
//! below, skips hidden entries and never follows symlinks. Rules in the
//! directories *above* the search path would normally be found by
//! canonicalising it, which WASI cannot do, so they are loaded here
//! explicitly for each ancestor up to the workspace root and checked in an
//! entry filter. The search path itself is always walked, even when it is
//! hidden or ignored: naming it is asking for it, as with ripgrep.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use ignore::WalkBuilder;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use warden_sdk::paths::{RelPath, display_rel};

/// Most directory entries a walk visits before stopping.
pub const MAX_WALK_ENTRIES: usize = 50_000;

/// A file the walk found.
pub struct Found<'a> {
    /// Where to open it.
    pub full: &'a Path,
    /// Relative to the workspace root, `/`-separated.
    pub shown: String,
}

/// Call `visit` for each file under `target`, in sorted path order. Returns
/// whether [`MAX_WALK_ENTRIES`] stopped the walk.
pub fn files(
    root: &Path,
    target: &RelPath,
    mut visit: impl FnMut(Found<'_>) -> ControlFlow<()>,
) -> bool {
    let ancestors = ancestor_rules(root, target);
    let mut builder = WalkBuilder::new(target.under(root));
    builder
        .hidden(true)
        .parents(false)
        .ignore(true)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(false)
        .require_git(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(move |entry| {
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            entry.file_name() != ".git" && !ignored_above(&ancestors, entry.path(), is_dir)
        });

    for (seen, entry) in builder.build().enumerate() {
        if seen >= MAX_WALK_ENTRIES {
            return true;
        }
        // Unreadable entries are skipped, like ripgrep does by default.
        let Ok(entry) = entry else { continue };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let found = Found {
            full: entry.path(),
            shown: display_rel(rel),
        };
        if visit(found).is_break() {
            break;
        }
    }
    false
}

/// Ignore rules from the workspace root down to the search path's parent,
/// outermost first.
fn ancestor_rules(root: &Path, target: &RelPath) -> Vec<Gitignore> {
    let mut dirs = vec![PathBuf::new()];
    let mut acc = PathBuf::new();
    let parts: Vec<_> = target.as_path().components().collect();
    for part in parts.iter().take(parts.len().saturating_sub(1)) {
        acc.push(part);
        dirs.push(acc.clone());
    }
    if target.is_root() {
        // The walker reads the root's own rules itself.
        dirs.clear();
    }
    let mut rules = Vec::new();
    for dir in dirs {
        let full = if dir.as_os_str().is_empty() {
            root.to_path_buf()
        } else {
            root.join(&dir)
        };
        let mut builder = GitignoreBuilder::new(&full);
        let mut any = false;
        let mut names = vec![".gitignore", ".ignore"];
        if dir.as_os_str().is_empty() {
            names.insert(0, ".git/info/exclude");
        }
        for name in names {
            let file = full.join(name);
            // Broken ignore files are skipped rather than failing the search.
            if file.is_file() && builder.add(&file).is_none() {
                any = true;
            }
        }
        if any && let Ok(gi) = builder.build() {
            rules.push(gi);
        }
    }
    rules
}

/// The innermost rule that matches decides, as in git.
fn ignored_above(rules: &[Gitignore], path: &Path, is_dir: bool) -> bool {
    for gi in rules.iter().rev() {
        let m = gi.matched(path, is_dir);
        if m.is_ignore() {
            return true;
        }
        if m.is_whitelist() {
            return false;
        }
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let ws = tempfile::tempdir().unwrap();
        for (p, c) in files {
            let full = ws.path().join(p);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, c).unwrap();
        }
        ws
    }

    fn walk(ws: &tempfile::TempDir, target: &str) -> Vec<String> {
        let mut out = Vec::new();
        files(ws.path(), &RelPath::parse(target).unwrap(), |f| {
            out.push(f.shown);
            ControlFlow::Continue(())
        });
        out
    }

    #[test]
    fn honours_ignore_files_and_skips_hidden() {
        let ws = tree(&[
            (".gitignore", "target/\n*.log\n"),
            ("src/.ignore", "gen.rs\n"),
            ("src/lib.rs", ""),
            ("src/gen.rs", ""),
            ("target/out.rs", ""),
            ("a.log", ""),
            (".hidden/x", ""),
            (".git/config", ""),
            ("README", ""),
        ]);
        assert_eq!(walk(&ws, "."), ["README", "src/lib.rs"]);
    }

    #[test]
    fn ancestor_rules_apply_below_a_sub_path() {
        let ws = tree(&[
            (".gitignore", "*.log\n/src/a/skip/\n"),
            ("src/.gitignore", "!keep.log\n"),
            ("src/a/x.rs", ""),
            ("src/a/x.log", ""),
            ("src/a/keep.log", ""),
            ("src/a/skip/y.rs", ""),
        ]);
        assert_eq!(walk(&ws, "src/a"), ["src/a/keep.log", "src/a/x.rs"]);
    }

    #[test]
    fn a_named_ignored_or_hidden_directory_is_walked() {
        let ws = tree(&[
            (".gitignore", "target/\n"),
            ("target/out.rs", ""),
            (".github/ci.yml", ""),
        ]);
        assert_eq!(walk(&ws, "target"), ["target/out.rs"]);
        assert_eq!(walk(&ws, ".github"), [".github/ci.yml"]);
    }
}
