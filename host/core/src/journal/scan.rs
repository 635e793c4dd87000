//! What the workspace looks like: a snapshot of every captured path, and
//! the content-addressed store that keeps each file's bytes once.

use super::{Error, Result, io};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// What one path holds, as far as a rollback is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum State {
    /// A regular file: its content (by SHA-256, in the store) and mode.
    File { sha256: String, mode: u32 },
    /// A directory and its mode.
    Dir { mode: u32 },
    /// A symbolic link and where it points (never followed).
    Symlink { target: String },
}

/// When a path last changed, to skip re-hashing files that did not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    size: u64,
    mtime_ns: i128,
    /// Status change time: no unprivileged program can set it back.
    pub ctime_ns: i128,
    ino: u64,
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Self {
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Stamp {
            size: m.len(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
            ino: m.ino(),
        }
    }

    /// The status change time of `path` (for a turn's start marker).
    pub fn ctime_of(path: &Path) -> std::io::Result<i128> {
        Ok(Self::of(&std::fs::symlink_metadata(path)?).ctime_ns)
    }
}

/// A path's state and stamp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// What it holds.
    pub state: State,
    /// When it last changed.
    pub stamp: Stamp,
}

/// Every captured path of a workspace, by `/`-separated relative path.
pub type Snapshot = BTreeMap<String, Seen>;

/// Files by SHA-256: `objects/ab/cdef…`. Each content is stored once,
/// however many turns and workspaces refer to it.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Store { dir }
    }

    fn path(&self, sha256: &str) -> Result<PathBuf> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Corrupt(format!(
                "`{sha256}` is not a SHA-256 digest"
            )));
        }
        Ok(self.dir.join(&sha256[..2]).join(&sha256[2..]))
    }

    fn has(&self, sha256: &str) -> bool {
        self.path(sha256).is_ok_and(|p| p.is_file())
    }

    /// Copy a file into the store while hashing it.
    fn put(&self, file: &Path) -> Result<String> {
        // A regular file seen by the walk may have been swapped for a FIFO
        // or a symlink since: neither is waited on nor followed.
        let mut src = open_regular(file).map_err(io("read", file))?;
        std::fs::create_dir_all(&self.dir).map_err(io("create", &self.dir))?;
        let tmp = self
            .dir
            .join(format!("tmp.{}.{}", std::process::id(), unique()));
        let mut dst = std::fs::File::create(&tmp).map_err(io("write", &tmp))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = src.read(&mut buf).map_err(io("read", file))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            dst.write_all(&buf[..n]).map_err(io("write", &tmp))?;
        }
        drop(dst);
        let sha256 = hex::encode(hasher.finalize());
        let target = self.path(&sha256)?;
        if target.is_file() {
            let _ = std::fs::remove_file(&tmp);
        } else {
            let parent = target.parent().unwrap_or(&self.dir);
            std::fs::create_dir_all(parent).map_err(io("create", parent))?;
            std::fs::rename(&tmp, &target).map_err(io("write", &target))?;
        }
        Ok(sha256)
    }

    /// Where the content `sha256` is stored, for messages.
    pub fn object_path(&self, sha256: &str) -> PathBuf {
        self.path(sha256)
            .unwrap_or_else(|_| self.dir.join(sha256.replace('/', "_")))
    }

    /// Check that the content `sha256` is stored whole: there, a regular
    /// file, and hashing to its name. Streams, so a large object costs no
    /// memory; never waits on a FIFO planted in the store.
    pub fn verify(&self, sha256: &str) -> std::result::Result<(), String> {
        let path = self.path(sha256).map_err(|e| e.to_string())?;
        let mut f = open_regular(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "it is missing".to_string(),
            _ => format!("it cannot be read: {e}"),
        })?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| format!("it cannot be read: {e}"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        if hex::encode(hasher.finalize()) != sha256 {
            return Err("its content does not match its digest (damaged or truncated)".into());
        }
        Ok(())
    }

    /// A stored content, checked against its digest.
    pub fn get(&self, sha256: &str) -> Result<Vec<u8>> {
        let path = self.path(sha256)?;
        let mut bytes = Vec::new();
        open_regular(&path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(io("read", &path))?;
        if hex::encode(Sha256::digest(&bytes)) != sha256 {
            return Err(Error::Corrupt(format!(
                "stored content {} does not match its digest",
                path.display()
            )));
        }
        Ok(bytes)
    }

    /// Flush everything written to the store's filesystem.
    pub fn sync(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(io("create", &self.dir))?;
        let d = std::fs::File::open(&self.dir).map_err(io("open", &self.dir))?;
        rustix::fs::syncfs(&d).map_err(|e| io("sync", &self.dir)(e.into()))
    }
}

/// Open a stored object for reading: non-blocking (a FIFO in its place
/// fails instead of hanging) and refused unless it is a regular file.
fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOFOLLOW).bits() as i32)
        .open(path)?;
    if !f.metadata()?.file_type().is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "it is not a regular file",
        ));
    }
    Ok(f)
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Which paths are captured: everything under the workspace except `.git`,
/// what its `.gitignore` files ignore, and `skip` (warden's own directories).
pub struct Scope<'a> {
    /// The canonical workspace root.
    pub root: &'a Path,
    /// Absolute paths never captured.
    pub skip: &'a [PathBuf],
}

impl Scope<'_> {
    /// Walk the workspace. Files whose stamp matches `cache` keep their
    /// digest; the others are hashed and stored.
    pub fn scan(&self, cache: &Snapshot, store: &Store) -> Result<Snapshot> {
        let skip: Vec<PathBuf> = self.skip.to_vec();
        let walk = ignore::WalkBuilder::new(self.root)
            .standard_filters(false)
            .git_ignore(true)
            .git_exclude(true)
            .require_git(false)
            .follow_links(false)
            .filter_entry(move |e| e.file_name() != ".git" && !skip.iter().any(|s| s == e.path()))
            .build();
        let mut snap = Snapshot::new();
        for entry in walk {
            // What warden cannot read, it cannot restore; that is no reason
            // to refuse the call.
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!("not capturing part of {}: {e}", self.root.display());
                    continue;
                }
            };
            let Ok(rel) = entry.path().strip_prefix(self.root) else {
                continue;
            };
            let Some(rel) = rel.to_str().filter(|r| !r.is_empty()) else {
                if !rel.as_os_str().is_empty() {
                    tracing::warn!("not capturing {:?}: its name is not UTF-8", entry.path());
                }
                continue;
            };
            if let Some(seen) = self.look(rel, cache, store)? {
                snap.insert(rel.to_string(), seen);
            }
        }
        Ok(snap)
    }

    /// One path, without following a symlink at it or above it (a path
    /// whose parent is no longer a real directory is reported as gone).
    pub fn look(&self, rel: &str, cache: &Snapshot, store: &Store) -> Result<Option<Seen>> {
        let path = self.root.join(rel);
        if let Some(parent) = Path::new(rel)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            let real = self.root.join(parent).canonicalize().ok();
            if real.as_deref() != Some(&self.root.join(parent)) {
                return Ok(None);
            }
        }
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("read", &path)(e)),
        };
        let stamp = Stamp::of(&meta);
        let mode = meta.permissions().mode() & 0o7777;
        let t = meta.file_type();
        let state = if t.is_dir() {
            State::Dir { mode }
        } else if t.is_symlink() {
            let target = std::fs::read_link(&path).map_err(io("read", &path))?;
            State::Symlink {
                target: target.to_string_lossy().into_owned(),
            }
        } else if t.is_file() {
            match cache.get(rel) {
                Some(Seen {
                    state: State::File { sha256, mode: m },
                    stamp: s,
                }) if *s == stamp && *m == mode && store.has(sha256) => State::File {
                    sha256: sha256.clone(),
                    mode,
                },
                _ => match store.put(&path) {
                    Ok(sha256) => State::File { sha256, mode },
                    Err(Error::Io(crate::error::IoFailure { source, .. }))
                        if source.kind() == std::io::ErrorKind::PermissionDenied =>
                    {
                        tracing::warn!("not capturing {}: {source}", path.display());
                        return Ok(None);
                    }
                    Err(e) => return Err(e),
                },
            }
        } else {
            return Ok(None); // sockets, fifos, devices: nothing to restore
        };
        Ok(Some(Seen { state, stamp }))
    }
}

/// One path a turn changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// `/`-separated, relative to the workspace.
    pub path: String,
    /// Before the turn (`None`: it did not exist).
    pub before: Option<State>,
    /// After the turn (`None`: it was deleted).
    pub after: Option<State>,
}

/// The changes from `pre` to `post`. A path that only came into view
/// (unchanged since before the turn started, but ignored then) is not a
/// change.
pub fn changes(pre: &Snapshot, post: &Snapshot, started_ctime_ns: i128) -> Vec<Change> {
    let mut out = Vec::new();
    for (path, seen) in pre {
        let after = post.get(path).map(|s| &s.state);
        if after != Some(&seen.state) {
            out.push(Change {
                path: path.clone(),
                before: Some(seen.state.clone()),
                after: after.cloned(),
            });
        }
    }
    for (path, seen) in post {
        if !pre.contains_key(path) && seen.stamp.ctime_ns >= started_ctime_ns {
            out.push(Change {
                path: path.clone(),
                before: None,
                after: Some(seen.state.clone()),
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}
