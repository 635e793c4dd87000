//! The file capability: wasmtime's `wasi:filesystem` behind a guard.
//!
//! Every operation that names a path is carried out here, not by
//! wasmtime-wasi, so that the check and the use are the same operation:
//!
//! - the directory part of the path is opened once, beneath the guest's
//!   descriptor (`openat2` with `RESOLVE_BENEATH`: nothing outside it can be
//!   reached, whatever symlinks or `..` say), and that handle's real path is
//!   what is checked; the change is then made through the same handle on the
//!   final name (`mkdirat`, `renameat`, `unlinkat`, ...), never by resolving
//!   the path string again, and never following a symlink in the final name;
//! - a read opens its target (non-blocking, so a FIFO cannot hang the call)
//!   and checks the real path of what was opened, so a symlink swapped in for
//!   a granted file is refused; only regular files and directories open;
//! - [`Rules::decide`] is the one decision every path goes through: warden's
//!   own directories are invisible ([`Effective::hidden`]), a path must lie
//!   under a grant that allows the access, and protected paths (`.git` at any
//!   depth, warden's directories, also before they exist and including their
//!   ancestors for anything that replaces a directory entry) stay read-only;
//! - the plugin's own writes count against per-call quotas (bytes, files
//!   created) and a per-file size ([`WriteLimits`]);
//! - each refusal is recorded with the operation, the host path and the
//!   reason, so the host can say what grant would allow it;
//! - every change the decision allows is reported first to the call's undo
//!   journal turn ([`Capture`]), which saves what the path holds (the whole
//!   tree, for an entry that is replaced or removed); a path whose
//!   pre-image cannot be saved is not changed.
//!
//! Operations on an open descriptor are forwarded to wasmtime-wasi, which
//! enforces the descriptor's permissions (set here from the same decision).

use crate::grant::Effective;
use crate::journal::Capture;
use crate::manifest::Access;
use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};
use std::collections::HashMap;
use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use wasmtime::component::{HasData, Resource};
use wasmtime_wasi::filesystem::{Descriptor, Dir, File, WasiFilesystemCtxView};
use wasmtime_wasi::p2::bindings::filesystem::{preopens, types};
use wasmtime_wasi::p2::{FsError, FsResult};
use wasmtime_wasi::{FsPerms, OpenMode};
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream, OutputStream, StreamError};

use types::{ErrorCode, HostDescriptor, HostDirectoryEntryStream};

/// Longest resource text kept in a denial: a guest chooses the paths it
/// names, and denials are returned to the caller.
pub const MAX_DENIAL_RESOURCE_BYTES: usize = 4096;

pub use crate::capability::Denial;
use crate::capability::Denials;

/// Asked about the real host path of every file use, with whether it
/// writes (the organisation's policy, see [`crate::policy::access`]).
pub trait PathPolicy: Send + Sync {
    /// Whether any answer could be a refusal (else nothing is asked, so a
    /// workspace without a policy pays nothing).
    fn active(&self) -> bool;
    /// `Err` says which rule refuses the use of `real`.
    fn check(&self, real: &Path, write: bool) -> Result<(), crate::policy::access::Refused>;
}

/// The policy hook a guard carries.
pub type PathCheck = Arc<dyn PathPolicy>;

/// How much one call may write through the plugin's own file handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteLimits {
    /// Bytes written per call (`limits.write_mib`).
    pub call_bytes: u64,
    /// Files, directories and links created per call
    /// (`limits.files_created`).
    pub call_files: u64,
    /// Largest file the plugin may write (`limits.file_size_mib`).
    pub file_bytes: u64,
}

impl WriteLimits {
    /// No limit: for instances that hold no file grants.
    pub const NONE: WriteLimits = WriteLimits {
        call_bytes: u64::MAX,
        call_files: u64::MAX,
        file_bytes: u64::MAX,
    };
}

/// One preopened directory.
#[derive(Clone)]
struct Preopen {
    dir: Dir,
    guest: String,
}

/// One grant, by real path.
#[derive(Debug, Clone)]
struct Granted {
    host: PathBuf,
    access: Access,
    /// A single-file grant: only `host` itself, not what is beside it.
    file: bool,
}

/// What a plugin's file grants resolve to, opened once and shared by
/// every call.
#[derive(Clone)]
struct Rules {
    preopens: Vec<Preopen>,
    grants: Vec<Granted>,
    protected: Vec<PathBuf>,
    hidden: Vec<PathBuf>,
    workspace: PathBuf,
    /// The organisation's policy, asked last about every use the grants
    /// allow, with the same real path.
    policy: Option<PathCheck>,
}

/// What an operation does to the path it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Look: open for reading, stat, list, readlink.
    Read,
    /// Look at a directory itself (stat it, open it, list it). Allowed
    /// also on a strict ancestor of a grant, so that a tool can walk down
    /// to what it was granted; listing such an ancestor shows only the
    /// entries on the way (see [`Rules::only_on_the_way`]).
    Walk,
    /// Make a directory. Allowed also on a strict ancestor of a writable
    /// grant, so that a granted path that does not exist yet can be made
    /// with the directories it needs (`file:src/new/x.rs:write`).
    MakeDir,
    /// Change what is there: write, truncate, set times, mkdir.
    Write,
    /// Make, remove or move a directory entry: create, unlink, rmdir,
    /// rename, symlink, link. Refused also on an ancestor of a protected or
    /// hidden path, since replacing one would move that path or put the
    /// plugin's own files in its place.
    Replace,
}

/// A refusal, before it is recorded.
#[derive(Debug)]
struct Refusal {
    op: &'static str,
    resource: PathBuf,
    reason: String,
    allow: Option<(PathBuf, Access)>,
    code: ErrorCode,
}

/// How an operation failed inside the blocking part.
enum Fail {
    Refused(Refusal),
    Code(ErrorCode),
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Self {
        Fail::Code(ErrorCode::from(e))
    }
}

impl From<rustix::io::Errno> for Fail {
    fn from(e: rustix::io::Errno) -> Self {
        Fail::Code(ErrorCode::from(std::io::Error::from(e)))
    }
}

impl From<ErrorCode> for Fail {
    fn from(e: ErrorCode) -> Self {
        Fail::Code(e)
    }
}

/// Per-call write state, shared with the operations and streams the call
/// runs: counters, and the journal turn told of each change.
#[derive(Default)]
struct Quota {
    written: AtomicU64,
    created: AtomicU64,
    /// Refusals found where the guard is not reachable (in a stream).
    late: Mutex<Denials>,
    capture: Option<Capture>,
}

/// Per-store state of the file capability. [`FsGuard::for_call`] gives
/// each call its own denials and quotas over the shared rules.
#[derive(Clone)]
pub struct FsGuard {
    rules: Arc<Rules>,
    limits: WriteLimits,
    denials: Denials,
    quota: Arc<Quota>,
    /// What each open directory listing may show, by stream.
    listings: HashMap<u32, Listing>,
}

/// What one directory listing may show: never the hidden names, and,
/// for a directory that is only on the way to a grant, only the entries
/// that lead to one.
#[derive(Clone)]
struct Listing {
    hide: Vec<OsString>,
    only: Option<Vec<OsString>>,
}

impl Listing {
    fn shows(&self, name: &str) -> bool {
        !self.hide.iter().any(|n| n.as_os_str() == name)
            && self
                .only
                .as_ref()
                .is_none_or(|only| only.iter().any(|n| n.as_os_str() == name))
    }
}

/// `path` as a real path: the deepest ancestor that exists, resolved, with
/// the rest appended, so a path that does not exist yet compares correctly
/// once it does.
pub fn real_or_planned(path: &Path) -> PathBuf {
    // Bounded like the kernel's own symlink resolution.
    const MAX_LINKS: usize = 40;
    let mut rest: Vec<OsString> = Vec::new();
    let mut at = path.to_path_buf();
    let mut links = 0;
    loop {
        if let Ok(real) = at.canonicalize() {
            let mut out = real;
            out.extend(rest.iter().rev());
            return out;
        }
        // A dangling symlink on the way: follow it by hand, since where it
        // points is where the directory will be made.
        if let Ok(target) = std::fs::read_link(&at)
            && links < MAX_LINKS
        {
            links += 1;
            at = match at.parent() {
                Some(parent) => parent.join(target),
                None => target,
            };
            continue;
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                at = parent.to_path_buf();
            }
            _ => {
                let mut out = at;
                out.extend(rest.iter().rev());
                return out;
            }
        }
    }
}

/// Both the path as configured and its real path: a rename or unlink of a
/// symlink on the configured path would redirect it, one on the real path
/// would move it.
fn both_spellings(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for p in paths {
        for q in [p.clone(), real_or_planned(p)] {
            if !out.contains(&q) {
                out.push(q);
            }
        }
    }
    out
}

impl FsGuard {
    /// Open the effective file grants as preopens, and the workspace as `.`
    /// (see below). A granted path that does not exist yet is granted by
    /// where it will be, so the plugin can create it, as a file or a
    /// directory; it is reached through the nearest directory above it
    /// that exists.
    pub fn new(effective: &Effective, workspace: &Path) -> std::io::Result<Self> {
        let mut grants = Vec::new();
        // The directories to preopen, as configured (the guest sees these
        // names), beside the workspace.
        let mut dirs: Vec<PathBuf> = Vec::new();
        for grant in &effective.files {
            let meta = match std::fs::metadata(&grant.host) {
                Ok(m) => Some(m),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            let (dir, host, file) = match meta {
                Some(m) if m.is_dir() => (grant.host.clone(), grant.host.canonicalize()?, false),
                Some(_) => {
                    let parent = grant.host.parent().unwrap_or(Path::new("/")).to_path_buf();
                    let name = grant.host.file_name().unwrap_or_default();
                    let real = parent.canonicalize()?.join(name);
                    (parent, real, true)
                }
                None => (
                    nearest_directory(&grant.host),
                    real_or_planned(&grant.host),
                    false,
                ),
            };
            grants.push(Granted {
                host,
                access: grant.access,
                file,
            });
            if dir != workspace && !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        let mut rules = Rules {
            preopens: Vec::new(),
            grants,
            protected: both_spellings(&effective.protected),
            hidden: both_spellings(&effective.hidden),
            workspace: workspace.to_path_buf(),
            policy: None,
        };
        // The workspace is always the guest's `.`, whatever is granted, so
        // a workspace-relative path means the same under every grant: with
        // `file:src:read`, `src/main.rs` is read through it, and `README.md`
        // is refused by `Rules::decide` with the grant that would allow it
        // rather than missing. Every preopen's own permissions come from
        // the same decision as any directory's: the directory a single
        // file is granted in is not itself writable.
        let mut preopens = Vec::new();
        for (i, path) in std::iter::once(workspace.to_path_buf())
            .chain(dirs)
            .enumerate()
        {
            let file = open_dir(&path)?;
            let (perms, mode) = if rules.writable(&real_path(&file)?) {
                (FsPerms::ReadWrite, OpenMode::READ | OpenMode::WRITE)
            } else {
                (FsPerms::ReadOnly, OpenMode::READ)
            };
            // Descriptor I/O runs inline (see `allow_blocking_current_thread`
            // in runtime.rs): only regular files and directories are ever
            // opened, so none of it can wait on another party.
            let dir = Dir::new(file, perms, mode, true);
            if i == 0 {
                preopens.push(Preopen {
                    dir: dir.clone(),
                    guest: ".".into(),
                });
            }
            preopens.push(Preopen {
                dir,
                guest: path.display().to_string(),
            });
        }
        rules.preopens = preopens;
        Ok(FsGuard {
            rules: Arc::new(rules),
            limits: WriteLimits::NONE,
            denials: Denials::default(),
            quota: Arc::default(),
            listings: HashMap::new(),
        })
    }

    /// A guard with no preopens and no grants: for describing tools, where
    /// not even the workspace is opened.
    pub fn none() -> Self {
        FsGuard {
            rules: Arc::new(Rules {
                preopens: Vec::new(),
                grants: Vec::new(),
                protected: Vec::new(),
                hidden: Vec::new(),
                workspace: PathBuf::from("/"),
                policy: None,
            }),
            limits: WriteLimits::NONE,
            denials: Denials::default(),
            quota: Arc::default(),
            listings: HashMap::new(),
        }
    }

    /// Ask `check` about the real path of every file use the grants allow.
    pub fn with_policy(mut self, check: PathCheck) -> Self {
        Arc::make_mut(&mut self.rules).policy = Some(check);
        self
    }

    /// Count the plugin's writes against `limits`.
    pub fn with_limits(mut self, limits: WriteLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The state of one call: the shared rules, fresh denials and quotas,
    /// and the journal turn its changes are reported to.
    pub fn for_call(&self, capture: Option<Capture>) -> Self {
        FsGuard {
            rules: self.rules.clone(),
            limits: self.limits,
            denials: Denials::default(),
            quota: Arc::new(Quota {
                capture,
                ..Quota::default()
            }),
            listings: HashMap::new(),
        }
    }

    /// Refusals recorded so far.
    pub fn denials(&self) -> Denials {
        let mut all = self.denials.clone();
        if let Ok(late) = self.quota.late.lock() {
            all.extend(&late);
        }
        all
    }

    fn record(&mut self, r: Refusal) -> FsError {
        let code = r.code;
        self.denials.push(self.rules.denial(r));
        code.into()
    }

    fn fail(&mut self, f: Fail) -> FsError {
        match f {
            Fail::Refused(r) => self.record(r),
            Fail::Code(c) => c.into(),
        }
    }
}

impl Rules {
    fn denial(&self, r: Refusal) -> Denial {
        tracing::info!(operation = r.op, resource = %r.resource.display(), reason = %r.reason, "file access denied");
        let allow = r.allow.map(|(path, access)| {
            let shown = match path.strip_prefix(&self.workspace) {
                Ok(rel) if rel.as_os_str().is_empty() => Path::new("."),
                Ok(rel) => rel,
                Err(_) => path.as_path(),
            };
            format!("file:{}:{access}", shown.display())
        });
        let mut resource = r.resource.display().to_string();
        if resource.len() > MAX_DENIAL_RESOURCE_BYTES {
            let mut cut = MAX_DENIAL_RESOURCE_BYTES;
            while !resource.is_char_boundary(cut) {
                cut -= 1;
            }
            resource.truncate(cut);
            resource.push_str("… (truncated)");
        }
        Denial {
            capability: crate::capability::CapabilityKind::Files,
            operation: r.op,
            resource,
            reason: r.reason,
            allow,
        }
    }

    /// The one decision every path the guest reaches goes through: `target`
    /// is the real host path the operation acts on (an opened descriptor's
    /// path, or an opened directory's path plus the final name).
    fn decide(&self, op: &'static str, target: &Path, want: Want) -> Result<(), Refusal> {
        let refuse = |reason: String, allow: Option<(PathBuf, Access)>| Refusal {
            op,
            resource: target.to_path_buf(),
            reason,
            allow,
            code: ErrorCode::NotPermitted,
        };
        let replace = want == Want::Replace;
        if let Some(h) = self
            .hidden
            .iter()
            .find(|h| target.starts_with(h) || (replace && h.starts_with(target)))
        {
            return Err(refuse(
                format!(
                    "{} is warden's own directory: no plugin may see or change it",
                    h.display()
                ),
                None,
            ));
        }
        let access = if matches!(want, Want::Read | Want::Walk) {
            Access::Read
        } else {
            Access::Write
        };
        // A directory on the way to a grant may be looked at (or, on the
        // way to a writable one, made), and nothing more.
        let on_the_way = matches!(want, Want::Walk | Want::MakeDir)
            && self
                .grants
                .iter()
                .any(|g| g.access >= access && g.host != target && g.host.starts_with(target));
        if !on_the_way {
            let Some(grant) = self.covering(target) else {
                let beside_single = self
                    .grants
                    .iter()
                    .any(|g| g.file && g.host.parent().is_some_and(|d| target.starts_with(d)));
                let reason = if beside_single {
                    "only a single file is granted in this directory"
                } else {
                    "no grant covers this path"
                };
                return Err(refuse(reason.into(), Some((target.to_path_buf(), access))));
            };
            if access == Access::Write && grant.access == Access::Read {
                return Err(refuse(
                    "the grant is read-only".into(),
                    Some((target.to_path_buf(), Access::Write)),
                ));
            }
        }
        if access == Access::Write
            && let Some(p) = self.protected_by(target, replace)
        {
            return Err(refuse(protected_reason(&p), Some((p, Access::Write))));
        }
        // Last, and on the same real path: a forbid holds whatever grant
        // shape reached the resource (issue 16 item 15).
        if let Some(policy) = self.policy.as_ref().filter(|p| p.active()) {
            policy
                .check(target, want != Want::Read)
                .map_err(|refused| refuse(refused.reason(), None))?;
        }
        Ok(())
    }

    /// The most specific grant that covers `target` itself.
    fn covering(&self, target: &Path) -> Option<&Granted> {
        self.grants
            .iter()
            .filter(|g| {
                if g.file {
                    target == g.host
                } else {
                    target.starts_with(&g.host)
                }
            })
            .max_by_key(|g| g.host.components().count())
    }

    /// For a directory no grant covers, the names in it that lead to a
    /// grant below it: all that a listing of it may show, so walking down
    /// to a grant tells nothing about what lies beside the way.
    fn only_on_the_way(&self, dir: &Path) -> Option<Vec<OsString>> {
        if self.covering(dir).is_some() {
            return None;
        }
        Some(
            self.grants
                .iter()
                .filter_map(|g| g.host.strip_prefix(dir).ok()?.components().next())
                .map(|c| c.as_os_str().to_os_string())
                .collect(),
        )
    }

    /// The protected path `target` lies under, if any: one of the listed
    /// paths (or, for `replace`, an ancestor of one), or any `.git`
    /// directory at any depth below a writable grant (a planted
    /// `sub/.git/config` could make a granted `git` run programs), unless
    /// the grant names that path itself.
    fn protected_by(&self, target: &Path, replace: bool) -> Option<PathBuf> {
        if let Some(p) = self
            .protected
            .iter()
            .find(|p| target.starts_with(p) || (replace && p.starts_with(target)))
        {
            return Some(p.clone());
        }
        let mut prefix = PathBuf::new();
        for part in target.components() {
            prefix.push(part);
            if part.as_os_str() == ".git" {
                let granted_by_name = self.grants.iter().any(|g| g.host.starts_with(&prefix));
                if !granted_by_name {
                    return Some(prefix);
                }
            }
        }
        None
    }

    /// Whether a descriptor onto `real` may be written through.
    fn writable(&self, real: &Path) -> bool {
        self.decide("write", real, Want::Write).is_ok()
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
fn real_path(fd: impl AsFd) -> std::io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()))
}

/// Open `path` beneath `dir`: `..` and symlinks may not leave it.
fn beneath(dir: impl AsFd, path: &Path, flags: OFlags) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat2(
        dir,
        path,
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH,
    )
}

/// A guest path split into the directory it is in and its final name.
struct Split {
    dir: PathBuf,
    /// `None` when the path names a directory itself (`.`, `a/..`).
    name: Option<OsString>,
}

fn split(path: &str) -> Result<Split, Fail> {
    if path.is_empty() {
        return Err(Fail::Code(ErrorCode::NoEntry));
    }
    if path.as_bytes().contains(&0) {
        return Err(Fail::Code(ErrorCode::IllegalByteSequence));
    }
    let p = Path::new(path);
    if p.is_absolute() {
        return Ok(Split {
            dir: p.to_path_buf(),
            name: None,
        });
    }
    let mut parts: Vec<Component> = p.components().filter(|c| *c != Component::CurDir).collect();
    let name = match parts.last() {
        Some(Component::Normal(n)) => {
            let n = n.to_os_string();
            parts.pop();
            Some(n)
        }
        _ => None,
    };
    let mut dir: PathBuf = parts.iter().collect();
    if dir.as_os_str().is_empty() {
        dir = PathBuf::from(".");
    }
    Ok(Split { dir, name })
}

/// A directory opened beneath the guest's descriptor, and the final name.
struct Parent {
    fd: OwnedFd,
    real: PathBuf,
    name: OsString,
}

impl Parent {
    fn target(&self) -> PathBuf {
        self.real.join(&self.name)
    }
}

/// What leaving the granted directory is refused as.
fn escapes(op: &'static str, base: &std::fs::File, path: &str) -> Fail {
    Fail::Refused(Refusal {
        op,
        resource: real_path(base).unwrap_or_default().join(path),
        reason: "the path leaves the granted directory".into(),
        allow: None,
        code: ErrorCode::NotPermitted,
    })
}

/// How an open beneath `base` failed. A path that is not there is decided
/// as the path it would be: outside the grants that is a refusal, exactly
/// as if it existed, so a plugin cannot learn which names exist beside
/// what it was granted by telling "not found" from "denied".
fn open_fail(
    op: &'static str,
    base: &std::fs::File,
    path: &str,
    e: rustix::io::Errno,
    rules: &Rules,
    want: Want,
) -> Fail {
    use rustix::io::Errno;
    match e {
        Errno::XDEV => escapes(op, base, path),
        Errno::NOENT | Errno::NOTDIR => match planned(base, path) {
            Some(target) => match rules.decide(op, &target, want) {
                Err(refusal) => Fail::Refused(refusal),
                Ok(()) => e.into(),
            },
            None => escapes(op, base, path),
        },
        _ => e.into(),
    }
}

/// Most directories of a missing path tried when finding where it would
/// be ([`planned`]); a guest chooses how deep its paths go.
const MAX_PLANNED_DEPTH: usize = 64;

/// Where `path` beneath `base` would be if it existed: the real path of the
/// deepest of its directories that exists, with the rest appended. When
/// the rest has a `..`, or none of the directories tried exists, the
/// deepest existing one stands for the whole path, which is decided no
/// more leniently than the path itself. `None` when the path leaves `base`.
fn planned(base: &std::fs::File, path: &str) -> Option<PathBuf> {
    let parts: Vec<Component> = Path::new(path)
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect();
    let shortest = parts.len().saturating_sub(MAX_PLANNED_DEPTH);
    for i in (shortest..parts.len()).rev() {
        let dir: PathBuf = parts[..i].iter().collect();
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        match beneath(base, &dir, OFlags::PATH | OFlags::DIRECTORY) {
            Ok(fd) => {
                let real = real_path(&fd).ok()?;
                let rest = &parts[i..];
                return Some(if rest.iter().all(|c| matches!(c, Component::Normal(_))) {
                    real.join(rest.iter().collect::<PathBuf>())
                } else {
                    real
                });
            }
            Err(rustix::io::Errno::XDEV) => return None,
            Err(_) => {}
        }
    }
    real_path(base).ok()
}

/// The nearest directory at or above `path` that exists.
fn nearest_directory(path: &Path) -> PathBuf {
    path.ancestors()
        .find(|a| a.is_dir())
        .unwrap_or(Path::new("/"))
        .to_path_buf()
}

/// Open the directory part of `path` beneath `base` for an operation on
/// its final name; `want` is what the operation would do to it, which
/// decides a path that is not there (see [`open_fail`]).
fn parent(
    op: &'static str,
    base: &std::fs::File,
    path: &str,
    rules: &Rules,
    want: Want,
) -> Result<Parent, Fail> {
    let s = split(path)?;
    let Some(name) = s.name else {
        // `.`, `..` or a path ending in one: no entry of its own to change.
        return Err(match beneath(base, &s.dir, OFlags::PATH) {
            Err(e) => open_fail(op, base, path, e, rules, want),
            Ok(_) => Fail::Code(ErrorCode::Invalid),
        });
    };
    let fd = beneath(base, &s.dir, OFlags::PATH | OFlags::DIRECTORY)
        .map_err(|e| open_fail(op, base, path, e, rules, want))?;
    let real = real_path(&fd)?;
    Ok(Parent { fd, real, name })
}

/// How looking at what `fd` refers to is decided: a directory may be on
/// the way to a grant, anything else must be granted.
fn look_at(fd: impl AsFd) -> Want {
    match rustix::fs::fstat(fd) {
        Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir() => Want::Walk,
        _ => Want::Read,
    }
}

fn is_symlink(p: &Parent) -> bool {
    rustix::fs::statat(&p.fd, &p.name, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_symlink())
}

/// The kind of what the final name is, if it is neither a regular file,
/// a directory nor a symlink.
fn special(p: &Parent) -> Option<rustix::fs::FileType> {
    use rustix::fs::FileType as T;
    let st = rustix::fs::statat(&p.fd, &p.name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    match T::from_raw_mode(st.st_mode) {
        T::RegularFile | T::Directory | T::Symlink => None,
        other => Some(other),
    }
}

/// Opening a FIFO, socket or device is refused: it could block the call
/// (a FIFO waits for its other end) or act on a device.
fn not_regular(op: &'static str, resource: PathBuf, kind: rustix::fs::FileType) -> Refusal {
    use rustix::fs::FileType as T;
    let kind = match kind {
        T::Fifo => "a FIFO",
        T::Socket => "a socket",
        T::CharacterDevice => "a character device",
        T::BlockDevice => "a block device",
        _ => "an unknown kind of file",
    };
    Refusal {
        op,
        resource,
        reason: format!(
            "it is not a regular file or directory ({kind}): opening one could block the call or act on a device"
        ),
        allow: None,
        code: ErrorCode::NotPermitted,
    }
}

fn exists(p: &Parent) -> bool {
    rustix::fs::statat(&p.fd, &p.name, AtFlags::SYMLINK_NOFOLLOW).is_ok()
}

/// A change of a symlink's target, which the guard never makes: refused
/// with what the link points at, so the caller can name the target instead.
fn through_symlink(
    op: &'static str,
    base: &std::fs::File,
    path: &str,
    p: &Parent,
    rules: &Rules,
) -> Fail {
    let refusal = |reason: &str| {
        Fail::Refused(Refusal {
            op,
            resource: p.target(),
            reason: reason.into(),
            allow: None,
            code: ErrorCode::NotPermitted,
        })
    };
    match beneath(base, Path::new(path), OFlags::PATH) {
        Err(rustix::io::Errno::NOENT) => {
            refusal("refusing to create through a dangling symbolic link")
        }
        Err(e) => open_fail(op, base, path, e, rules, Want::Write),
        Ok(_) => refusal("refusing to change a file through a symbolic link: name its target"),
    }
}

/// Run a path operation. It runs inline: none of them can wait on another
/// party (opens are non-blocking and anything but a regular file or a
/// directory is refused before it is used), and a hand-off to a blocking
/// thread per operation made a flood of opens several times slower and,
/// on a single-threaded runtime beside a computing guest, delayed every
/// operation by a scheduler round. The call's deadline fires between
/// operations, as it does between reads.
async fn path_op<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Fail> + Send + 'static,
) -> Result<T, Fail> {
    f()
}

fn quota_refusal(op: &'static str, resource: PathBuf, reason: String, code: ErrorCode) -> Refusal {
    Refusal {
        op,
        resource,
        reason,
        allow: None,
        code,
    }
}

const MIB: u64 = 1024 * 1024;

impl Quota {
    /// The decision for a change (`want` is not [`Want::Read`]), then, if
    /// it is allowed, the journal told of it before it is made. `tree`
    /// for a rename, the only change that moves what lies under a
    /// directory (rmdir and unlink succeed only where nothing is under it).
    fn allow(
        &self,
        rules: &Rules,
        op: &'static str,
        target: &Path,
        want: Want,
        tree: bool,
    ) -> Result<(), Fail> {
        rules.decide(op, target, want).map_err(Fail::Refused)?;
        self.save(op, target, tree).map_err(Fail::Refused)
    }

    /// Tell the journal that `target` is about to change.
    fn save(&self, op: &'static str, target: &Path, deep: bool) -> Result<(), Refusal> {
        let Some(capture) = &self.capture else {
            return Ok(());
        };
        capture.before_change(target, deep).map_err(|why| Refusal {
            op,
            resource: target.to_path_buf(),
            reason: format!(
                "what it holds could not be saved for undo, so it was not changed: {why}"
            ),
            allow: None,
            code: ErrorCode::Io,
        })
    }

    /// Count one created entry.
    fn create(&self, limits: &WriteLimits, op: &'static str, at: &Path) -> Result<(), Fail> {
        let n = self.created.fetch_add(1, Ordering::Relaxed) + 1;
        if n > limits.call_files {
            return Err(Fail::Refused(quota_refusal(
                op,
                at.to_path_buf(),
                format!(
                    "the call reached its limit of {} files created (raise `limits.files_created` in the plugin's manifest, at most {})",
                    limits.call_files,
                    crate::limits::MAX_FILES_CREATED
                ),
                ErrorCode::Quota,
            )));
        }
        Ok(())
    }

    /// Count `len` bytes written up to offset `end` of a file.
    fn write(&self, limits: &WriteLimits, at: &Path, len: u64, end: u64) -> Result<(), Refusal> {
        if end > limits.file_bytes {
            return Err(quota_refusal(
                "write",
                at.to_path_buf(),
                format!(
                    "the file would grow past its limit of {} MiB (raise `limits.file_size_mib` in the plugin's manifest, at most {})",
                    limits.file_bytes / MIB,
                    crate::limits::MAX_FILE_SIZE_MIB
                ),
                ErrorCode::FileTooLarge,
            ));
        }
        let total = self
            .written
            .fetch_add(len, Ordering::Relaxed)
            .saturating_add(len);
        if total > limits.call_bytes {
            return Err(quota_refusal(
                "write",
                at.to_path_buf(),
                format!(
                    "the call reached its limit of {} MiB written (raise `limits.write_mib` in the plugin's manifest, at most {})",
                    limits.call_bytes / MIB,
                    crate::limits::MAX_WRITE_MIB
                ),
                ErrorCode::InsufficientSpace,
            ));
        }
        Ok(())
    }

    fn late(&self, rules: &Rules, r: Refusal) {
        if let Ok(mut late) = self.late.lock() {
            late.push(rules.denial(r));
        }
    }
}

/// An output stream onto a file that counts what it writes.
struct QuotaStream {
    inner: DynOutputStream,
    file: Arc<std::fs::File>,
    /// Where the next write lands; `None` for appending.
    position: Option<u64>,
    quota: Arc<Quota>,
    limits: WriteLimits,
    rules: Arc<Rules>,
}

#[async_trait::async_trait]
impl wasmtime_wasi_io::poll::Pollable for QuotaStream {
    async fn ready(&mut self) {
        self.inner.ready().await
    }
}

#[async_trait::async_trait]
impl OutputStream for QuotaStream {
    fn write(&mut self, bytes: bytes::Bytes) -> wasmtime_wasi_io::streams::StreamResult<()> {
        let len = bytes.len() as u64;
        let start = match self.position {
            Some(p) => p,
            None => self.file.metadata().map(|m| m.len()).unwrap_or(0),
        };
        let at = real_path(&*self.file).unwrap_or_default();
        if let Err(r) = self
            .quota
            .write(&self.limits, &at, len, start.saturating_add(len))
        {
            // Streams report errors as OS errors; these two map back to
            // the same error codes `write` returns.
            let errno = if r.code == ErrorCode::FileTooLarge {
                rustix::io::Errno::FBIG
            } else {
                rustix::io::Errno::NOSPC
            };
            self.quota.late(&self.rules, r);
            let e = std::io::Error::from(errno);
            return Err(StreamError::LastOperationFailed(e.into()));
        }
        self.inner.write(bytes)?;
        if let Some(p) = &mut self.position {
            *p = p.saturating_add(len);
        }
        Ok(())
    }

    fn flush(&mut self) -> wasmtime_wasi_io::streams::StreamResult<()> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> wasmtime_wasi_io::streams::StreamResult<usize> {
        self.inner.check_write()
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await
    }
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

fn rustix_times(t: types::NewTimestamp) -> rustix::fs::Timespec {
    match t {
        types::NewTimestamp::NoChange => rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_OMIT,
        },
        types::NewTimestamp::Now => rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_NOW,
        },
        types::NewTimestamp::Timestamp(d) => rustix::fs::Timespec {
            tv_sec: i64::try_from(d.seconds).unwrap_or(i64::MAX),
            tv_nsec: d.nanoseconds.into(),
        },
    }
}

impl GuardedView<'_> {
    /// The directory a path operation starts from; `Err` for a file.
    fn base(&self, fd: &Resource<Descriptor>) -> FsResult<Arc<std::fs::File>> {
        match self.inner.table.get(fd)? {
            Descriptor::Dir(d) => Ok(d.dir.clone()),
            Descriptor::File(_) => Err(ErrorCode::NotDirectory.into()),
        }
    }

    /// Run `f` off the executor with the directory of `fd`, the rules and
    /// the quota; record a refusal it returns.
    async fn at<T: Send + 'static>(
        &mut self,
        fd: &Resource<Descriptor>,
        f: impl FnOnce(&std::fs::File, &Rules, &Quota, &WriteLimits) -> Result<T, Fail> + Send + 'static,
    ) -> FsResult<T> {
        let base = self.base(fd)?;
        let rules = self.guard.rules.clone();
        let quota = self.guard.quota.clone();
        let limits = self.guard.limits;
        match path_op(move || f(&base, &rules, &quota, &limits)).await {
            Ok(t) => Ok(t),
            Err(e) => Err(self.guard.fail(e)),
        }
    }

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
            let real = real_path(&*file).unwrap_or_default();
            let refusal = match self.guard.rules.decide(op, &real, Want::Write) {
                Err(r) => r,
                Ok(()) => Refusal {
                    op,
                    resource: real.clone(),
                    reason: "the grant is read-only".into(),
                    allow: Some((real, Access::Write)),
                    code: ErrorCode::NotPermitted,
                },
            };
            return Err(self.guard.record(refusal));
        }
        // Opened for writing, it was saved then; opened to read under a
        // writable grant, it is saved at its first change.
        if self.guard.quota.capture.is_some() {
            let real = real_path(&*file).map_err(ErrorCode::from)?;
            if let Err(r) = self.guard.quota.save(op, &real, false) {
                return Err(self.guard.record(r));
            }
        }
        Ok(())
    }

    /// Refuse (and record) looking at a directory descriptor the grants do
    /// not cover: the workspace is always preopened (see [`FsGuard::new`])
    /// even when only paths inside it are granted. Every other descriptor
    /// was opened through [`Rules::decide`] already.
    fn check_directory_read(
        &mut self,
        fd: &Resource<Descriptor>,
        op: &'static str,
    ) -> FsResult<()> {
        let Descriptor::Dir(d) = self.inner.table.get(fd)? else {
            return Ok(());
        };
        let real = real_path(&*d.dir).map_err(ErrorCode::from)?;
        if let Err(r) = self.guard.rules.decide(op, &real, Want::Walk) {
            return Err(self.guard.record(r));
        }
        Ok(())
    }

    /// The open file of a descriptor, for counting writes to it.
    fn file_of(&self, fd: &Resource<Descriptor>) -> FsResult<Option<Arc<std::fs::File>>> {
        Ok(match self.inner.table.get(fd)? {
            Descriptor::File(f) => Some(f.file.clone()),
            Descriptor::Dir(_) => None,
        })
    }

    /// Look at what `path` reaches through a descriptor of it that can only
    /// be inspected (`O_PATH`), after the check on its real path.
    async fn inspect<T>(
        &mut self,
        fd: Resource<Descriptor>,
        op: &'static str,
        follow: bool,
        path: String,
        look: impl AsyncFnOnce(&mut WasiFilesystemCtxView<'_>, Resource<Descriptor>) -> FsResult<T>,
    ) -> FsResult<T> {
        let opened = self
            .at(&fd, move |base, rules, _, _| {
                split(&path)?;
                let mut flags = OFlags::PATH;
                if !follow {
                    flags |= OFlags::NOFOLLOW;
                }
                // A path that is not there reveals nothing, so on the way
                // to a grant it is "not found" (see `open_fail`).
                let fd = beneath(base, Path::new(&path), flags)
                    .map_err(|e| open_fail(op, base, &path, e, rules, Want::Walk))?;
                let real = real_path(&fd)?;
                rules
                    .decide(op, &real, look_at(&fd))
                    .map_err(Fail::Refused)?;
                Ok(std::fs::File::from(fd))
            })
            .await?;
        let tmp = self.inner.table.push(Descriptor::File(File::new(
            opened,
            FsPerms::ReadOnly,
            OpenMode::READ,
            true,
        )))?;
        let rep = tmp.rep();
        let out = look(&mut self.inner, tmp).await;
        self.inner
            .table
            .delete(Resource::<Descriptor>::new_own(rep))?;
        out
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
        let rep = stream.rep();
        loop {
            let entry = HostDirectoryEntryStream::read_directory_entry(
                &mut self.inner,
                Resource::new_own(rep),
            )
            .await?;
            let hidden = match (&entry, self.guard.listings.get(&rep)) {
                (Some(e), Some(listing)) => !listing.shows(&e.name),
                _ => false,
            };
            if !hidden {
                return Ok(entry);
            }
        }
    }

    fn drop(&mut self, stream: Resource<types::DirectoryEntryStream>) -> wasmtime::Result<()> {
        self.guard.listings.remove(&stream.rep());
        HostDirectoryEntryStream::drop(&mut self.inner, stream)
    }
}

/// What `open_at` made.
enum Opened {
    Dir(std::fs::File, bool),
    File(std::fs::File, bool),
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
        use types::{DescriptorFlags as D, OpenFlags as O};
        if flags
            .intersects(D::FILE_INTEGRITY_SYNC | D::DATA_INTEGRITY_SYNC | D::REQUESTED_WRITE_SYNC)
        {
            return Err(ErrorCode::Unsupported.into());
        }
        let create = oflags.contains(O::CREATE);
        let exclusive = oflags.contains(O::EXCLUSIVE);
        let truncate = oflags.contains(O::TRUNCATE);
        let directory = oflags.contains(O::DIRECTORY);
        if directory && (create || exclusive || truncate) {
            return Err(ErrorCode::Invalid.into());
        }
        let writes = flags.contains(D::WRITE) || create || truncate;
        let reads = flags.contains(D::READ) || !flags.contains(D::WRITE);
        let follow = path_flags.contains(types::PathFlags::SYMLINK_FOLLOW);
        let mut mode = OpenMode::empty();
        if reads {
            mode |= OpenMode::READ;
        }
        if writes {
            mode |= OpenMode::WRITE;
        }
        let trailing_slash = path.ends_with('/');
        let opened = self
            .at(&fd, move |base, rules, quota, limits| {
                let access = match (reads, writes) {
                    (true, true) => OFlags::RDWR,
                    (false, true) => OFlags::WRONLY,
                    _ => OFlags::RDONLY,
                };
                // Non-blocking, so opening a FIFO returns at once (to be
                // refused below) instead of waiting for a writer forever.
                let mut oflags = access | OFlags::NONBLOCK;
                if directory {
                    oflags |= OFlags::DIRECTORY;
                }
                let file = if writes {
                    let op = "write";
                    let want = if create { Want::Replace } else { Want::Write };
                    let p = parent(op, base, &path, rules, want)?;
                    if is_symlink(&p) {
                        if follow {
                            return Err(through_symlink(op, base, &path, &p, rules));
                        }
                        return Err(Fail::Code(ErrorCode::Loop));
                    }
                    let target = p.target();
                    if let Some(kind) = special(&p) {
                        return Err(Fail::Refused(not_regular(op, target, kind)));
                    }
                    let new = !exists(&p);
                    quota.allow(rules, op, &target, want, false)?;
                    if create && new {
                        quota.create(limits, op, &target)?;
                    }
                    oflags |= OFlags::NOFOLLOW;
                    if create {
                        oflags |= OFlags::CREATE;
                    }
                    if exclusive {
                        oflags |= OFlags::EXCL;
                    }
                    if truncate {
                        oflags |= OFlags::TRUNC;
                    }
                    rustix::fs::openat2(
                        &p.fd,
                        &p.name,
                        oflags | OFlags::CLOEXEC,
                        // openat2 refuses a mode without O_CREAT.
                        if create {
                            Mode::from_raw_mode(0o666)
                        } else {
                            Mode::empty()
                        },
                        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
                    )?
                } else {
                    split(&path)?;
                    if !follow {
                        oflags |= OFlags::NOFOLLOW;
                    }
                    beneath(base, Path::new(&path), oflags)
                        .map_err(|e| open_fail("read", base, &path, e, rules, Want::Walk))?
                };
                let st = rustix::fs::fstat(&file)?;
                let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
                let real = real_path(&file)?;
                // The check is on what was opened: a symlink swapped in for
                // a granted name is caught here.
                let look = if !writes && kind == rustix::fs::FileType::Directory {
                    Want::Walk
                } else {
                    Want::Read
                };
                rules
                    .decide(if writes { "write" } else { "read" }, &real, look)
                    .map_err(Fail::Refused)?;
                let writable = rules.writable(&real);
                match kind {
                    rustix::fs::FileType::Directory => {
                        Ok(Opened::Dir(std::fs::File::from(file), writable))
                    }
                    _ if directory || trailing_slash => Err(Fail::Code(ErrorCode::NotDirectory)),
                    rustix::fs::FileType::RegularFile => {
                        Ok(Opened::File(std::fs::File::from(file), writable))
                    }
                    other => Err(Fail::Refused(not_regular(
                        if writes { "write" } else { "read" },
                        real,
                        other,
                    ))),
                }
            })
            .await?;
        let perms = |w: bool| {
            if w {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            }
        };
        let desc = match opened {
            Opened::Dir(d, w) => Descriptor::Dir(Dir::new(d, perms(w), mode, true)),
            Opened::File(f, w) => Descriptor::File(File::new(f, perms(w), mode, true)),
        };
        Ok(self.inner.table.push(desc)?)
    }

    async fn create_directory_at(
        &mut self,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        self.at(&fd, move |base, rules, quota, limits| {
            let op = "mkdir";
            let p = match parent(op, base, &path, rules, Want::MakeDir) {
                Err(Fail::Code(ErrorCode::Invalid)) => return Err(Fail::Code(ErrorCode::Exist)),
                other => other?,
            };
            let target = p.target();
            quota.allow(rules, op, &target, Want::MakeDir, false)?;
            quota.create(limits, op, &target)?;
            Ok(rustix::fs::mkdirat(
                &p.fd,
                &p.name,
                Mode::from_raw_mode(0o777),
            )?)
        })
        .await
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
        let times = rustix::fs::Timestamps {
            last_access: rustix_times(atim),
            last_modification: rustix_times(mtim),
        };
        self.at(&fd, move |base, rules, quota, _| {
            let op = "set-times";
            let p = parent(op, base, &path, rules, Want::Write)?;
            if follow && is_symlink(&p) {
                return Err(through_symlink(op, base, &path, &p, rules));
            }
            quota.allow(rules, op, &p.target(), Want::Write, false)?;
            Ok(rustix::fs::utimensat(
                &p.fd,
                &p.name,
                &times,
                AtFlags::SYMLINK_NOFOLLOW,
            )?)
        })
        .await
    }

    async fn link_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path_flags: types::PathFlags,
        old_path: String,
        new_descriptor: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        if old_path_flags.contains(types::PathFlags::SYMLINK_FOLLOW) {
            return Err(ErrorCode::Invalid.into());
        }
        let new_base = self.base(&new_descriptor)?;
        self.at(&fd, move |base, rules, quota, limits| {
            let op = "link";
            let old = parent(op, base, &old_path, rules, Want::Write)?;
            // A hard link to a protected or read-only file would be a
            // writable alias of it, so the source counts as written too.
            quota.allow(rules, op, &old.target(), Want::Write, false)?;
            let new = parent(op, &new_base, &new_path, rules, Want::Replace)?;
            quota.allow(rules, op, &new.target(), Want::Replace, false)?;
            quota.create(limits, op, &new.target())?;
            Ok(rustix::fs::linkat(
                &old.fd,
                &old.name,
                &new.fd,
                &new.name,
                AtFlags::empty(),
            )?)
        })
        .await
    }

    async fn remove_directory_at(
        &mut self,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        self.at(&fd, move |base, rules, quota, _| {
            let op = "rmdir";
            let p = parent(op, base, &path, rules, Want::Replace)?;
            quota.allow(rules, op, &p.target(), Want::Replace, false)?;
            Ok(rustix::fs::unlinkat(&p.fd, &p.name, AtFlags::REMOVEDIR)?)
        })
        .await
    }

    async fn rename_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        let new_base = self.base(&new_fd)?;
        self.at(&fd, move |base, rules, quota, _| {
            let op = "rename";
            let old = parent(op, base, &old_path, rules, Want::Replace)?;
            quota.allow(rules, op, &old.target(), Want::Replace, true)?;
            let new = parent(op, &new_base, &new_path, rules, Want::Replace)?;
            quota.allow(rules, op, &new.target(), Want::Replace, true)?;
            Ok(rustix::fs::renameat(
                &old.fd, &old.name, &new.fd, &new.name,
            )?)
        })
        .await
    }

    async fn symlink_at(
        &mut self,
        fd: Resource<Descriptor>,
        src_path: String,
        dest_path: String,
    ) -> FsResult<()> {
        self.at(&fd, move |base, rules, quota, limits| {
            let op = "symlink";
            let p = parent(op, base, &dest_path, rules, Want::Replace)?;
            let target = p.target();
            quota.allow(rules, op, &target, Want::Replace, false)?;
            if src_path.starts_with('/') {
                return Err(Fail::Refused(Refusal {
                    op,
                    resource: target,
                    reason: "a symbolic link may not point to an absolute path".into(),
                    allow: None,
                    code: ErrorCode::NotPermitted,
                }));
            }
            quota.create(limits, op, &target)?;
            Ok(rustix::fs::symlinkat(src_path.as_str(), &p.fd, &p.name)?)
        })
        .await
    }

    async fn unlink_file_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        self.at(&fd, move |base, rules, quota, _| {
            let op = "unlink";
            let p = parent(op, base, &path, rules, Want::Replace)?;
            quota.allow(rules, op, &p.target(), Want::Replace, false)?;
            Ok(rustix::fs::unlinkat(&p.fd, &p.name, AtFlags::empty())?)
        })
        .await
    }

    async fn read_directory(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> FsResult<Resource<types::DirectoryEntryStream>> {
        let listing = if let Ok(base) = self.base(&fd) {
            let real = real_path(&*base).map_err(ErrorCode::from)?;
            let rules = &self.guard.rules;
            if let Err(r) = rules.decide("list", &real, Want::Walk) {
                return Err(self.guard.record(r));
            }
            Some(Listing {
                hide: rules
                    .hidden
                    .iter()
                    .filter(|h| h.parent() == Some(real.as_path()))
                    .filter_map(|h| h.file_name().map(|n| n.to_os_string()))
                    .collect(),
                only: rules.only_on_the_way(&real),
            })
        } else {
            None
        };
        let stream = HostDescriptor::read_directory(&mut self.inner, fd).await?;
        if let Some(l) = listing.filter(|l| !l.hide.is_empty() || l.only.is_some()) {
            self.guard.listings.insert(stream.rep(), l);
        }
        Ok(stream)
    }

    async fn stat_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::DescriptorStat> {
        let follow = path_flags.contains(types::PathFlags::SYMLINK_FOLLOW);
        self.inspect(fd, "stat", follow, path, async |inner, tmp| {
            HostDescriptor::stat(inner, tmp).await
        })
        .await
    }

    async fn readlink_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<String> {
        self.at(&fd, move |base, rules, _, _| {
            let op = "readlink";
            let p = parent(op, base, &path, rules, Want::Read)?;
            rules
                .decide(op, &p.target(), Want::Read)
                .map_err(Fail::Refused)?;
            let link = rustix::fs::readlinkat(&p.fd, &p.name, Vec::new())?;
            link.into_string()
                .map_err(|_| Fail::Code(ErrorCode::IllegalByteSequence))
        })
        .await
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::MetadataHashValue> {
        let follow = path_flags.contains(types::PathFlags::SYMLINK_FOLLOW);
        self.inspect(fd, "stat", follow, path, async |inner, tmp| {
            HostDescriptor::metadata_hash(inner, tmp).await
        })
        .await
    }

    // Operations on an open descriptor: its permissions (set from the same
    // decision when it was opened) are enforced by wasmtime-wasi.

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
        if let Some(file) = self.file_of(&fd)? {
            let current = file.metadata().map(|m| m.len()).unwrap_or(0);
            let grown = size.saturating_sub(current);
            let at = real_path(&*file).unwrap_or_default();
            if let Err(mut r) = self.guard.quota.write(&self.guard.limits, &at, grown, size) {
                r.op = "truncate";
                return Err(self.guard.record(r));
            }
        }
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
        if let Some(file) = self.file_of(&fd)? {
            let len = buf.len() as u64;
            let at = real_path(&*file).unwrap_or_default();
            if let Err(r) =
                self.guard
                    .quota
                    .write(&self.guard.limits, &at, len, offset.saturating_add(len))
            {
                return Err(self.guard.record(r));
            }
        }
        HostDescriptor::write(&mut self.inner, fd, buf, offset).await
    }

    async fn sync(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        HostDescriptor::sync(&mut self.inner, fd).await
    }

    async fn stat(&mut self, fd: Resource<Descriptor>) -> FsResult<types::DescriptorStat> {
        self.check_directory_read(&fd, "stat")?;
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
        let rep = fd.rep();
        let stream = HostDescriptor::write_via_stream(&mut self.inner, fd, offset)?;
        self.count_stream(rep, stream, Some(offset))
    }

    fn append_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> FsResult<Resource<DynOutputStream>> {
        self.check_descriptor_write(&fd, "write")?;
        let rep = fd.rep();
        let stream = HostDescriptor::append_via_stream(&mut self.inner, fd)?;
        self.count_stream(rep, stream, None)
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
        self.check_directory_read(&fd, "stat")?;
        HostDescriptor::metadata_hash(&mut self.inner, fd).await
    }
}

impl GuardedView<'_> {
    /// Put a counting stream in place of the one wasmtime-wasi made.
    fn count_stream(
        &mut self,
        fd_rep: u32,
        stream: Resource<DynOutputStream>,
        position: Option<u64>,
    ) -> FsResult<Resource<DynOutputStream>> {
        let fd = Resource::<Descriptor>::new_own(fd_rep);
        let Some(file) = self.file_of(&fd)? else {
            return Ok(stream);
        };
        let inner = self.inner.table.delete(stream)?;
        let counted: DynOutputStream = Box::new(QuotaStream {
            inner,
            file,
            position,
            quota: self.guard.quota.clone(),
            limits: self.guard.limits,
            rules: self.guard.rules.clone(),
        });
        Ok(self.inner.table.push_child(counted, &fd)?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{real_or_planned, split};
    use std::path::Path;

    #[test]
    fn a_path_that_does_not_exist_yet_resolves_through_its_existing_ancestor() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("real")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        assert_eq!(
            real_or_planned(&root.join("link/not/yet")),
            root.join("real/not/yet")
        );
        assert_eq!(real_or_planned(&root.join("link")), root.join("real"));
        std::os::unix::fs::symlink(root.join("real/later"), root.join("dangling")).unwrap();
        assert_eq!(
            real_or_planned(&root.join("dangling/warden")),
            root.join("real/later/warden")
        );
    }

    #[test]
    fn split_takes_the_last_normal_name() {
        let s = |p: &str| {
            let s = split(p).ok().unwrap();
            (s.dir, s.name.map(|n| n.to_string_lossy().into_owned()))
        };
        assert_eq!(s("a/b/c"), (Path::new("a/b").into(), Some("c".into())));
        assert_eq!(s("c"), (Path::new(".").into(), Some("c".into())));
        assert_eq!(s("a/./c/"), (Path::new("a").into(), Some("c".into())));
        assert_eq!(s("a/.."), (Path::new("a/..").into(), None));
        assert_eq!(s("."), (Path::new(".").into(), None));
        assert!(split("").is_err());
    }
}
