//! Transcripts: one JSON-lines file per session under
//! `$XDG_STATE_HOME/warden/sessions/`, holding a header, every event and
//! every conversation item, so `warden resume` can continue where a session
//! stopped.

use super::event::Event;
use super::plan::Plan;
use super::provider::{Item, ToolCall};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Largest transcript `warden resume` loads.
pub const MAX_TRANSCRIPT_BYTES: u64 = 64 * 1024 * 1024;

/// The first line of a transcript.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub id: String,
    pub workspace: PathBuf,
    /// Seconds since the Unix epoch.
    pub created: u64,
    pub provider: String,
    pub model: String,
    pub task: String,
}

/// One line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Session(Header),
    Event(Event),
    Item(Item),
    /// The conversation from here on: its older turns were summarised.
    Compacted(Vec<Item>),
}

/// An open transcript, appended to as the session runs.
pub struct Transcript {
    path: PathBuf,
    file: std::fs::File,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A new session id: the start time and a few bits to tell apart two
/// sessions started in the same second.
pub fn new_id() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let salt = (t.subsec_nanos() ^ std::process::id().rotate_left(16)) & 0xffff;
    format!("{}-{salt:04x}", t.as_secs())
}

/// Ids are made by [`new_id`]; anything else (a path, `..`) is refused.
fn check_id(id: &str) -> Result<(), String> {
    let ok =
        !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a session id (see `warden sessions`)",
            warden_core::escape::escape(id)
        ))
    }
}

impl Transcript {
    /// Start a transcript in `dir` (created with mode 0700).
    pub fn create(
        dir: &Path,
        id: &str,
        workspace: &Path,
        provider: &str,
        model: &str,
        task: &str,
    ) -> Result<Self, String> {
        check_id(id)?;
        create_private_dir(dir)?;
        let path = dir.join(format!("{id}.jsonl"));
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        let mut t = Transcript { path, file };
        if t.file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
            t.write(&Line::Session(Header {
                id: id.to_string(),
                workspace: workspace.to_path_buf(),
                created: now(),
                provider: provider.to_string(),
                model: model.to_string(),
                task: task.to_string(),
            }));
        }
        Ok(t)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn event(&mut self, event: &Event) {
        self.write(&Line::Event(event.clone()));
    }

    pub fn item(&mut self, item: &Item) {
        self.write(&Line::Item(item.clone()));
    }

    /// The conversation was summarised and is now `items`.
    pub fn compacted(&mut self, items: &[Item]) {
        self.write(&Line::Compacted(items.to_vec()));
    }

    fn write(&mut self, line: &Line) {
        let Ok(mut text) = serde_json::to_string(line) else {
            return;
        };
        text.push('\n');
        if let Err(e) = self.file.write_all(text.as_bytes()) {
            tracing::warn!("cannot append to {}: {e}", self.path.display());
        }
    }
}

fn create_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// A transcript read back.
#[derive(Debug)]
pub struct Loaded {
    pub header: Header,
    pub items: Vec<Item>,
    /// The number of the last turn recorded.
    pub turns: u32,
    /// The model's plan as it last updated it.
    pub plan: Plan,
}

/// Read session `id` from `dir`.
pub fn load(dir: &Path, id: &str) -> Result<Loaded, String> {
    check_id(id)?;
    let path = dir.join(format!("{id}.jsonl"));
    let meta = std::fs::metadata(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("no session {id} (see `warden sessions`)")
        }
        _ => format!("cannot read {}: {e}", path.display()),
    })?;
    if meta.len() > MAX_TRANSCRIPT_BYTES {
        return Err(format!(
            "{} is larger than {MAX_TRANSCRIPT_BYTES} bytes",
            path.display()
        ));
    }
    let text = warden_core::configfile::read_bounded(&path, MAX_TRANSCRIPT_BYTES)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .ok_or_else(|| format!("no session {id} (see `warden sessions`)"))?;
    let text = String::from_utf8(text)
        .map_err(|_| format!("cannot read {}: it is not UTF-8 text", path.display()))?;
    let mut header = None;
    let mut items = Vec::new();
    let mut turns = 0;
    let mut plan = Plan::default();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        // A last line cut short by a crash is skipped; any other bad line
        // means the file is not a transcript.
        let parsed = match serde_json::from_str::<Line>(line) {
            Ok(l) => l,
            Err(_) if n + 1 == text.lines().count() => break,
            Err(e) => return Err(format!("{} line {}: {e}", path.display(), n + 1)),
        };
        match parsed {
            Line::Session(h) => header = Some(h),
            Line::Item(i) => items.push(i),
            Line::Compacted(now) => items = now,
            Line::Event(Event::TurnStarted { turn }) => turns = turns.max(turn),
            Line::Event(Event::PlanUpdated { plan: p, .. }) => plan = p,
            Line::Event(_) => {}
        }
    }
    let header = header.ok_or_else(|| format!("{} has no session header", path.display()))?;
    close_open_calls(&mut items);
    Ok(Loaded {
        header,
        items,
        turns,
        plan,
    })
}

/// Calls the model made that never got a result (the session was stopped
/// mid-turn) get one, so the conversation is valid for every provider.
fn close_open_calls(items: &mut Vec<Item>) {
    let answered: std::collections::HashSet<String> = items
        .iter()
        .filter_map(|i| match i {
            Item::Tool { call_id, .. } => Some(call_id.clone()),
            _ => None,
        })
        .collect();
    let open: Vec<ToolCall> = items
        .iter()
        .filter_map(|i| match i {
            Item::Assistant { calls, .. } => Some(calls.clone()),
            _ => None,
        })
        .flatten()
        .filter(|c| !answered.contains(&c.id))
        .collect();
    for c in open {
        items.push(Item::Tool {
            call_id: c.id,
            name: c.name,
            output: "not run: the session ended before this call".into(),
            is_error: true,
        });
    }
}

/// Every session in `dir`, newest first.
pub fn list(dir: &Path) -> Result<Vec<Header>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(format!("cannot list {}: {e}", dir.display())),
    };
    let mut all = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        // Only the first line is needed.
        let Ok(Some((file, _))) = warden_core::configfile::open_regular(&path) else {
            continue;
        };
        let mut first = String::new();
        let mut reader = std::io::BufReader::new(file);
        if std::io::BufRead::read_line(&mut reader, &mut first).is_err() {
            continue;
        }
        if let Ok(Line::Session(h)) = serde_json::from_str::<Line>(&first) {
            all.push(h);
        }
    }
    all.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
    Ok(all)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_transcript_round_trips_and_closes_open_calls() {
        let tmp = tempfile::tempdir().unwrap();
        let id = new_id();
        let mut t =
            Transcript::create(tmp.path(), &id, Path::new("/w"), "chat", "m", "fix").unwrap();
        t.event(&Event::TurnStarted { turn: 1 });
        t.item(&Item::User { text: "fix".into() });
        t.item(&Item::Assistant {
            text: String::new(),
            calls: vec![ToolCall {
                id: "c1".into(),
                name: "fs__read".into(),
                arguments: "{}".into(),
            }],
        });
        let loaded = load(tmp.path(), &id).unwrap();
        assert_eq!(loaded.header.task, "fix");
        assert!(loaded.plan.is_empty());
        assert_eq!(loaded.turns, 1);
        assert_eq!(loaded.items.len(), 3);
        assert!(
            matches!(&loaded.items[2], Item::Tool { call_id, is_error: true, .. } if call_id == "c1")
        );
        assert_eq!(list(tmp.path()).unwrap()[0].id, id);
        // A summary replaces what came before it; the last plan is kept.
        let plan =
            crate::plan::parse(r#"{"plan":[{"step":"fix","status":"in_progress"}]}"#).unwrap();
        t.event(&Event::PlanUpdated {
            turn: 1,
            plan: plan.clone(),
        });
        t.compacted(&[Item::Summary { text: "s".into() }]);
        t.item(&Item::User {
            text: "more".into(),
        });
        let loaded = load(tmp.path(), &id).unwrap();
        assert_eq!(
            loaded.items,
            [
                Item::Summary { text: "s".into() },
                Item::User {
                    text: "more".into()
                }
            ]
        );
        assert_eq!(loaded.plan, plan);
        assert!(
            load(tmp.path(), "../etc/passwd")
                .unwrap_err()
                .contains("is not a session id")
        );
        assert!(
            load(tmp.path(), "abc")
                .unwrap_err()
                .contains("no session abc")
        );
    }
}
