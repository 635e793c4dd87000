//! Putting paths back as they were, through a directory handle on the
//! workspace: cap-std resolves every path inside it and refuses any that a
//! symlink or `..` would lead out of.

use super::scan::{State, Store};
use super::{Error, Result, TurnRecord};
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt as _, Permissions};
use sha2::Digest as _;
use std::collections::BTreeMap;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;

/// `O_NOFOLLOW`: a symlink at the final component is an error, not a detour.
const NOFOLLOW: i32 = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
/// `O_NOFOLLOW | O_NONBLOCK`, for reading what a path holds: a FIFO swapped
/// in after its type was looked at is not waited on.
const NOFOLLOW_NONBLOCK: i32 =
    (rustix::fs::OFlags::NOFOLLOW.bits() | rustix::fs::OFlags::NONBLOCK.bits()) as i32;

/// For every path the undone turns touched: the state the newest of them
/// left (what should be there now), and the state before the oldest (what
/// to put back).
pub struct Plan {
    paths: BTreeMap<String, (Option<State>, Option<State>)>,
}

impl Plan {
    /// The plan for `turns`, newest first.
    pub fn of(turns: &[TurnRecord]) -> Self {
        let mut paths: BTreeMap<String, (Option<State>, Option<State>)> = BTreeMap::new();
        for t in turns {
            for c in &t.changes {
                let slot = paths
                    .entry(c.path.clone())
                    .or_insert_with(|| (c.after.clone(), None));
                slot.1 = c.before.clone();
            }
        }
        Plan { paths }
    }

    /// Paths that are no longer as the undone turns left them.
    pub fn conflicts(&self, root: &Dir) -> Vec<String> {
        let mut out = Vec::new();
        for (path, (expected, _)) in &self.paths {
            if current(root, path) != *expected {
                out.push(path.clone());
            }
        }
        out
    }

    /// Every stored content the restore needs that is not there whole:
    /// (path, digest, object file, why). Checked before anything is
    /// touched, so a damaged journal changes nothing instead of leaving a
    /// file deleted with nothing to put in its place.
    pub fn damaged(&self, root: &Dir, store: &Store) -> Vec<Damage> {
        let mut out = Vec::new();
        for (path, (_, target)) in &self.paths {
            if let Some(State::File { sha256, .. }) = target
                && current(root, path) != *target
                && let Err(why) = store.verify(sha256)
            {
                out.push(Damage {
                    path: path.clone(),
                    object: store.object_path(sha256),
                    why,
                });
            }
        }
        out
    }

    /// Restore every path. Failures (a directory on the way replaced by a
    /// symlink, a directory that is not empty) are collected, the rest
    /// restored.
    pub fn apply(&self, root: &Dir, store: &Store) -> Result<Vec<String>> {
        let mut failed = Vec::new();
        let mut done = Vec::new();
        let mut note = |path: &str, r: std::io::Result<()>| match r {
            Ok(()) => done.push(path.to_string()),
            Err(e) => failed.push(format!("{path}: {e}")),
        };
        // Remove what should not be there (or is of another type), deepest first.
        for (path, (_, target)) in self.paths.iter().rev() {
            let now = current(root, path);
            // A file or link that becomes another file or link is replaced
            // by a rename below, never removed first: if writing the new
            // one fails, the old one is still there.
            let keep = matches!(
                (&now, target),
                (Some(State::Dir { .. }), Some(State::Dir { .. }))
                    | (
                        Some(State::File { .. } | State::Symlink { .. }),
                        Some(State::File { .. } | State::Symlink { .. })
                    )
            );
            if now.is_some() && !keep && now != *target {
                let r = parent(root, path).and_then(|(dir, name)| match now {
                    Some(State::Dir { .. }) => dir.remove_dir(name),
                    _ => dir.remove_file(name),
                });
                if target.is_none() || r.is_err() {
                    note(path, r);
                }
            }
        }
        // Then directories, shallowest first, then files and links.
        for (path, (_, target)) in &self.paths {
            if let Some(State::Dir { mode }) = target {
                note(path, put_dir(root, path, *mode));
            }
        }
        for (path, (_, target)) in &self.paths {
            let r = match target {
                Some(State::File { .. } | State::Symlink { .. })
                    if current(root, path) == *target =>
                {
                    Ok(())
                }
                Some(State::File { sha256, mode }) => match store.get(sha256) {
                    Ok(bytes) => put_file(root, path, &bytes, *mode),
                    Err(e) => Err(std::io::Error::other(e.to_string())),
                },
                Some(State::Symlink { target: to }) => put_link(root, path, to),
                _ => continue,
            };
            note(path, r);
        }
        if failed.is_empty() {
            Ok(done)
        } else {
            Err(Error::Partial {
                restored: done.len(),
                failed,
            })
        }
    }
}

/// A stored content that a restore needs and cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The workspace path it would restore.
    pub path: String,
    /// The object file in the journal's store.
    pub object: std::path::PathBuf,
    /// What is wrong with it.
    pub why: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (journal object {}: {})",
            self.path,
            self.object.display(),
            self.why
        )
    }
}

/// The directory holding `path`, opened one component at a time without
/// following any symlink (so neither a link out of the workspace nor one to
/// `.git` inside it is a way in), and the last component.
fn parent<'a>(root: &Dir, path: &'a str) -> std::io::Result<(Dir, &'a str)> {
    use rustix::fs::{Mode, OFlags};
    let mut parts: Vec<&str> = path.split('/').collect();
    let name = parts.pop().unwrap_or_default();
    let plain = |c: &&str| !c.is_empty() && *c != "." && *c != "..";
    if !parts.iter().chain([&name]).all(plain) || path.split('/').next() == Some(".git") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a path warden restores (empty, `.`, `..` or `.git` components)",
        ));
    }
    let mut dir = root.try_clone()?;
    for (i, comp) in parts.iter().enumerate() {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&dir, *comp, flags, Mode::empty()).map_err(|e| {
            if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::NOTDIR {
                std::io::Error::other(format!(
                    "{} is no longer a directory (a symlink or file is in its place); not following it",
                    parts[..=i].join("/")
                ))
            } else {
                e.into()
            }
        })?;
        dir = Dir::from_std_file(std::fs::File::from(fd));
    }
    Ok((dir, name))
}

/// What `path` holds now, looked at without following any symlink.
fn current(root: &Dir, path: &str) -> Option<State> {
    let (dir, name) = parent(root, path).ok()?;
    let m = dir.symlink_metadata(name).ok()?;
    let mode = cap_std::fs::MetadataExt::mode(&m) & 0o7777;
    if m.is_dir() {
        Some(State::Dir { mode })
    } else if m.is_symlink() {
        let to = dir.read_link_contents(name).ok()?;
        Some(State::Symlink {
            target: to.to_string_lossy().into_owned(),
        })
    } else if m.is_file() {
        let mut f = dir
            .open_with(
                name,
                OpenOptions::new()
                    .read(true)
                    .custom_flags(NOFOLLOW_NONBLOCK),
            )
            .ok()?;
        if !f.metadata().ok()?.is_file() {
            return None;
        }
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Some(State::File {
            sha256: hex::encode(hasher.finalize()),
            mode,
        })
    } else {
        None
    }
}

fn temp_name() -> String {
    format!(".warden-restore.{}", std::process::id())
}

fn put_dir(root: &Dir, path: &str, mode: u32) -> std::io::Result<()> {
    use rustix::fs::{Mode, OFlags};
    let (dir, name) = parent(root, path)?;
    match dir.symlink_metadata(name) {
        Ok(m) if m.is_dir() => {}
        _ => dir.create_dir(name)?,
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(&dir, name, flags, Mode::empty())?;
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))?;
    Ok(())
}

/// Write a file beside `path` and rename it over: a symlink at `path` is
/// replaced, never followed.
fn put_file(root: &Dir, path: &str, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    let (dir, name) = parent(root, path)?;
    let tmp = temp_name();
    let _ = dir.remove_file(&tmp);
    let mut f = dir.open_with(
        &tmp,
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(NOFOLLOW),
    )?;
    f.write_all(bytes)?;
    f.set_permissions(Permissions::from_std(std::fs::Permissions::from_mode(mode)))?;
    f.sync_all()?;
    drop(f);
    dir.rename(&tmp, &dir, name)
}

fn put_link(root: &Dir, path: &str, to: &str) -> std::io::Result<()> {
    let (dir, name) = parent(root, path)?;
    let tmp = temp_name();
    let _ = dir.remove_file(&tmp);
    dir.symlink_contents(to, &tmp)?;
    dir.rename(&tmp, &dir, name)
}
