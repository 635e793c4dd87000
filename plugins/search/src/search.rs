//! The `search` tool: regex search over the workspace's text files.

use std::io::Read;
use std::ops::ControlFlow;
use std::path::Path;

use globset::{GlobBuilder, GlobMatcher};
use regex::bytes::{Regex, RegexBuilder};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_sdk::ToolError;

use crate::scan::{self, Budget, Match};
use crate::walk;
use warden_sdk::paths::RelPath;

/// Most context lines on each side of a match.
pub const MAX_CONTEXT_LINES: usize = 10;
/// Default and largest `max_results`.
pub const DEFAULT_MAX_RESULTS: usize = 100;
pub const MAX_RESULTS: usize = 1000;
/// Files larger than this are skipped (and counted in `files_skipped`):
/// each searched file is held in memory whole.
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;
/// Bytes read across all files before the search stops as truncated, so a
/// huge tree ends with a partial answer instead of a timeout.
pub const MAX_TOTAL_BYTES: u64 = 256 * 1024 * 1024;
/// Bytes of text (paths, matching and context lines) in one answer, as
/// JSON-encoded. With the fixed per-match overhead of at most 1000 matches
/// this keeps the answer under the host's default 1 MiB output limit.
pub const MAX_OUTPUT_TEXT_BYTES: usize = 512 * 1024;
/// Longest regex or glob accepted, in bytes.
pub const MAX_PATTERN_BYTES: usize = 4096;
/// Compiled-program and lazy-DFA limits: a hostile pattern such as
/// `\w{1000}{1000}` fails to compile instead of exhausting memory.
pub const REGEX_SIZE_LIMIT: usize = 2 * 1024 * 1024;
pub const REGEX_DFA_SIZE_LIMIT: usize = 4 * 1024 * 1024;

/// Search file contents with a regular expression.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchInput {
    /// Regular expression (Rust `regex` syntax), matched against each line.
    pub pattern: String,
    /// File or directory to search, relative to the workspace root.
    #[serde(default = "crate::dot")]
    pub path: String,
    /// Only search files matching this glob. Without a `/` it matches the
    /// file name (`*.rs`); with one, the path from the workspace root
    /// (`src/**/*.rs`).
    pub glob: Option<String>,
    /// Match letters regardless of case.
    #[serde(default)]
    pub case_insensitive: bool,
    /// Lines of context before and after each match (at most 10).
    #[serde(default)]
    #[schemars(range(max = 10))]
    pub context_lines: usize,
    /// Most matching lines to return (at most 1000).
    #[serde(default = "default_max_results")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_results: usize,
}

fn default_max_results() -> usize {
    DEFAULT_MAX_RESULTS
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchOutput {
    pub matches: Vec<Match>,
    /// Text files whose contents were searched.
    pub files_searched: usize,
    /// Files passed over: binary, larger than 2 MiB, or unreadable.
    pub files_skipped: usize,
    /// A cap stopped the search; there may be more matches.
    pub truncated: bool,
}

pub fn run(root: &Path, input: SearchInput) -> Result<SearchOutput, ToolError> {
    let target = RelPath::parse(&input.path)?;
    if target.as_path().starts_with(".git") {
        return Err(ToolError::invalid("search does not look inside .git"));
    }
    if input.context_lines > MAX_CONTEXT_LINES {
        return Err(ToolError::invalid(format!(
            "context_lines is at most {MAX_CONTEXT_LINES}"
        )));
    }
    if input.max_results == 0 || input.max_results > MAX_RESULTS {
        return Err(ToolError::invalid(format!(
            "max_results must be between 1 and {MAX_RESULTS}"
        )));
    }
    let re = compile_regex(&input.pattern, input.case_insensitive)?;
    let filter = input.glob.as_deref().map(FileFilter::new).transpose()?;

    let shown = target.display();
    let meta = std::fs::metadata(target.under(root)).map_err(|e| ToolError::io(&shown, e))?;
    let mut state = State {
        out: SearchOutput {
            matches: Vec::new(),
            files_searched: 0,
            files_skipped: 0,
            truncated: false,
        },
        budget: Budget {
            results: input.max_results,
            text_bytes: MAX_OUTPUT_TEXT_BYTES,
        },
        bytes_read: 0,
        re,
        context: input.context_lines,
    };
    if meta.is_file() {
        // A named file is searched even if ignored or hidden; the glob
        // still applies so that the answer means the same either way.
        if filter.as_ref().is_none_or(|f| f.accepts(&shown)) {
            let _ = state.search_file(&target.under(root), &shown);
        }
    } else {
        let walk_capped = walk::files(root, &target, |found| {
            if filter.as_ref().is_some_and(|f| !f.accepts(&found.shown)) {
                return ControlFlow::Continue(());
            }
            state.search_file(found.full, &found.shown)
        });
        state.out.truncated |= walk_capped;
    }
    Ok(state.out)
}

struct State {
    out: SearchOutput,
    budget: Budget,
    bytes_read: u64,
    re: Regex,
    context: usize,
}

impl State {
    fn search_file(&mut self, full: &Path, shown: &str) -> ControlFlow<()> {
        let Some(data) = read_bounded(full) else {
            self.out.files_skipped += 1;
            return ControlFlow::Continue(());
        };
        if scan::looks_binary(&data) {
            self.out.files_skipped += 1;
            return ControlFlow::Continue(());
        }
        self.out.files_searched += 1;
        self.bytes_read += data.len() as u64;
        let exhausted = scan::scan(
            &data,
            &self.re,
            self.context,
            shown,
            &mut self.budget,
            &mut self.out.matches,
        );
        if exhausted || self.bytes_read >= MAX_TOTAL_BYTES {
            self.out.truncated = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

/// The file's bytes, or `None` if it is unreadable or over
/// [`MAX_FILE_BYTES`]. The read itself is capped too, since the file may
/// grow between the size check and the read.
fn read_bounded(full: &Path) -> Option<Vec<u8>> {
    let file = std::fs::File::open(full).ok()?;
    let len = file.metadata().ok()?.len();
    if len > MAX_FILE_BYTES {
        return None;
    }
    let mut data = Vec::with_capacity(usize::try_from(len).ok()?);
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut data).ok()?;
    (data.len() as u64 <= MAX_FILE_BYTES).then_some(data)
}

fn compile_regex(pattern: &str, case_insensitive: bool) -> Result<Regex, ToolError> {
    if pattern.is_empty() {
        return Err(ToolError::invalid("pattern is empty"));
    }
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(ToolError::invalid(format!(
            "pattern is longer than {MAX_PATTERN_BYTES} bytes"
        )));
    }
    RegexBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_SIZE_LIMIT)
        .build()
        .map_err(|e| ToolError::invalid(format!("bad regex: {e}")))
}

/// The `glob` option.
struct FileFilter {
    matcher: GlobMatcher,
    by_name: bool,
}

impl FileFilter {
    fn new(glob: &str) -> Result<Self, ToolError> {
        if glob.len() > MAX_PATTERN_BYTES {
            return Err(ToolError::invalid(format!(
                "glob is longer than {MAX_PATTERN_BYTES} bytes"
            )));
        }
        let glob = glob.trim_start_matches("./");
        let matcher = GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .map_err(|e| ToolError::invalid(format!("bad glob: {e}")))?
            .compile_matcher();
        Ok(Self {
            matcher,
            by_name: !glob.contains('/'),
        })
    }

    fn accepts(&self, shown: &str) -> bool {
        if self.by_name {
            let name = shown.rsplit('/').next().unwrap_or(shown);
            self.matcher.is_match(name)
        } else {
            self.matcher.is_match(shown)
        }
    }
}

#[cfg(test)]
mod tests;
