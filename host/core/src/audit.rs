//! The audit log: every decision warden takes, appended before it takes
//! effect, in a keyed hash chain whose head is anchored outside the log.
//!
//! Files (in `$XDG_DATA_HOME/warden/`, which no plugin may write):
//! - `audit.log`: one JSON object per line. serde_json escapes every control
//!   character, so a newline in a path or argument can never start a line
//!   of its own;
//! - `audit.key`: 32 random bytes (hex, mode 0600), created on first use;
//! - `audit.head`: the anchor, `{"seq":N,"mac":"…"}` of the last record,
//!   replaced atomically after each append.
//!
//! A line is `{"seq":…,"time":…,"user":…,"prev":…,"record":{…},"mac":"…"}`.
//! `mac` is HMAC-SHA256 under the key of the exact bytes of the line without
//! its `,"mac":"…"` suffix (the object closed after `record`); `prev` is the
//! previous line's MAC (64 zeros for the first). [`Log::verify`] therefore
//! catches an edited record even when every later MAC was recomputed (that
//! needs the key), inserted, removed or reordered records (`seq` and `prev`),
//! and — by comparing the last record with the anchor — truncation and the
//! replay of an older copy of the log.
//!
//! What it does not protect against: anyone who can read the key can forge
//! a whole valid log; anyone who can replace both the log and the anchor
//! with an older pair (both are in the same directory, with the same owner)
//! can roll back undetected. Plugins can do neither (warden's data directory
//! is protected from them and from their child processes); a person with
//! your user account can. Export the records (or copy the anchor) elsewhere
//! if that matters.
//!
//! Appends take an exclusive `flock` on the log for the whole
//! read-tail/write/anchor step, so concurrent warden processes keep the
//! chain valid. A process keeps the log open between its appends, with the
//! chain head it wrote last in memory (under a lock): while the log's path
//! still names that file and neither the log (length, times) nor its anchor
//! changed since, nobody else appended, and the next record chains onto
//! that head without reading the log's end again. A record that cannot be
//! written (disk full, permissions, a
//! log that no longer matches its anchor) is an [`Error`], and callers refuse
//! the action it describes. A crash between writing a record and moving the
//! anchor leaves the log exactly one valid record ahead of the anchor; that
//! is accepted and repaired by the next append.
//!
//! With `WARDEN_OTLP_ENDPOINT` set, each record is also sent, after it is
//! written, to an OpenTelemetry collector ([`otlp`]).

mod mac;
pub mod otlp;
mod records;
pub mod time;

pub use records::{AUDITED_INPUT_BYTES, failure_text};

use crate::dirs::Dirs;
use crate::error::IoFailure;
use serde::{Deserialize, Serialize};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// Longest text kept in one field of a record; longer text is cut and marked.
pub const MAX_FIELD_CHARS: usize = 4096;
/// Longest line accepted when reading the log back.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;
/// MAC of the (absent) record before the first.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// `,"mac":"` + 64 hex digits + `"}`.
const MAC_SUFFIX_LEN: usize = 8 + 64 + 2;

/// Result alias for the audit log.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a record could not be written or the log could not be verified.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The log, key or anchor could not be read or written.
    #[error(
        "{0} (warden refuses actions it cannot record; free space or fix permissions, then retry)"
    )]
    Io(#[from] IoFailure),
    /// The log does not verify.
    #[error("audit log {path} is not intact: {at}: {what}")]
    Tampered {
        path: PathBuf,
        /// Where: `record 3 (line 3)`, `the end of the log`, …
        at: String,
        /// What is wrong and what it means.
        what: String,
    },
}

/// `map_err` for this module's I/O, as its [`Error`].
fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    crate::error::io(action, path)
}

/// What a record is about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A tool call is about to run (allow) or was refused before it ran (deny).
    #[default]
    Call,
    /// The host refused one capability use during a call.
    Denial,
    /// How a call ended.
    Result,
    /// One capability use allowed during a call (a program run), recorded
    /// before it starts.
    Use,
    /// A plugin is being installed.
    Install,
    /// A plugin is being removed.
    Remove,
    /// A plugin's grant is being replaced.
    Grant,
    /// Files are being restored (`warden undo`, `warden rollback`).
    Rollback,
    /// An installed plugin is being replaced by another version
    /// (`warden plugin update`, or `rollback` as the operation).
    Update,
}

/// The decision a record states.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Allowed.
    #[default]
    Allow,
    /// Refused.
    Deny,
}

/// One decision. Every field but `kind` and `decision` is optional; the
/// caller fills what applies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// What the record is about.
    pub kind: Kind,
    /// Allowed or refused.
    pub decision: Decision,
    /// The plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// The tool, without the plugin prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The capability (`files`, `process`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability: Option<String>,
    /// The operation (`write`, `run`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// The path, command line or workspace concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Why: the refusal reason, or the failure of a call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The rules that decided: the effective grant a call ran under, the
    /// grant being given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule: Vec<String>,
    /// For a denial, the grant that would allow it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<String>,
    /// Who approved, and how (`--yes`, an interactive prompt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// How a call ended: `ok`, `failed`, `denied`, `stopped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The agent session, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The turn within the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u64>,
    /// Anything else worth keeping (input digest, changed files, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

impl Record {
    /// Cut every text field to [`MAX_FIELD_CHARS`].
    fn bounded(mut self) -> Self {
        let cut = |s: &mut String| {
            if let Some((at, _)) = s.char_indices().nth(MAX_FIELD_CHARS) {
                s.truncate(at);
                s.push_str("…(cut)");
            }
        };
        for s in [
            &mut self.plugin,
            &mut self.tool,
            &mut self.capability,
            &mut self.operation,
            &mut self.resource,
            &mut self.reason,
            &mut self.allow,
            &mut self.approved_by,
            &mut self.outcome,
            &mut self.session,
        ]
        .into_iter()
        .flatten()
        {
            cut(s);
        }
        self.rule.iter_mut().for_each(cut);
        self
    }
}

/// A record as stored: its place in the chain and who wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// 1 for the first record, then one more for each.
    pub seq: u64,
    /// When it was appended (UTC, RFC 3339).
    pub time: String,
    /// The local account that ran warden (`uid 1000 (alice)`).
    pub user: String,
    /// The previous record's MAC.
    pub prev: String,
    /// The decision.
    pub record: Record,
    /// This record's MAC.
    pub mac: String,
}

/// The line without its MAC, in the field order of [`Entry`].
#[derive(Serialize)]
struct Unsigned<'a> {
    seq: u64,
    time: &'a str,
    user: &'a str,
    prev: &'a str,
    record: &'a Record,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Head {
    seq: u64,
    mac: String,
}

/// A verified log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// Records checked.
    pub records: u64,
    /// The anchored head's sequence number.
    pub anchored: u64,
}

/// Bytes of the anchor file: its JSON, padded with spaces.
const HEAD_BYTES: usize = 160;

/// How far a record is on disk when [`Log::append_with`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Written, chained and anchored, and forced to the disk (log and
    /// anchor fsync'd): for a record that precedes something whose effect
    /// outlives the call — a write, a program, a network request, an
    /// install or grant change.
    Synced,
    /// Written, chained and anchored (every reader and `warden log verify`
    /// sees it at once), but left to the kernel to write back: for a call
    /// that can only read, and for what a call did, recorded after it. A
    /// power loss can lose the last such records; `warden log verify` then
    /// reports the log ending before its anchor.
    Written,
}

/// The audit log of one warden installation.
#[derive(Debug, Clone)]
pub struct Log {
    path: PathBuf,
    head: PathBuf,
    key_path: PathBuf,
    export: Option<std::sync::Arc<otlp::Exporter>>,
    /// The key, once read: a long-lived server appends many records.
    key: std::sync::Arc<std::sync::OnceLock<mac::Key>>,
    /// The log kept open since this process's last append, and the end it
    /// left there.
    tail: std::sync::Arc<std::sync::Mutex<Option<Tail>>>,
}

/// The log as this process last left it.
#[derive(Debug)]
struct Tail {
    file: std::fs::File,
    /// The log file right after the append (through the open file).
    log: Stamp,
    seq: u64,
    mac: String,
    /// The anchor file as the append left it.
    head: Option<Stamp>,
}

/// A change test for a file: device, inode, length and modification and
/// status-change times. An append, a truncation, an edit in place or a
/// file put in its place each change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp([i64; 7]);

impl Stamp {
    fn of(path: &Path) -> Option<Self> {
        std::fs::metadata(path).ok().map(|m| Self::from_meta(&m))
    }

    fn from_meta(m: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt as _;
        Stamp([
            m.dev() as i64,
            m.ino() as i64,
            m.len() as i64,
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec(),
        ])
    }

    fn same_file(&self, o: &Self) -> bool {
        self.0[..2] == o.0[..2]
    }
}

impl Log {
    /// The log in warden's data directory.
    pub fn open(dirs: &Dirs) -> Result<Self> {
        Self::in_dir(&dirs.data)
    }

    /// The log, key and anchor in `dir` (created, mode 0700, if missing).
    pub fn in_dir(dir: &Path) -> Result<Self> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io("create", dir))?;
        Ok(Log {
            path: dir.join("audit.log"),
            head: dir.join("audit.head"),
            key_path: dir.join("audit.key"),
            export: None,
            key: std::sync::Arc::default(),
            tail: std::sync::Arc::default(),
        })
    }

    /// Also send each record, once written, to an OTLP collector.
    pub fn with_export(mut self, export: Option<std::sync::Arc<otlp::Exporter>>) -> Self {
        self.export = export;
        self
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn key(&self) -> Result<mac::Key> {
        if let Some(k) = self.key.get() {
            return Ok(k.clone());
        }
        let k = mac::Key::load_or_create(&self.key_path)
            .map_err(io("read or create the key", &self.key_path))?;
        let _ = self.key.set(k.clone());
        Ok(k)
    }

    /// Append one record, after the log's end was checked against the
    /// anchor. The record is on disk (fsync'd) when this returns.
    pub fn append(&self, record: Record) -> Result<Entry> {
        self.append_with(record, Durability::Synced)
    }

    /// Append one record as [`Log::append`] does, forced to the disk or not
    /// as `durability` says.
    pub fn append_with(&self, record: Record, durability: Durability) -> Result<Entry> {
        let synced = durability == Durability::Synced;
        let key = self.key()?;
        let mut tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        // The open log is reused while the log's path still names it.
        let at_path = Stamp::of(&self.path);
        let kept = tail
            .take()
            .filter(|t| at_path.is_some_and(|s| s.same_file(&t.log)));
        let (mut file, known) = match kept {
            Some(t) => {
                let known = (t.log, t.seq, t.mac, t.head);
                (t.file, Some(known))
            }
            None => (self.open_log()?, None),
        };
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| io("lock", &self.path)(e.into()))?;
        let len = file.metadata().map_err(io("read", &self.path))?;
        let now = Stamp::from_meta(&len);
        let len = len.len();
        // Neither the log nor its anchor changed since this process's last
        // append: nobody else appended, and the head in memory is the
        // log's end. Otherwise the end is read and checked as on a first
        // append.
        let (seq, prev) = match known {
            Some((log, seq, mac, head))
                if log == now && head.is_some() && head == Stamp::of(&self.head) =>
            {
                (seq + 1, mac)
            }
            _ => {
                let last = last_line(&mut file, len).map_err(io("read", &self.path))?;
                self.check_end(&key, last.as_deref(), self.read_head()?)?
            }
        };
        let entry = sign(&key, seq, &time::now(), &user(), &prev, record.bounded());
        let mut line = line_of(&key, &entry);
        line.push('\n');
        let written = file
            .write_all(line.as_bytes())
            .and_then(|()| if synced { file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            // Leave no partial line behind for the next writer to chain onto.
            let _ = file.set_len(len);
            return Err(io("append to", &self.path)(e));
        }
        self.write_head(
            &Head {
                seq: entry.seq,
                mac: entry.mac.clone(),
            },
            synced,
        )?;
        let log = file.metadata().map(|m| Stamp::from_meta(&m));
        let _ = rustix::fs::flock(&file, rustix::fs::FlockOperation::Unlock);
        if let Ok(log) = log {
            *tail = Some(Tail {
                file,
                log,
                seq: entry.seq,
                mac: entry.mac.clone(),
                head: Stamp::of(&self.head),
            });
        }
        drop(tail); // before the (slower) export
        if let Some(export) = &self.export {
            export.export(&entry);
        }
        Ok(entry)
    }

    /// Open the log for appending. Non-blocking open, then a type check: a
    /// FIFO or socket planted at the log's path must refuse the call, not
    /// hang it. (A device such as /dev/full is left to fail on the write,
    /// as a full disk does.)
    fn open_log(&self) -> Result<std::fs::File> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(&self.path)
            .map_err(io("open", &self.path))?;
        let kind = file.metadata().map_err(io("open", &self.path))?.file_type();
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_fifo() || kind.is_socket() {
            return Err(io("open", &self.path)(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "it is a FIFO or socket, not a regular file",
            )));
        }
        Ok(file)
    }

    /// Where the next record goes, if the log ends where its anchor says.
    fn check_end(
        &self,
        key: &mac::Key,
        last: Option<&str>,
        head: Option<Head>,
    ) -> Result<(u64, String)> {
        let tampered = |what: String| Error::Tampered {
            path: self.path.clone(),
            at: "the end of the log".into(),
            what: format!(
                "{what}; nothing more is appended until this is resolved: run `warden log verify`, keep the evidence, then move {} and {} aside to start a new log",
                self.path.display(),
                self.head.display()
            ),
        };
        match (last, head) {
            (None, None) => Ok((1, GENESIS.into())),
            (None, Some(h)) => Err(tampered(format!(
                "the log is empty but its anchor records {} entries (truncated or replaced)",
                h.seq
            ))),
            // A crash during the very first append, before the anchor existed.
            (Some(line), None)
                if open_line(key, line).is_ok_and(|e| e.seq == 1 && e.prev == GENESIS) =>
            {
                let e = open_line(key, line)
                    .map_err(|what| tampered(format!("last record: {what}")))?;
                Ok((2, e.mac))
            }
            (Some(_), None) => Err(tampered(format!(
                "the anchor {} is missing",
                self.head.display()
            ))),
            (Some(line), Some(h)) => {
                let e = open_line(key, line)
                    .map_err(|what| tampered(format!("last record: {what}")))?;
                let anchored = e.seq == h.seq && mac::same(&e.mac, &h.mac);
                // A crash between the append and the anchor update.
                let one_ahead = e.seq == h.seq + 1 && mac::same(&e.prev, &h.mac);
                if anchored || one_ahead {
                    Ok((e.seq + 1, e.mac))
                } else {
                    Err(tampered(format!(
                        "the log ends at record {} but its anchor is record {} (truncated, or an older copy replayed)",
                        e.seq, h.seq
                    )))
                }
            }
        }
    }

    fn read_head(&self) -> Result<Option<Head>> {
        match crate::configfile::read_text(&self.head, MAX_LINE_BYTES as u64)
            .and_then(|t| t.ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound)))
        {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| Error::Tampered {
                    path: self.path.clone(),
                    at: format!("the anchor {}", self.head.display()),
                    what: format!("unreadable: {e}"),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &self.head)(e)),
        }
    }

    /// Anchor `head`. Synced: a new file renamed over the old one, both
    /// fsync'd. Otherwise the anchor is overwritten in place, padded to a
    /// fixed size (a rename makes the file system flush the new file first,
    /// which cost more than the rest of a read-only call together); the
    /// append holds the log's lock, so no writer races it.
    fn write_head(&self, head: &Head, synced: bool) -> Result<()> {
        let tmp = self
            .head
            .with_extension(format!("tmp.{}", std::process::id()));
        let mut text = serde_json::to_string(head).map_err(|e| io("write", &tmp)(e.into()))?;
        if text.len() < HEAD_BYTES {
            text.push_str(&" ".repeat(HEAD_BYTES - text.len()));
        }
        let write = || -> std::io::Result<()> {
            if !synced {
                use std::os::unix::fs::FileExt;
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o600)
                    .open(&self.head)?;
                f.write_all_at(text.as_bytes(), 0)?;
                // An anchor written by an older warden may be longer.
                if f.metadata()?.len() > text.len() as u64 {
                    f.set_len(text.len() as u64)?;
                }
                return Ok(());
            }
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.head)?;
            if let Some(dir) = self.head.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(io("write the anchor", &self.head))
    }

    /// Every record, in order, without checking MACs (see [`Log::verify`]).
    pub fn entries(&self) -> Result<Vec<Entry>> {
        // Never waits on a FIFO in the log's place.
        let text = match crate::configfile::read_bounded(&self.path, u64::MAX - 1) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(Vec::new()),
            Err(e) => return Err(io("read", &self.path)(e.into())),
        };
        let text = String::from_utf8_lossy(&text);
        text.lines()
            .enumerate()
            .map(|(i, line)| {
                serde_json::from_str(line).map_err(|e| Error::Tampered {
                    path: self.path.clone(),
                    at: format!("line {}", i + 1),
                    what: format!("not a record: {e}"),
                })
            })
            .collect()
    }

    /// Check every MAC, the chain, the sequence and the anchor.
    pub fn verify(&self) -> Result<Verified> {
        // Read afresh: a key changed on disk must show, even to a process
        // that cached it for appending.
        let key = mac::Key::load_or_create(&self.key_path)
            .map_err(io("read or create the key", &self.key_path))?;
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(&self.path)
        {
            Ok(f) if f.metadata().is_ok_and(|m| m.file_type().is_file()) => Some(f),
            Ok(_) => {
                return Err(io("read", &self.path)(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "it is not a regular file",
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io("read", &self.path)(e)),
        };
        let mut bytes = Vec::new();
        if let Some(mut f) = file {
            rustix::fs::flock(&f, rustix::fs::FlockOperation::LockShared)
                .map_err(|e| io("lock", &self.path)(e.into()))?;
            f.read_to_end(&mut bytes).map_err(io("read", &self.path))?;
        }
        let head = self.read_head()?;
        let bad = |at: String, what: String| Error::Tampered {
            path: self.path.clone(),
            at,
            what,
        };
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            return Err(bad(
                "the end of the log".into(),
                "the last line is incomplete (cut off mid-record)".into(),
            ));
        }
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| bad("the log".into(), format!("not UTF-8 text: {e}")))?;
        let mut prev = GENESIS.to_string();
        let mut count = 0u64;
        // The MAC of the record the anchor names, once the loop reaches it.
        let mut at_anchor = head.as_ref().filter(|h| h.seq == 0).map(|_| prev.clone());
        for (i, line) in text.lines().enumerate() {
            let expected = count + 1;
            let at = format!("record {expected} (line {})", i + 1);
            let e = open_line(&key, line).map_err(|what| bad(at.clone(), what))?;
            if e.seq != expected {
                return Err(bad(
                    at,
                    format!(
                        "sequence number {} where {expected} was expected: records were removed, inserted or reordered",
                        e.seq
                    ),
                ));
            }
            if !mac::same(&e.prev, &prev) {
                return Err(bad(
                    at,
                    "it does not follow the record before it (the chain is broken): records were removed, inserted or reordered".into(),
                ));
            }
            prev = e.mac;
            count = expected;
            if head.as_ref().is_some_and(|h| h.seq == count) {
                at_anchor = Some(prev.clone());
            }
        }
        let end = "the end of the log".to_string();
        let Some(h) = head else {
            // No anchor yet: an empty log, or a crash during the very first
            // append (the one record verified and starts the chain).
            return if count <= 1 {
                Ok(Verified {
                    records: count,
                    anchored: 0,
                })
            } else {
                Err(bad(
                    end,
                    format!("the anchor {} is missing", self.head.display()),
                ))
            };
        };
        let matches = at_anchor.is_some_and(|m| mac::same(&m, &h.mac));
        // One record past the anchor: the last append crashed before it moved
        // the anchor; that record verified and chains onto the anchored one.
        if matches && (count == h.seq || count == h.seq + 1) {
            return Ok(Verified {
                records: count,
                anchored: h.seq,
            });
        }
        Err(bad(
            end,
            if h.seq > count {
                format!(
                    "the log has {count} records but its anchor records {}: records were cut from the end, or an older copy of the log was put back",
                    h.seq
                )
            } else {
                format!(
                    "the log ({count} records) does not match its anchor (record {}): the log was replaced or rewritten",
                    h.seq
                )
            },
        ))
    }
}

fn sign(key: &mac::Key, seq: u64, time: &str, user: &str, prev: &str, record: Record) -> Entry {
    let body = unsigned_json(seq, time, user, prev, &record);
    Entry {
        seq,
        time: time.into(),
        user: user.into(),
        prev: prev.into(),
        mac: key.mac(body.as_bytes()),
        record,
    }
}

fn unsigned_json(seq: u64, time: &str, user: &str, prev: &str, record: &Record) -> String {
    let u = Unsigned {
        seq,
        time,
        user,
        prev,
        record,
    };
    // Serialising plain strings, numbers and enums cannot fail.
    serde_json::to_string(&u).unwrap_or_default()
}

fn line_of(key: &mac::Key, e: &Entry) -> String {
    let mut body = unsigned_json(e.seq, &e.time, &e.user, &e.prev, &e.record);
    debug_assert_eq!(key.mac(body.as_bytes()), e.mac);
    body.pop();
    format!("{body},\"mac\":\"{}\"}}", e.mac)
}

/// Check a line's MAC over its exact bytes, then parse it.
fn open_line(key: &mac::Key, line: &str) -> std::result::Result<Entry, String> {
    let split = line
        .len()
        .checked_sub(MAC_SUFFIX_LEN)
        .filter(|&at| line.is_char_boundary(at));
    let Some(at) = split else {
        return Err("not a record (too short to hold a MAC)".into());
    };
    let (body, suffix) = line.split_at(at);
    let mac = suffix
        .strip_prefix(",\"mac\":\"")
        .and_then(|s| s.strip_suffix("\"}"))
        .filter(|m| m.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or("not a record (it does not end with its MAC)")?;
    if !mac::same(&key.mac(format!("{body}}}").as_bytes()), mac) {
        return Err(
            "its MAC does not match: the record was edited, or written without warden's key".into(),
        );
    }
    serde_json::from_str(line).map_err(|e| format!("not a record: {e}"))
}

/// The last complete line of a file of `len` bytes, read backwards.
fn last_line(file: &mut std::fs::File, len: u64) -> std::io::Result<Option<String>> {
    if len == 0 {
        return Ok(None);
    }
    let invalid = |what: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the log {what}; run `warden log verify`"),
        )
    };
    // Read back from the end, a little first (records are usually well
    // under 8 KiB), more only when the last line is longer.
    let mut want = len.min(8 * 1024);
    loop {
        file.seek(SeekFrom::Start(len - want))?;
        let mut buf = vec![0; want as usize];
        file.read_exact(&mut buf)?;
        let Some(body) = buf.strip_suffix(b"\n") else {
            return Err(invalid("ends with an incomplete record"));
        };
        let start = match body.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if want == len => 0,
            None if want > MAX_LINE_BYTES as u64 => {
                return Err(invalid("ends with a line longer than any record"));
            }
            None => {
                want = (want * 4).min(len).min(MAX_LINE_BYTES as u64 + 1);
                continue;
            }
        };
        return String::from_utf8(body[start..].to_vec())
            .map(Some)
            .map_err(|_| invalid("ends with a line that is not UTF-8"));
    }
}

/// Who runs warden: the real uid, and `$USER` as a hint.
fn user() -> String {
    let uid = rustix::process::getuid().as_raw();
    match std::env::var("USER") {
        Ok(name) if !name.is_empty() => format!("uid {uid} ({name})"),
        _ => format!("uid {uid}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
