//! Text of a patch to [`Op`]s. See the format in the parent module.

use super::{Hunk, Line, Op, ParseError};

const BEGIN: &str = "*** Begin Patch";
const END: &str = "*** End Patch";
const ADD: &str = "*** Add File: ";
const DELETE: &str = "*** Delete File: ";
const UPDATE: &str = "*** Update File: ";
const MOVE: &str = "*** Move to: ";
const END_OF_FILE: &str = "*** End of File";

/// Parse a whole patch, or say where it is malformed.
pub fn parse(patch: &str) -> Result<Vec<Op>, ParseError> {
    let lines: Vec<&str> = patch.lines().collect();
    let mut p = Parser { lines, at: 0 };
    p.skip_blank();
    if p.peek().map(str::trim_end) != Some(BEGIN) {
        return Err(p.error(format!("a patch must start with `{BEGIN}`")));
    }
    p.at += 1;
    let mut ops = Vec::new();
    loop {
        p.skip_blank();
        let Some(line) = p.peek() else {
            return Err(ParseError {
                line: 0,
                message: format!("the patch ends without `{END}`"),
            });
        };
        if line.trim_end() == END {
            p.at += 1;
            break;
        }
        ops.push(p.section()?);
    }
    p.skip_blank();
    if p.peek().is_some() {
        return Err(p.error(format!("nothing may follow `{END}`")));
    }
    Ok(ops)
}

struct Parser<'a> {
    lines: Vec<&'a str>,
    /// Index of the next line to read.
    at: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.lines.get(self.at).copied()
    }

    fn error(&self, message: String) -> ParseError {
        ParseError {
            line: self.at + 1,
            message,
        }
    }

    fn skip_blank(&mut self) {
        while self.peek().is_some_and(|l| l.trim().is_empty()) {
            self.at += 1;
        }
    }

    fn path_after(&self, line: &str, prefix: &str) -> Result<String, ParseError> {
        let path = line[prefix.len()..].trim();
        if path.is_empty() {
            return Err(self.error(format!("`{}` needs a path", prefix.trim_end())));
        }
        Ok(path.to_string())
    }

    fn section(&mut self) -> Result<Op, ParseError> {
        let line = self.peek().unwrap_or_default();
        if line.starts_with(ADD) {
            let path = self.path_after(line, ADD)?;
            self.at += 1;
            self.add_body(path)
        } else if line.starts_with(DELETE) {
            let path = self.path_after(line, DELETE)?;
            self.at += 1;
            Ok(Op::Delete { path })
        } else if line.starts_with(UPDATE) {
            let path = self.path_after(line, UPDATE)?;
            self.at += 1;
            self.update_body(path)
        } else if line.starts_with('+') {
            Err(self.error(
                "a `+` line outside any section; a blank line ends `*** Add File:`, so write empty lines of an added file as a lone `+`"
                    .to_string(),
            ))
        } else {
            Err(self.error(format!(
                "expected `{ADD}<path>`, `{UPDATE}<path>`, `{DELETE}<path>` or `{END}`, found {}",
                quote(line)
            )))
        }
    }

    fn add_body(&mut self, path: String) -> Result<Op, ParseError> {
        let mut content = String::new();
        while let Some(line) = self.peek() {
            if let Some(text) = line.strip_prefix('+') {
                content.push_str(text);
                content.push('\n');
            } else if line.starts_with("*** ") || line.trim().is_empty() {
                break;
            } else {
                return Err(self.error(format!(
                    "every line of an added file starts with `+`, found {}",
                    quote(line)
                )));
            }
            self.at += 1;
        }
        Ok(Op::Add { path, content })
    }

    fn update_body(&mut self, path: String) -> Result<Op, ParseError> {
        let mut move_to = None;
        if let Some(line) = self.peek()
            && line.starts_with(MOVE)
        {
            move_to = Some(self.path_after(line, MOVE)?);
            self.at += 1;
        }
        let start = self.at;
        let mut hunks = Vec::new();
        let mut current: Option<HunkBuilder> = None;
        while let Some(line) = self.peek() {
            if line.trim_end() == END_OF_FILE {
                let Some(mut hunk) = current.take() else {
                    return Err(self.error(format!("`{END_OF_FILE}` must end a hunk")));
                };
                hunk.hunk.end_of_file = true;
                hunks.push(hunk.finish(self)?);
            } else if line.starts_with("*** ") {
                break;
            } else if let Some(header) = line.strip_prefix("@@") {
                if let Some(hunk) = current.take() {
                    hunks.push(hunk.finish(self)?);
                }
                current = Some(HunkBuilder::new(header_text(header)));
            } else if line.is_empty() && current.is_none() {
                // A blank line between sections, not part of any hunk.
            } else {
                let hunk = current.get_or_insert_with(|| HunkBuilder::new(None));
                hunk.push(line).map_err(|m| self.error(m))?;
            }
            self.at += 1;
        }
        if let Some(hunk) = current.take() {
            hunks.push(hunk.finish(self)?);
        }
        if hunks.is_empty() && move_to.is_none() {
            self.at = start;
            return Err(self.error(format!("`{UPDATE}{path}` has no hunks")));
        }
        Ok(Op::Update {
            path,
            move_to,
            hunks,
        })
    }
}

/// Longest piece of a patch line quoted in an error, in characters.
const MAX_QUOTED_CHARS: usize = 120;

/// A patch line for an error message: debug-quoted, and shortened, since a
/// single line of a patch can be a megabyte long.
fn quote(line: &str) -> String {
    match line.char_indices().nth(MAX_QUOTED_CHARS) {
        None => format!("{line:?}"),
        Some((cut, _)) => format!("{:?}…", &line[..cut]),
    }
}

/// The context header of an `@@` line, or `None` for none at all or a
/// unified-diff range, which says nothing this format can use.
fn header_text(after_at: &str) -> Option<String> {
    let text = after_at.trim();
    let is_range = text.starts_with('-')
        && text.ends_with("@@")
        && text.trim_end_matches("@@").split_whitespace().all(|part| {
            let digits = part.trim_start_matches(['-', '+']);
            !digits.is_empty() && digits.split(',').all(|n| n.parse::<usize>().is_ok())
        });
    (!text.is_empty() && !is_range).then(|| text.to_string())
}

struct HunkBuilder {
    hunk: Hunk,
    /// Empty lines at the end of the body so far that were bare (no space).
    bare_tail: usize,
}

impl HunkBuilder {
    fn new(header: Option<String>) -> Self {
        Self {
            hunk: Hunk {
                header,
                lines: Vec::new(),
                end_of_file: false,
            },
            bare_tail: 0,
        }
    }

    fn push(&mut self, line: &str) -> Result<(), String> {
        let (parsed, bare) = match line.chars().next() {
            None => (Line::Context(String::new()), true),
            Some(' ') => (Line::Context(line[1..].to_string()), false),
            Some('-') => (Line::Remove(line[1..].to_string()), false),
            Some('+') => (Line::Add(line[1..].to_string()), false),
            Some(_) => {
                return Err(format!(
                    "hunk lines start with ` ` (context), `-` (removed) or `+` (added), found {}",
                    quote(line)
                ));
            }
        };
        self.bare_tail = if bare { self.bare_tail + 1 } else { 0 };
        self.hunk.lines.push(parsed);
        Ok(())
    }

    fn finish(mut self, p: &Parser<'_>) -> Result<Hunk, ParseError> {
        let keep = self.hunk.lines.len() - self.bare_tail;
        self.hunk.lines.truncate(keep);
        if self.hunk.lines.is_empty() {
            return Err(p.error("the hunk before this line is empty".to_string()));
        }
        Ok(self.hunk)
    }
}
