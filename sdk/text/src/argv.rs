//! An argv shown as one line a person can read. Commands are never run
//! through a shell; this spelling only says what ran, in the form a user
//! would type it.

/// Longest command line [`display`] shows, in bytes; longer ones end in `…`.
pub const MAX_DISPLAY_BYTES: usize = 2048;

/// Join `argv` with spaces, each argument as [`word`] spells it, cut at
/// [`MAX_DISPLAY_BYTES`] on a character boundary.
pub fn display<S: AsRef<str>>(argv: &[S]) -> String {
    let mut line = argv
        .iter()
        .map(|a| word(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ");
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

/// One argument as a POSIX shell user would type it: as is when no shell
/// would split or expand it, single-quoted otherwise, so a person sees
/// exactly one word per argument.
pub fn word(arg: &str) -> String {
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
mod tests {
    use super::*;

    #[test]
    fn plain_arguments_are_left_alone() {
        assert_eq!(
            display(&["cargo", "test", "-p", "fs", "--features=a,b"]),
            "cargo test -p fs --features=a,b"
        );
    }

    #[test]
    fn arguments_a_shell_would_touch_are_quoted() {
        assert_eq!(
            display(&["pytest", "-k", "a and b", "", "$HOME", "*.py", "~x"]),
            "pytest -k 'a and b' '' '$HOME' '*.py' '~x'"
        );
    }

    #[test]
    fn single_quotes_are_escaped() {
        assert_eq!(display(&["echo", "it's"]), r"echo 'it'\''s'");
    }

    #[test]
    fn long_lines_are_shortened_on_a_character_boundary() {
        let long = "é".repeat(MAX_DISPLAY_BYTES);
        let line = display(&["make", long.as_str()]);
        assert!(line.len() <= MAX_DISPLAY_BYTES + '…'.len_utf8());
        assert!(line.ends_with('…'));
    }
}
