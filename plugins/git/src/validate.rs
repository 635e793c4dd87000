//! Checks on the paths and revisions a model passes to git.
//!
//! Every argument built from input lands after the subcommand, and paths
//! after `--`, so git itself never reads them as options. A leading `-` is
//! still refused: the host's argv policy judges flags by their spelling and
//! a path like `--output=x` would look like one.

use warden_sdk::ToolError;

/// Most paths in one call.
pub const MAX_PATHS: usize = 256;
/// Longest path, in bytes.
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest revision expression, in bytes.
pub const MAX_REV_BYTES: usize = 256;

/// Check pathspecs given by the model.
pub fn paths(paths: &[String]) -> Result<(), ToolError> {
    if paths.len() > MAX_PATHS {
        return Err(ToolError::invalid(format!(
            "{} paths given; at most {MAX_PATHS} are accepted per call",
            paths.len()
        )));
    }
    for path in paths {
        if path.is_empty() {
            return Err(ToolError::invalid(
                "a path is empty; use \".\" for the whole repository",
            ));
        }
        if path.len() > MAX_PATH_BYTES {
            return Err(ToolError::invalid(format!(
                "a path is longer than {MAX_PATH_BYTES} bytes"
            )));
        }
        if path.contains('\0') {
            return Err(ToolError::invalid(format!(
                "path {path:?} contains a NUL byte"
            )));
        }
        if path.starts_with('-') {
            return Err(ToolError::invalid(format!(
                "path {path:?} starts with `-`; write it as \"./{path}\""
            )));
        }
    }
    Ok(())
}

/// Check a revision such as `HEAD~2`, a branch, a hash or `HEAD:src/lib.rs`.
pub fn rev(rev: &str) -> Result<(), ToolError> {
    if rev.trim().is_empty() {
        return Err(ToolError::invalid("rev is empty; use e.g. \"HEAD\""));
    }
    if rev.len() > MAX_REV_BYTES {
        return Err(ToolError::invalid(format!(
            "rev is longer than {MAX_REV_BYTES} bytes"
        )));
    }
    if rev.starts_with('-') {
        return Err(ToolError::invalid(format!(
            "rev {rev:?} starts with `-`; options cannot be passed as a revision"
        )));
    }
    if rev.chars().any(char::is_control) {
        return Err(ToolError::invalid(format!(
            "rev {rev:?} contains a control character"
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ordinary_paths_pass() {
        paths(&strings(&[
            "src/lib.rs",
            ".",
            "a b/c",
            "./-odd",
            ":(glob)**/*.rs",
        ]))
        .unwrap();
        paths(&[]).unwrap();
    }

    #[test]
    fn option_like_empty_and_nul_paths_are_refused() {
        for bad in ["-f", "--output=x", "", "a\0b"] {
            let err = paths(&strings(&["ok", bad])).unwrap_err();
            assert!(matches!(err, ToolError::InvalidInput(_)), "{bad:?}");
        }
        let err = paths(&strings(&["--all"])).unwrap_err();
        assert!(err.to_string().contains("./--all"));
    }

    #[test]
    fn too_many_or_too_long_paths_are_refused() {
        assert!(paths(&vec!["a".to_string(); MAX_PATHS + 1]).is_err());
        assert!(paths(&["a".repeat(MAX_PATH_BYTES + 1)]).is_err());
    }

    #[test]
    fn revisions() {
        for good in [
            "HEAD",
            "HEAD~2",
            "main@{1}",
            "v1.0^{commit}",
            "HEAD:src/a b.rs",
            "abc123",
        ] {
            rev(good).unwrap();
        }
        for bad in ["", "  ", "-p", "--output=/tmp/x", "HEAD\nmain", "a\0b"] {
            assert!(
                matches!(rev(bad), Err(ToolError::InvalidInput(_))),
                "{bad:?}"
            );
        }
        assert!(rev(&"a".repeat(MAX_REV_BYTES + 1)).is_err());
    }
}
