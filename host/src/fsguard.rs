//! The file capability: wasmtime's `wasi:filesystem` behind a guard.
//!
//! wasmtime-wasi confines every path to a preopened directory (through
//! cap-std) and enforces read-only preopens. This module adds what a coding
//! agent needs on top, before any side effect:
//!
//! - **protected paths** (`.git`, warden's own directories) stay read-only
//!   inside a writable grant, also before they exist: every mutating call is
//!   resolved to the real host path of its target (through directory handles,
//!   following symlinks the way the operation itself will) and refused if it
//!   lies under a protected path; any descriptor that is opened onto a
//!   protected path is downgraded to read-only, so nothing derived from it can
//!   write either;
//! - **single-file grants**: the file's directory is preopened, but only that
//!   one name may be opened in it and it cannot be listed;
//! - **denial records**: each refusal is recorded with the operation, the
//!   host path and the reason, so the host can say what grant would allow it.
//!
//! Everything else is forwarded unchanged to wasmtime-wasi.

use crate::grant::Effective;
use crate::manifest::Access;
use std::ffi::OsString;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::component::{HasData, Resource};
use wasmtime_wasi::filesystem::{Descriptor, Dir, WasiFilesystemCtxView};
use wasmtime_wasi::p2::bindings::filesystem::{preopens, types};
use wasmtime_wasi::p2::{FsError, FsResult};
use wasmtime_wasi::{FsPerms, OpenMode};
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream};

use types::{ErrorCode, HostDescriptor, HostDirectoryEntryStream};

/// Most denials recorded per call; further ones are still refused.
pub const MAX_DENIALS: usize = 64;
/// Most policy answers remembered per call; past it each use is asked again.
pub const MAX_POLICY_ANSWERS: usize = 4096;

/// Asked about the real host path of every file use, with whether it
/// writes (the organisation's policy, see [`crate::policy::access`]).
pub trait PathPolicy: Send + Sync {
    /// Whether any answer could be a refusal (else nothing is resolved
    /// or asked, so a workspace without a policy pays nothing).
    fn active(&self) -> bool;
    /// `Err` carries the reason the use of `real` is refused.
    fn check(&self, real: &Path, write: bool) -> Result<(), String>;
}

/// The policy hook a guard carries.
pub type PathCheck = Arc<dyn PathPolicy>;

pub use crate::denial::Denial;

/// One preopened directory.
#[derive(Clone)]
struct Preopen {
    dir: Dir,
    /// The host directory.
    dir_path: PathBuf,
    guest: String,
    /// For a single-file grant: the only name that may be used in `dir`.
    only: Option<OsString>,
}

/// What a plugin's file grants resolve to, opened once and shared by
/// every call.
struct Rules {
    preopens: Vec<Preopen>,
    protected: Vec<PathBuf>,
    workspace: PathBuf,
}

/// Per-store state of the file capability. Cloned per call: the rules and
/// directory handles are shared, the denials are not.
#[derive(Clone)]
pub struct FsGuard {
    rules: Arc<Rules>,
    denials: Vec<Denial>,
    /// The organisation's policy, when one is in force.
    policy: Option<PathCheck>,
    /// Its answers in this call: (real path, writes) → refusal reason.
    answers: std::collections::HashMap<(PathBuf, bool), Option<String>>,
}

impl FsGuard {
    /// Open the effective file grants as preopens. A granted path that does
    /// not exist is skipped (it cannot be reached either way).
    pub fn new(effective: &Effective, workspace: &Path) -> std::io::Result<Self> {
        let mut preopens = Vec::new();
        for grant in &effective.files {
            let (perms, mode) = match grant.access {
                Access::Read => (FsPerms::ReadOnly, OpenMode::READ),
                Access::Write => (FsPerms::ReadWrite, OpenMode::READ | OpenMode::WRITE),
            };
            let meta = match std::fs::metadata(&grant.host) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let (dir_path, only) = if meta.is_dir() {
                (grant.host.clone(), None)
            } else {
                let parent = grant.host.parent().unwrap_or(Path::new("/")).to_path_buf();
                (parent, grant.host.file_name().map(|n| n.to_os_string()))
            };
            let file = open_dir(&dir_path)?;
            let dir = Dir::new(file, perms, mode, true);
            if dir_path == workspace {
                preopens.push(Preopen {
                    dir: dir.clone(),
                    dir_path: dir_path.clone(),
                    guest: ".".into(),
                    only: only.clone(),
                });
            }
            preopens.push(Preopen {
                dir,
                guest: dir_path.display().to_string(),
                dir_path: dir_path.clone(),
                only,
            });
        }
        Ok(FsGuard {
            rules: Arc::new(Rules {
                preopens,
                protected: effective.protected.clone(),
                workspace: workspace.to_path_buf(),
            }),
            denials: Vec::new(),
            policy: None,
            answers: Default::default(),
        })
    }

    /// Ask `check` about the real path of every file use from now on.
    pub fn with_policy(mut self, check: PathCheck) -> Self {
        self.policy = Some(check);
        self
    }

    fn policy_active(&self) -> bool {
        self.policy.as_ref().is_some_and(|p| p.active())
    }

    /// The organisation's policy on `real`, asked once per path and access
    /// in a call: refused uses are recorded like any other denial.
    fn ask_policy(&mut self, operation: &'static str, real: &Path, write: bool) -> FsResult<()> {
        let Some(check) = self.policy.as_ref().filter(|p| p.active()) else {
            return Ok(());
        };
        let key = (real.to_path_buf(), write);
        let refusal = match self.answers.get(&key) {
            Some(answer) => answer.clone(),
            None => {
                let answer = check.check(real, write).err();
                if self.answers.len() < MAX_POLICY_ANSWERS {
                    self.answers.insert(key, answer.clone());
                }
                answer
            }
        };
        match refusal {
            None => Ok(()),
            Some(reason) => Err(self.deny(operation, real, &reason, None)),
        }
    }

    /// Refusals recorded so far.
    pub fn denials(&self) -> &[Denial] {
        &self.denials
    }

    /// Record a refusal. `allow` is the path and access a grant would need.
    fn deny(
        &mut self,
        operation: &'static str,
        resource: &Path,
        reason: &str,
        allow: Option<(&Path, Access)>,
    ) -> FsError {
        tracing::info!(operation, resource = %resource.display(), reason, "file access denied");
        if self.denials.len() < MAX_DENIALS {
            let allow = allow.map(|(path, access)| {
                let shown = match path.strip_prefix(&self.rules.workspace) {
                    Ok(rel) if rel.as_os_str().is_empty() => Path::new("."),
                    Ok(rel) => rel,
                    Err(_) => path,
                };
                format!("file:{}:{access}", shown.display())
            });
            self.denials.push(Denial {
                capability: "files",
                operation,
                resource: resource.display().to_string(),
                reason: reason.to_string(),
                allow,
            });
        }
        ErrorCode::NotPermitted.into()
    }

    /// Record why a write through an open read-only descriptor is refused.
    fn deny_descriptor(&mut self, operation: &'static str, file: &std::fs::File) -> FsError {
        let real = real_path(file).unwrap_or_default();
        match self.protected_by(&real) {
            Some(p) => {
                let reason = protected_reason(&p);
                self.deny(operation, &real, &reason, Some((&p, Access::Write)))
            }
            None => self.deny(
                operation,
                &real,
                "the grant is read-only",
                Some((&real, Access::Write)),
            ),
        }
    }

    fn single_file_rule(&self, dir: &Dir) -> Option<&OsString> {
        let fd = dir.dir.as_raw_fd();
        self.rules
            .preopens
            .iter()
            .find(|p| p.dir.dir.as_raw_fd() == fd)
            .and_then(|p| p.only.as_ref())
    }

    /// The protected path `target` lies under, if any: one of the listed
    /// paths, or any `.git` directory at any depth below a writable grant
    /// (a planted `sub/.git/config` could make a granted `git` run
    /// programs), unless the grant names that path itself.
    fn protected_by(&self, target: &Path) -> Option<PathBuf> {
        if let Some(p) = self.rules.protected.iter().find(|p| target.starts_with(p)) {
            return Some(p.clone());
        }
        let mut prefix = PathBuf::new();
        for part in target.components() {
            prefix.push(part);
            if part.as_os_str() == ".git" {
                let granted_by_name = self
                    .rules
                    .preopens
                    .iter()
                    .any(|o| o.dir_path.starts_with(&prefix));
                if !granted_by_name {
                    return Some(prefix);
                }
            }
        }
        None
    }
}

fn protected_reason(p: &Path) -> String {
    format!(
        "{} is protected: it stays read-only unless granted by name",
        p.display()
    )
}

fn open_dir(path: &Path) -> std::io::Result<std::fs::File> {
    cap_std::fs::Dir::open_ambient_dir(path, cap_std::ambient_authority())
        .map(|d| d.into_std_file())
}

/// The host path an open descriptor refers to.
fn real_path(file: &std::fs::File) -> std::io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// How resolving the target of a path operation ended.
enum Target {
    /// The real host path the operation would touch.
    At(PathBuf),
    /// The path leaves the directory's sandbox.
    Escapes(PathBuf),
    /// It ends in a dangling symbolic link that a create would follow.
    Dangling(PathBuf),
    /// Something on the way does not exist; the operation will fail alone.
    Unresolved,
}

/// Resolve `path` under `dir` to the host path that an operation would
/// touch, through directory handles. `follow` says whether the operation
/// follows a symlink in the last component.
fn resolve(dir: &Dir, path: &str, follow: bool) -> std::io::Result<Target> {
    let base = real_path(&dir.dir)?;
    let cap = cap_std::fs::Dir::from_std_file(dir.dir.try_clone()?);
    let p = Path::new(path);
    let follow = follow || path.ends_with('/');
    let lexical = base.join(p);
    let escaped = |e: &std::io::Error| {
        e.kind() == std::io::ErrorKind::PermissionDenied && e.raw_os_error().is_none()
    };
    let (parent, name) = match (p.parent(), p.file_name()) {
        (Some(parent), Some(name)) if !path.ends_with("..") => (parent, name),
        _ => {
            return Ok(match cap.canonicalize(p) {
                Ok(c) => Target::At(base.join(c)),
                Err(e) if escaped(&e) => Target::Escapes(lexical),
                Err(_) => Target::Unresolved,
            });
        }
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let parent = match cap.canonicalize(parent) {
        Ok(c) => c,
        Err(e) if escaped(&e) => return Ok(Target::Escapes(lexical)),
        Err(_) => return Ok(Target::Unresolved),
    };
    let rel = parent.join(name);
    let is_link = cap
        .symlink_metadata(&rel)
        .map(|m| m.file_type().is_symlink())
        .unwrap_or(false);
    if follow && is_link {
        return Ok(match cap.canonicalize(&rel) {
            Ok(c) => Target::At(base.join(c)),
            Err(e) if escaped(&e) => Target::Escapes(lexical),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Target::Dangling(base.join(rel)),
            Err(_) => Target::Unresolved,
        });
    }
    Ok(Target::At(base.join(rel)))
}

/// Marker type that links the guarded filesystem.
pub struct GuardedFs;

impl HasData for GuardedFs {
    type Data<'a> = GuardedView<'a>;
}

/// wasmtime-wasi's filesystem view plus the guard.
pub struct GuardedView<'a> {
    /// The wrapped implementation.
    pub inner: WasiFilesystemCtxView<'a>,
    /// The guard state.
    pub guard: &'a mut FsGuard,
}

impl GuardedView<'_> {
    fn dir_of(&self, fd: &Resource<Descriptor>) -> FsResult<Option<Dir>> {
        Ok(match self.inner.table.get(fd)? {
            Descriptor::Dir(d) => Some(d.clone()),
            Descriptor::File(_) => None,
        })
    }

    /// Refuse a mutation of `path` under `fd` that touches a protected path,
    /// leaves a single-file grant, or goes through a read-only grant.
    fn check_mutation(
        &mut self,
        fd: &Resource<Descriptor>,
        path: &str,
        op: &'static str,
        follow: bool,
    ) -> FsResult<()> {
        let Some(dir) = self.dir_of(fd)? else {
            return Ok(());
        };
        let target = match resolve(&dir, path, follow) {
            Ok(t) => t,
            Err(e) => return Err(ErrorCode::from(e).into()),
        };
        let target = match target {
            Target::At(t) => t,
            Target::Escapes(t) => {
                return Err(self
                    .guard
                    .deny(op, &t, "the path leaves the granted directory", None));
            }
            Target::Dangling(t) => {
                return Err(self.guard.deny(
                    op,
                    &t,
                    "refusing to create through a dangling symbolic link",
                    None,
                ));
            }
            Target::Unresolved => return Ok(()),
        };
        if let Some(only) = self.guard.single_file_rule(&dir)
            && target.file_name() != Some(only.as_os_str())
        {
            let allow = Some((target.as_path(), Access::Write));
            return Err(self.guard.deny(
                op,
                &target,
                "only a single file is granted in this directory",
                allow,
            ));
        }
        if dir.perms.write_not_permitted() {
            let allow = Some((target.as_path(), Access::Write));
            return Err(self
                .guard
                .deny(op, &target, "the grant is read-only", allow));
        }
        if let Some(p) = self.guard.protected_by(&target) {
            let reason = protected_reason(&p);
            return Err(self
                .guard
                .deny(op, &target, &reason, Some((&p, Access::Write))));
        }
        self.guard.ask_policy(op, &target, true)
    }

    /// Refuse reading anything but the granted file in a single-file preopen.
    fn check_read(
        &mut self,
        fd: &Resource<Descriptor>,
        path: &str,
        op: &'static str,
    ) -> FsResult<()> {
        let Some(dir) = self.dir_of(fd)? else {
            return Ok(());
        };
        if self.guard.policy_active() {
            // Both the entry named and, if it is a symlink, what it leads to.
            for follow in [false, true] {
                if let Ok(Target::At(real)) = resolve(&dir, path, follow) {
                    self.guard.ask_policy(op, &real, false)?;
                }
            }
        }
        let Some(only) = self.guard.single_file_rule(&dir).cloned() else {
            return Ok(());
        };
        if Path::new(path).components().count() != 1 || Path::new(path).file_name() != Some(&only) {
            let target = real_path(&dir.dir).unwrap_or_default().join(path);
            let allow = Some((target.as_path(), Access::Read));
            return Err(self.guard.deny(
                op,
                &target,
                "only a single file is granted in this directory",
                allow,
            ));
        }
        Ok(())
    }

    /// After a failed path operation, record why if the sandbox refused it.
    fn explain(&mut self, fd_dir: Option<Dir>, path: &str, op: &'static str, err: &FsError) {
        let (Some(dir), Some(ErrorCode::NotPermitted)) = (fd_dir, err.downcast_ref()) else {
            return;
        };
        if let Ok(Target::Escapes(t)) = resolve(&dir, path, true) {
            self.guard
                .deny(op, &t, "the path leaves the granted directory", None);
        } else if dir.perms.write_not_permitted() {
            let target = real_path(&dir.dir).unwrap_or_default().join(path);
            self.guard.deny(
                op,
                &target,
                "the grant is read-only",
                Some((&target, Access::Write)),
            );
        }
    }

    /// Make a freshly opened descriptor read-only if it lies under a
    /// protected path, so nothing opened through it can write.
    /// Refuse (and record) a change through a descriptor that is read-only.
    fn check_descriptor_write(
        &mut self,
        fd: &Resource<Descriptor>,
        op: &'static str,
    ) -> FsResult<()> {
        let (file, perms) = match self.inner.table.get(fd)? {
            Descriptor::Dir(d) => (d.dir.clone(), d.perms),
            Descriptor::File(f) => (f.file.clone(), f.perms),
        };
        if perms.write_not_permitted() {
            return Err(self.guard.deny_descriptor(op, &file));
        }
        Ok(())
    }

    /// Ask the organisation's policy about the real path of an open
    /// descriptor.
    fn check_opened_policy(&mut self, fd: &Resource<Descriptor>, writes: bool) -> FsResult<()> {
        if !self.guard.policy_active() {
            return Ok(());
        }
        let file = match self.inner.table.get(fd)? {
            Descriptor::Dir(d) => d.dir.clone(),
            Descriptor::File(f) => f.file.clone(),
        };
        let real = real_path(&file).map_err(ErrorCode::from)?;
        self.guard
            .ask_policy(if writes { "write" } else { "read" }, &real, writes)
    }

    fn downgrade_if_protected(&mut self, fd: &Resource<Descriptor>) -> FsResult<()> {
        let desc = self.inner.table.get_mut(fd)?;
        let (file, perms) = match desc {
            Descriptor::Dir(d) => (&d.dir, &mut d.perms),
            Descriptor::File(f) => (&f.file, &mut f.perms),
        };
        if perms.write_not_permitted() {
            return Ok(());
        }
        let real = real_path(file).map_err(ErrorCode::from)?;
        if self.guard.protected_by(&real).is_some() {
            *perms = FsPerms::ReadOnly;
        }
        Ok(())
    }
}

impl preopens::Host for GuardedView<'_> {
    fn get_directories(&mut self) -> wasmtime::Result<Vec<(Resource<Descriptor>, String)>> {
        let mut out = Vec::with_capacity(self.guard.rules.preopens.len());
        for p in &self.guard.rules.preopens {
            let fd = self.inner.table.push(Descriptor::Dir(p.dir.clone()))?;
            out.push((fd, p.guest.clone()));
        }
        Ok(out)
    }
}

impl types::Host for GuardedView<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<ErrorCode> {
        types::Host::convert_error_code(&mut self.inner, err)
    }

    fn filesystem_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        types::Host::filesystem_error_code(&mut self.inner, err)
    }
}

impl HostDirectoryEntryStream for GuardedView<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<types::DirectoryEntryStream>,
    ) -> FsResult<Option<types::DirectoryEntry>> {
        HostDirectoryEntryStream::read_directory_entry(&mut self.inner, stream).await
    }

    fn drop(&mut self, stream: Resource<types::DirectoryEntryStream>) -> wasmtime::Result<()> {
        HostDirectoryEntryStream::drop(&mut self.inner, stream)
    }
}

impl HostDescriptor for GuardedView<'_> {
    async fn open_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        oflags: types::OpenFlags,
        flags: types::DescriptorFlags,
    ) -> FsResult<Resource<Descriptor>> {
        let writes = flags.contains(types::DescriptorFlags::WRITE)
            || oflags.intersects(types::OpenFlags::CREATE | types::OpenFlags::TRUNCATE);
        if writes {
            let follow = path_flags.contains(types::PathFlags::SYMLINK_FOLLOW)
                && !oflags.contains(types::OpenFlags::EXCLUSIVE);
            self.check_mutation(&fd, &path, "write", follow)?;
        } else {
            self.check_read(&fd, &path, "read")?;
        }
        let dir = self.dir_of(&fd)?;
        let opened =
            HostDescriptor::open_at(&mut self.inner, fd, path_flags, path.clone(), oflags, flags)
                .await;
        match opened {
            Ok(new) => {
                self.downgrade_if_protected(&new)?;
                // What was opened is what the policy is asked about, so a
                // path swapped after the check above gains nothing.
                if let Err(e) = self.check_opened_policy(&new, writes) {
                    HostDescriptor::drop(&mut self.inner, new).map_err(FsError::trap)?;
                    return Err(e);
                }
                Ok(new)
            }
            Err(e) => {
                self.explain(dir, &path, if writes { "write" } else { "read" }, &e);
                Err(e)
            }
        }
    }

    async fn create_directory_at(
        &mut self,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        self.check_mutation(&fd, &path, "mkdir", false)?;
        HostDescriptor::create_directory_at(&mut self.inner, fd, path).await
    }

    async fn set_times_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        let follow = path_flags.contains(types::PathFlags::SYMLINK_FOLLOW);
        self.check_mutation(&fd, &path, "set-times", follow)?;
        HostDescriptor::set_times_at(&mut self.inner, fd, path_flags, path, atim, mtim).await
    }

    async fn link_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path_flags: types::PathFlags,
        old_path: String,
        new_descriptor: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        // A hard link to a protected or read-only file would be a writable
        // alias of it, so the source counts as written too.
        let follow = old_path_flags.contains(types::PathFlags::SYMLINK_FOLLOW);
        self.check_mutation(&fd, &old_path, "link", follow)?;
        self.check_mutation(&new_descriptor, &new_path, "link", false)?;
        HostDescriptor::link_at(
            &mut self.inner,
            fd,
            old_path_flags,
            old_path,
            new_descriptor,
            new_path,
        )
        .await
    }

    async fn remove_directory_at(
        &mut self,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        self.check_mutation(&fd, &path, "rmdir", false)?;
        HostDescriptor::remove_directory_at(&mut self.inner, fd, path).await
    }

    async fn rename_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        self.check_mutation(&fd, &old_path, "rename", false)?;
        self.check_mutation(&new_fd, &new_path, "rename", false)?;
        HostDescriptor::rename_at(&mut self.inner, fd, old_path, new_fd, new_path).await
    }

    async fn symlink_at(
        &mut self,
        fd: Resource<Descriptor>,
        src_path: String,
        dest_path: String,
    ) -> FsResult<()> {
        self.check_mutation(&fd, &dest_path, "symlink", false)?;
        let dir = self.dir_of(&fd)?;
        let absolute = src_path.starts_with('/');
        let made =
            HostDescriptor::symlink_at(&mut self.inner, fd, src_path, dest_path.clone()).await;
        if let (Err(e), true, Some(dir)) = (&made, absolute, dir)
            && matches!(e.downcast_ref(), Some(ErrorCode::NotPermitted))
        {
            let link = real_path(&dir.dir).unwrap_or_default().join(&dest_path);
            self.guard.deny(
                "symlink",
                &link,
                "a symbolic link may not point to an absolute path",
                None,
            );
        }
        made
    }

    async fn unlink_file_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        self.check_mutation(&fd, &path, "unlink", false)?;
        HostDescriptor::unlink_file_at(&mut self.inner, fd, path).await
    }

    async fn read_directory(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> FsResult<Resource<types::DirectoryEntryStream>> {
        self.check_opened_policy(&fd, false)?;
        if let Some(dir) = self.dir_of(&fd)?
            && self.guard.single_file_rule(&dir).is_some()
        {
            let base = real_path(&dir.dir).unwrap_or_default();
            let allow = Some((base.as_path(), Access::Read));
            return Err(self.guard.deny(
                "list",
                &base,
                "only a single file is granted in this directory",
                allow,
            ));
        }
        HostDescriptor::read_directory(&mut self.inner, fd).await
    }

    async fn stat_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::DescriptorStat> {
        self.check_read(&fd, &path, "stat")?;
        HostDescriptor::stat_at(&mut self.inner, fd, path_flags, path).await
    }

    async fn readlink_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<String> {
        self.check_read(&fd, &path, "readlink")?;
        HostDescriptor::readlink_at(&mut self.inner, fd, path).await
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::MetadataHashValue> {
        self.check_read(&fd, &path, "stat")?;
        HostDescriptor::metadata_hash_at(&mut self.inner, fd, path_flags, path).await
    }

    // Operations on an open descriptor: its permissions (downgraded above
    // where needed) are enforced by wasmtime-wasi.

    async fn advise(
        &mut self,
        fd: Resource<Descriptor>,
        offset: types::Filesize,
        len: types::Filesize,
        advice: types::Advice,
    ) -> FsResult<()> {
        HostDescriptor::advise(&mut self.inner, fd, offset, len, advice).await
    }

    async fn sync_data(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        HostDescriptor::sync_data(&mut self.inner, fd).await
    }

    async fn get_flags(&mut self, fd: Resource<Descriptor>) -> FsResult<types::DescriptorFlags> {
        HostDescriptor::get_flags(&mut self.inner, fd).await
    }

    async fn get_type(&mut self, fd: Resource<Descriptor>) -> FsResult<types::DescriptorType> {
        HostDescriptor::get_type(&mut self.inner, fd).await
    }

    async fn set_size(&mut self, fd: Resource<Descriptor>, size: types::Filesize) -> FsResult<()> {
        self.check_descriptor_write(&fd, "truncate")?;
        HostDescriptor::set_size(&mut self.inner, fd, size).await
    }

    async fn set_times(
        &mut self,
        fd: Resource<Descriptor>,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        self.check_descriptor_write(&fd, "set-times")?;
        HostDescriptor::set_times(&mut self.inner, fd, atim, mtim).await
    }

    async fn read(
        &mut self,
        fd: Resource<Descriptor>,
        len: types::Filesize,
        offset: types::Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        HostDescriptor::read(&mut self.inner, fd, len, offset).await
    }

    async fn write(
        &mut self,
        fd: Resource<Descriptor>,
        buf: Vec<u8>,
        offset: types::Filesize,
    ) -> FsResult<types::Filesize> {
        self.check_descriptor_write(&fd, "write")?;
        HostDescriptor::write(&mut self.inner, fd, buf, offset).await
    }

    async fn sync(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        HostDescriptor::sync(&mut self.inner, fd).await
    }

    async fn stat(&mut self, fd: Resource<Descriptor>) -> FsResult<types::DescriptorStat> {
        HostDescriptor::stat(&mut self.inner, fd).await
    }

    fn drop(&mut self, fd: Resource<Descriptor>) -> wasmtime::Result<()> {
        HostDescriptor::drop(&mut self.inner, fd)
    }

    fn read_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<DynInputStream>> {
        HostDescriptor::read_via_stream(&mut self.inner, fd, offset)
    }

    fn write_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        self.check_descriptor_write(&fd, "write")?;
        HostDescriptor::write_via_stream(&mut self.inner, fd, offset)
    }

    fn append_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> FsResult<Resource<DynOutputStream>> {
        self.check_descriptor_write(&fd, "write")?;
        HostDescriptor::append_via_stream(&mut self.inner, fd)
    }

    async fn is_same_object(
        &mut self,
        a: Resource<Descriptor>,
        b: Resource<Descriptor>,
    ) -> wasmtime::Result<bool> {
        HostDescriptor::is_same_object(&mut self.inner, a, b).await
    }

    async fn metadata_hash(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> FsResult<types::MetadataHashValue> {
        HostDescriptor::metadata_hash(&mut self.inner, fd).await
    }
}
