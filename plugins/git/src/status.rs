//! The `status` tool: `git status --porcelain=v1 --branch -z`, parsed.
//!
//! `-z` is used so that paths come unquoted and NUL-terminated: no C-style
//! unescaping, and a rename's two paths are separate records.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Most entries returned.
pub const MAX_ENTRIES: usize = 1000;
/// Most bytes of paths returned in all, so a tree of very long names cannot
/// blow the result limit.
pub const MAX_PATH_TOTAL_BYTES: usize = 128 * 1024;

/// The arguments of the one git invocation.
pub const ARGS: [&str; 4] = ["status", "--porcelain=v1", "--branch", "-z"];

/// No input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {}

/// The current branch and changed paths.
#[derive(Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct StatusOutput {
    /// Current branch; `null` when HEAD is detached.
    pub branch: Option<String>,
    /// The upstream branch it tracks, if any.
    pub upstream: Option<String>,
    /// Commits on the branch not on its upstream.
    pub ahead: u32,
    /// Commits on the upstream not on the branch.
    pub behind: u32,
    /// Changed, untracked and unmerged paths.
    pub entries: Vec<Entry>,
    /// Some entries were left out (a cap or the host's output limit).
    pub truncated: bool,
}

/// One path's state.
#[derive(Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct Entry {
    /// The path, relative to the repository root.
    pub path: String,
    /// For a rename or copy, the path it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// State in the index (staged): `M` modified, `A` added, `D` deleted,
    /// `R` renamed, `C` copied, `T` type changed, `U` unmerged, `?`
    /// untracked, `!` ignored, `.` unchanged.
    pub index: char,
    /// State in the working tree, with the same letters.
    pub worktree: char,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Branch {
    name: Option<String>,
    upstream: Option<String>,
    ahead: u32,
    behind: u32,
}

/// Parse git's output; `host_truncated` says the host cut it short.
pub fn parse(stdout: &[u8], host_truncated: bool) -> StatusOutput {
    let mut records: Vec<&[u8]> = stdout.split(|&b| b == 0).collect();
    // A complete output ends in NUL, leaving an empty last piece; anything
    // else is a record the host's limit cut in half.
    let mut truncated = host_truncated;
    if records.pop().is_some_and(|last| !last.is_empty()) {
        truncated = true;
    }
    let mut records = records.into_iter().peekable();

    let branch = match records.peek().and_then(|r| r.strip_prefix(b"## ")) {
        Some(header) => {
            records.next();
            parse_branch(&String::from_utf8_lossy(header))
        }
        None => Branch::default(),
    };

    let mut entries = Vec::new();
    let mut path_bytes = 0;
    while let Some(record) = records.next() {
        let [x, y, b' ', path @ ..] = record else {
            continue;
        };
        let from = if matches!(x, b'R' | b'C') || matches!(y, b'R' | b'C') {
            match records.next() {
                Some(from) => Some(lossy(from)),
                None => {
                    truncated = true;
                    break;
                }
            }
        } else {
            None
        };
        path_bytes += path.len() + from.as_ref().map_or(0, String::len);
        if entries.len() == MAX_ENTRIES || path_bytes > MAX_PATH_TOTAL_BYTES {
            truncated = true;
            break;
        }
        entries.push(Entry {
            path: lossy(path),
            from,
            index: state(*x),
            worktree: state(*y),
        });
    }

    StatusOutput {
        branch: branch.name,
        upstream: branch.upstream,
        ahead: branch.ahead,
        behind: branch.behind,
        entries,
        truncated,
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn state(b: u8) -> char {
    if b == b' ' { '.' } else { char::from(b) }
}

/// Parse the text after `## `, e.g. `main...origin/main [ahead 1, behind 2]`,
/// `No commits yet on main`, `HEAD (no branch)`.
fn parse_branch(header: &str) -> Branch {
    let mut branch = Branch::default();
    if header == "HEAD (no branch)" {
        return branch;
    }
    for unborn in ["No commits yet on ", "Initial commit on "] {
        if let Some(name) = header.strip_prefix(unborn) {
            branch.name = Some(name.to_string());
            return branch;
        }
    }
    let (names, track) = match header.strip_suffix(']').and_then(|h| h.rsplit_once(" [")) {
        Some((names, track)) => (names, track),
        None => (header, ""),
    };
    // Ref names cannot contain `..`, so the first `...` separates the two.
    match names.split_once("...") {
        Some((name, upstream)) => {
            branch.name = Some(name.to_string());
            branch.upstream = Some(upstream.to_string());
        }
        None => branch.name = Some(names.to_string()),
    }
    for part in track.split(", ") {
        if let Some(n) = part.strip_prefix("ahead ") {
            branch.ahead = n.parse().unwrap_or(0);
        } else if let Some(n) = part.strip_prefix("behind ") {
            branch.behind = n.parse().unwrap_or(0);
        }
    }
    branch
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn entry(path: &str, from: Option<&str>, index: char, worktree: char) -> Entry {
        Entry {
            path: path.into(),
            from: from.map(Into::into),
            index,
            worktree,
        }
    }

    #[test]
    fn parses_branch_and_entries() {
        // Captured from git 2.47: a deletion, a rename, untracked files.
        let out = parse(
            b"## main...origin/main [ahead 1, behind 2]\0D  a b.txt\0R  y\0x\0?? a b.txt\0?? tab\tname\0 M src/lib.rs\0",
            false,
        );
        assert_eq!(out.branch.as_deref(), Some("main"));
        assert_eq!(out.upstream.as_deref(), Some("origin/main"));
        assert_eq!((out.ahead, out.behind), (1, 2));
        assert_eq!(
            out.entries,
            vec![
                entry("a b.txt", None, 'D', '.'),
                entry("y", Some("x"), 'R', '.'),
                entry("a b.txt", None, '?', '?'),
                entry("tab\tname", None, '?', '?'),
                entry("src/lib.rs", None, '.', 'M'),
            ]
        );
        assert!(!out.truncated);
    }

    #[test]
    fn json_shape() {
        let out = parse(b"## main\0R  new\0old\0", false);
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            serde_json::json!({
                "branch": "main", "upstream": null, "ahead": 0, "behind": 0,
                "entries": [{"path": "new", "from": "old", "index": "R", "worktree": "."}],
                "truncated": false
            })
        );
    }

    #[test]
    fn branch_headers() {
        let b = |h: &str| parse_branch(h);
        assert_eq!(
            b("main"),
            Branch {
                name: Some("main".into()),
                ..Default::default()
            }
        );
        assert_eq!(b("No commits yet on trunk").name.as_deref(), Some("trunk"));
        assert_eq!(b("Initial commit on old").name.as_deref(), Some("old"));
        assert_eq!(b("HEAD (no branch)"), Branch::default());
        let gone = b("feat/x...origin/feat/x [gone]");
        assert_eq!(gone.name.as_deref(), Some("feat/x"));
        assert_eq!(gone.upstream.as_deref(), Some("origin/feat/x"));
        assert_eq!((gone.ahead, gone.behind), (0, 0));
        assert_eq!(b("a...o/a [behind 3]").behind, 3);
    }

    #[test]
    fn clean_and_empty_output() {
        let out = parse(b"## main\0", false);
        assert!(out.entries.is_empty() && !out.truncated);
        let out = parse(b"", false);
        assert_eq!(out.branch, None);
        assert!(out.entries.is_empty());
    }

    #[test]
    fn a_record_cut_by_the_host_is_dropped() {
        let out = parse(b"## main\0 M a\0 M partial-na", true);
        assert_eq!(out.entries, vec![entry("a", None, '.', 'M')]);
        assert!(out.truncated);
        // A rename whose source was cut off.
        let out = parse(b"## main\0R  new\0", false);
        assert!(out.entries.is_empty() && out.truncated);
    }

    #[test]
    fn entries_are_capped() {
        let many: Vec<u8> = (0..MAX_ENTRIES + 5)
            .flat_map(|i| format!("?? f{i}\0").into_bytes())
            .collect();
        let out = parse(&many, false);
        assert_eq!(out.entries.len(), MAX_ENTRIES);
        assert!(out.truncated);

        let long = format!("?? {}\0", "p".repeat(4000)).repeat(40);
        let out = parse(long.as_bytes(), false);
        assert!(out.entries.len() < 40 && out.truncated);
    }
}
