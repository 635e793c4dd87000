//! First-party `search` plugin: regex search over the workspace's text
//! files, honouring `.gitignore` and `.ignore`, with bounded output.
//!
//! The tool's logic takes the workspace root as a parameter so that it can
//! be tested natively on a temporary directory; inside the sandbox the root
//! is `.`, the preopened workspace.

mod scan;
mod search;
mod walk;

fn dot() -> String {
    ".".to_string()
}

/// The tools as the host calls them (the SDK adds the component exports
/// when built for wasm).
pub mod component {
    use std::path::Path;

    use warden_sdk::ToolError;

    use crate::search::{self, SearchInput, SearchOutput};

    /// The workspace root as seen from inside the sandbox.
    const ROOT: &str = ".";

    fn search(input: SearchInput) -> Result<SearchOutput, ToolError> {
        search::run(Path::new(ROOT), input)
    }

    warden_sdk::plugin! {
        search: search => "Search the contents of text files in the workspace with a regular expression (Rust regex syntax), one line at a time, like ripgrep. Searches `path` (a file or directory, default the whole workspace), skipping files ignored by .gitignore/.ignore, hidden files, .git, binary files and files over 2 MiB. `glob` narrows the files (`*.rs` by name, `src/**/*.rs` by path). Returns each matching line with its path, 1-based line number and up to `context_lines` lines before and after (lines over 500 characters are shortened with `…`), at most `max_results` matches (default 100, max 1000) with `truncated: true` when more were left out.",
    }
}
