//! HTML to readable Markdown-like text: headings as `#`, paragraphs,
//! links as `[text](href)`, lists as `-`/`1.`, table rows with ` | `
//! between cells, `pre` as fenced blocks, inline `code` in backticks; script,
//! style and other non-text elements dropped; character references decoded.
//!
//! One pass over the text, no DOM: tags are recognised where they start and
//! otherwise ignored, so broken markup degrades to text instead of failing.
//! The output stops at a byte cap.

use crate::entity;
use crate::url::Url;

/// Elements whose whole content is skipped: code, styling and embedded
/// documents, none of it text for a reader.
const SKIPPED: &[&str] = &[
    "script", "style", "template", "noscript", "svg", "math", "textarea", "iframe", "object",
    "select",
];

/// Elements that start and end a paragraph.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "nav",
    "aside",
    "blockquote",
    "figure",
    "figcaption",
    "form",
    "fieldset",
    "details",
    "summary",
    "address",
    "center",
    "table",
    "caption",
    "dl",
    "body",
];

/// Nesting depth of lists that indentation follows; deeper lists indent no
/// further.
const MAX_LIST_DEPTH: usize = 8;
/// Open lists tracked; past this, list tags only balance a counter, so a
/// page of a million `<ul>` costs no memory.
const MAX_OPEN_LISTS: usize = 256;

/// The converted text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// Markdown-like text.
    pub text: String,
    /// The cap stopped the text early.
    pub truncated: bool,
}

/// Convert `html` to text of at most `max_bytes` bytes. Links are made
/// absolute against `base`.
pub fn to_markdown(html: &str, base: &Url, max_bytes: usize) -> Converted {
    let mut c = Converter {
        w: Writer::new(max_bytes),
        base,
        lists: Vec::new(),
        untracked_lists: 0,
        pre: 0,
        link: None,
        cell: false,
        title: None,
        seen_h1: false,
    };
    c.run(html);
    c.finish()
}

struct Converter<'a> {
    w: Writer,
    base: &'a Url,
    /// Open lists, innermost last: `None` for `ul`, the next number for `ol`.
    lists: Vec<Option<u32>>,
    /// Lists opened past [`MAX_OPEN_LISTS`] and not yet closed.
    untracked_lists: usize,
    /// Depth of open `pre` elements.
    pre: usize,
    /// An open link: where its `[` is in the output, and its target.
    link: Option<(usize, String)>,
    /// A cell was already written in this table row.
    cell: bool,
    title: Option<String>,
    seen_h1: bool,
}

/// A tag as found in the source.
struct Tag {
    name: String,
    end: bool,
    href: Option<String>,
    alt: Option<String>,
}

impl Converter<'_> {
    fn run(&mut self, html: &str) {
        let mut i = 0;
        while i < html.len() && !self.w.truncated {
            let rest = &html[i..];
            if !rest.starts_with('<') {
                let end = rest.find('<').unwrap_or(rest.len());
                self.text(&rest[..end]);
                i += end;
            } else if let Some(body) = rest.strip_prefix("<!--") {
                i += 4 + body.find("-->").map_or(body.len(), |e| e + 3);
            } else if rest.starts_with("<!") || rest.starts_with("<?") {
                i += rest.find('>').map_or(rest.len(), |e| e + 1);
            } else if let Some((tag, len)) = parse_tag(rest) {
                i += len;
                if !tag.end && (SKIPPED.contains(&tag.name.as_str()) || tag.name == "title") {
                    let (inner, skip) = raw_element(&html[i..], &tag.name);
                    if tag.name == "title" && self.title.is_none() {
                        self.title = Some(
                            entity::decode(inner)
                                .split_whitespace()
                                .collect::<Vec<_>>()
                                .join(" "),
                        );
                    }
                    i += skip;
                } else {
                    self.tag(tag);
                }
            } else {
                self.text("<");
                i += 1;
            }
        }
    }

    fn text(&mut self, raw: &str) {
        let text = entity::decode(raw);
        if self.pre > 0 {
            self.w.verbatim(&text);
        } else {
            self.w.text(&text);
        }
    }

    fn tag(&mut self, tag: Tag) {
        let name = tag.name.as_str();
        if let Some(level) = heading_level(name) {
            self.w.block(2);
            if !tag.end {
                self.seen_h1 |= level == 1;
                self.w.open(&format!("{} ", "#".repeat(level)));
            }
            return;
        }
        if BLOCKS.contains(&name) {
            self.w.block(2);
            return;
        }
        match (name, tag.end) {
            ("br", _) if self.pre > 0 => self.w.verbatim("\n"),
            ("br", _) => self.w.line_break(),
            ("hr", false) => {
                self.w.block(2);
                self.w.inline("---");
                self.w.block(2);
            }
            ("ul", false) => self.open_list(None),
            ("ol", false) => self.open_list(Some(1)),
            ("ul" | "ol", true) => {
                if self.untracked_lists > 0 {
                    self.untracked_lists -= 1;
                } else {
                    self.lists.pop();
                }
                self.w.block(if self.lists.is_empty() { 2 } else { 1 });
            }
            ("li", false) => self.item(),
            ("li" | "dt" | "dd" | "tr", _) => {
                self.cell = false;
                self.w.block(1);
            }
            ("td" | "th", false) => {
                if self.cell {
                    self.w.inline(" | ");
                }
                self.cell = true;
            }
            ("pre", false) => {
                self.w.block(2);
                self.w.inline("```");
                self.w.verbatim("\n");
                self.pre += 1;
            }
            ("pre", true) if self.pre > 0 => {
                self.pre -= 1;
                self.w.block(1);
                self.w.inline("```");
                self.w.block(2);
            }
            ("code" | "kbd" | "samp", false) if self.pre == 0 => self.w.open("`"),
            ("code" | "kbd" | "samp", true) if self.pre == 0 => self.w.glue("`"),
            ("a", false) => {
                if self.link.is_none()
                    && let Some(href) = tag.href.and_then(|h| self.base.resolve_href(&h))
                {
                    self.w.open("[");
                    self.link = Some((self.w.out.len() - 1, href));
                }
            }
            ("a", true) => {
                if let Some((at, href)) = self.link.take() {
                    if self.w.out.len() == at + 1 {
                        self.w.out.truncate(at);
                    } else {
                        self.w.glue(&format!("]({href})"));
                    }
                }
            }
            ("img", false) => {
                if let Some(alt) = tag.alt.filter(|a| !a.trim().is_empty()) {
                    self.w.text(&alt);
                }
            }
            _ => {}
        }
    }

    fn open_list(&mut self, numbered: Option<u32>) {
        self.w.block(if self.lists.is_empty() { 2 } else { 1 });
        if self.lists.len() < MAX_OPEN_LISTS {
            self.lists.push(numbered);
        } else {
            self.untracked_lists += 1;
        }
    }

    fn item(&mut self) {
        self.w.block(1);
        let depth = self.lists.len().clamp(1, MAX_LIST_DEPTH);
        let marker = match self.lists.last_mut() {
            Some(Some(n)) => {
                let m = format!("{n}. ");
                *n = n.saturating_add(1);
                m
            }
            _ => "- ".to_string(),
        };
        self.w
            .inline(&format!("{}{marker}", "  ".repeat(depth - 1)));
    }

    fn finish(mut self) -> Converted {
        if let Some((at, href)) = self.link.take()
            && self.w.out.len() > at + 1
        {
            self.w.glue(&format!("]({href})"));
        }
        let body = self.w.out.trim_end();
        let mut text = match self.title.filter(|t| !t.is_empty() && !self.seen_h1) {
            Some(title) if body.is_empty() => format!("# {title}"),
            Some(title) => format!("# {title}\n\n{body}"),
            None => body.to_string(),
        };
        let mut truncated = self.w.truncated;
        if text.len() > self.w.max {
            let mut cut = self.w.max;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            truncated = true;
        }
        Converted { text, truncated }
    }
}

fn heading_level(name: &str) -> Option<usize> {
    match name.as_bytes() {
        [b'h', d @ b'1'..=b'6'] => Some(usize::from(d - b'0')),
        _ => None,
    }
}

/// Parse the tag at the start of `s` (which begins with `<`): its name,
/// whether it closes, the attributes kept (`href`, `alt`), and its length.
/// `None` if `<` does not start a tag.
fn parse_tag(s: &str) -> Option<(Tag, usize)> {
    let b = s.as_bytes();
    let end = b.get(1) == Some(&b'/');
    let mut j = if end { 2 } else { 1 };
    if !b.get(j).is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    let start = j;
    while j < b.len() && !(b[j].is_ascii_whitespace() || b[j] == b'/' || b[j] == b'>') {
        j += 1;
    }
    let mut tag = Tag {
        name: s[start..j].to_ascii_lowercase(),
        end,
        href: None,
        alt: None,
    };
    loop {
        while j < b.len() && (b[j].is_ascii_whitespace() || b[j] == b'/') {
            j += 1;
        }
        match b.get(j) {
            None => return Some((tag, j)),
            Some(b'>') => return Some((tag, j + 1)),
            Some(_) => {}
        }
        let name_start = j;
        while j < b.len() && !(b[j].is_ascii_whitespace() || matches!(b[j], b'/' | b'>' | b'=')) {
            j += 1;
        }
        if j == name_start {
            j += 1;
            continue;
        }
        let name = s[name_start..j].to_ascii_lowercase();
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if b.get(j) != Some(&b'=') {
            continue;
        }
        j += 1;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        let value = match b.get(j) {
            Some(&q @ (b'"' | b'\'')) => {
                let close = s[j + 1..]
                    .find(char::from(q))
                    .map_or(b.len(), |k| j + 1 + k);
                let v = &s[j + 1..close];
                j = (close + 1).min(b.len());
                v
            }
            _ => {
                let v_start = j;
                while j < b.len() && !(b[j].is_ascii_whitespace() || b[j] == b'>') {
                    j += 1;
                }
                &s[v_start..j]
            }
        };
        match name.as_str() {
            "href" => tag.href = Some(entity::decode(value).into_owned()),
            "alt" => tag.alt = Some(entity::decode(value).into_owned()),
            _ => {}
        }
    }
}

/// For an element whose content is not markup (`script`, `title`, ...):
/// its content and the bytes up to and including its end tag.
fn raw_element<'a>(s: &'a str, name: &str) -> (&'a str, usize) {
    let mut from = 0;
    while let Some(at) = s[from..].find("</") {
        let start = from + at;
        let after = start + 2;
        let b = s.as_bytes();
        let matches_name = b.len() >= after + name.len()
            && b[after..after + name.len()].eq_ignore_ascii_case(name.as_bytes())
            && b.get(after + name.len())
                .is_none_or(|c| c.is_ascii_whitespace() || matches!(c, b'>' | b'/'));
        if matches_name {
            let close = s[after..].find('>').map_or(s.len(), |e| after + e + 1);
            return (&s[..start], close);
        }
        from = after;
    }
    (s, s.len())
}

/// The output, with whitespace collapsed outside `pre` and a byte cap.
struct Writer {
    out: String,
    max: usize,
    truncated: bool,
    /// Whitespace was seen and not yet written.
    space: bool,
    /// Output length right after an opening mark (`[`, `` ` ``, `# `),
    /// where a space would be out of place.
    opened_at: usize,
}

impl Writer {
    fn new(max: usize) -> Self {
        Writer {
            out: String::new(),
            max,
            truncated: false,
            space: false,
            opened_at: usize::MAX,
        }
    }

    fn push(&mut self, c: char) {
        if self.out.len() + c.len_utf8() > self.max {
            self.truncated = true;
        } else {
            self.out.push(c);
        }
    }

    fn at_line_start(&self) -> bool {
        self.out.is_empty() || self.out.ends_with('\n')
    }

    /// Text with runs of whitespace collapsed to one space.
    fn text(&mut self, s: &str) {
        for c in s.chars() {
            if c.is_whitespace() {
                self.space = true;
            } else if !c.is_control() {
                self.pending_space();
                self.push(c);
            }
        }
    }

    /// Markup written as is, after any pending space.
    fn inline(&mut self, s: &str) {
        self.pending_space();
        s.chars().for_each(|c| self.push(c));
    }

    /// An opening mark: written as is, after any pending space, and
    /// followed by none.
    fn open(&mut self, s: &str) {
        self.inline(s);
        self.opened_at = self.out.len();
    }

    /// Markup written as is, directly after the text before it (a link's
    /// `](...)`); pending space goes after it.
    fn glue(&mut self, s: &str) {
        let space = std::mem::take(&mut self.space);
        s.chars().for_each(|c| self.push(c));
        self.space = space;
    }

    /// Preformatted text: whitespace kept, `\r` and other controls dropped.
    fn verbatim(&mut self, s: &str) {
        self.space = false;
        for c in s
            .chars()
            .filter(|&c| !c.is_control() || c == '\n' || c == '\t')
        {
            self.push(c);
        }
    }

    fn pending_space(&mut self) {
        if std::mem::take(&mut self.space)
            && !self.at_line_start()
            && !self.out.ends_with(' ')
            && self.out.len() != self.opened_at
        {
            self.push(' ');
        }
    }

    fn line_break(&mut self) {
        self.trim_spaces();
        self.space = false;
        self.push('\n');
    }

    /// End the current line and leave `newlines` line ends (1: a new line,
    /// 2: a blank line) unless the output is still empty.
    fn block(&mut self, newlines: usize) {
        self.trim_spaces();
        self.space = false;
        if self.out.is_empty() {
            return;
        }
        let have = self.out.len() - self.out.trim_end_matches('\n').len();
        for _ in have..newlines {
            self.push('\n');
        }
    }

    fn trim_spaces(&mut self) {
        let kept = self.out.trim_end_matches([' ', '\t']).len();
        self.out.truncate(kept);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn md(html: &str) -> String {
        let base = Url::parse("https://example.com/docs/page.html").unwrap();
        let c = to_markdown(html, &base, 1 << 20);
        assert!(!c.truncated);
        c.text
    }

    #[test]
    fn documents_become_markdown() {
        let cases = [
            (
                "<h1>Title</h1><p>One   two\nthree.</p><p>Four</p>",
                "# Title\n\nOne two three.\n\nFour",
            ),
            ("<h2>A</h2>text<h3>B</h3>", "## A\n\ntext\n\n### B"),
            (
                "<p>See <a href=\"/x\">the x</a> now.</p>",
                "See [the x](https://example.com/x) now.",
            ),
            (
                "<a href='other.html'>rel</a>",
                "[rel](https://example.com/docs/other.html)",
            ),
            (
                "<a href=#top>top</a> <a href=\"javascript:go()\">js</a>",
                "top js",
            ),
            ("<a href=\"/img\"><img src=a.png></a>after", "after"),
            (
                "<a href=\"/i\"><img alt=\"Logo\"></a>",
                "[Logo](https://example.com/i)",
            ),
            (
                "<a href=/a>one <a href=/b>two</a>",
                "[one two](https://example.com/a)",
            ),
            (
                "<a href=/a> one </a>two",
                "[one](https://example.com/a) two",
            ),
            ("<h1> spaced </h1>", "# spaced"),
            (
                "<ul><li>a</li><li>b<ul><li>c</li></ul></li></ul>",
                "- a\n- b\n  - c",
            ),
            ("<ol><li>x<li>y</ol><p>z", "1. x\n2. y\n\nz"),
            (
                "<pre><code>fn main() {\n    &lt;x&gt;\n}</code></pre>",
                "```\nfn main() {\n    <x>\n}\n```",
            ),
            ("<p>Use <code>cargo test</code>.</p>", "Use `cargo test`."),
            ("<p>Run <code> ls </code> here</p>", "Run `ls` here"),
            ("a<br>b<br/>c", "a\nb\nc"),
            ("<p>a</p><hr><p>b</p>", "a\n\n---\n\nb"),
            (
                "<table><tr><th>k</th><th>v</th></tr><tr><td>1</td><td>2</td></tr></table>",
                "k | v\n1 | 2",
            ),
            ("<dl><dt>term</dt><dd>meaning</dd></dl>", "term\nmeaning"),
        ];
        for (html, want) in cases {
            assert_eq!(md(html), want, "{html}");
        }
    }

    #[test]
    fn non_text_is_dropped() {
        let html = "<html><head><title>T</title><style>p{color:red}</style>\
            <script>var x = '</p>'; if (a < b) {}</script></head>\
            <body><!-- hidden --><noscript>enable js</noscript><SCRIPT type=x>alert(1)</SCRIPT >\
            <svg><text>svg text</text></svg><p>visible</p><?php echo 1 ?><!doctype html></body></html>";
        assert_eq!(md(html), "# T\n\nvisible");
    }

    #[test]
    fn the_title_heads_a_page_without_h1() {
        assert_eq!(md("<title> My &amp; Page </title><p>x"), "# My & Page\n\nx");
        assert_eq!(md("<title>T</title><h1>H</h1>"), "# H");
        assert_eq!(md("<title>T</title>"), "# T");
    }

    #[test]
    fn entities_and_broken_markup_degrade_to_text() {
        let cases = [
            ("a &lt; b &amp;&amp; c &gt; d", "a < b && c > d"),
            ("caf&eacute; &#233;", "caf&eacute; é"),
            ("1 < 2 and 3 <4", "1 < 2 and 3 <4"),
            ("<p class=\"x>y\">text", "text"),
            ("<p title='unterminated>text", ""),
            ("<div", ""),
            (
                "<a href=\"/x\">unclosed",
                "[unclosed](https://example.com/x)",
            ),
            ("<!-- never closed", ""),
            ("text</p></div></ul></pre>more", "text\n\nmore"),
            ("x\u{1b}[31my\u{0}z", "x[31myz"),
        ];
        for (html, want) in cases {
            assert_eq!(md(html), want, "{html}");
        }
    }

    #[test]
    fn deep_lists_stop_indenting() {
        let html = format!("{}<li>deep", "<ul>".repeat(100));
        let text = md(&html);
        assert_eq!(text, format!("{}- deep", "  ".repeat(MAX_LIST_DEPTH - 1)));
        // Past the tracked depth, tags still balance.
        let html = format!("{}{}<ul><li>top", "<ul>".repeat(300), "</ul>".repeat(300));
        assert_eq!(md(&html), "- top");
    }

    #[test]
    fn output_stops_at_the_cap_on_a_char_boundary() {
        let base = Url::parse("https://example.com/").unwrap();
        let html = format!("<p>{}</p>", "é".repeat(1000));
        let c = to_markdown(&html, &base, 101);
        assert!(c.truncated);
        assert_eq!(c.text, "é".repeat(50));
        let c = to_markdown("<title>Long title</title><p>body</p>", &base, 5);
        assert!(c.truncated);
        assert_eq!(c.text, "# Lon");
    }
}
