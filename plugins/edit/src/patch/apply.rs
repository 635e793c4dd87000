//! One file's hunks applied to its text. See the rules in the parent module.

use std::fmt;

use super::{Hunk, Line};

/// Most expected lines quoted in a [`HunkError`] message.
pub const MAX_QUOTED_LINES: usize = 20;
/// Longest expected line quoted in a [`HunkError`] message, in characters.
pub const MAX_QUOTED_CHARS: usize = 200;

/// The new text of a file and how much changed.
#[derive(Debug, PartialEq, Eq)]
pub struct Applied {
    pub text: String,
    pub added: usize,
    pub removed: usize,
}

/// A hunk that could not be placed.
#[derive(Debug, PartialEq, Eq)]
pub struct HunkError {
    /// 1-based among the section's hunks.
    pub hunk: usize,
    pub header: Option<String>,
    /// 1-based file line the search started at.
    pub from_line: usize,
    pub end_of_file: bool,
    /// Why it failed: the header or the expected lines were not found.
    pub header_missing: bool,
    /// The context and removed lines that were looked for.
    pub expected: Vec<String>,
}

impl fmt::Display for HunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hunk {}", self.hunk)?;
        if let Some(h) = &self.header {
            write!(f, " (@@ {h})")?;
        }
        if self.header_missing {
            let h = self.header.as_deref().unwrap_or_default();
            return write!(
                f,
                ": no line containing the context header {h:?} at or after line {}",
                self.from_line
            );
        }
        let place = if self.end_of_file {
            "at the end of the file".to_string()
        } else {
            format!("at or after line {}", self.from_line)
        };
        write!(
            f,
            " did not match: these context/removed lines were not found {place}:"
        )?;
        for line in self.expected.iter().take(MAX_QUOTED_LINES) {
            let shown: String = line.chars().take(MAX_QUOTED_CHARS).collect();
            write!(f, "\n  |{shown}")?;
        }
        if self.expected.len() > MAX_QUOTED_LINES {
            write!(
                f,
                "\n  ({} more lines)",
                self.expected.len() - MAX_QUOTED_LINES
            )?;
        }
        Ok(())
    }
}

/// A line of the file: its text and the ending it had ("" only for a last
/// line without a newline, and for lines whose ending is decided later).
#[derive(Clone, Copy)]
struct FileLine<'a> {
    text: &'a str,
    eol: &'a str,
}

fn split_lines(text: &str) -> Vec<FileLine<'_>> {
    text.split_inclusive('\n')
        .map(|raw| {
            let body = raw.strip_suffix('\n').unwrap_or(raw);
            let text = body.strip_suffix('\r').unwrap_or(body);
            FileLine {
                text,
                eol: &raw[text.len()..],
            }
        })
        .collect()
}

/// Apply `hunks` in order to `original`.
pub fn apply(original: &str, hunks: &[Hunk]) -> Result<Applied, HunkError> {
    let old = split_lines(original);
    let default_eol = old
        .first()
        .map_or("\n", |l| if l.eol.is_empty() { "\n" } else { l.eol });
    let ends_with_newline = original.is_empty() || original.ends_with('\n');

    let mut out: Vec<FileLine<'_>> = Vec::with_capacity(old.len());
    let mut cursor = 0;
    let (mut added, mut removed) = (0, 0);
    for (index, hunk) in hunks.iter().enumerate() {
        let expected: Vec<&str> = hunk
            .lines
            .iter()
            .filter_map(|l| match l {
                Line::Context(t) | Line::Remove(t) => Some(t.as_str()),
                Line::Add(_) => None,
            })
            .collect();
        let fail = |header_missing, from: usize| HunkError {
            hunk: index + 1,
            header: hunk.header.clone(),
            from_line: from + 1,
            end_of_file: hunk.end_of_file,
            header_missing,
            expected: expected.iter().map(|s| s.to_string()).collect(),
        };

        let mut from = cursor;
        let mut header_at = None;
        if let Some(header) = &hunk.header {
            let at = (cursor..old.len())
                .find(|&i| old[i].text.contains(header.as_str()))
                .ok_or_else(|| fail(true, cursor))?;
            header_at = Some(at);
            // The header line may itself be the hunk's first context line.
            from = at;
        }
        let pos = if expected.is_empty() {
            match header_at {
                Some(at) if !hunk.end_of_file => at + 1,
                _ => old.len(),
            }
        } else {
            locate(&old, &expected, from, hunk.end_of_file).ok_or_else(|| fail(false, from))?
        };

        out.extend_from_slice(&old[cursor..pos]);
        let mut matched = pos;
        for line in &hunk.lines {
            match line {
                Line::Context(_) => {
                    out.push(old[matched]);
                    matched += 1;
                }
                Line::Remove(_) => {
                    matched += 1;
                    removed += 1;
                }
                Line::Add(text) => {
                    out.push(FileLine { text, eol: "" });
                    added += 1;
                }
            }
        }
        cursor = matched;
    }
    out.extend_from_slice(&old[cursor..]);

    let mut text = String::with_capacity(original.len());
    let last = out.len().saturating_sub(1);
    for (i, line) in out.iter().enumerate() {
        text.push_str(line.text);
        if i < last || ends_with_newline {
            text.push_str(if line.eol.is_empty() {
                default_eol
            } else {
                line.eol
            });
        }
    }
    Ok(Applied {
        text,
        added,
        removed,
    })
}

/// Where `expected` occurs in `lines` at or after `from`: exactly if
/// possible, else ignoring trailing whitespace.
fn locate(lines: &[FileLine<'_>], expected: &[&str], from: usize, at_end: bool) -> Option<usize> {
    let last_start = lines.len().checked_sub(expected.len())?;
    if from > last_start {
        return None;
    }
    let starts = if at_end {
        last_start..=last_start
    } else {
        from..=last_start
    };
    let matches_at = |start: usize, same: fn(&str, &str) -> bool| {
        expected
            .iter()
            .enumerate()
            .all(|(k, want)| same(lines[start + k].text, want))
    };
    starts
        .clone()
        .find(|&s| matches_at(s, |a, b| a == b))
        .or_else(|| {
            starts
                .clone()
                .find(|&s| matches_at(s, |a, b| a.trim_end() == b.trim_end()))
        })
}
