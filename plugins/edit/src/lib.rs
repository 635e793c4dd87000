//! First-party `edit` plugin: write files, replace exact text, and apply
//! multi-file patches all-or-nothing, inside the workspace.
//!
//! Each tool's logic takes the workspace root as a parameter so that it can
//! be tested natively on a temporary directory; inside the sandbox the root
//! is `.`, the preopened workspace.

mod apply_patch;
mod commit;
mod files;
pub mod patch;
mod replace;
mod write;

/// The tools as the host calls them (the SDK adds the component exports
/// when built for wasm).
pub mod component {
    use std::path::Path;

    use warden_sdk::ToolError;

    use crate::apply_patch::{self, ApplyPatchInput, ApplyPatchOutput};
    use crate::replace::{self, ReplaceInput, ReplaceOutput};
    use crate::write::{self, WriteInput, WriteOutput};

    /// The workspace root as seen from inside the sandbox.
    const ROOT: &str = ".";

    fn write(input: WriteInput) -> Result<WriteOutput, ToolError> {
        write::run(Path::new(ROOT), input)
    }

    fn replace(input: ReplaceInput) -> Result<ReplaceOutput, ToolError> {
        replace::run(Path::new(ROOT), input)
    }

    fn apply_patch(input: ApplyPatchInput) -> Result<ApplyPatchOutput, ToolError> {
        apply_patch::run(Path::new(ROOT), input)
    }

    warden_sdk::plugin! {
        write: write => "Create or overwrite a file in the workspace with the given content (at most 4 MiB), creating missing parent directories. Returns the byte count and whether the file is new. Prefer `replace` or `apply_patch` for changing part of an existing file.",
        replace: replace => "Replace an exact piece of text in a file. `old` must match the file exactly (whitespace and indentation included) and occur exactly once, unless `expected_count` gives the number of occurrences to replace. If it does not occur, nothing changes and the error says so. Include a few surrounding lines in `old` to make it unique.",
        apply_patch: apply_patch => "Apply a multi-file patch, all or nothing. Format: a line `*** Begin Patch`, then sections, then `*** End Patch`. Sections: `*** Add File: <path>` followed by the new file's lines, each prefixed with `+`; `*** Delete File: <path>`; `*** Update File: <path>`, optionally followed by `*** Move to: <new path>`, then hunks. A hunk starts with `@@` optionally followed by a fragment of a nearby line (e.g. `@@ fn parse`) to find the right place, then lines prefixed with ` ` (unchanged context, about 3 lines before and after), `-` (removed) or `+` (added). Hunks in a file apply in order; context and removed lines must match the file (trailing whitespace is tolerated). If anything fails to apply, no file is changed and the error names the file, the hunk and the lines it looked for.",
    }
}
