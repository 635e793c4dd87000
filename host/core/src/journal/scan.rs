//! What one path holds, and the content-addressed store that keeps each
//! file's bytes once.

use super::{Error, Result, io};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
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

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, sha256: &str) -> Result<PathBuf> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Corrupt(format!(
                "`{sha256}` is not a SHA-256 digest"
            )));
        }
        Ok(self.dir.join(&sha256[..2]).join(&sha256[2..]))
    }

    /// Copy a file into the store while hashing it. On disk (the object and
    /// its directory entry fsync'd) when this returns: a pre-image is what
    /// an undo after a crash restores, so it must outlive the change that
    /// follows it.
    pub(super) fn put(&self, file: &Path) -> Result<String> {
        // A regular file seen a moment ago may have been swapped for a FIFO
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
        let sha256 = hex::encode(hasher.finalize());
        let target = self.path(&sha256)?;
        if let Ok(existing) = open_regular(&target) {
            drop(dst);
            let _ = std::fs::remove_file(&tmp);
            // Used again: young again, so a collection running now keeps
            // it until the turn's log names it (see gc::GRACE).
            let _ = existing.set_modified(std::time::SystemTime::now());
            return Ok(sha256);
        }
        dst.sync_data().map_err(io("write", &tmp))?;
        drop(dst);
        let parent = target.parent().unwrap_or(&self.dir);
        let fresh = !parent.is_dir();
        std::fs::create_dir_all(parent).map_err(io("create", parent))?;
        std::fs::rename(&tmp, &target).map_err(io("write", &target))?;
        sync_dir(parent)?;
        if fresh {
            sync_dir(&self.dir)?;
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
        verify_file(&path, sha256)
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
}

/// Check that the object file at `path` hashes to `sha256`.
pub fn verify_file(path: &Path, sha256: &str) -> std::result::Result<(), String> {
    let mut f = open_regular(path).map_err(|e| match e.kind() {
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

/// fsync a directory, so the names just made in it survive a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync", dir))
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

/// What `rel` (under `root`) holds now, without following a symlink at it
/// or above it (a path whose parent is no longer a real directory is
/// reported as gone); a file's content is put in the store. `Ok(None)`
/// also for sockets, FIFOs and devices (nothing to restore); `Err(Skip)`
/// (as `Ok(Err(why))`) for a file warden may not read.
pub fn look(root: &Path, rel: &str, store: &Store) -> Result<Looked> {
    let path = root.join(rel);
    if let Some(parent) = Path::new(rel)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        let real = root.join(parent).canonicalize().ok();
        if real.as_deref() != Some(&root.join(parent)) {
            return Ok(Looked::Absent);
        }
    }
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Looked::Absent),
        Err(e) => return Err(io("read", &path)(e)),
    };
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
        match store.put(&path) {
            Ok(sha256) => State::File { sha256, mode },
            Err(Error::Io(crate::error::IoFailure { source, .. }))
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                return Ok(Looked::Unreadable(source.to_string()));
            }
            Err(e) => return Err(e),
        }
    } else {
        return Ok(Looked::Absent); // sockets, fifos, devices: nothing to restore
    };
    Ok(Looked::Is(state))
}

/// What [`look`] found.
pub enum Looked {
    /// Nothing warden restores is there.
    Absent,
    /// This.
    Is(State),
    /// A file warden may not read (so cannot restore): why.
    Unreadable(String),
}

impl Looked {
    /// The state, treating an unreadable file as absent.
    pub fn state(self) -> Option<State> {
        match self {
            Looked::Is(s) => Some(s),
            _ => None,
        }
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
