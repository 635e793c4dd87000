//! Turning a finished command into a compact answer for a model.

use schemars::JsonSchema;
use serde::Serialize;
use warden_sdk::process::Output;

use crate::tail::{self, TAIL_BYTES, TAIL_LINES};

/// How the command ended and the end of what it printed.
#[derive(Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct RunOutput {
    /// What ran, shell-quoted for display only (no shell was used).
    pub command: String,
    /// Exit code, or `null` if a signal killed it.
    pub exit_code: Option<i32>,
    /// The signal that killed it, if any.
    pub signal: Option<i32>,
    /// Whether it was killed at its deadline.
    pub timed_out: bool,
    /// Wall time taken, in milliseconds.
    pub duration_ms: u64,
    /// Exit code 0 and not timed out.
    pub ok: bool,
    /// The last lines of standard output.
    pub stdout: String,
    /// The last lines of standard error.
    pub stderr: String,
    /// Lines of standard output captured.
    pub stdout_lines: usize,
    /// Lines of standard error captured.
    pub stderr_lines: usize,
    /// Earlier lines of standard output not shown in full (0 if none).
    pub stdout_cut: usize,
    /// Earlier lines of standard error not shown in full (0 if none).
    pub stderr_cut: usize,
    /// The host stopped capturing a stream at its output limit, so the
    /// program printed more than was captured and the tails above are the
    /// end of what was captured, not of everything printed.
    pub truncated: bool,
}

/// Summarise the run of `argv`.
pub fn summarize(argv: &[String], out: Output) -> RunOutput {
    let stdout = tail::tail(&out.stdout, TAIL_LINES, TAIL_BYTES);
    let stderr = tail::tail(&out.stderr, TAIL_LINES, TAIL_BYTES);
    RunOutput {
        command: warden_text::argv::display(argv),
        exit_code: out.exit_code,
        signal: out.signal,
        timed_out: out.timed_out,
        duration_ms: out.duration_ms,
        ok: out.exit_code == Some(0) && !out.timed_out,
        stdout: stdout.text,
        stderr: stderr.text,
        stdout_lines: stdout.lines,
        stderr_lines: stderr.lines,
        stdout_cut: stdout.cut,
        stderr_cut: stderr.cut,
        truncated: out.stdout_truncated || out.stderr_truncated,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn output(exit_code: Option<i32>, stdout: &[u8], stderr: &[u8]) -> Output {
        Output {
            exit_code,
            signal: None,
            stdout: stdout.to_vec(),
            stderr: stderr.to_vec(),
            stdout_truncated: false,
            stderr_truncated: false,
            timed_out: false,
            duration_ms: 1234,
        }
    }

    fn argv() -> Vec<String> {
        vec!["cargo".into(), "test".into(), "my test".into()]
    }

    #[test]
    fn success_has_the_documented_shape() {
        let report = summarize(&argv(), output(Some(0), b"ok\n", b"Compiling\nFinished\n"));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "command": "cargo test 'my test'",
                "exit_code": 0,
                "signal": null,
                "timed_out": false,
                "duration_ms": 1234,
                "ok": true,
                "stdout": "ok\n",
                "stderr": "Compiling\nFinished\n",
                "stdout_lines": 1,
                "stderr_lines": 2,
                "stdout_cut": 0,
                "stderr_cut": 0,
                "truncated": false,
            })
        );
    }

    #[test]
    fn failure_signal_and_timeout_are_not_ok() {
        assert!(!summarize(&argv(), output(Some(101), b"", b"")).ok);

        let mut killed = output(None, b"", b"");
        killed.signal = Some(9);
        let report = summarize(&argv(), killed);
        assert!(!report.ok);
        assert_eq!((report.exit_code, report.signal), (None, Some(9)));

        let mut late = output(Some(0), b"", b"");
        late.timed_out = true;
        let report = summarize(&argv(), late);
        assert!(!report.ok && report.timed_out);
    }

    #[test]
    fn long_streams_are_cut_to_their_tails() {
        let long: String = (1..=1000).map(|i| format!("{i}\n")).collect();
        let report = summarize(&argv(), output(Some(1), long.as_bytes(), b""));
        assert_eq!(report.stdout_lines, 1000);
        assert_eq!(report.stdout_cut, 1000 - TAIL_LINES);
        assert!(report.stdout.starts_with("801\n") && report.stdout.ends_with("1000\n"));
    }

    #[test]
    fn host_truncation_of_either_stream_is_reported() {
        let mut out = output(Some(0), b"x", b"y");
        out.stderr_truncated = true;
        assert!(summarize(&argv(), out).truncated);
    }
}
