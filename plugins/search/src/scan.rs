//! Finding matching lines, with context, in one file's bytes.
//!
//! Matching is per line (a pattern never spans a newline), which keeps the
//! meaning of `^`, `$` and context lines simple for the model. Bytes are
//! matched, not strings, so a stray invalid UTF-8 byte does not hide the
//! rest of a file.

use std::collections::VecDeque;

use regex::bytes::Regex;
use schemars::JsonSchema;
use serde::Serialize;

/// Bytes examined for NUL to decide that a file is binary.
pub const BINARY_SNIFF_BYTES: usize = 8 * 1024;
/// Longest line shown, in characters; longer lines end in `…`.
pub const MAX_LINE_CHARS: usize = 500;

/// One matching line.
#[derive(Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct Match {
    /// File, relative to the workspace root.
    pub path: String,
    /// 1-based.
    pub line_number: usize,
    pub line: String,
    /// Up to `context_lines` lines before the match.
    pub before: Vec<String>,
    /// Up to `context_lines` lines after the match.
    pub after: Vec<String>,
}

/// What is left of the call's output allowance.
#[derive(Debug)]
pub struct Budget {
    pub results: usize,
    /// Bytes of text (paths, matching and context lines), as encoded in the
    /// JSON answer, still allowed.
    pub text_bytes: usize,
}

impl Budget {
    fn spent(&self) -> bool {
        self.results == 0 || self.text_bytes == 0
    }

    fn take(&mut self, text: &str) {
        self.text_bytes = self.text_bytes.saturating_sub(json_len(text));
    }
}

/// Bytes `text` takes in a JSON string, as serde_json escapes it. The host
/// refuses answers over its output limit instead of cutting them, so the
/// budget must count what is really sent.
pub fn json_len(text: &str) -> usize {
    text.bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum()
}

/// Whether the first [`BINARY_SNIFF_BYTES`] contain a NUL byte.
pub fn looks_binary(data: &[u8]) -> bool {
    data.iter().take(BINARY_SNIFF_BYTES).any(|&b| b == 0)
}

/// Decode a line for display, cut to [`MAX_LINE_CHARS`].
pub fn shorten(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    match text.char_indices().nth(MAX_LINE_CHARS) {
        None => text.into_owned(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

/// Append the matches in `data` to `out`. Returns `true` if the budget ran
/// out, in which case later matches in this file were not recorded.
pub fn scan(
    data: &[u8],
    re: &Regex,
    context: usize,
    path: &str,
    budget: &mut Budget,
    out: &mut Vec<Match>,
) -> bool {
    let mut before: VecDeque<&[u8]> = VecDeque::with_capacity(context + 1);
    // Indices into `out` of matches still collecting `after` lines.
    let mut pending: Vec<usize> = Vec::new();
    let mut exhausted = false;
    for (index, raw) in data.split_inclusive(|&b| b == b'\n').enumerate() {
        let line = trim_eol(raw);
        if !pending.is_empty() {
            let shown = shorten(line);
            for &i in &pending {
                budget.take(&shown);
                out[i].after.push(shown.clone());
            }
            pending.retain(|&i| out[i].after.len() < context);
        }
        if !exhausted && re.is_match(line) {
            if budget.spent() {
                exhausted = true;
            } else {
                let found = Match {
                    path: path.to_string(),
                    line_number: index + 1,
                    line: shorten(line),
                    before: before.iter().map(|l| shorten(l)).collect(),
                    after: Vec::new(),
                };
                budget.results -= 1;
                budget.take(&found.path);
                budget.take(&found.line);
                found.before.iter().for_each(|l| budget.take(l));
                out.push(found);
                if context > 0 {
                    pending.push(out.len() - 1);
                }
            }
        }
        if exhausted && pending.is_empty() {
            break;
        }
        if context > 0 {
            if before.len() == context {
                before.pop_front();
            }
            before.push_back(line);
        }
    }
    exhausted
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn budget(results: usize) -> Budget {
        Budget {
            results,
            text_bytes: usize::MAX,
        }
    }

    fn find(data: &str, pattern: &str, context: usize, b: &mut Budget) -> (Vec<Match>, bool) {
        let re = Regex::new(pattern).unwrap();
        let mut out = Vec::new();
        let stopped = scan(data.as_bytes(), &re, context, "f", b, &mut out);
        (out, stopped)
    }

    #[test]
    fn finds_lines_with_numbers() {
        let (m, stopped) = find("alpha\nbeta\ngamma\n", "a$", 0, &mut budget(10));
        assert!(!stopped);
        let got: Vec<_> = m.iter().map(|m| (m.line_number, m.line.as_str())).collect();
        assert_eq!(got, [(1, "alpha"), (2, "beta"), (3, "gamma")]);
    }

    #[test]
    fn context_is_clipped_at_file_edges_and_may_overlap() {
        let (m, _) = find("1\n2 x\n3\n4 x\n5\n", "x", 2, &mut budget(10));
        assert_eq!(m[0].before, ["1"]);
        assert_eq!(m[0].after, ["3", "4 x"]);
        assert_eq!(m[1].before, ["2 x", "3"]);
        assert_eq!(m[1].after, ["5"]);
    }

    #[test]
    fn crlf_and_missing_final_newline() {
        let (m, _) = find("a end\r\nb end", "end$", 1, &mut budget(10));
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].line, "a end");
        assert_eq!(m[0].after, ["b end"]);
    }

    #[test]
    fn result_budget_stops_but_finishes_context() {
        let mut b = budget(1);
        let (m, stopped) = find("x\nafter\nx\n", "x", 1, &mut b);
        assert!(stopped);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].after, ["after"]);
    }

    #[test]
    fn text_budget_stops() {
        let mut b = Budget {
            results: 100,
            text_bytes: 3,
        };
        let (m, stopped) = find("xxxx\nxx\n", "x", 0, &mut b);
        assert!(stopped);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn budget_counts_json_escapes() {
        assert_eq!(json_len("a\"\\\n\u{1}é"), 1 + 2 + 2 + 2 + 6 + 2);
        let mut b = Budget {
            results: 100,
            text_bytes: 1 + 4,
        };
        // The path "f" costs 1, the line `""` costs 4: the budget is spent.
        let (m, stopped) = find("\"\"\n\"\"\n", "\"", 0, &mut b);
        assert!(stopped);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn long_lines_are_shortened() {
        let long = "é".repeat(MAX_LINE_CHARS + 10);
        let shown = shorten(long.as_bytes());
        assert_eq!(shown.chars().count(), MAX_LINE_CHARS + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(shorten(b"short"), "short");
    }

    #[test]
    fn invalid_utf8_is_searched_and_replaced() {
        let data = b"caf\xe9 ok\n";
        let re = Regex::new("ok").unwrap();
        let mut out = Vec::new();
        scan(data, &re, 0, "f", &mut budget(5), &mut out);
        assert_eq!(out[0].line, "caf\u{fffd} ok");
    }

    #[test]
    fn binary_detection_looks_at_the_head_only() {
        assert!(looks_binary(b"a\0b"));
        assert!(!looks_binary(b"plain"));
        let mut late = vec![b'a'; BINARY_SNIFF_BYTES];
        late.push(0);
        assert!(!looks_binary(&late));
    }
}
