//! The `log` capability: plugin diagnostics into the host's tracing, and the
//! plugin's captured stdout/stderr, escaped and bounded. Nothing a plugin
//! writes reaches warden's own output streams raw.

use crate::bindings::warden::plugin::log::Host;
pub use crate::bindings::warden::plugin::log::Level;
use crate::escape::escape;
use wasmtime::component::HasData;

/// Longest message kept; longer ones are cut and marked.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Most messages kept per call; later ones are counted, not stored.
pub const MAX_MESSAGES: usize = 256;

/// Messages from one call.
#[derive(Debug, Default)]
pub struct LogSink {
    plugin: String,
    /// Messages kept, already escaped.
    pub messages: Vec<(Level, String)>,
    /// Messages dropped over [`MAX_MESSAGES`].
    pub dropped: usize,
}

impl LogSink {
    /// A sink for `plugin`.
    pub fn new(plugin: &str) -> Self {
        LogSink {
            plugin: plugin.to_string(),
            ..Default::default()
        }
    }

    /// Record one message.
    pub fn record(&mut self, level: Level, message: &str) {
        if self.messages.len() >= MAX_MESSAGES {
            self.dropped += 1;
            return;
        }
        let mut cut = message.len().min(MAX_MESSAGE_BYTES);
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut text = escape(&message[..cut]);
        if cut < message.len() {
            text.push_str(" […cut]");
        }
        let plugin = self.plugin.as_str();
        match level {
            Level::Trace => tracing::trace!(plugin, "{text}"),
            Level::Debug => tracing::debug!(plugin, "{text}"),
            Level::Info => tracing::info!(plugin, "{text}"),
            Level::Warn => tracing::warn!(plugin, "{text}"),
            Level::Error => tracing::error!(plugin, "{text}"),
        }
        self.messages.push((level, text));
    }

    /// Record captured stdout or stderr bytes line by line.
    pub fn record_stream(&mut self, stream: &str, bytes: &[u8]) {
        for line in String::from_utf8_lossy(bytes).lines() {
            self.record(Level::Debug, &format!("{stream}: {line}"));
        }
    }
}

impl Host for LogSink {
    fn log(&mut self, level: Level, message: String) {
        self.record(level, &message);
    }
}

/// Marker type that links the log capability.
pub struct HasLog;

impl HasData for HasLog {
    type Data<'a> = &'a mut LogSink;
}

/// Link `warden:plugin/log`; `sink` finds the call's log in the store.
pub fn add_to_linker<T: Send + 'static>(
    l: &mut wasmtime::component::Linker<T>,
    sink: fn(&mut T) -> &mut LogSink,
) -> wasmtime::Result<()> {
    crate::bindings::warden::plugin::log::add_to_linker::<T, HasLog>(l, sink)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_escapes() {
        let mut sink = LogSink::new("p");
        sink.record(Level::Info, "evil\x1b[2J\nFAKE LINE");
        assert_eq!(sink.messages[0].1, "evil\\u{1b}[2J\\u{a}FAKE LINE");
        sink.record(Level::Info, &"é".repeat(MAX_MESSAGE_BYTES));
        assert!(sink.messages[1].1.ends_with(" […cut]"));
        assert!(sink.messages[1].1.len() <= MAX_MESSAGE_BYTES + 10);
        for _ in 0..MAX_MESSAGES + 5 {
            sink.record(Level::Debug, "x");
        }
        assert_eq!(sink.messages.len(), MAX_MESSAGES);
        assert_eq!(sink.dropped, 7);
    }
}
