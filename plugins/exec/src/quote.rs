//! Showing an argv as one line a person can read.
//!
//! The command is never run through a shell; this spelling exists only so
//! that the result says what ran, in the form a user would type it.

/// Longest command line shown, in bytes; longer ones end in `…`.
pub const MAX_DISPLAY_BYTES: usize = 2048;

/// Join `argv` with spaces, single-quoting arguments a POSIX shell would
/// split or expand.
pub fn display(argv: &[String]) -> String {
    let mut line = argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ");
    if line.len() > MAX_DISPLAY_BYTES {
        let mut end = MAX_DISPLAY_BYTES;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push('…');
    }
    line
}

fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plain_arguments_are_left_alone() {
        assert_eq!(
            display(&argv(&["cargo", "test", "-p", "fs", "--features=a,b"])),
            "cargo test -p fs --features=a,b"
        );
    }

    #[test]
    fn arguments_a_shell_would_touch_are_quoted() {
        assert_eq!(
            display(&argv(&[
                "pytest", "-k", "a and b", "", "$HOME", "*.py", "~x"
            ])),
            "pytest -k 'a and b' '' '$HOME' '*.py' '~x'"
        );
    }

    #[test]
    fn single_quotes_are_escaped() {
        assert_eq!(display(&argv(&["echo", "it's"])), r"echo 'it'\''s'");
    }

    #[test]
    fn long_lines_are_shortened_on_a_character_boundary() {
        let line = display(&argv(&["make", &"é".repeat(MAX_DISPLAY_BYTES)]));
        assert!(line.len() <= MAX_DISPLAY_BYTES + '…'.len_utf8());
        assert!(line.ends_with('…'));
    }
}
