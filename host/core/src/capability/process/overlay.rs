//! What a confined child writes, and how it reaches the workspace.
//!
//! A child never writes a granted directory directly. Each writable root is
//! an **overlay** inside the sandbox (mounted by `warden __confine`, see
//! [`crate::capability::process::confine`]): the real directory is the read-only lower layer and
//! everything the child creates, changes or deletes lands in an upper
//! directory that warden owns ([`Staging`]). After the child's whole tree
//! has exited, [`commit`] walks that upper layer and applies each change to
//! the real directory through directory handles, under the same rules as a
//! plugin's own writes ([`Rules`]):
//!
//! - a path under warden's own directories (hidden: the child never even
//!   saw them), under a protected path (`.git`, at any depth below a file
//!   grant, and warden's directories, whether they existed or not), or under
//!   a read-only grant is refused and not applied; a deletion or a
//!   replacement of a directory is refused when anything inside it would be;
//! - symbolic links must stay inside their root (relative, no `..` past it)
//!   and may not point into a protected path; FIFOs, sockets and devices
//!   are refused;
//! - what a child adds in one call is bounded ([`Quota`]): over the limit
//!   nothing is applied.
//!
//! Every step opens one name at a time with `O_NOFOLLOW` from the handle of
//! its parent, so a symlink swapped into the workspace while the commit runs
//! makes that one change fail instead of redirecting it, and the path that
//! was checked is the path that is written. Before each change is applied,
//! the path is reported to the undo journal's turn ([`Capture`]), which
//! saves what it held (the whole tree, for a directory that is removed or
//! replaced); a path whose pre-image cannot be saved is not changed.

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::journal::Capture;

/// Bytes a child's tree may add to the workspace in one call (regular file
/// sizes, sparse files counted at their full size).
pub const CHILD_WRITE_BYTES: u64 = 4 << 30;
/// Entries (files, directories, links, deletions) a child's tree may leave
/// in one call.
pub const CHILD_WRITE_FILES: u64 = 100_000;

/// How much one call's children may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Bytes of regular files.
    pub bytes: u64,
    /// Entries of any kind.
    pub files: u64,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            bytes: CHILD_WRITE_BYTES,
            files: CHILD_WRITE_FILES,
        }
    }
}

/// What a child's changes are judged against; every path is a real
/// (symlink-free) host path.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// The workspace, to phrase grant specs relative to it.
    pub workspace: PathBuf,
    /// The plugin's writable file grants: below each, `.git` at any depth is
    /// protected unless a grant names it.
    pub file_writes: Vec<PathBuf>,
    /// Every writable path (file grants and the program's own).
    pub writable: Vec<PathBuf>,
    /// Read-only grants (a change below one, and not below a deeper
    /// writable grant, is refused).
    pub read_only: Vec<PathBuf>,
    /// Protected paths, existing or not.
    pub protected: Vec<PathBuf>,
    /// Paths no plugin or child may see or change: warden's own directories.
    pub hidden: Vec<PathBuf>,
}

/// One change that was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `write` or `unlink`.
    pub operation: &'static str,
    /// The host path.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
    /// The grant that would allow it, if any.
    pub allow: Option<String>,
}

impl Rules {
    /// Why a change at `path` may not be applied, if it may not.
    pub fn refusal(&self, operation: &'static str, path: &Path) -> Option<Refusal> {
        let refuse = |reason: String, allow: Option<String>| Refusal {
            operation,
            path: path.to_path_buf(),
            reason,
            allow,
        };
        if let Some(h) = self.hidden.iter().find(|h| path.starts_with(h)) {
            return Some(refuse(
                format!(
                    "{} is warden's own directory: plugins and the programs they run can neither see nor change it",
                    h.display()
                ),
                None,
            ));
        }
        if let Some(p) = self.protected_by(path) {
            return Some(refuse(
                format!(
                    "{} is protected: it stays read-only unless granted by name",
                    p.display()
                ),
                Some(self.spec(&p)),
            ));
        }
        let deepest = |list: &[PathBuf]| {
            list.iter()
                .filter(|g| path.starts_with(g))
                .map(|g| g.components().count())
                .max()
        };
        match (deepest(&self.writable), deepest(&self.read_only)) {
            (Some(w), Some(r)) if r <= w => None,
            (Some(_), None) => None,
            _ => Some(refuse(
                "the grant is read-only".into(),
                Some(self.spec(path)),
            )),
        }
    }

    /// The protected path `path` lies under: a listed one, or a `.git`
    /// below a writable file grant that no write grant names.
    fn protected_by(&self, path: &Path) -> Option<PathBuf> {
        if let Some(p) = self.protected.iter().find(|p| path.starts_with(p)) {
            return Some(p.clone());
        }
        let root = self
            .file_writes
            .iter()
            .filter(|w| path.starts_with(w))
            .min_by_key(|w| w.components().count())?;
        let mut prefix = root.clone();
        for part in path.strip_prefix(root).ok()?.components() {
            prefix.push(part);
            if part.as_os_str() == ".git" && !self.writable.iter().any(|w| w.starts_with(&prefix)) {
                return Some(prefix);
            }
        }
        None
    }

    fn spec(&self, path: &Path) -> String {
        let shown = match path.strip_prefix(&self.workspace) {
            Ok(rel) if rel.as_os_str().is_empty() => Path::new("."),
            Ok(rel) => rel,
            Err(_) => path,
        };
        format!("file:{}:write", shown.display())
    }
}

/// Upper and work directories for one child, one pair per overlaid root,
/// removed when dropped (after a kill or a cancelled call too).
pub struct Staging {
    base: PathBuf,
    /// (real root, its staging directory holding `upper/` and `work/`).
    pub roots: Vec<(PathBuf, PathBuf)>,
}

impl Staging {
    /// Fresh staging for `roots`, in the first temporary directory that lies
    /// outside every root (overlayfs refuses an upper layer inside its
    /// lower one). When it is on the roots' file system, commits are renames.
    pub fn new(roots: &[PathBuf], avoid: &[PathBuf]) -> std::io::Result<Self> {
        let candidates = [std::env::temp_dir(), "/tmp".into(), "/var/tmp".into()];
        let place = candidates
            .iter()
            .filter_map(|c| c.canonicalize().ok())
            .find(|c| !roots.iter().chain(avoid).any(|r| c.starts_with(r)))
            .ok_or_else(|| {
                std::io::Error::other(
                    "no temporary directory lies outside the granted roots (set TMPDIR elsewhere)",
                )
            })?;
        sweep_stale(&place);
        let base = tempfile::Builder::new()
            .prefix(&format!("{STAGING_PREFIX}{}-", std::process::id()))
            .tempdir_in(&place)?
            .keep();
        let mut staging = Staging {
            base,
            roots: Vec::new(),
        };
        for (i, root) in roots.iter().enumerate() {
            let dir = staging.base.join(i.to_string());
            std::fs::create_dir(&dir)?;
            std::fs::create_dir(dir.join("upper"))?;
            std::fs::create_dir(dir.join("work"))?;
            staging.roots.push((root.clone(), dir));
        }
        Ok(staging)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Err(e) = remove_all(&self.base) {
            tracing::warn!("could not remove {}: {e}", self.base.display());
        }
    }
}

/// Staging directories are named `<prefix><pid of warden>-<random>`.
const STAGING_PREFIX: &str = "warden-child-";

/// Remove the staging directories of wardens that are gone (killed before
/// they could drop theirs), so a killed warden leaks nothing for long.
fn sweep_stale(place: &Path) {
    let Ok(entries) = std::fs::read_dir(place) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(STAGING_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = remove_all(&entry.path());
        }
    }
}

/// Remove a tree that may hold directories without permissions (overlayfs
/// leaves `work/work` at mode 0), never following a link.
fn remove_all(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return std::fs::remove_file(path);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    for entry in std::fs::read_dir(path)? {
        remove_all(&entry?.path())?;
    }
    std::fs::remove_dir(path)
}

/// What [`commit`] did.
#[derive(Debug, Default)]
pub struct Commit {
    /// Changes applied.
    pub applied: u64,
    /// Changes refused, each with its reason.
    pub refused: Vec<Refusal>,
    /// Set when the changes could not all be applied at once (over the
    /// quota, or unreadable): nothing was applied.
    pub over_quota: Option<NotApplied>,
}

/// Why none of a program's changes were applied.
#[derive(Debug, thiserror::Error)]
pub enum NotApplied {
    /// They add more than the per-call quota for programs allows.
    #[error(
        "they add {bytes} bytes in {files} entries, over the per-call limit for programs of {} bytes in {} entries",
        quota.bytes,
        quota.files
    )]
    OverQuota {
        bytes: u64,
        files: u64,
        quota: Quota,
    },
    /// Their upper layer could not be read to be measured.
    #[error("cannot read the program's changes: {0}")]
    Unreadable(#[from] rustix::io::Errno),
}

/// Apply the upper layers of `staging` to their roots under `rules`.
pub fn commit(staging: &Staging, rules: &Rules, quota: Quota, capture: Option<&Capture>) -> Commit {
    let mut out = Commit::default();
    let mut used = Used::default();
    for (_, dir) in &staging.roots {
        if let Err(e) = measure(&dir.join("upper"), &mut used, quota) {
            out.over_quota = Some(e);
            return out;
        }
    }
    if used.files > quota.files || used.bytes > quota.bytes {
        out.over_quota = Some(used.over(quota));
        return out;
    }
    for (root, dir) in &staging.roots {
        let opened = open_dir_path(&dir.join("upper")).and_then(|up| {
            let target = open_dir_path(root)?;
            // The root is opened by its real path; make sure no link moved it.
            match std::fs::read_link(format!("/proc/self/fd/{}", fd_num(&target))) {
                Ok(real) if real == *root => Ok((up, target)),
                _ => Err(std::io::Error::other("the granted root moved")),
            }
        });
        match opened {
            Ok((up, target)) => Applier {
                rules,
                out: &mut out,
                capture,
            }
            .dir(&up, &target, root),
            Err(e) => out.refused.push(Refusal {
                operation: "write",
                path: root.clone(),
                reason: format!("the program's changes here could not be applied: {e}"),
                allow: None,
            }),
        }
    }
    out
}

#[derive(Debug, Default)]
struct Used {
    bytes: u64,
    files: u64,
}

impl Used {
    fn over(&self, quota: Quota) -> NotApplied {
        NotApplied::OverQuota {
            bytes: self.bytes,
            files: self.files,
            quota,
        }
    }
}

fn fd_num(fd: &OwnedFd) -> i32 {
    use std::os::fd::AsRawFd;
    fd.as_raw_fd()
}

/// Count what an upper layer holds, stopping as soon as it is over.
fn measure(upper: &Path, used: &mut Used, quota: Quota) -> Result<(), NotApplied> {
    let fd = rustix::fs::open(
        upper,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    measure_dir(&fd, used, quota)
}

fn measure_dir(dir: &OwnedFd, used: &mut Used, quota: Quota) -> Result<(), NotApplied> {
    for name in names(dir)? {
        let st = rustix::fs::statat(dir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)?;
        used.files += 1;
        let kind = FileType::from_raw_mode(st.st_mode);
        if kind == FileType::RegularFile || kind == FileType::Symlink {
            let blocks = (st.st_blocks as u64).saturating_mul(512);
            used.bytes = used.bytes.saturating_add((st.st_size as u64).max(blocks));
        }
        if used.files > quota.files || used.bytes > quota.bytes {
            return Err(used.over(quota));
        }
        if kind == FileType::Directory {
            let sub = open_dir_at(dir, &name)?;
            measure_dir(&sub, used, quota)?;
        }
    }
    Ok(())
}

fn open_dir_path(path: &Path) -> std::io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

fn open_dir_at(dir: &OwnedFd, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// The names in a directory, without `.` and `..`.
fn names(dir: &OwnedFd) -> rustix::io::Result<Vec<OsString>> {
    let dup = rustix::io::fcntl_dupfd_cloexec(dir, 0)?;
    let mut out = Vec::new();
    for entry in rustix::fs::Dir::read_from(dup)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            out.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    Ok(out)
}

fn stat_at(dir: &OwnedFd, name: &OsStr) -> rustix::io::Result<Option<rustix::fs::Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

fn kind(st: &rustix::fs::Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// An overlay xattr of a directory in the upper layer (`userxattr` mounts
/// keep them under `user.overlay.`).
fn overlay_xattr(dir: &OwnedFd, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    match rustix::fs::fgetxattr(dir, format!("user.overlay.{name}").as_str(), &mut buf) {
        Ok(n) => {
            buf.truncate(n);
            Some(buf)
        }
        Err(_) => None,
    }
}

struct Applier<'a> {
    rules: &'a Rules,
    out: &'a mut Commit,
    capture: Option<&'a Capture>,
}

impl Applier<'_> {
    fn refuse(&mut self, r: Refusal) {
        if self.out.refused.len() < crate::capability::MAX_DENIALS {
            self.out.refused.push(r);
        }
    }

    fn failed(&mut self, operation: &'static str, path: &Path, e: impl std::fmt::Display) {
        self.refuse(Refusal {
            operation,
            path: path.to_path_buf(),
            reason: format!("the change could not be applied: {e}"),
            allow: None,
        });
    }

    /// Report `p` to the journal before changing it (`deep`: everything
    /// under it too); false, with the refusal recorded, if what it holds
    /// could not be saved, so the change must not be made.
    fn saved(&mut self, p: &Path, deep: bool) -> bool {
        let Some(capture) = self.capture else {
            return true;
        };
        match capture.before_change(p, deep) {
            Ok(()) => true,
            Err(why) => {
                self.refuse(Refusal {
                    operation: "write",
                    path: p.to_path_buf(),
                    reason: format!(
                        "not applied: what it holds could not be saved for undo: {why}"
                    ),
                    allow: None,
                });
                false
            }
        }
    }

    /// Apply the upper directory `up` onto the real directory `target` at
    /// host path `path`.
    fn dir(&mut self, up: &OwnedFd, target: &OwnedFd, path: &Path) {
        let entries = match names(up) {
            Ok(n) => n,
            Err(e) => return self.failed("write", path, e),
        };
        for name in entries {
            let p = path.join(&name);
            if let Err(e) = self.entry(up, target, &name, &p) {
                self.failed("write", &p, e);
            }
        }
    }

    fn entry(
        &mut self,
        up: &OwnedFd,
        target: &OwnedFd,
        name: &OsStr,
        p: &Path,
    ) -> rustix::io::Result<()> {
        let st = rustix::fs::statat(up, name, AtFlags::SYMLINK_NOFOLLOW)?;
        let existing = stat_at(target, name)?;
        // What is there goes whole when the child deleted it, put
        // something else in its place, or replaced a directory (opaque).
        let was_dir = existing
            .as_ref()
            .is_some_and(|e| kind(e) == FileType::Directory);
        let replaces_tree = was_dir
            && (kind(&st) != FileType::Directory
                || open_dir_at(up, name)
                    .ok()
                    .and_then(|d| overlay_xattr(&d, "opaque"))
                    .is_some());
        if !self.saved(p, replaces_tree) {
            return Ok(());
        }
        match kind(&st) {
            FileType::CharacterDevice if st.st_rdev == 0 => {
                // A whiteout: the child deleted this path.
                if let Some(r) = self.rules.refusal("unlink", p) {
                    self.refuse(r);
                } else if existing.is_some() && self.remove(target, name, p)? {
                    self.out.applied += 1;
                }
            }
            FileType::RegularFile => {
                if let Some(r) = self.rules.refusal("write", p) {
                    self.refuse(r);
                } else if self.clear_dir(target, name, p, existing.as_ref())? {
                    place_file(up, target, name, st.st_mode)?;
                    self.out.applied += 1;
                }
            }
            FileType::Symlink => {
                let link = rustix::fs::readlinkat(up, name, Vec::new())?;
                let link = Path::new(OsStr::from_bytes(link.to_bytes()));
                if let Some(r) = self
                    .rules
                    .refusal("write", p)
                    .or_else(|| self.link_refusal(p, link))
                {
                    self.refuse(r);
                } else if self.clear_dir(target, name, p, existing.as_ref())? {
                    place_link(up, target, name, link)?;
                    self.out.applied += 1;
                }
            }
            FileType::Directory => self.directory(up, target, name, p, &st, existing)?,
            _ => self.refuse(Refusal {
                operation: "write",
                path: p.to_path_buf(),
                reason: "a FIFO, socket or device file: programs may leave only files, directories and links".into(),
                allow: None,
            }),
        }
        Ok(())
    }

    fn directory(
        &mut self,
        up: &OwnedFd,
        target: &OwnedFd,
        name: &OsStr,
        p: &Path,
        st: &rustix::fs::Stat,
        existing: Option<rustix::fs::Stat>,
    ) -> rustix::io::Result<()> {
        let sub_up = open_dir_at(up, name)?;
        if overlay_xattr(&sub_up, "redirect").is_some()
            || overlay_xattr(&sub_up, "metacopy").is_some()
        {
            self.refuse(Refusal {
                operation: "write",
                path: p.to_path_buf(),
                reason: "a renamed directory that the overlay records as a redirect, which warden does not apply".into(),
                allow: None,
            });
            return Ok(());
        }
        let opaque = match overlay_xattr(&sub_up, "opaque").as_deref() {
            None => false,
            Some(b"y") => true,
            Some(_) => {
                self.refuse(Refusal {
                    operation: "write",
                    path: p.to_path_buf(),
                    reason: "an overlay directory of a kind warden does not apply".into(),
                    allow: None,
                });
                return Ok(());
            }
        };
        let mode = st.st_mode & 0o1777;
        let was_dir = existing
            .as_ref()
            .is_some_and(|e| kind(e) == FileType::Directory);
        let same_mode = existing
            .as_ref()
            .is_some_and(|e| e.st_mode & 0o1777 == mode);
        // A directory the overlay copied up only to hold a changed child is
        // no change itself: its children are judged one by one.
        if !(was_dir && same_mode && !opaque)
            && let Some(r) = self.rules.refusal("write", p)
        {
            self.refuse(r);
            return Ok(());
        }
        if !was_dir {
            if existing.is_some() {
                rustix::fs::unlinkat(target, name, AtFlags::empty())?;
            }
            rustix::fs::mkdirat(target, name, Mode::from_raw_mode(mode))?;
            self.out.applied += 1;
        }
        let sub_target = open_dir_at(target, name)?;
        if was_dir && !same_mode {
            rustix::fs::fchmod(&sub_target, Mode::from_raw_mode(mode))?;
            self.out.applied += 1;
        }
        if opaque && was_dir {
            // The child replaced the directory: what it did not recreate goes.
            let keep = names(&sub_up)?;
            for old in names(&sub_target)? {
                if !keep.contains(&old) {
                    let op = p.join(&old);
                    if let Some(r) = self.rules.refusal("unlink", &op) {
                        self.refuse(r);
                    } else if self.remove(&sub_target, &old, &op)? {
                        self.out.applied += 1;
                    }
                }
            }
        }
        self.dir(&sub_up, &sub_target, p);
        Ok(())
    }

    /// A link may not leave its root or lead into a protected path.
    fn link_refusal(&self, p: &Path, link: &Path) -> Option<Refusal> {
        let refuse = |reason: String| Refusal {
            operation: "write",
            path: p.to_path_buf(),
            reason,
            allow: None,
        };
        if link.is_absolute() {
            return Some(refuse(format!(
                "a symbolic link to the absolute path {}: links programs leave must be relative and stay inside the grant",
                link.display()
            )));
        }
        let mut resolved = p.parent().map(Path::to_path_buf).unwrap_or_default();
        for part in link.components() {
            match part {
                Component::ParentDir => {
                    resolved.pop();
                }
                Component::Normal(n) => resolved.push(n),
                _ => {}
            }
        }
        let inside = self.rules.writable.iter().any(|w| resolved.starts_with(w));
        if !inside {
            return Some(refuse(format!(
                "a symbolic link to {}, which leaves the writable grants",
                link.display()
            )));
        }
        self.rules.refusal("write", &resolved).map(|r| {
            refuse(format!(
                "a symbolic link into {}: {}",
                resolved.display(),
                r.reason
            ))
        })
    }

    /// Make room for a non-directory at `name`: a directory there goes (if
    /// nothing inside it is refused). False when it could not.
    fn clear_dir(
        &mut self,
        target: &OwnedFd,
        name: &OsStr,
        p: &Path,
        existing: Option<&rustix::fs::Stat>,
    ) -> rustix::io::Result<bool> {
        if existing.is_some_and(|e| kind(e) == FileType::Directory) {
            return self.remove(target, name, p);
        }
        Ok(true)
    }

    /// Remove `name` (a whole tree for a directory) unless something inside
    /// it is refused; false (with the refusal recorded) when it is.
    fn remove(&mut self, target: &OwnedFd, name: &OsStr, p: &Path) -> rustix::io::Result<bool> {
        let Some(st) = stat_at(target, name)? else {
            return Ok(true);
        };
        if kind(&st) != FileType::Directory {
            rustix::fs::unlinkat(target, name, AtFlags::empty())?;
            return Ok(true);
        }
        let sub = open_dir_at(target, name)?;
        if let Some(r) = self.first_refused_inside(&sub, p)? {
            self.refuse(Refusal {
                reason: format!(
                    "removing it would remove {}: {}",
                    r.path.display(),
                    r.reason
                ),
                path: p.to_path_buf(),
                ..r
            });
            return Ok(false);
        }
        remove_tree(&sub)?;
        rustix::fs::unlinkat(target, name, AtFlags::REMOVEDIR)?;
        Ok(true)
    }

    fn first_refused_inside(
        &self,
        dir: &OwnedFd,
        path: &Path,
    ) -> rustix::io::Result<Option<Refusal>> {
        for name in names(dir)? {
            let p = path.join(&name);
            if let Some(r) = self.rules.refusal("unlink", &p) {
                return Ok(Some(r));
            }
            if stat_at(dir, &name)?.is_some_and(|s| kind(&s) == FileType::Directory) {
                let sub = open_dir_at(dir, &name)?;
                if let Some(r) = self.first_refused_inside(&sub, &p)? {
                    return Ok(Some(r));
                }
            }
        }
        Ok(None)
    }
}

fn remove_tree(dir: &OwnedFd) -> rustix::io::Result<()> {
    for name in names(dir)? {
        match stat_at(dir, &name)? {
            Some(st) if kind(&st) == FileType::Directory => {
                let sub = open_dir_at(dir, &name)?;
                remove_tree(&sub)?;
                rustix::fs::unlinkat(dir, name.as_os_str(), AtFlags::REMOVEDIR)?;
            }
            Some(_) => rustix::fs::unlinkat(dir, name.as_os_str(), AtFlags::empty())?,
            None => {}
        }
    }
    Ok(())
}

/// A temporary name in the target directory for a copy that is renamed
/// into place.
fn temp_name() -> OsString {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    OsString::from(format!(".warden-commit-{}-{n}", std::process::id()))
}

/// Move a regular file into place: a rename on the same file system, else
/// a copy renamed over the target. Set-id bits are dropped.
fn place_file(up: &OwnedFd, target: &OwnedFd, name: &OsStr, mode: u32) -> rustix::io::Result<()> {
    let src = rustix::fs::openat(
        up,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mode = Mode::from_raw_mode(mode & 0o1777);
    rustix::fs::fchmod(&src, mode)?;
    match rustix::fs::renameat(up, name, target, name) {
        Err(rustix::io::Errno::XDEV) => {}
        other => return other,
    }
    let tmp = temp_name();
    let dst = rustix::fs::openat(
        target,
        &tmp,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        mode,
    )?;
    let copied = (|| {
        let mut from = std::fs::File::from(src);
        let mut to = std::fs::File::from(dst);
        std::io::copy(&mut from, &mut to).map_err(|e| {
            e.raw_os_error()
                .map_or(rustix::io::Errno::IO, rustix::io::Errno::from_raw_os_error)
        })?;
        rustix::fs::renameat(target, &tmp, target, name)
    })();
    if copied.is_err() {
        let _ = rustix::fs::unlinkat(target, &tmp, AtFlags::empty());
    }
    copied
}

fn place_link(up: &OwnedFd, target: &OwnedFd, name: &OsStr, link: &Path) -> rustix::io::Result<()> {
    match rustix::fs::renameat(up, name, target, name) {
        Err(rustix::io::Errno::XDEV) => {}
        other => return other,
    }
    let tmp = temp_name();
    rustix::fs::symlinkat(link, target.as_fd(), &tmp)?;
    let moved = rustix::fs::renameat(target, &tmp, target, name);
    if moved.is_err() {
        let _ = rustix::fs::unlinkat(target, &tmp, AtFlags::empty());
    }
    moved
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rules(ws: &Path) -> Rules {
        Rules {
            workspace: ws.to_path_buf(),
            file_writes: vec![ws.to_path_buf()],
            writable: vec![ws.to_path_buf()],
            read_only: vec![ws.join("docs")],
            protected: vec![ws.join(".git"), ws.join(".state/warden")],
            hidden: vec![ws.join(".state/warden")],
        }
    }

    #[test]
    fn judges_paths_like_a_plugin_write() {
        let ws = Path::new("/w");
        let r = rules(ws);
        for (path, refused) in [
            ("/w/a.txt", None),
            ("/w/.git", Some("/w/.git is protected")),
            ("/w/.git/config", Some("/w/.git is protected")),
            (
                "/w/vendor/lib/.git/config",
                Some("/w/vendor/lib/.git is protected"),
            ),
            ("/w/.github/x", None),
            ("/w/x.git", None),
            (
                "/w/.state/warden/sessions/s",
                Some("warden's own directory"),
            ),
            ("/w/docs/x", Some("the grant is read-only")),
            ("/elsewhere", Some("the grant is read-only")),
        ] {
            let got = r.refusal("write", Path::new(path)).map(|r| r.reason);
            match refused {
                None => assert_eq!(got, None, "{path}"),
                Some(want) => assert!(
                    got.as_deref().is_some_and(|g| g.contains(want)),
                    "{path}: {got:?}"
                ),
            }
        }
        let mut named = rules(ws);
        named.writable.push("/w/vendor/lib/.git".into());
        assert_eq!(
            named.refusal("write", Path::new("/w/vendor/lib/.git/config")),
            None
        );
        assert_eq!(
            r.refusal("write", Path::new("/w/.git/config"))
                .unwrap()
                .allow
                .as_deref(),
            Some("file:.git:write")
        );
    }

    #[test]
    fn staging_is_removed_with_what_overlayfs_leaves() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let ws = root.path().canonicalize().unwrap().join("ws");
        std::fs::create_dir(&ws).unwrap();
        let staging = Staging::new(std::slice::from_ref(&ws), &[]).unwrap();
        let (_, dir) = staging.roots[0].clone();
        assert!(!dir.starts_with(&ws));
        let locked = dir.join("work/work");
        std::fs::create_dir(&locked).unwrap();
        std::fs::write(locked.join("x"), "x").unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o0)).unwrap();
        let base = dir.parent().unwrap().to_path_buf();
        drop(staging);
        assert!(!base.exists());
        // One left by a warden that was killed is swept by the next.
        let place = base.parent().unwrap();
        let stale = place.join(format!("{STAGING_PREFIX}{}-x", u32::MAX));
        std::fs::create_dir_all(stale.join("0/work/work")).unwrap();
        let next = Staging::new(std::slice::from_ref(&ws), &[]).unwrap();
        assert!(!stale.exists());
        drop(next);
    }
}
