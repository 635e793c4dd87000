//! Per-turn capture of every file change in a workspace, so that any turn
//! can be undone — whoever made the change: an edit plugin, or a program a
//! plugin ran (`cargo fmt`, a code generator).
//!
//! Changes are captured where they happen, never by scanning: the file
//! guard checks every path a plugin changes and the overlay commit every
//! path a child's tree changed, and both report it to the turn's
//! [`Capture`] first. The first time a turn touches a path, what it holds
//! is saved (a file's bytes into a content-addressed store,
//! `$XDG_DATA_HOME/warden/journal/objects/`, each content once) and
//! logged; [`Turn::finish`] looks at the touched paths again and records
//! the difference. A turn costs what it changes, whatever the size of the
//! workspace.
//!
//! On disk, per workspace (`journal/ws/<digest of its path>/`):
//! - `index.json`: the turn in progress (if any) and a counter ordering
//!   turns across sessions;
//! - `pending.wal`: the turn in progress's log of first touches;
//! - `turns/<session>/<turn>.json`: each turn's changes (before and after
//!   state of every changed path);
//! - `lock`: held (`flock`) from `begin` to `finish`, and by undo, so two
//!   warden processes never capture or restore the same workspace at once.
//!
//! Crash safety: `begin` writes the index naming the turn as in progress
//! (fsync'd) before it returns, and each first touch is on disk (object
//! and log line fsync'd) before the change it precedes is made. A warden
//! killed (even SIGKILL) mid-turn leaves both behind; the next journal
//! operation on the workspace finishes the turn from them (status
//! `interrupted`) by looking at each logged path as it is then.
//!
//! What is captured: regular files, directories and symlinks under the
//! workspace except `.git/` (warden keeps `.git` read-only for plugins
//! unless granted by name; git is its own undo), paths its `.gitignore`
//! files ignore (build outputs such as `target/` and `node_modules/`), and
//! warden's own directories. Names that are not UTF-8, and files warden
//! cannot read, are skipped with a warning.
//!
//! Restoring ([`Journal::undo`]) works through directory handles: from a
//! handle on the workspace (cap-std), each directory on a path is opened
//! with `O_NOFOLLOW`, and the last component is replaced by rename, never
//! followed. A directory swapped for a symlink since the turn — to a place
//! outside the workspace, or to `.git` inside it — makes that path fail
//! (and be reported) instead of redirecting the write. Before writing anything, undo checks that every path
//! is still as the undone turns left it, and refuses (unless forced) when a
//! later change would be lost.

mod capture;
pub mod diff;
pub mod gc;
pub mod restore;
mod scan;

use crate::error::IoFailure;
pub use capture::Capture;
use capture::{Scope, Touched};
use scan::Store;
pub use scan::{Change, State};

use crate::dirs::Dirs;
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Result alias for the journal.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong capturing or restoring.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The journal or the workspace could not be read or written.
    #[error(transparent)]
    Io(#[from] IoFailure),
    /// Walking the workspace failed.
    #[error("cannot snapshot the workspace: {0}")]
    Scan(String),
    /// The journal's own files are damaged.
    #[error("the journal is damaged: {0}")]
    Corrupt(String),
    /// A session name or turn that cannot be used.
    #[error("{0}")]
    Usage(String),
    /// Undo would lose changes made after the turns it undoes.
    #[error(
        "not restoring: {} changed after the turn(s) being undone (by a later turn, another session or by hand), and undoing would lose that: {}; pass --force to restore anyway",
        if .0.len() == 1 { "a path" } else { "paths" },
        .0.join(", ")
    )]
    Conflict(Vec<String>),
    /// Stored contents the restore needs are missing or damaged; nothing
    /// was changed.
    #[error(
        "not restoring: the journal's copy of {} is missing or damaged, so undoing would lose {}; nothing in the workspace was changed: {} (restore {} by hand, e.g. from version control, or undo to a turn whose copies are intact)",
        if .0.len() == 1 { "one file".to_string() } else { format!("{} files", .0.len()) },
        if .0.len() == 1 { "it" } else { "them" },
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
        if .0.len() == 1 { "that file" } else { "those files" }
    )]
    Damaged(Vec<restore::Damage>),
    /// Some paths could not be restored; the others were.
    #[error("restored {restored} paths, but not: {}", .failed.join("; "))]
    Partial {
        restored: usize,
        failed: Vec<String>,
    },
}

/// `map_err` for this module's I/O, as its [`Error`].
fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    crate::error::io(action, path)
}

/// How a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Finished normally.
    Finished,
    /// The warden running it died; finished later from the journal.
    Interrupted,
}

/// One captured turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnRecord {
    /// The session it belongs to.
    pub session: String,
    /// Its number in the session.
    pub turn: u64,
    /// Which capture of the turn this is: an agent's turn that makes
    /// several calls that can change files captures each (0, 1, ...), and
    /// they are one turn to `diff`, `undo` and `rollback`.
    #[serde(default, skip_serializing_if = "is_first")]
    pub part: u32,
    /// Its place among all turns in this workspace.
    pub order: u64,
    /// How it ended.
    pub status: Status,
    /// Every path it changed.
    pub changes: Vec<Change>,
    /// Set once the turn has been undone.
    #[serde(default)]
    pub undone: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    /// The turn in progress: session, turn and order.
    pending: Option<Pending>,
    /// Turns begun so far in this workspace.
    clock: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    session: String,
    turn: u64,
    #[serde(default)]
    part: u32,
    order: u64,
}

/// The journal of one workspace.
#[derive(Debug, Clone)]
pub struct Journal {
    workspace: PathBuf,
    dir: PathBuf,
    /// Where the workspace locks are: `root/locks`.
    locks: PathBuf,
    store: Store,
    skip: Vec<PathBuf>,
}

/// A turn in progress. Holds the workspace lock until [`Turn::finish`] (or
/// until dropped; a dropped turn is finished by the next journal operation).
pub struct Turn {
    journal: Journal,
    _lock: WorkspaceLock,
    pending: Pending,
    capture: Capture,
}

/// A held workspace lock (see [`Journal::lock`]); released when dropped.
#[derive(Debug)]
pub struct WorkspaceLock {
    _held: Vec<std::fs::File>,
}

/// Check a session name: it becomes a directory name.
pub fn check_session(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "session name {name:?} is not usable: use 1 to 64 letters, digits, `-`, `_` or `.`, not starting with `.`"
        )))
    }
}

impl Journal {
    /// The journal of `workspace` (made canonical) in warden's data
    /// directory; warden's own directories are never captured.
    pub fn open(dirs: &Dirs, workspace: &Path) -> Result<Self> {
        Self::at(&dirs.data.join("journal"), workspace, dirs.protected())
    }

    /// The journal of `workspace` under `root`, never capturing `skip`.
    pub fn at(root: &Path, workspace: &Path, skip: Vec<PathBuf>) -> Result<Self> {
        use sha2::Digest as _;
        let workspace = workspace.canonicalize().map_err(io("open", workspace))?;
        let key = hex::encode(sha2::Sha256::digest(
            workspace.as_os_str().as_encoded_bytes(),
        ));
        let dir = root.join("ws").join(&key[..32]);
        std::fs::create_dir_all(dir.join("turns")).map_err(io("create", &dir))?;
        let named = dir.join("workspace");
        if !named.exists() {
            write_synced(&named, workspace.as_os_str().as_encoded_bytes())?;
        }
        Ok(Journal {
            locks: root.join("locks"),
            store: Store::new(root.join("objects")),
            workspace,
            dir,
            skip,
        })
    }

    /// The canonical workspace.
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    fn scope(&self) -> Scope {
        Scope::new(self.workspace.clone(), self.skip.clone())
    }

    fn wal(&self) -> PathBuf {
        self.dir.join("pending.wal")
    }

    /// Lock the workspace by its real path: exclusively for itself and
    /// shared for each of its ancestors, always from `/` down (so two
    /// lockers never wait on each other in a cycle). A workspace and one
    /// nested in it (`WS` and `WS/sub`) thus exclude each other, as two
    /// calls on the same tree must, while unrelated workspaces do not.
    fn lock(&self) -> Result<WorkspaceLock> {
        use rustix::fs::{FlockOperation, flock};
        use sha2::Digest as _;
        std::fs::create_dir_all(&self.locks).map_err(io("create", &self.locks))?;
        let chain: Vec<&Path> = self.workspace.ancestors().collect();
        let mut held = Vec::with_capacity(chain.len());
        for (i, at) in chain.iter().rev().enumerate() {
            let own = i + 1 == chain.len();
            let key = hex::encode(sha2::Sha256::digest(at.as_os_str().as_encoded_bytes()));
            let path = self.locks.join(&key[..32]);
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(io("open", &path))?;
            let (try_op, wait_op) = if own {
                (
                    FlockOperation::NonBlockingLockExclusive,
                    FlockOperation::LockExclusive,
                )
            } else {
                (
                    FlockOperation::NonBlockingLockShared,
                    FlockOperation::LockShared,
                )
            };
            if flock(&file, try_op).is_err() {
                eprintln!(
                    "warden: waiting for another warden working in {}",
                    at.display()
                );
                flock(&file, wait_op).map_err(|e| io("lock", &path)(e.into()))?;
            }
            held.push(file);
        }
        Ok(WorkspaceLock { _held: held })
    }

    fn index(&self) -> Result<Index> {
        let path = self.dir.join("index.json");
        match read_journal_file(&path)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Corrupt(format!("{}: {e}", path.display()))),
            None => Ok(Index::default()),
        }
    }

    fn save_index(&self, index: &Index) -> Result<()> {
        let bytes = serde_json::to_vec(index).map_err(|e| Error::Corrupt(e.to_string()))?;
        write_synced(&self.dir.join("index.json"), &bytes)
    }

    fn turn_path(&self, session: &str, turn: u64, part: u32) -> PathBuf {
        let name = match part {
            0 => format!("{turn:08}.json"),
            n => format!("{turn:08}.{n}.json"),
        };
        self.dir.join("turns").join(session).join(name)
    }

    fn save_turn(&self, t: &TurnRecord) -> Result<()> {
        let path = self.turn_path(&t.session, t.turn, t.part);
        let bytes = serde_json::to_vec_pretty(t).map_err(|e| Error::Corrupt(e.to_string()))?;
        write_synced(&path, &bytes)
    }

    /// The number the next turn of `session` should take.
    pub fn next_turn(&self, session: &str) -> Result<u64> {
        check_session(session)?;
        let index = self.index()?;
        let pending = index
            .pending
            .filter(|p| p.session == session)
            .map(|p| p.turn);
        let last = self
            .turns()?
            .iter()
            .filter(|t| t.session == session)
            .map(|t| t.turn)
            .chain(pending)
            .max();
        Ok(last.map_or(1, |n| n + 1))
    }

    /// Start capturing turn `turn` of `session`. Nothing is read: each
    /// path is saved when the turn's [`Capture`] is told it is about to
    /// change. Returns once the turn is on disk as in progress.
    pub fn begin(&self, session: &str, turn: u64) -> Result<Turn> {
        check_session(session)?;
        let lock = self.lock()?;
        let index = self.recover_locked()?;
        self.begin_locked(lock, index, session, turn, 0)
    }

    /// [`Journal::begin`] with the next free turn number of `session`,
    /// chosen under the workspace lock (so concurrent callers never clash).
    pub fn begin_next(&self, session: &str) -> Result<Turn> {
        check_session(session)?;
        let lock = self.lock()?;
        let index = self.recover_locked()?;
        let turn = self.next_turn(session)?;
        self.begin_locked(lock, index, session, turn, 0)
    }

    /// Start capturing turn `turn` of `session` again: the next part of a
    /// turn that captures several calls (an agent's turn), or its first.
    pub fn begin_part(&self, session: &str, turn: u64) -> Result<Turn> {
        check_session(session)?;
        let lock = self.lock()?;
        let index = self.recover_locked()?;
        let part = (0..)
            .find(|&p| !self.turn_path(session, turn, p).exists())
            .unwrap_or(u32::MAX);
        self.begin_locked(lock, index, session, turn, part)
    }

    fn begin_locked(
        &self,
        lock: WorkspaceLock,
        mut index: Index,
        session: &str,
        turn: u64,
        part: u32,
    ) -> Result<Turn> {
        if self.turn_path(session, turn, part).exists() {
            return Err(Error::Usage(format!(
                "turn {turn} of session `{session}` was already recorded in this workspace"
            )));
        }
        // The log exists before the index names the turn (whose write
        // fsyncs the directory holding both).
        let capture = Capture::start(self.scope(), self.store.clone(), self.wal())?;
        index.clock += 1;
        let pending = Pending {
            session: session.into(),
            turn,
            part,
            order: index.clock,
        };
        index.pending = Some(pending.clone());
        self.save_index(&index)?;
        Ok(Turn {
            journal: self.clone(),
            _lock: lock,
            pending,
            capture,
        })
    }

    /// Finish a turn that a dead warden left in progress. Call with the lock held.
    fn recover_locked(&self) -> Result<Index> {
        let mut index = self.index()?;
        if let Some(p) = index.pending.clone() {
            let touched = Touched::read(&self.wal())?;
            let record = self.close(&p, &touched, Status::Interrupted)?;
            tracing::info!(
                "finished interrupted turn {} of session {}: {} changes",
                record.turn,
                record.session,
                record.changes.len()
            );
            index.pending = None;
            self.save_index(&index)?;
            let _ = std::fs::remove_file(self.wal());
        }
        Ok(index)
    }

    /// Look at every path the turn touched as it is now and write the
    /// turn's record.
    fn close(&self, p: &Pending, touched: &Touched, status: Status) -> Result<TurnRecord> {
        let record = TurnRecord {
            session: p.session.clone(),
            turn: p.turn,
            part: p.part,
            order: p.order,
            status,
            changes: capture::changes(self.scope(), &self.store, touched)?,
            undone: false,
        };
        self.save_turn(&record)?;
        Ok(record)
    }

    /// Every recorded turn of this workspace, oldest first (a turn still in
    /// progress, or left by a dead warden, is not listed until
    /// [`Journal::recover`] or the next `begin` finishes it).
    pub fn turns(&self) -> Result<Vec<TurnRecord>> {
        let dir = self.dir.join("turns");
        let mut all = Vec::new();
        for session in std::fs::read_dir(&dir).map_err(io("read", &dir))? {
            let session = session.map_err(io("read", &dir))?.path();
            for turn in std::fs::read_dir(&session).map_err(io("read", &session))? {
                let path = turn.map_err(io("read", &session))?.path();
                if path.extension().is_some_and(|e| e == "json") {
                    let bytes = read_journal_file(&path)?
                        .ok_or_else(|| io("read", &path)(std::io::ErrorKind::NotFound.into()))?;
                    all.push(
                        serde_json::from_slice::<TurnRecord>(&bytes)
                            .map_err(|e| Error::Corrupt(format!("{}: {e}", path.display())))?,
                    );
                }
            }
        }
        all.sort_by_key(|t| t.order);
        Ok(all)
    }

    /// Finish a turn left in progress by a warden that died.
    pub fn recover(&self) -> Result<()> {
        let _lock = self.lock()?;
        self.recover_locked().map(drop)
    }

    /// Restore the workspace to how it was before `turns` (any order), and
    /// mark them undone. Refuses if a path changed after them, unless
    /// `force`. Returns the paths restored.
    pub fn undo(&self, turns: &[TurnRecord], force: bool) -> Result<Vec<String>> {
        let _lock = self.lock()?;
        self.recover_locked()?;
        let mut turns = turns.to_vec();
        turns.sort_by_key(|t| std::cmp::Reverse(t.order));
        let plan = restore::Plan::of(&turns);
        let root =
            cap_std::fs::Dir::open_ambient_dir(&self.workspace, cap_std::ambient_authority())
                .map_err(io("open", &self.workspace))?;
        if !force {
            let conflicts = plan.conflicts(&root);
            if !conflicts.is_empty() {
                return Err(Error::Conflict(conflicts));
            }
        }
        // Even with --force: a restore that cannot put a file back must not
        // start, or it deletes the user's file and has nothing to replace it.
        let damaged = plan.damaged(&root, &self.store);
        if !damaged.is_empty() {
            return Err(Error::Damaged(damaged));
        }
        let result = plan.apply(&root, &self.store);
        // A partial restore leaves the turns to be undone again (with
        // --force, once whatever blocked a path is resolved).
        if result.is_ok() {
            for mut t in turns {
                t.undone = true;
                self.save_turn(&t)?;
            }
        }
        result
    }

    /// A stored file content.
    pub fn content(&self, sha256: &str) -> Result<Vec<u8>> {
        self.store.get(sha256)
    }
}

impl Turn {
    /// The session and turn number.
    pub fn id(&self) -> (&str, u64) {
        (&self.pending.session, self.pending.turn)
    }

    /// The handle the call's file guard and overlay commit report each
    /// path to before they change it.
    pub fn capture(&self) -> Capture {
        self.capture.clone()
    }

    /// Look at every path the turn touched and record what changed. On
    /// disk (fsync'd) when this returns; later reports to the capture are
    /// refused.
    pub fn finish(self) -> Result<TurnRecord> {
        let j = &self.journal;
        let (touched, wal) = self.capture.close();
        let record = j.close(&self.pending, &touched, Status::Finished)?;
        let mut index = j.index()?;
        index.pending = None;
        j.save_index(&index)?;
        let _ = std::fs::remove_file(wal);
        Ok(record)
    }
}

fn is_first(part: &u32) -> bool {
    *part == 0
}

/// Read one of the journal's own files, never waiting on a FIFO in its place.
fn read_journal_file(path: &Path) -> Result<Option<Vec<u8>>> {
    crate::configfile::read_bounded(path, u64::MAX - 1).map_err(|e| io("read", path)(e.into()))
}

/// Write a file atomically and durably: temp file, fsync, rename, fsync dir.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp.{}.{n}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(io("write", path))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
