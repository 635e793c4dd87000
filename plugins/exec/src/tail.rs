//! Keeping the end of a command's output.
//!
//! Build and test tools put what matters last: the failing test, the
//! compiler error summary, the exit reason. So each stream is cut to its
//! last lines, and then to a byte budget, always at a line boundary unless a
//! single last line is itself over the budget.

/// Most lines kept of each stream.
pub const TAIL_LINES: usize = 200;
/// Most bytes kept of each stream, counted before UTF-8 decoding. Even if
/// every kept byte became a six-byte JSON escape, two streams stay far under
/// the host's default 1 MiB result limit.
pub const TAIL_BYTES: usize = 16 * 1024;

/// The end of one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tail {
    /// The kept bytes, decoded lossily as UTF-8.
    pub text: String,
    /// Lines in the whole captured stream.
    pub lines: usize,
    /// Lines of the stream not shown in full: dropped before the tail, plus
    /// the first kept line when the byte budget cut into it.
    pub cut: usize,
}

/// Lines in `bytes`: newlines, plus one for an unterminated last line.
pub fn count_lines(bytes: &[u8]) -> usize {
    let newlines = bytes.iter().filter(|&&b| b == b'\n').count();
    newlines + usize::from(bytes.last().is_some_and(|&b| b != b'\n'))
}

/// Keep at most `max_lines` lines and `max_bytes` bytes of the end of `bytes`.
pub fn tail(bytes: &[u8], max_lines: usize, max_bytes: usize) -> Tail {
    let lines = count_lines(bytes);
    // The last line's own terminator does not start another line.
    let body_end = match bytes.last() {
        Some(b'\n') => bytes.len() - 1,
        _ => bytes.len(),
    };

    let mut start = if max_lines == 0 {
        bytes.len()
    } else {
        bytes[..body_end]
            .iter()
            .enumerate()
            .rev()
            .filter(|&(_, &b)| b == b'\n')
            .nth(max_lines - 1)
            .map_or(0, |(i, _)| i + 1)
    };

    let mut partial = false;
    if bytes.len() - start > max_bytes {
        let earliest = bytes.len() - max_bytes;
        let at_boundary = earliest == 0 || bytes[earliest - 1] == b'\n';
        start = if at_boundary {
            earliest
        } else {
            match bytes[earliest..body_end].iter().position(|&b| b == b'\n') {
                Some(i) => earliest + i + 1,
                None => {
                    partial = true;
                    char_boundary(bytes, earliest)
                }
            }
        };
    }

    let kept = &bytes[start..];
    Tail {
        text: String::from_utf8_lossy(kept).into_owned(),
        lines,
        cut: lines - count_lines(kept) + usize::from(partial && !kept.is_empty()),
    }
}

/// The first index at or after `i` that does not split a UTF-8 sequence
/// (at most three continuation bytes are skipped, so invalid input still
/// makes progress).
fn char_boundary(bytes: &[u8], i: usize) -> usize {
    let continuation = |b: u8| b & 0b1100_0000 == 0b1000_0000;
    let skip = bytes[i..]
        .iter()
        .take(3)
        .take_while(|&&b| continuation(b))
        .count();
    i + skip
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn numbered(n: usize) -> Vec<u8> {
        (1..=n)
            .map(|i| format!("line {i}\n"))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn counts_lines_with_and_without_final_newline() {
        assert_eq!(count_lines(b""), 0);
        assert_eq!(count_lines(b"\n"), 1);
        assert_eq!(count_lines(b"a"), 1);
        assert_eq!(count_lines(b"a\nb"), 2);
        assert_eq!(count_lines(b"a\nb\n"), 2);
    }

    #[test]
    fn short_output_is_kept_whole() {
        let t = tail(b"ok\ndone\n", TAIL_LINES, TAIL_BYTES);
        assert_eq!(
            t,
            Tail {
                text: "ok\ndone\n".into(),
                lines: 2,
                cut: 0
            }
        );
        assert_eq!(
            tail(b"", 10, 10),
            Tail {
                text: String::new(),
                lines: 0,
                cut: 0
            }
        );
    }

    #[test]
    fn keeps_the_last_lines() {
        let t = tail(&numbered(10), 3, 1024);
        assert_eq!(t.text, "line 8\nline 9\nline 10\n");
        assert_eq!((t.lines, t.cut), (10, 7));
    }

    #[test]
    fn keeps_the_last_lines_without_final_newline() {
        let t = tail(b"a\nb\nc", 2, 1024);
        assert_eq!(t.text, "b\nc");
        assert_eq!((t.lines, t.cut), (3, 1));
    }

    #[test]
    fn byte_budget_drops_whole_lines() {
        // Each line is 7 bytes ("line N\n" for N < 10).
        let t = tail(&numbered(9), 100, 15);
        assert_eq!(t.text, "line 8\nline 9\n");
        assert_eq!((t.lines, t.cut), (9, 7));
    }

    #[test]
    fn byte_budget_on_a_line_boundary_keeps_that_line() {
        let t = tail(&numbered(9), 100, 14);
        assert_eq!(t.text, "line 8\nline 9\n");
        assert_eq!(t.cut, 7);
    }

    #[test]
    fn one_long_last_line_is_cut_inside() {
        let mut bytes = b"first\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', 100));
        let t = tail(&bytes, 10, 10);
        assert_eq!(t.text, "x".repeat(10));
        assert_eq!((t.lines, t.cut), (2, 2));
    }

    #[test]
    fn cutting_inside_a_line_does_not_split_a_character() {
        // "é" is two bytes; a 5-byte budget from the end of "aéééé" would
        // start on a continuation byte.
        let t = tail("aéééé".as_bytes(), 10, 5);
        assert_eq!(t.text, "éé");
        assert!(!t.text.contains('\u{FFFD}'));
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let t = tail(b"ok \xff\xfe\n", 10, 100);
        assert_eq!(t.text, "ok \u{FFFD}\u{FFFD}\n");
    }

    #[test]
    fn zero_lines_keeps_nothing() {
        let t = tail(b"a\nb\n", 0, 100);
        assert_eq!((t.text.as_str(), t.lines, t.cut), ("", 2, 2));
    }

    #[test]
    fn limits_hold_on_large_output() {
        let t = tail(&numbered(100_000), TAIL_LINES, TAIL_BYTES);
        assert!(t.text.len() <= TAIL_BYTES);
        assert!(t.text.lines().count() <= TAIL_LINES);
        assert!(t.text.ends_with("line 100000\n"));
        assert_eq!(t.lines, 100_000);
        assert_eq!(t.cut, 100_000 - t.text.lines().count());
    }
}
