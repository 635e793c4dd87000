//! HTML character references: `&amp;`, `&#233;`, `&#xE9;` and the named
//! ones that occur in ordinary prose.

use std::borrow::Cow;

/// Longest reference looked for, `&` and `;` included.
const MAX_REFERENCE: usize = 34;

/// Named references worth knowing in running text. Unknown names are left
/// as written.
const NAMED: &[(&str, &str)] = &[
    ("amp", "&"),
    ("lt", "<"),
    ("gt", ">"),
    ("quot", "\""),
    ("apos", "'"),
    ("nbsp", " "),
    ("ensp", " "),
    ("emsp", " "),
    ("thinsp", " "),
    ("shy", ""),
    ("zwj", ""),
    ("zwnj", ""),
    ("lrm", ""),
    ("rlm", ""),
    ("copy", "©"),
    ("reg", "®"),
    ("trade", "™"),
    ("hellip", "…"),
    ("mdash", "—"),
    ("ndash", "–"),
    ("minus", "−"),
    ("lsquo", "‘"),
    ("rsquo", "’"),
    ("sbquo", "‚"),
    ("ldquo", "“"),
    ("rdquo", "”"),
    ("bdquo", "„"),
    ("laquo", "«"),
    ("raquo", "»"),
    ("bull", "•"),
    ("middot", "·"),
    ("times", "×"),
    ("divide", "÷"),
    ("plusmn", "±"),
    ("deg", "°"),
    ("para", "¶"),
    ("sect", "§"),
    ("euro", "€"),
    ("pound", "£"),
    ("yen", "¥"),
    ("cent", "¢"),
    ("larr", "←"),
    ("rarr", "→"),
    ("uarr", "↑"),
    ("darr", "↓"),
    ("harr", "↔"),
    ("le", "≤"),
    ("ge", "≥"),
    ("ne", "≠"),
    ("check", "✓"),
];

/// Decode every character reference in `s`; text without `&` is borrowed.
/// Numeric references to NUL, surrogates or past U+10FFFF become U+FFFD.
pub fn decode(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match reference(rest) {
            Some((text, len)) => {
                out.push_str(&text);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The text of the reference at the start of `s` (which begins with `&`)
/// and its length, or `None` if it is not one.
fn reference(s: &str) -> Option<(Cow<'static, str>, usize)> {
    let semi = s.bytes().take(MAX_REFERENCE).position(|b| b == b';')?;
    let name = &s[1..semi];
    let text = if let Some(num) = name.strip_prefix('#') {
        let (digits, radix) = match num.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16),
            None => (num, 10),
        };
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        let c = u32::from_str_radix(digits, radix)
            .ok()
            .and_then(char::from_u32)
            .filter(|&c| c != '\0')
            .unwrap_or('\u{FFFD}');
        Cow::Owned(c.to_string())
    } else {
        let (_, text) = NAMED.iter().find(|(n, _)| *n == name)?;
        Cow::Borrowed(*text)
    };
    Some((text, semi + 1))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn references_decode() {
        let cases = [
            ("plain", "plain"),
            ("a &amp; b", "a & b"),
            ("&lt;p&gt;", "<p>"),
            ("caf&eacute;", "caf&eacute;"),
            ("caf&#233; caf&#xE9; caf&#Xe9;", "café café café"),
            ("&#128512;", "😀"),
            ("&#0; &#xD800; &#x110000;", "\u{FFFD} \u{FFFD} \u{FFFD}"),
            ("&#; &#x; &#12a;", "&#; &#x; &#12a;"),
            ("AT&T and &amp", "AT&T and &amp"),
            ("soft&shy;hyphen", "softhyphen"),
            ("&hellip;&nbsp;&mdash;", "… —"),
            ("&&amp;&", "&&&"),
            ("&ünïcode; é", "&ünïcode; é"),
        ];
        for (input, want) in cases {
            assert_eq!(decode(input), want, "{input}");
        }
        assert!(matches!(decode("no refs"), Cow::Borrowed(_)));
    }
}
