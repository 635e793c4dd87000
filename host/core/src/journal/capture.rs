//! Capture at the point of change: the file guard and the overlay commit
//! call [`Capture::before_change`] with the real path they are about to
//! change, and the first time a turn touches a path its current state (a
//! file's bytes into the store) is saved and logged, durably, before the
//! change is made. Nothing else in the workspace is read, so a turn costs
//! what it changes, not what the workspace holds.
//!
//! The log of the turn in progress (`pending.wal` beside the index) is
//! JSON lines, each fsync'd before the change it precedes; a warden killed
//! mid-turn leaves it behind, and the next journal operation closes the
//! turn from it by looking at each logged path as it is then.
//!
//! A change that replaces or removes a directory entry (rename, unlink,
//! rmdir, a child's deletion or replacement of a directory) is *deep*: the
//! whole tree under the path is saved first, and when the turn closes the
//! tree found there then is compared with it. The deep mark is logged only
//! once the whole tree is saved, so a warden killed half-way treats the
//! path as shallow (the change it preceded never happened).

use super::scan::{self, Change, Looked, State, Store};
use super::{Error, Result, io};
use ignore::gitignore::Gitignore;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One line of a turn's log.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum Entry {
    /// What `path` held when the turn first touched it.
    Before { path: String, before: Option<State> },
    /// Every captured path under `path` is logged: at close, the tree
    /// there is compared as a whole.
    Deep { path: String },
    /// A file warden could not read, so cannot restore: left alone.
    Skipped { path: String },
}

/// What a turn has touched so far.
#[derive(Debug, Default)]
pub(super) struct Touched {
    pub before: BTreeMap<String, Option<State>>,
    pub deep: BTreeSet<String>,
    pub skipped: BTreeSet<String>,
}

impl Touched {
    fn apply(&mut self, e: Entry) {
        match e {
            Entry::Before { path, before } => {
                self.before.entry(path).or_insert(before);
            }
            Entry::Deep { path } => {
                self.deep.insert(path);
            }
            Entry::Skipped { path } => {
                self.skipped.insert(path);
            }
        }
    }

    /// Whether `rel` lies under a path already captured as a whole tree.
    fn under_deep(&self, rel: &str) -> bool {
        rel.match_indices('/')
            .any(|(i, _)| self.deep.contains(&rel[..i]))
    }

    /// Read a turn's log back. A torn last line (warden killed while
    /// writing it) is dropped: the change it preceded was never made.
    pub fn read(wal: &Path) -> Result<Touched> {
        let mut t = Touched::default();
        let Some(bytes) = super::read_journal_file(wal)? else {
            return Ok(t);
        };
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<Entry>(line) {
                Ok(e) => t.apply(e),
                Err(e) => tracing::warn!("{}: dropping a torn log line: {e}", wal.display()),
            }
        }
        Ok(t)
    }
}

/// Which paths a turn captures: everything under the workspace except
/// `.git` at any depth, warden's own directories (`skip`), names that are
/// not UTF-8, and what the workspace's `.gitignore` files (and
/// `.git/info/exclude`) ignore.
pub(super) struct Scope {
    pub root: PathBuf,
    pub skip: Vec<PathBuf>,
    ignores: HashMap<String, Option<Gitignore>>,
}

impl Scope {
    pub fn new(root: PathBuf, skip: Vec<PathBuf>) -> Self {
        Scope {
            root,
            skip,
            ignores: HashMap::new(),
        }
    }

    /// `host` as a captured workspace path, or `None`.
    fn relative(&self, host: &Path) -> Option<String> {
        let rel = host.strip_prefix(&self.root).ok()?;
        if rel.as_os_str().is_empty() {
            return None; // the workspace itself is never restored
        }
        let Some(rel) = rel.to_str() else {
            tracing::warn!("not capturing {host:?}: its name is not UTF-8");
            return None;
        };
        self.kept(rel).then(|| rel.to_string())
    }

    /// Not `.git` and not warden's own.
    fn kept(&self, rel: &str) -> bool {
        !rel.split('/').any(|c| c == ".git")
            && !self.skip.iter().any(|s| self.root.join(rel).starts_with(s))
    }

    fn matcher(&mut self, dir: &str) -> Option<&Gitignore> {
        let root = &self.root;
        self.ignores
            .entry(dir.to_string())
            .or_insert_with(|| {
                let base = root.join(dir);
                let mut b = ignore::gitignore::GitignoreBuilder::new(&base);
                let mut any = false;
                let mut files = vec![base.join(".gitignore")];
                if dir.is_empty() {
                    files.push(base.join(".git/info/exclude"));
                }
                for f in files {
                    // Only a regular file is read: a FIFO there would hang.
                    if std::fs::symlink_metadata(&f).is_ok_and(|m| m.is_file()) {
                        any = true;
                        if let Some(e) = b.add(&f) {
                            tracing::warn!("{}: {e}", f.display());
                        }
                    }
                }
                if any { b.build().ok() } else { None }
            })
            .as_ref()
    }

    /// Whether the ignore files in force ignore `rel` (or a directory above it).
    pub fn ignored(&mut self, rel: &str, is_dir: bool) -> bool {
        let parts: Vec<&str> = rel.split('/').collect();
        for k in 1..=parts.len() {
            let prefix = parts[..k].join("/");
            let dir_here = k < parts.len() || is_dir;
            let full = self.root.join(&prefix);
            // The deepest ignore file decides, as in git.
            for d in (0..k).rev() {
                let dir = parts[..d].join("/");
                let verdict = self
                    .matcher(&dir)
                    .map(|m| m.matched(&full, dir_here))
                    .unwrap_or(ignore::Match::None);
                match verdict {
                    ignore::Match::Ignore(_) => return true,
                    ignore::Match::Whitelist(_) => break,
                    ignore::Match::None => {}
                }
            }
        }
        false
    }

    fn forget_ignores(&mut self) {
        self.ignores.clear();
    }

    /// Every captured path strictly under `rel`, shallowest first, without
    /// following links; ignored trees are not entered.
    fn tree(&mut self, rel: &str) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        let mut stack = vec![rel.to_string()];
        while let Some(dir) = stack.pop() {
            let host = self.root.join(&dir);
            let Ok(entries) = std::fs::read_dir(&host) else {
                continue;
            };
            for e in entries.flatten() {
                let Some(name) = e.file_name().to_str().map(str::to_string) else {
                    tracing::warn!("not capturing {:?}: its name is not UTF-8", e.path());
                    continue;
                };
                let child = format!("{dir}/{name}");
                let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                if !self.kept(&child) || self.ignored(&child, is_dir) {
                    continue;
                }
                if is_dir {
                    stack.push(child.clone());
                }
                out.push((child, is_dir));
            }
        }
        out
    }
}

/// The handle through which the file guard and the overlay commit report
/// each path before they change it. Cheap to clone; shared by one call.
#[derive(Clone)]
pub struct Capture {
    inner: Arc<Mutex<Live>>,
}

struct Live {
    scope: Scope,
    store: Store,
    touched: Touched,
    wal: Option<std::fs::File>,
    wal_path: PathBuf,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Capture")
    }
}

impl Capture {
    /// A capture logging to a fresh `wal` (created and fsync'd here).
    pub(super) fn start(scope: Scope, store: Store, wal: PathBuf) -> Result<Self> {
        let file = std::fs::File::create(&wal).map_err(io("write", &wal))?;
        file.sync_all().map_err(io("write", &wal))?;
        Ok(Capture {
            inner: Arc::new(Mutex::new(Live {
                scope,
                store,
                touched: Touched::default(),
                wal: Some(file),
                wal_path: wal,
            })),
        })
    }

    /// Save what the real host path `host` holds before it is changed, the
    /// first time this turn touches it; with `deep`, everything under it
    /// too. On disk when this returns. `Err` says why it could not be
    /// saved: the change must then not be made (it could not be undone).
    pub fn before_change(&self, host: &Path, deep: bool) -> std::result::Result<(), String> {
        let mut live = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        live.before_change(host, deep).map_err(|e| e.to_string())
    }

    /// Stop taking changes and hand over what was touched.
    pub(super) fn close(&self) -> (Touched, PathBuf) {
        let mut live = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        live.wal = None;
        (std::mem::take(&mut live.touched), live.wal_path.clone())
    }
}

impl Live {
    fn before_change(&mut self, host: &Path, deep: bool) -> Result<()> {
        let Some(rel) = self.scope.relative(host) else {
            return Ok(());
        };
        if self.wal.is_none() {
            return Err(Error::Usage(
                "the turn this call belonged to is already closed".into(),
            ));
        }
        if rel.ends_with(".gitignore") {
            self.scope.forget_ignores();
        }
        let t = &self.touched;
        // Under a tree saved whole: what it held is known already.
        if t.under_deep(&rel) || t.deep.contains(&rel) || t.skipped.contains(&rel) {
            return Ok(());
        }
        let mut lines = Vec::new();
        let mut is_dir = false;
        if !t.before.contains_key(&rel) {
            match scan::look(&self.scope.root, &rel, &self.store)? {
                Looked::Unreadable(why) => {
                    tracing::warn!("not capturing {}: {why}", host.display());
                    lines.push(Entry::Skipped { path: rel.clone() });
                }
                looked => {
                    let before = looked.state();
                    is_dir = matches!(before, Some(State::Dir { .. }));
                    if before.is_some() && self.scope.ignored(&rel, is_dir) {
                        return Ok(());
                    }
                    lines.push(Entry::Before {
                        path: rel.clone(),
                        before,
                    });
                }
            }
        } else {
            is_dir = matches!(t.before.get(&rel), Some(Some(State::Dir { .. })))
                || self.scope.root.join(&rel).is_dir();
        }
        if deep && is_dir {
            for (child, _) in self.scope.tree(&rel) {
                if self.touched.before.contains_key(&child) {
                    continue;
                }
                match scan::look(&self.scope.root, &child, &self.store)? {
                    Looked::Unreadable(_) => lines.push(Entry::Skipped { path: child }),
                    looked => lines.push(Entry::Before {
                        path: child,
                        before: looked.state(),
                    }),
                }
            }
        }
        if deep {
            // Last: only a tree saved whole is compared whole.
            lines.push(Entry::Deep { path: rel });
        }
        self.log(lines)
    }

    fn log(&mut self, lines: Vec<Entry>) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for l in &lines {
            serde_json::to_writer(&mut buf, l).map_err(|e| Error::Corrupt(e.to_string()))?;
            buf.push(b'\n');
        }
        let path = self.wal_path.clone();
        let wal = self
            .wal
            .as_mut()
            .ok_or_else(|| Error::Usage("the turn is closed".into()))?;
        wal.write_all(&buf).map_err(io("write", &path))?;
        wal.sync_data().map_err(io("write", &path))?;
        for l in lines {
            self.touched.apply(l);
        }
        Ok(())
    }
}

/// The changes of a turn: each touched path (and each path now under a
/// tree saved whole) as it was first seen and as it is now. Paths the
/// ignore files ignore, before or after, are left out.
pub(super) fn changes(mut scope: Scope, store: &Store, touched: &Touched) -> Result<Vec<Change>> {
    let mut after: BTreeMap<String, Option<State>> = BTreeMap::new();
    for root in &touched.deep {
        for (child, _) in scope.tree(root) {
            if !touched.skipped.contains(&child) {
                let now = scan::look(&scope.root, &child, store)?.state();
                after.insert(child, now);
            }
        }
    }
    for path in touched.before.keys() {
        if !after.contains_key(path) {
            let now = scan::look(&scope.root, path, store)?.state();
            after.insert(path.clone(), now);
        }
    }
    let mut out = Vec::new();
    for (path, now) in after {
        let before = touched.before.get(&path).cloned().flatten();
        if before == now {
            continue;
        }
        let is_dir = |s: &Option<State>| matches!(s, Some(State::Dir { .. }));
        let dir = is_dir(&before) || is_dir(&now);
        if scope.ignored(&path, dir) {
            continue;
        }
        out.push(Change {
            path,
            before,
            after: now,
        });
    }
    Ok(out)
}
