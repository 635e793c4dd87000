//! First-party `fs` plugin: read files, list directories and find files by
//! glob, all inside the workspace and all bounded in what they return.
//!
//! Each tool's logic takes the workspace root as a parameter so that it can
//! be tested natively on a temporary directory; inside the sandbox the root
//! is `.`, the preopened workspace.

mod glob;
mod list;
mod read;
mod window;

fn dot() -> String {
    ".".to_string()
}

/// The tools as the host calls them (the SDK adds the component exports
/// when built for wasm).
pub mod component {
    use std::path::Path;

    use warden_sdk::ToolError;

    use crate::glob::{self, GlobInput, GlobOutput};
    use crate::list::{self, ListInput, ListOutput};
    use crate::read::{self, ReadInput, ReadOutput};

    /// The workspace root as seen from inside the sandbox.
    const ROOT: &str = ".";

    fn read(input: ReadInput) -> Result<ReadOutput, ToolError> {
        read::run(Path::new(ROOT), input)
    }

    fn list(input: ListInput) -> Result<ListOutput, ToolError> {
        list::run(Path::new(ROOT), input)
    }

    fn glob(input: GlobInput) -> Result<GlobOutput, ToolError> {
        glob::run(Path::new(ROOT), input)
    }

    warden_sdk::plugin! {
        read: read => "Read a text file in the workspace. Returns up to 2000 lines and 256 KiB per call, starting at `offset_line` (1-based), with the line range shown, the file's total line count, and `truncated: true` when a cap cut the answer short (continue from `end_line + 1`). Binary files are refused. Paths are relative to the workspace root.",
        list: list => "List one directory of the workspace: each entry's name, kind (file, dir, symlink) and size for files, sorted by name. Hidden names (starting with `.`) are left out unless `include_hidden` is true. At most 1000 entries; `truncated` says when there are more. Symlinks are not followed.",
        glob: glob => "Find files in the workspace whose path (relative to `path`) matches a glob such as `**/*.rs` or `src/*.toml`. `*` stays within one directory level, `**` spans levels. Returns up to 1000 sorted paths relative to the workspace root. Skips `.git`, does not follow symlinked directories, and stops after looking at 50000 entries (`truncated` says so).",
    }
}
