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

    /// Restore every path. Failures (a path that now leads outside the
    /// workspace, a directory that is not empty) are collected, the rest
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
            let keep = matches!(
                (&now, target),
                (Some(State::Dir { .. }), Some(State::Dir { .. }))
            );
            if now.is_some() && !keep && now != *target {
                let r = match now {
                    Some(State::Dir { .. }) => root.remove_dir(path),
                    _ => root.remove_file(path),
                };
                if target.is_none() {
                    note(path, r);
                } else if let Err(e) = r {
                    note(path, Err(e));
                }
            }
        }
        // Then directories, shallowest first, then files and links.
        for (path, (_, target)) in &self.paths {
            if let Some(State::Dir { mode }) = target {
                let r = match root.symlink_metadata(path) {
                    Ok(m) if m.is_dir() => Ok(()),
                    _ => root.create_dir(path),
                }
                .and_then(|()| {
                    root.set_permissions(
                        path,
                        Permissions::from_std(std::fs::Permissions::from_mode(*mode)),
                    )
                });
                note(path, r);
            }
        }
        for (path, (_, target)) in &self.paths {
            let r = match target {
                Some(State::File { sha256, mode }) => {
                    if current(root, path) == *target {
                        Ok(())
                    } else {
                        match store.get(sha256) {
                            Ok(bytes) => put_file(root, path, &bytes, *mode),
                            Err(e) => Err(std::io::Error::other(e.to_string())),
                        }
                    }
                }
                Some(State::Symlink { target: to }) => {
                    if current(root, path) == *target {
                        Ok(())
                    } else {
                        put_link(root, path, to)
                    }
                }
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

/// What `path` holds now, looked at without following a symlink at it.
fn current(root: &Dir, path: &str) -> Option<State> {
    let m = root.symlink_metadata(path).ok()?;
    let mode = cap_std::fs::MetadataExt::mode(&m) & 0o7777;
    if m.is_dir() {
        Some(State::Dir { mode })
    } else if m.is_symlink() {
        let to = root.read_link_contents(path).ok()?;
        Some(State::Symlink {
            target: to.to_string_lossy().into_owned(),
        })
    } else if m.is_file() {
        let mut f = root
            .open_with(path, OpenOptions::new().read(true).custom_flags(NOFOLLOW))
            .ok()?;
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

fn temp_beside(path: &str) -> String {
    let (dir, _) = path.rsplit_once('/').unwrap_or(("", path));
    let name = format!(".warden-restore.{}", std::process::id());
    if dir.is_empty() {
        name
    } else {
        format!("{dir}/{name}")
    }
}

/// Write a file beside `path` and rename it over: a symlink at `path` is
/// replaced, never followed.
fn put_file(root: &Dir, path: &str, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = temp_beside(path);
    let _ = root.remove_file(&tmp);
    let mut f = root.open_with(
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
    root.rename(&tmp, root, path)
}

fn put_link(root: &Dir, path: &str, to: &str) -> std::io::Result<()> {
    let tmp = temp_beside(path);
    let _ = root.remove_file(&tmp);
    root.symlink_contents(to, &tmp)?;
    root.rename(&tmp, root, path)
}
