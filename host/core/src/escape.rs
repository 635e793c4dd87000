//! Show untrusted text to a person without letting it steer the terminal.

/// Escape control, bidirectional-override and zero-width characters so that
/// text from a plugin (names, descriptions, messages) is shown literally.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_hidden(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM/RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{FEFF}' // zero-width no-break space
            | '\u{00AD}' // soft hyphen
        )
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn hides_nothing() {
        assert_eq!(escape("plain text"), "plain text");
        assert_eq!(escape("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("line\nnext"), "line\\u{a}next");
        assert_eq!(escape("abc\u{202E}fed"), "abc\\u{202e}fed");
        assert_eq!(escape("zero\u{200B}width"), "zero\\u{200b}width");
        assert_eq!(escape("ünïcödé ok"), "ünïcödé ok");
    }
}
