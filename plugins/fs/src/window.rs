//! Cutting a window of lines out of a stream without holding the stream.
//!
//! `read` must report the file's total line count and also return only a
//! bounded slice of it, so the file is scanned once in fixed-size chunks:
//! bytes inside the window are kept (up to a byte cap), the rest are only
//! counted. A file with no newlines at all therefore costs one chunk of
//! memory, not its whole length.
//!
//! The byte cap is measured as the content will be encoded in the JSON
//! answer ([`json_cost`]), because the host refuses answers over its output
//! limit rather than cutting them: a log full of escape sequences would
//! otherwise grow sixfold on the way out.

use std::io::{self, Read};

/// Bytes examined for NUL to decide that a file is binary. Text files
/// practically never contain NUL; most binary formats do early on.
pub const BINARY_SNIFF_BYTES: usize = 8 * 1024;

/// Read size while scanning.
const CHUNK_BYTES: usize = 8 * 1024;

/// What to cut out of the stream.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    /// First line to keep, 1-based.
    pub start: usize,
    /// Most lines to keep.
    pub limit: usize,
    /// Most bytes of content to keep, counted by [`json_cost`].
    pub max_bytes: usize,
    /// Stop scanning (and counting) after this many bytes.
    pub max_scan: u64,
}

/// The cut-out lines and what is known about the rest.
#[derive(Debug, PartialEq, Eq)]
pub struct Window {
    /// Kept bytes, original line endings included.
    pub content: Vec<u8>,
    /// Last line kept, fully or partly; `start - 1` when none was.
    pub end_line: usize,
    /// Lines in the file, or lines seen before `max_scan` stopped the count.
    pub lines_seen: usize,
    /// The scan reached the end of the stream.
    pub complete: bool,
    /// `max_bytes` cut the content short.
    pub byte_capped: bool,
}

/// Whether the first [`BINARY_SNIFF_BYTES`] contain a NUL byte.
pub fn looks_binary(head: &[u8]) -> bool {
    head.iter().take(BINARY_SNIFF_BYTES).any(|&b| b == 0)
}

/// Scan `src`, returning `None` if it looks binary.
pub fn cut(mut src: impl Read, req: Request) -> io::Result<Option<Window>> {
    let mut head = Vec::with_capacity(BINARY_SNIFF_BYTES);
    src.by_ref()
        .take(BINARY_SNIFF_BYTES as u64)
        .read_to_end(&mut head)?;
    if looks_binary(&head) {
        return Ok(None);
    }
    let mut scan = Scan::new(req);
    scan.feed(&head);
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut complete = true;
    loop {
        if scan.scanned >= req.max_scan {
            complete = false;
            break;
        }
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        scan.feed(&buf[..n]);
    }
    Ok(Some(scan.finish(complete)))
}

struct Scan {
    req: Request,
    content: Vec<u8>,
    /// [`json_cost`] of `content`.
    cost: usize,
    /// `cost` when the current line began.
    line_start_cost: usize,
    /// Line the next byte belongs to, 1-based.
    line: usize,
    /// Length of `content` when the current line began.
    line_start: usize,
    end_line: usize,
    byte_capped: bool,
    scanned: u64,
    last_byte: Option<u8>,
}

impl Scan {
    fn new(req: Request) -> Self {
        Self {
            req,
            content: Vec::new(),
            cost: 0,
            line_start_cost: 0,
            line: 1,
            line_start: 0,
            end_line: req.start.saturating_sub(1),
            byte_capped: false,
            scanned: 0,
            last_byte: None,
        }
    }

    fn last_wanted(&self) -> usize {
        self.req
            .start
            .saturating_add(self.req.limit)
            .saturating_sub(1)
    }

    fn feed(&mut self, chunk: &[u8]) {
        let room = self.req.max_scan.saturating_sub(self.scanned);
        let chunk = &chunk[..chunk.len().min(usize::try_from(room).unwrap_or(usize::MAX))];
        if chunk.is_empty() {
            return;
        }
        self.scanned += chunk.len() as u64;
        self.last_byte = chunk.last().copied();
        for segment in chunk.split_inclusive(|&b| b == b'\n') {
            self.keep(segment);
            if segment.ends_with(b"\n") {
                self.line += 1;
                self.line_start = self.content.len();
                self.line_start_cost = self.cost;
            }
        }
    }

    fn keep(&mut self, segment: &[u8]) {
        let wanted = self.line >= self.req.start && self.line <= self.last_wanted();
        if !wanted || self.byte_capped {
            return;
        }
        let room = self.req.max_bytes - self.cost;
        let cost = json_cost(segment);
        if cost <= room {
            self.content.extend_from_slice(segment);
            self.cost += cost;
            self.end_line = self.line;
            return;
        }
        self.byte_capped = true;
        if self.line_start > 0 {
            // Whole lines read better than a fragment; keep only those.
            self.content.truncate(self.line_start);
            self.cost = self.line_start_cost;
            self.end_line = self.line - 1;
        } else {
            // A single line larger than the cap: a fragment beats nothing.
            let mut spent = 0;
            let fits = segment
                .iter()
                .take_while(|&&b| {
                    spent += json_cost(&[b]);
                    spent <= room
                })
                .count();
            self.content.extend_from_slice(&segment[..fits]);
            self.cost += spent.min(room);
            self.end_line = self.line;
        }
    }

    fn finish(self, complete: bool) -> Window {
        let lines_seen = match self.last_byte {
            None => 0,
            Some(b'\n') => self.line - 1,
            Some(_) => self.line,
        };
        Window {
            content: self.content,
            end_line: self.end_line,
            lines_seen,
            complete,
            byte_capped: self.byte_capped,
        }
    }
}

/// Bytes `data` takes in a JSON string, as serde_json escapes it. Invalid
/// UTF-8 counts 1 here but becomes a 3-byte replacement character, so the
/// real size is at most three times this.
pub fn json_cost(data: &[u8]) -> usize {
    data.iter()
        .map(|&b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum()
}

/// Decode kept bytes. A cut can split a UTF-8 sequence at the end, which is
/// dropped rather than shown as a replacement character; other invalid
/// bytes are replaced so that Latin-1 files remain readable.
pub fn decode(mut bytes: Vec<u8>) -> String {
    if let Err(e) = std::str::from_utf8(&bytes)
        && e.error_len().is_none()
    {
        bytes.truncate(e.valid_up_to());
    }
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn req(start: usize, limit: usize, max_bytes: usize) -> Request {
        Request {
            start,
            limit,
            max_bytes,
            max_scan: u64::MAX,
        }
    }

    fn run(data: &[u8], r: Request) -> Window {
        cut(data, r).unwrap().expect("text")
    }

    #[test]
    fn counts_lines_with_and_without_final_newline() {
        assert_eq!(run(b"", req(1, 10, 100)).lines_seen, 0);
        assert_eq!(run(b"a\nb\n", req(1, 10, 100)).lines_seen, 2);
        assert_eq!(run(b"a\nb", req(1, 10, 100)).lines_seen, 2);
        assert_eq!(run(b"\n", req(1, 10, 100)).lines_seen, 1);
    }

    #[test]
    fn cuts_a_window_of_lines() {
        let w = run(b"1\n2\n3\n4\n5\n", req(2, 3, 100));
        assert_eq!(w.content, b"2\n3\n4\n");
        assert_eq!(w.end_line, 4);
        assert_eq!(w.lines_seen, 5);
        assert!(w.complete && !w.byte_capped);
    }

    #[test]
    fn window_past_the_end_is_empty() {
        let w = run(b"1\n2\n", req(5, 3, 100));
        assert!(w.content.is_empty());
        assert_eq!(w.end_line, 4);
    }

    #[test]
    fn byte_cap_keeps_whole_lines() {
        let w = run(b"aaaa\nbbbb\ncccc\n", req(1, 10, 12));
        assert_eq!(w.content, b"aaaa\nbbbb\n");
        assert_eq!(w.end_line, 2);
        assert!(w.byte_capped);
        assert_eq!(w.lines_seen, 3);
    }

    #[test]
    fn byte_cap_splits_a_single_huge_line() {
        let data = vec![b'x'; 200_000];
        let w = run(&data, req(1, 10, 1000));
        assert_eq!(w.content.len(), 1000);
        assert_eq!(w.end_line, 1);
        assert!(w.byte_capped);
        assert_eq!(w.lines_seen, 1);
    }

    #[test]
    fn byte_cap_counts_json_escapes() {
        let w = run(b"\x1b\x1b\x1b\n\"\"\n", req(1, 10, 10));
        assert_eq!(w.content, b"\x1b");
        assert!(w.byte_capped);
        let w = run(b"\"\"\n\x1b\x1b\n", req(1, 10, 10));
        assert_eq!(w.content, b"\"\"\n");
        let w = run(b"ab\x1bcd", req(1, 10, 8));
        assert_eq!(w.content, b"ab\x1b");
        assert_eq!(json_cost(b"a\"\\\n\x01"), 1 + 2 + 2 + 2 + 6);
    }

    #[test]
    fn scan_cap_stops_counting() {
        let data = b"a\n".repeat(100);
        let mut r = req(1, 2, 100);
        r.max_scan = 10;
        let w = run(&data, r);
        assert!(!w.complete);
        assert_eq!(w.lines_seen, 5);
        assert_eq!(w.content, b"a\na\n");
    }

    #[test]
    fn detects_binary() {
        assert!(cut(&b"ab\0cd"[..], req(1, 1, 10)).unwrap().is_none());
        let mut late = vec![b'a'; BINARY_SNIFF_BYTES];
        late.push(0);
        assert!(cut(&late[..], req(1, 1, 10)).unwrap().is_some());
    }

    #[test]
    fn decode_drops_a_split_char_and_replaces_bad_bytes() {
        let mut split = "é".as_bytes().to_vec();
        split.insert(0, b'a');
        split.pop();
        assert_eq!(decode(split), "a");
        assert_eq!(decode(vec![b'a', 0xff, b'b']), "a\u{fffd}b");
    }
}
