//! The `log` tool: recent commits, one record each.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_sdk::ToolError;

use crate::capture;
use crate::validate;

/// Commits returned when `max_count` is not given.
pub const DEFAULT_MAX_COUNT: u32 = 20;
/// Most commits returned.
pub const MAX_COUNT: u32 = 200;
/// Longest author (`Name <email>`) returned, in bytes.
pub const MAX_AUTHOR_BYTES: usize = 256;
/// Longest subject returned, in bytes.
pub const MAX_SUBJECT_BYTES: usize = 512;

/// Fields end in NUL and records in ASCII RS (0x1e), neither of which a
/// commit header or subject line can hold.
const FORMAT: &str = "--format=%H%x00%an <%ae>%x00%aI%x00%s%x1e";
const RECORD_END: u8 = 0x1e;

/// Which commits to list.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogInput {
    /// How many commits, newest first: 1 to 200, default 20.
    #[schemars(range(min = 1, max = 200))]
    pub max_count: Option<u32>,
    /// Only commits touching these paths.
    #[serde(default)]
    pub paths: Vec<String>,
}

/// The commits found.
#[derive(Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct LogOutput {
    /// Newest first.
    pub entries: Vec<Commit>,
    /// There are older commits beyond `max_count`.
    pub more: bool,
    /// The host's output limit cut the list short.
    pub truncated: bool,
}

/// One commit.
#[derive(Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct Commit {
    /// Full commit hash.
    pub hash: String,
    /// `Name <email>` of the author.
    pub author: String,
    /// Author date, strict ISO 8601.
    pub date: String,
    /// First line of the message.
    pub subject: String,
}

/// How many commits to return.
pub fn count(input: &LogInput) -> Result<u32, ToolError> {
    match input.max_count.unwrap_or(DEFAULT_MAX_COUNT) {
        n @ 1..=MAX_COUNT => Ok(n),
        n => Err(ToolError::invalid(format!(
            "max_count is {n}; it must be between 1 and {MAX_COUNT}"
        ))),
    }
}

/// The git arguments for `input`. One commit more than asked is requested
/// so that `more` can be answered.
pub fn args(input: &LogInput) -> Result<Vec<String>, ToolError> {
    let n = count(input)?;
    validate::paths(&input.paths)?;
    let mut args: Vec<String> = vec![
        "log".into(),
        "--no-color".into(),
        "--no-show-signature".into(),
        FORMAT.into(),
        "-n".into(),
        (n + 1).to_string(),
        "--".into(),
    ];
    args.extend(input.paths.iter().cloned());
    Ok(args)
}

/// Parse git's output, keeping `count` commits.
pub fn parse(stdout: &[u8], count: u32, host_truncated: bool) -> LogOutput {
    let mut records: Vec<&[u8]> = stdout.split(|&b| b == RECORD_END).collect();
    // After the last terminator comes only a newline, or the part of a
    // record the host's limit cut off.
    records.pop();
    let mut entries: Vec<Commit> = records
        .into_iter()
        .filter_map(|r| parse_record(r.strip_prefix(b"\n").unwrap_or(r)))
        .collect();
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let more = entries.len() > count;
    entries.truncate(count);
    LogOutput {
        entries,
        more,
        truncated: host_truncated,
    }
}

fn parse_record(record: &[u8]) -> Option<Commit> {
    let text = String::from_utf8_lossy(record);
    let mut fields = text.splitn(4, '\0');
    let hash = fields.next()?.to_string();
    let author = fields.next()?.to_string();
    let date = fields.next()?.to_string();
    let subject = fields.next()?.to_string();
    if hash.is_empty() {
        return None;
    }
    Some(Commit {
        hash,
        author: capture::clip(author, MAX_AUTHOR_BYTES),
        date,
        subject: capture::clip(subject, MAX_SUBJECT_BYTES),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn input(json: &str) -> LogInput {
        serde_json::from_str(json).unwrap()
    }

    fn record(hash: &str, subject: &str) -> String {
        format!("{hash}\0A U Thor <a@example.com>\x002026-01-02T03:04:05+01:00\0{subject}\x1e\n")
    }

    #[test]
    fn arguments_put_the_subcommand_first_and_paths_last() {
        assert_eq!(
            args(&input(r#"{"paths": ["src"]}"#)).unwrap(),
            [
                "log",
                "--no-color",
                "--no-show-signature",
                FORMAT,
                "-n",
                "21",
                "--",
                "src"
            ]
        );
        assert_eq!(args(&input(r#"{"max_count": 200}"#)).unwrap()[5], "201");
    }

    #[test]
    fn count_is_bounded() {
        assert_eq!(count(&input("{}")).unwrap(), DEFAULT_MAX_COUNT);
        assert!(count(&input(r#"{"max_count": 0}"#)).is_err());
        assert!(count(&input(r#"{"max_count": 201}"#)).is_err());
        assert!(args(&input(r#"{"paths": ["-p"]}"#)).is_err());
    }

    #[test]
    fn parses_records() {
        // Captured from git 2.47.
        let out = parse(
            b"168cb768fb40565b17a35d5fb9abc9838c78aa26\0a <b>\x002026-11-23T22:07:25Z\0init\x1e\n",
            20,
            false,
        );
        assert_eq!(
            out.entries,
            vec![Commit {
                hash: "168cb768fb40565b17a35d5fb9abc9838c78aa26".into(),
                author: "a <b>".into(),
                date: "2026-11-23T22:07:25Z".into(),
                subject: "init".into(),
            }]
        );
        assert!(!out.more && !out.truncated);
    }

    #[test]
    fn one_extra_record_means_more() {
        let text: String = (0..3).map(|i| record(&format!("h{i}"), "s")).collect();
        let out = parse(text.as_bytes(), 2, false);
        assert_eq!(out.entries.len(), 2);
        assert_eq!(out.entries[1].hash, "h1");
        assert!(out.more);
        assert!(!parse(text.as_bytes(), 3, false).more);
    }

    #[test]
    fn odd_subjects_survive() {
        let text = record("h", "tabs\tand \u{e9} and \0 nul");
        let out = parse(text.as_bytes(), 5, false);
        assert_eq!(out.entries[0].subject, "tabs\tand \u{e9} and \0 nul");
        let long = record("h", &"s".repeat(2 * MAX_SUBJECT_BYTES));
        let out = parse(long.as_bytes(), 5, false);
        assert!(out.entries[0].subject.len() <= MAX_SUBJECT_BYTES + 3);
    }

    #[test]
    fn a_record_cut_by_the_host_is_dropped() {
        let mut text = record("h0", "whole");
        text.push_str("h1\0someone <x>\x002026");
        let out = parse(text.as_bytes(), 20, true);
        assert_eq!(out.entries.len(), 1);
        assert!(out.truncated);
    }

    #[test]
    fn empty_history() {
        let out = parse(b"", 20, false);
        assert!(out.entries.is_empty() && !out.more);
    }
}
