//! The patch envelope accepted by `apply_patch`: parsing it, and applying
//! one file's hunks to that file's text. Nothing here touches the
//! filesystem; `commit` does that.
//!
//! # Format
//!
//! A patch is plain text made of lines. It opens with a line
//! `*** Begin Patch` and closes with a line `*** End Patch`; blank lines may
//! come before the first and after the last, nothing else may. In between
//! come any number of file sections, each opened by a header line:
//!
//! - `*** Add File: <path>` creates a file that must not exist yet. Every
//!   following line up to the next header starts with `+`; the rest of the
//!   line is one line of the new file. The file gets a `\n` after each line,
//!   so it ends with a newline (no `+` lines make an empty file).
//! - `*** Delete File: <path>` removes a file that must exist. No body.
//! - `*** Update File: <path>` changes a file that must exist. It may be
//!   followed directly by `*** Move to: <path>`, which renames the file (the
//!   new path must not exist); then come hunks. A move may have no hunks;
//!   otherwise at least one is required.
//!
//! Paths are relative to the workspace root. Blank lines between sections
//! are ignored.
//!
//! A hunk starts with a line beginning `@@`. Text after the `@@` is an
//! optional *context header*: a fragment of a line in the file (say, `fn
//! parse`) that is located first, so that the hunk is looked for from that
//! line on; this tells apart repeated snippets. A header in unified-diff
//! form (`@@ -12,7 +12,8 @@`) is accepted and ignored. The `@@` line may be
//! left out before the first hunk of a section. The hunk's body lines each
//! start with one character:
//!
//! - ` ` (space): a context line, which must be in the file and is kept;
//! - `-`: a line that must be in the file and is removed;
//! - `+`: a line that is inserted.
//!
//! A completely empty body line is taken as an empty context line (editors
//! and models often drop the lone space), except that empty lines at the
//! end of a hunk are dropped. A hunk may end with the line
//! `*** End of File`, which says that its last context or removed line is
//! the file's last line.
//!
//! # Applying a hunk
//!
//! The context and removed lines, in order, form the text the hunk expects.
//! It is searched for from where the previous hunk ended (or from the
//! header line, if there is a header): first for an exact match, then for
//! a match that ignores trailing whitespace on each line. The first match
//! wins. A hunk with only `+` lines inserts them right after its header
//! line, or at the end of the file without one. Context lines keep the
//! file's own text, so a whitespace-tolerant match does not change them.
//!
//! Lines are compared without their line endings. Kept lines keep their own
//! ending; inserted lines take the ending of the file's first line (`\r\n`
//! or `\n`). Whether the file ends with a newline is preserved.

use std::fmt;

mod apply;
mod parse;
#[cfg(test)]
mod tests;

pub use apply::{Applied, HunkError, apply};
pub use parse::parse;

/// One file section of a patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Add {
        path: String,
        content: String,
    },
    Delete {
        path: String,
    },
    Update {
        path: String,
        move_to: Option<String>,
        hunks: Vec<Hunk>,
    },
}

/// One `@@` block of an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    /// The context header after `@@`, if any.
    pub header: Option<String>,
    pub lines: Vec<Line>,
    /// Ended with `*** End of File`.
    pub end_of_file: bool,
}

/// A hunk body line, without its one-character prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Context(String),
    Remove(String),
    Add(String),
}

/// Why a patch could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line of the patch; 0 when it is about the patch as a whole.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "patch line {}: {}", self.line, self.message)
        }
    }
}
