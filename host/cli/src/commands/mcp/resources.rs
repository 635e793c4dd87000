//! Read-only resources for a reviewing agent: the audit records of this
//! server's session, and the diff of each turn its calls captured. Nothing
//! here can be written, and nothing outside this server's own calls is
//! shown (not other sessions' records, not other servers' turns).

use rmcp::ErrorData;
use rmcp::model::{ReadResourceResult, Resource, ResourceContents};
use std::sync::Mutex;
use warden_core::audit::Entry;
use warden_core::session::Session;

/// The audit records of this server's session.
pub const AUDIT_URI: &str = "warden://session/audit";
/// Prefix of a turn's diff: `warden://session/turns/N`.
pub const TURN_PREFIX: &str = "warden://session/turns/";
/// Most records one read of [`AUDIT_URI`] returns: the latest ones.
pub const MAX_AUDIT_ENTRIES: usize = 1000;
/// Most turns listed (the latest); older ones can still be read by number.
pub const MAX_LISTED_TURNS: usize = 200;

/// What this server has done that its resources show.
pub struct Shown {
    /// Where this server's records begin in the audit log.
    start: Mutex<Start>,
    /// Turns its calls captured, in order.
    turns: Mutex<Vec<u64>>,
}

/// Where in the audit log this server's records begin. The log is read
/// for it when the server starts and, while it could not be read, again
/// before each call: a log that cannot be read (a full disk, a device in
/// its place) refuses the calls it cannot record, not the server.
enum Start {
    /// After this sequence number.
    After(u64),
    /// Not known yet: the log could not be read when the server started.
    Unknown,
    /// A call began while the log could not be read: its records cannot
    /// be told apart from earlier servers' of the same session.
    Lost(String),
}

impl Shown {
    /// Start showing what happens from now on in `session`. Says on stderr
    /// when the audit log cannot be read now.
    pub fn new(session: &Session) -> Self {
        let start = match last_seq(session) {
            Ok(seq) => Start::After(seq),
            Err(e) => {
                eprintln!(
                    "warden mcp: cannot read the audit log now ({e}); calls are refused while they cannot be recorded"
                );
                Start::Unknown
            }
        };
        Shown {
            start: Mutex::new(start),
            turns: Mutex::new(Vec::new()),
        }
    }

    /// Before a call: where this server's records begin, if that was not
    /// known yet.
    pub fn before_call(&self, session: &Session) {
        let mut start = self.start.lock().unwrap_or_else(|p| p.into_inner());
        if let Start::Unknown = &*start {
            *start = match last_seq(session) {
                Ok(seq) => Start::After(seq),
                Err(e) => Start::Lost(e),
            };
        }
    }

    /// The last sequence number before this server's records, or why it is
    /// not known.
    fn after_seq(&self, session: &Session) -> Result<u64, ErrorData> {
        let mut start = self.start.lock().unwrap_or_else(|p| p.into_inner());
        match &*start {
            Start::After(seq) => Ok(*seq),
            // No call began yet, so none of the records are this server's.
            Start::Unknown => {
                let seq = last_seq(session).map_err(|e| {
                    ErrorData::internal_error(format!("cannot read the audit log: {e}"), None)
                })?;
                *start = Start::After(seq);
                Ok(seq)
            }
            Start::Lost(e) => Err(ErrorData::internal_error(
                format!(
                    "the audit log could not be read when this server's calls began ({e}), so its records cannot be told apart from earlier ones; `warden log --session {}` shows them all",
                    session.name()
                ),
                None,
            )),
        }
    }

    /// A turn captured by one of this server's calls.
    pub fn turn(&self, n: u64) {
        let mut turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
        if !turns.contains(&n) {
            turns.push(n);
        }
    }

    fn turns(&self) -> Vec<u64> {
        self.turns.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The resources as they are now.
    pub fn list(&self) -> Vec<Resource> {
        let mut list = vec![
            Resource::new(AUDIT_URI, "audit")
                .with_title("Audit records of this warden mcp session")
                .with_description("Every call this server ran or refused, each capability use warden refused during them, and how they ended, as recorded in warden's audit log (JSON).")
                .with_mime_type("application/json"),
        ];
        let turns = self.turns();
        let skip = turns.len().saturating_sub(MAX_LISTED_TURNS);
        list.extend(turns[skip..].iter().map(|n| {
            Resource::new(format!("{TURN_PREFIX}{n}"), format!("turn-{n}"))
                .with_title(format!("Changes of turn {n}"))
                .with_description(format!("The files turn {n} of this server's session changed, as a diff (what `warden diff mcp --turn {n}` shows; `warden undo` takes it back)."))
                .with_mime_type("text/x-diff")
        }));
        list
    }

    /// Read one resource.
    pub fn read(&self, session: &Session, uri: &str) -> Result<ReadResourceResult, ErrorData> {
        if uri == AUDIT_URI {
            let after_seq = self.after_seq(session)?;
            let entries = session.audit().entries().map_err(|e| {
                ErrorData::internal_error(format!("cannot read the audit log: {e}"), None)
            })?;
            let mine: Vec<&Entry> = entries
                .iter()
                .filter(|e| {
                    e.seq > after_seq && e.record.session.as_deref() == Some(session.name())
                })
                .collect();
            let skip = mine.len().saturating_sub(MAX_AUDIT_ENTRIES);
            let text = serde_json::to_string(&mine[skip..])
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
            return Ok(ReadResourceResult::new(vec![
                ResourceContents::text(text, uri).with_mime_type("application/json"),
            ]));
        }
        let turn = uri
            .strip_prefix(TURN_PREFIX)
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|n| self.turns().contains(n))
            .ok_or_else(|| {
                ErrorData::resource_not_found(
                    format!("no resource {uri:?}; resources/list shows this server's resources"),
                    None,
                )
            })?;
        let journal = session.journal().map_err(|e| {
            ErrorData::internal_error(format!("cannot open the journal: {e}"), None)
        })?;
        let record = journal
            .turns()
            .map_err(|e| ErrorData::internal_error(format!("cannot read the journal: {e}"), None))?
            .into_iter()
            .find(|t| t.session == session.name() && t.turn == turn)
            .ok_or_else(|| {
                ErrorData::resource_not_found(
                    format!("turn {turn} is no longer in the journal"),
                    None,
                )
            })?;
        let mut text = format!(
            "turn {turn} of session {}{}: {} change(s)\n",
            session.name(),
            if record.undone { " (undone)" } else { "" },
            record.changes.len()
        );
        text.push_str(&super::super::undo::turn_text(&journal, &record));
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(text, uri).with_mime_type("text/x-diff"),
        ]))
    }
}

/// The audit log's last sequence number (0 when it is empty).
fn last_seq(session: &Session) -> Result<u64, String> {
    session
        .audit()
        .entries()
        .map(|all| all.last().map_or(0, |e| e.seq))
        .map_err(|e| e.to_string())
}
