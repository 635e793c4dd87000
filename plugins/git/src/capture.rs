//! Bounding what git printed and explaining why it failed.

use warden_sdk::ToolError;
use warden_sdk::process::Output;

/// Most bytes of text (a diff, a `show`) returned by one call, before UTF-8
/// decoding. Even if every byte became a six-byte JSON escape the answer
/// stays under the host's default 1 MiB result limit.
pub const MAX_TEXT_BYTES: usize = 128 * 1024;
/// Most bytes of git's own messages quoted in an error.
pub const MAX_ERROR_BYTES: usize = 4 * 1024;

/// The start of a text, cut at a line boundary when possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The kept bytes, decoded lossily as UTF-8.
    pub text: String,
    /// Bytes were left out.
    pub truncated: bool,
}

/// Keep at most `max` bytes of the start of `bytes`: up to the last newline
/// inside the budget, or up to a character boundary if there is none.
pub fn head(bytes: &[u8], max: usize) -> Head {
    if bytes.len() <= max {
        return Head {
            text: String::from_utf8_lossy(bytes).into_owned(),
            truncated: false,
        };
    }
    let end = match bytes[..max].iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None => char_start(bytes, max),
    };
    Head {
        text: String::from_utf8_lossy(&bytes[..end]).into_owned(),
        truncated: true,
    }
}

/// `s` shortened to at most `max` bytes on a character boundary, with `…`
/// appended when something was cut.
pub fn clip(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// The last index at or before `i` that does not split a UTF-8 sequence
/// (at most three continuation bytes are given back, so invalid input still
/// keeps its place). `i` must be inside `bytes`.
fn char_start(bytes: &[u8], mut i: usize) -> usize {
    let continuation = |b: u8| b & 0b1100_0000 == 0b1000_0000;
    for _ in 0..3 {
        if i == 0 || !continuation(bytes[i]) {
            break;
        }
        i -= 1;
    }
    i
}

/// `Ok(out)` if `git <sub>` exited 0 in time, else a failure quoting git.
pub fn check(sub: &str, out: Output) -> Result<Output, ToolError> {
    if out.timed_out {
        return Err(ToolError::failed(format!(
            "git {sub} timed out after {} ms",
            out.duration_ms
        )));
    }
    if out.exit_code == Some(0) {
        return Ok(out);
    }
    let how = match (out.exit_code, out.signal) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        (None, None) => "ended abnormally".to_string(),
    };
    // git puts errors on stderr, but `commit` says "nothing to commit" on
    // stdout; quote both.
    let said: Vec<String> = [&out.stderr, &out.stdout]
        .into_iter()
        .map(|s| last_bytes(s, MAX_ERROR_BYTES).trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let msg = if said.is_empty() {
        format!("git {sub} {how}")
    } else {
        format!("git {sub} {how}: {}", said.join("\n"))
    };
    if said.iter().any(|s| s.contains("not a git repository")) {
        return Err(ToolError::NotFound(msg));
    }
    Err(ToolError::Failed(msg))
}

fn last_bytes(bytes: &[u8], max: usize) -> String {
    let from = bytes.len().saturating_sub(max);
    String::from_utf8_lossy(&bytes[from..]).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn output(exit_code: Option<i32>, stdout: &[u8], stderr: &[u8]) -> Output {
        Output {
            exit_code,
            signal: None,
            stdout: stdout.to_vec(),
            stderr: stderr.to_vec(),
            stdout_truncated: false,
            stderr_truncated: false,
            timed_out: false,
            duration_ms: 7,
        }
    }

    #[test]
    fn short_text_is_kept_whole() {
        let h = head(b"a\nb", 10);
        assert_eq!((h.text.as_str(), h.truncated), ("a\nb", false));
    }

    #[test]
    fn long_text_is_cut_after_a_newline() {
        let h = head(b"line1\nline2\nline3\n", 14);
        assert_eq!((h.text.as_str(), h.truncated), ("line1\nline2\n", true));
    }

    #[test]
    fn text_without_newline_is_cut_on_a_character_boundary() {
        // "é" is two bytes: a 4-byte budget would split the third one.
        for max in 0..7 {
            let h = head("ééé!".as_bytes(), max);
            assert!(h.truncated);
            assert!(!h.text.contains('\u{FFFD}'), "max {max}: {:?}", h.text);
            assert!(h.text.len() <= max);
            assert_eq!(h.text.len(), max - max % 2);
        }
    }

    #[test]
    fn clip_marks_what_it_cuts() {
        assert_eq!(clip("short".into(), 10), "short");
        assert_eq!(clip("ééé".into(), 3), "é…");
    }

    #[test]
    fn success_passes_through() {
        assert!(check("status", output(Some(0), b"x", b"")).is_ok());
    }

    #[test]
    fn failure_quotes_stderr_and_stdout() {
        let err = check(
            "commit",
            output(Some(1), b"nothing to commit, working tree clean\n", b""),
        )
        .unwrap_err();
        assert_eq!(
            err,
            ToolError::Failed(
                "git commit exited with code 1: nothing to commit, working tree clean".into()
            )
        );
    }

    #[test]
    fn missing_repository_is_not_found() {
        let err = check(
            "status",
            output(
                Some(128),
                b"",
                b"fatal: not a git repository (or any of the parent directories): .git\n",
            ),
        )
        .unwrap_err();
        assert!(matches!(err, ToolError::NotFound(m) if m.contains("exited with code 128")));
    }

    #[test]
    fn timeout_and_signal_are_failures() {
        let mut late = output(Some(0), b"", b"");
        late.timed_out = true;
        assert_eq!(
            check("log", late).unwrap_err(),
            ToolError::Failed("git log timed out after 7 ms".into())
        );
        let mut killed = output(None, b"", b"");
        killed.signal = Some(9);
        assert_eq!(
            check("diff", killed).unwrap_err(),
            ToolError::Failed("git diff was killed by signal 9".into())
        );
    }

    #[test]
    fn quoted_messages_are_bounded() {
        let noisy = vec![b'x'; 10 * MAX_ERROR_BYTES];
        let err = check("diff", output(Some(2), b"", &noisy)).unwrap_err();
        assert!(err.to_string().len() < 2 * MAX_ERROR_BYTES);
    }
}
