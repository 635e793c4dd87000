//! Keeping the journal's store in bounds, and checking it.
//!
//! Objects are shared by every turn of every workspace, so collection works
//! on the whole journal: an object is kept while a turn record or the log
//! of a turn in progress names it, or while it is younger than [`GRACE`]
//! (a turn saving a pre-image right now has not logged it yet; re-using a
//! stored content freshens its time). Over the size cap, the oldest turns
//! are forgotten (they can no longer be undone) until what the rest need
//! fits.

use super::capture::Touched;
use super::scan::{State, verify_file};
use super::{Error, Result, TurnRecord, io, read_journal_file};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The store's size cap when none is given, in MiB.
pub const DEFAULT_MAX_MIB: u64 = 2048;
/// How long an object nothing names is kept anyway.
pub const GRACE: Duration = Duration::from_secs(3600);

/// What [`collect`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Objects removed, and their bytes.
    pub removed: u64,
    pub removed_bytes: u64,
    /// Objects kept, and their bytes.
    pub kept: u64,
    pub kept_bytes: u64,
    /// Turns forgotten to fit the cap (`<workspace> <session>/<turn>`).
    pub forgotten: Vec<String>,
}

/// An object a turn needs that is missing or damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bad {
    /// The workspace, session and turn that need it, and the path.
    pub turn: String,
    pub path: String,
    /// The object file.
    pub object: PathBuf,
    pub why: String,
}

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} needs {} (journal object {}): {}",
            self.turn,
            self.path,
            self.object.display(),
            self.why
        )
    }
}

struct Recorded {
    file: PathBuf,
    order: u64,
    name: String,
    modified: SystemTime,
    digests: Vec<(String, String)>,
}

fn digests_of(changes: &[super::Change]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for c in changes {
        for s in [&c.before, &c.after].into_iter().flatten() {
            if let State::File { sha256, .. } = s {
                out.push((c.path.clone(), sha256.clone()));
            }
        }
    }
    out
}

/// Every turn record and in-progress log of the journal at `root`.
fn recorded(root: &Path) -> Result<(Vec<Recorded>, Vec<String>)> {
    let mut turns = Vec::new();
    let mut pending = Vec::new();
    let ws_root = root.join("ws");
    let Ok(workspaces) = std::fs::read_dir(&ws_root) else {
        return Ok((turns, pending));
    };
    for ws in workspaces.flatten() {
        let dir = ws.path();
        let shown = std::fs::read_to_string(dir.join("workspace"))
            .unwrap_or_else(|_| dir.display().to_string());
        let touched = Touched::read(&dir.join("pending.wal"))?;
        pending.extend(touched.before.values().flatten().filter_map(|s| match s {
            State::File { sha256, .. } => Some(sha256.clone()),
            _ => None,
        }));
        let Ok(sessions) = std::fs::read_dir(dir.join("turns")) else {
            continue;
        };
        for session in sessions.flatten() {
            let Ok(files) = std::fs::read_dir(session.path()) else {
                continue;
            };
            for f in files.flatten() {
                let file = f.path();
                if file.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                let bytes = read_journal_file(&file)?
                    .ok_or_else(|| io("read", &file)(std::io::ErrorKind::NotFound.into()))?;
                let t: TurnRecord = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::Corrupt(format!("{}: {e}", file.display())))?;
                let modified = f
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                turns.push(Recorded {
                    file,
                    order: t.order,
                    name: format!("{shown} {}/{}", t.session, t.turn),
                    modified,
                    digests: digests_of(&t.changes),
                });
            }
        }
    }
    turns.sort_by_key(|t| (t.modified, t.order));
    Ok((turns, pending))
}

/// Every object file in the store: digest → (path, size, modified).
fn objects(store: &Path) -> BTreeMap<String, (PathBuf, u64, SystemTime)> {
    let mut out = BTreeMap::new();
    let Ok(top) = std::fs::read_dir(store) else {
        return out;
    };
    for d in top.flatten() {
        let prefix = d.file_name().to_string_lossy().into_owned();
        if prefix.len() != 2 {
            continue;
        }
        let Ok(files) = std::fs::read_dir(d.path()) else {
            continue;
        };
        for f in files.flatten() {
            let Ok(m) = f.metadata() else { continue };
            let name = format!("{prefix}{}", f.file_name().to_string_lossy());
            let when = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            out.insert(name, (f.path(), m.len(), when));
        }
    }
    out
}

/// Remove what no turn needs; over `max_bytes`, forget the oldest turns
/// first. `now` is when objects are judged young (see [`GRACE`]).
pub fn collect(root: &Path, max_bytes: u64, now: SystemTime) -> Result<Report> {
    let store = root.join("objects");
    let (turns, pending) = recorded(root)?;
    let stored = objects(&store);
    let size = |d: &str| stored.get(d).map_or(0, |o| o.1);
    let mut refs: HashMap<String, u64> = HashMap::new();
    for t in &turns {
        for (_, d) in &t.digests {
            *refs.entry(d.clone()).or_default() += 1;
        }
    }
    for d in &pending {
        *refs.entry(d.clone()).or_default() += 1;
    }
    let mut needed: u64 = refs.keys().map(|d| size(d)).sum();
    let mut report = Report::default();
    for t in &turns {
        if needed <= max_bytes {
            break;
        }
        std::fs::remove_file(&t.file).map_err(io("remove", &t.file))?;
        report.forgotten.push(t.name.clone());
        for (_, d) in &t.digests {
            if let Some(n) = refs.get_mut(d) {
                *n -= 1;
                if *n == 0 {
                    needed -= size(d);
                    refs.remove(d);
                }
            }
        }
    }
    for (digest, (path, len, modified)) in &stored {
        let young = now.duration_since(*modified).is_ok_and(|age| age < GRACE) || *modified > now;
        if refs.contains_key(digest) || young {
            report.kept += 1;
            report.kept_bytes += len;
            continue;
        }
        std::fs::remove_file(path).map_err(io("remove", path))?;
        report.removed += 1;
        report.removed_bytes += len;
    }
    // Left-overs of a copy into the store that a killed warden never
    // finished.
    if let Ok(entries) = std::fs::read_dir(&store) {
        for e in entries.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|m| now.duration_since(m).is_ok_and(|a| a >= GRACE));
            if e.file_name().to_string_lossy().starts_with("tmp.") && old {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(report)
}

/// Every object a recorded turn needs that is missing or does not hash
/// to its name.
pub fn verify(root: &Path) -> Result<Vec<Bad>> {
    let store = super::scan::Store::new(root.join("objects"));
    let (turns, _) = recorded(root)?;
    let mut checked: HashMap<String, Option<String>> = HashMap::new();
    let mut bad = Vec::new();
    for t in &turns {
        for (path, d) in &t.digests {
            let object = store.object_path(d);
            let why = checked
                .entry(d.clone())
                .or_insert_with(|| verify_file(&object, d).err())
                .clone();
            if let Some(why) = why {
                bad.push(Bad {
                    turn: t.name.clone(),
                    path: path.clone(),
                    object,
                    why,
                });
            }
        }
    }
    Ok(bad)
}
