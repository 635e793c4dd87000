//! A Server-Sent Events decoder that accepts bytes in whatever pieces the
//! network delivers them: a line, a UTF-8 character or a `\r\n` pair may be
//! split across chunks.

/// Longest line kept while waiting for its end; a provider that streams a
/// longer one without a newline is refused rather than buffered forever.
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// One event: its `event:` name (empty when absent) and its `data:` lines
/// joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: String,
    pub data: String,
}

/// Incremental decoder (the WHATWG event-stream rules, minus `id` and `retry`,
/// which providers do not use).
#[derive(Debug, Default)]
pub struct Decoder {
    line: Vec<u8>,
    /// A `\r` ended the last line; a `\n` right after it is the same break.
    after_cr: bool,
    name: String,
    data: Option<String>,
}

impl Decoder {
    /// Feed a chunk; returns the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Event>, String> {
        let mut events = Vec::new();
        for &b in chunk {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.line_done(&line)? {
                        events.push(event);
                    }
                }
                _ => {
                    if self.line.len() >= MAX_LINE_BYTES {
                        return Err(format!(
                            "a stream line is longer than {MAX_LINE_BYTES} bytes"
                        ));
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(events)
    }

    fn line_done(&mut self, line: &[u8]) -> Result<Option<Event>, String> {
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        let line =
            std::str::from_utf8(line).map_err(|_| "the stream is not valid UTF-8".to_string())?;
        if line.starts_with(':') {
            return Ok(None); // a comment, used as a keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.name = value.to_string(),
            "data" => match &mut self.data {
                Some(d) => {
                    if d.len() + value.len() >= MAX_LINE_BYTES {
                        return Err(format!(
                            "a stream event is longer than {MAX_LINE_BYTES} bytes"
                        ));
                    }
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            _ => {}
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Option<Event> {
        let name = std::mem::take(&mut self.name);
        self.data.take().map(|data| Event { name, data })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{Decoder, Event};

    fn ev(name: &str, data: &str) -> Event {
        Event {
            name: name.into(),
            data: data.into(),
        }
    }

    fn all_at_once(text: &[u8]) -> Vec<Event> {
        Decoder::default().feed(text).unwrap()
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let text = "event: a\r\ndata: h\u{e9}llo\r\ndata: two\r\n\r\n: ping\n\ndata:{\"x\":1}\r\revent: b\ndata\n\n";
        let want = vec![ev("a", "héllo\ntwo"), ev("", "{\"x\":1}"), ev("b", "")];
        assert_eq!(all_at_once(text.as_bytes()), want);
        let bytes = text.as_bytes();
        for i in 0..bytes.len() {
            for j in i..bytes.len() {
                let mut d = Decoder::default();
                let mut out = d.feed(&bytes[..i]).unwrap();
                out.extend(d.feed(&bytes[i..j]).unwrap());
                out.extend(d.feed(&bytes[j..]).unwrap());
                assert_eq!(out, want, "split at {i} and {j}");
            }
        }
    }

    #[test]
    fn an_event_the_stream_did_not_finish_is_not_dispatched() {
        assert_eq!(all_at_once(b"data: [DONE]"), vec![]);
        assert_eq!(all_at_once(b"data: {\"a\":\n"), vec![]);
    }

    #[test]
    fn invalid_utf8_is_an_error_not_a_panic() {
        let mut d = Decoder::default();
        assert!(d.feed(b"data: \xff\xfe\n\n").is_err());
    }
}
