//! Pieces of an http(s) URL's path that the host's network check and the
//! `fetch` plugin must spell the same way.

/// Remove `.` and `..` segments (also percent-encoded, `%2e`), as a server
/// would when it resolves the path; a query after `?` is kept untouched.
/// The result starts with `/`.
pub fn remove_dot_segments(path_with_query: &str) -> String {
    let (path, query) = match path_with_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_with_query, None),
    };
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let mut out: Vec<&str> = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match seg.to_ascii_lowercase().as_str() {
            "." | "%2e" => {}
            ".." | ".%2e" | "%2e." | "%2e%2e" => {
                out.pop();
            }
            _ => {
                out.push(seg);
                continue;
            }
        }
        // A trailing dot segment still names a directory.
        if last {
            out.push("");
        }
    }
    let mut s = format!("/{}", out.join("/"));
    if let Some(q) = query {
        s.push('?');
        s.push_str(q);
    }
    s
}

/// Percent-encode every byte outside printable ASCII (spaces, controls and
/// non-ASCII), leaving what is already encoded as it is.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_graphic() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_go_in_every_spelling() {
        assert_eq!(remove_dot_segments("/a/b/../c"), "/a/c");
        assert_eq!(remove_dot_segments("/a/./b/."), "/a/b/");
        assert_eq!(remove_dot_segments("/a/%2E%2e/b"), "/b");
        assert_eq!(remove_dot_segments("/a/.%2e/b"), "/b");
        assert_eq!(remove_dot_segments("/../../x"), "/x");
        assert_eq!(remove_dot_segments("a/b/.."), "/a/");
    }

    #[test]
    fn the_query_is_kept_as_it_is() {
        assert_eq!(remove_dot_segments("/a/../b?x=/../y"), "/b?x=/../y");
    }

    #[test]
    fn bytes_outside_printable_ascii_are_encoded() {
        assert_eq!(percent_encode("/a b/é?q=%41"), "/a%20b/%C3%A9?q=%41");
    }
}
