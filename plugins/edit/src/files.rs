//! Bounded reads and parent-creating writes shared by the edit tools.

use std::io::Read;
use std::path::{Path, PathBuf};

use warden_sdk::ToolError;

/// Largest file `replace` and `apply_patch` will read; each edit holds the
/// old and new text in memory at once.
pub const MAX_EDIT_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// A file's bytes, refusing files over [`MAX_EDIT_FILE_BYTES`] and
/// anything that is not a regular file.
pub fn read_bytes(full: &Path, shown: &str) -> Result<Vec<u8>, ToolError> {
    let meta = std::fs::metadata(full).map_err(|e| ToolError::io(shown, e))?;
    if !meta.is_file() {
        return Err(ToolError::invalid(format!("{shown} is not a regular file")));
    }
    if meta.len() > MAX_EDIT_FILE_BYTES {
        return Err(too_big(shown));
    }
    let file = std::fs::File::open(full).map_err(|e| ToolError::io(shown, e))?;
    let mut data = Vec::new();
    // Capped again: the file may have grown since the size check.
    file.take(MAX_EDIT_FILE_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(|e| ToolError::io(shown, e))?;
    if data.len() as u64 > MAX_EDIT_FILE_BYTES {
        return Err(too_big(shown));
    }
    Ok(data)
}

/// A file's text; edits that match strings need UTF-8.
pub fn read_text(full: &Path, shown: &str) -> Result<String, ToolError> {
    String::from_utf8(read_bytes(full, shown)?)
        .map_err(|_| ToolError::failed(format!("{shown} is not UTF-8 text; it cannot be edited")))
}

fn too_big(shown: &str) -> ToolError {
    ToolError::failed(format!(
        "{shown} is larger than {} MiB; it cannot be edited with this tool",
        MAX_EDIT_FILE_BYTES / (1024 * 1024)
    ))
}

/// Create the missing parent directories of `full`, returning those that
/// were created, outermost first, so that a rollback can remove them. The
/// sandbox's root `.` is never looked at: it is always there, and under a
/// grant of only some paths in it, looking at it may not be granted.
pub fn create_parents(full: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut dir = full.parent();
    while let Some(d) = dir {
        if d.as_os_str().is_empty() || d == Path::new(".") || d.exists() {
            break;
        }
        missing.push(d.to_path_buf());
        dir = d.parent();
    }
    missing.reverse();
    for d in &missing {
        match std::fs::create_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(missing)
}

/// Whether anything (file, directory or symlink) is at `full`.
pub fn exists(full: &Path) -> bool {
    std::fs::symlink_metadata(full).is_ok()
}
