//! Confining a child process to its plugin's grants, by the OS.
//!
//! Two layers, both required:
//! - **bubblewrap** (`bwrap`) gives the child its own user, PID, network,
//!   IPC and UTS namespaces, a new session (no controlling terminal), and a
//!   filesystem view holding only the system directories, the plugin's file
//!   grants (read-only ones mounted read-only, protected paths re-mounted
//!   read-only) and the program's own paths. With no network namespace
//!   shared there is no network. When bwrap is killed the PID namespace
//!   collapses and every process in it dies, `setsid` daemons included;
//! - **Landlock**, applied by warden's own binary (`warden __confine`) inside
//!   the sandbox just before `exec`, restricts the same paths again at the
//!   kernel level (and TCP, where the kernel can), sets `no_new_privs`, and
//!   the rlimits: process count, address space, file size, no core dumps.
//!
//! Writable directories are never bound writable. bubblewrap binds each one
//! read-only, and `warden __confine` (which alone keeps `CAP_SYS_ADMIN`
//! within the sandbox's user namespace, for this) mounts an overlay on it
//! whose upper layer is warden's staging directory, so everything the child
//! writes lands there and reaches the workspace only through the host's
//! guard ([`crate::capability::process::overlay`]). The helper then mounts existing protected
//! paths read-only again and an empty read-only tmpfs over warden's own
//! directories, unmounts the staging directory from the child's view,
//! drops every capability (bounding and ambient sets included) and only
//! then applies Landlock and runs the program.
//!
//! Where either layer is missing warden refuses to run programs and says so;
//! it never runs a child unconfined.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// System directories every child may read (when they exist).
const SYSTEM_READ: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc"];
/// Where bubblewrap is looked for; never on the caller's `PATH`.
const BWRAP_CANDIDATES: &[&str] = &["/usr/bin/bwrap", "/bin/bwrap", "/usr/local/bin/bwrap"];
/// Exit status `warden __confine` uses when it cannot confine.
pub const CONFINE_FAILED: i32 = 125;
/// Where the staging directory of overlay `i` is bound inside the sandbox
/// (until the helper has mounted the overlay and unmounted it).
const STAGE_MOUNT: &str = "/run/warden/overlay";

/// Why this machine cannot confine children, so no program runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// The runtime was built without a sandbox.
    #[error("no confinement is configured for child processes")]
    NotConfigured,
    /// No `bwrap`.
    #[error("bubblewrap (bwrap) is not installed; install it (e.g. `apt install bubblewrap`)")]
    NoBubblewrap,
    /// Landlock is off or missing; the kernel's words.
    #[error("the kernel does not enforce Landlock ({0}); warden will not run programs unconfined")]
    NoLandlock(String),
    /// warden's own binary, which confines from inside, is gone.
    #[error("warden's confinement helper {} is missing", .0.display())]
    NoHelper(PathBuf),
}

/// Why the confinement helper (`warden __confine`) could not confine a
/// program; it reports this and exits with [`CONFINE_FAILED`].
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    /// An option without its value.
    #[error("{0} needs a value")]
    NeedsValue(String),
    /// A numeric option that is not a number.
    #[error("{0:?} is not a number")]
    NotANumber(OsString),
    /// An option the helper does not have.
    #[error("unexpected argument {0:?}")]
    Unexpected(OsString),
    /// Nothing after `--`.
    #[error("no command to run")]
    NoCommand,
    /// A path overlay mount options cannot express.
    #[error("{} contains a character overlay mount options cannot express (`,`, `:` or `\\`); rename it to run programs there", .0.display())]
    OverlayPath(PathBuf),
    /// A mount step failed.
    #[error("{step} {}: {errno}", path.display())]
    Step {
        step: &'static str,
        path: PathBuf,
        errno: rustix::io::Errno,
    },
    /// A hidden path that is a file.
    #[error("{} is not a directory; cannot hide it", .0.display())]
    HideNotDirectory(PathBuf),
    /// Dropping capabilities failed.
    #[error("capabilities ({0}): {1}")]
    Capabilities(&'static str, rustix::io::Errno),
    /// Some capability survived.
    #[error("capabilities remain after dropping them")]
    CapabilitiesRemain,
    /// Landlock refused the ruleset.
    #[error("{0}")]
    Landlock(String),
    /// The kernel did not set no_new_privs with the ruleset.
    #[error("no_new_privs was not set")]
    NoNewPrivs,
}

/// The tools confinement needs, found and checked once.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// bubblewrap.
    pub bwrap: PathBuf,
    /// warden's own binary, which applies Landlock inside the sandbox.
    pub helper: PathBuf,
}

impl Sandbox {
    /// Check that this machine can confine children; the error says why not.
    pub fn detect(helper: PathBuf) -> Result<Self, Unavailable> {
        let bwrap = BWRAP_CANDIDATES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or(Unavailable::NoBubblewrap)?;
        landlock_supported()?;
        if !helper.is_file() {
            return Err(Unavailable::NoHelper(helper));
        }
        Ok(Sandbox { bwrap, helper })
    }
}

fn landlock_supported() -> Result<(), Unavailable> {
    use landlock::{ABI, Access, AccessFs, CompatLevel, Compatible, Ruleset, RulesetAttr};
    Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(ABI::V1))
        .and_then(|r| r.create())
        .map(drop)
        .map_err(|e| Unavailable::NoLandlock(e.to_string()))
}

/// Resource limits of a child's tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildLimits {
    /// RLIMIT_NPROC.
    pub processes: u64,
    /// RLIMIT_AS, bytes.
    pub address_space: u64,
    /// RLIMIT_FSIZE, bytes.
    pub file_size: u64,
    /// What the tree may add to the workspace in one call.
    pub quota: crate::capability::process::overlay::Quota,
}

/// Everything about one confined child.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    /// Absolute path of the program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Working directory (inside a grant).
    pub cwd: PathBuf,
    /// The complete environment.
    pub env: Vec<(String, String)>,
    /// Paths visible read-only.
    pub read: Vec<PathBuf>,
    /// Paths the child may write (Landlock): directories under an overlay
    /// root are written into its upper layer; files outside every overlay
    /// are bound writable as they are.
    pub write: Vec<PathBuf>,
    /// Writable roots run on an overlay: (real root, staging directory
    /// holding `upper/` and `work/`).
    pub overlays: Vec<(PathBuf, PathBuf)>,
    /// Existing paths inside the overlays that are mounted read-only again.
    pub protected: Vec<PathBuf>,
    /// Existing directories covered by an empty read-only tmpfs: warden's
    /// own directories, which a child may not even see.
    pub hidden: Vec<PathBuf>,
    /// Limits.
    pub limits: ChildLimits,
}

impl Sandbox {
    /// The command that runs `spec` confined.
    pub fn command(&self, spec: &ChildSpec) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.bwrap);
        cmd.env_clear().envs(spec.env.iter().map(|(k, v)| (k, v)));
        // The helper needs CAP_SYS_ADMIN (in the sandbox's own user
        // namespace) to mount the overlays, CAP_DAC_OVERRIDE because
        // overlayfs works in a mode-0 `work/work` with the mounter's
        // credentials, and CAP_SETPCAP to empty the bounding set before the
        // program runs.
        cmd.args([
            "--die-with-parent",
            "--new-session",
            "--unshare-all",
            "--cap-drop",
            "ALL",
            "--cap-add",
            "CAP_SYS_ADMIN",
            "--cap-add",
            "CAP_DAC_OVERRIDE",
            "--cap-add",
            "CAP_SETPCAP",
        ]);
        let bind = |cmd: &mut std::process::Command, flag: &str, p: &Path| {
            cmd.arg(flag).arg(p).arg(p);
        };
        for dir in SYSTEM_READ {
            bind(&mut cmd, "--ro-bind-try", Path::new(dir));
        }
        cmd.args(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]);
        // Parents before children, so a read-only path inside a writable one
        // is mounted over it and stays read-only.
        let mut mounts: Vec<(&Path, &str)> = Vec::new();
        if let Some(dir) = spec.program.parent() {
            mounts.push((dir, "--ro-bind-try"));
        }
        mounts.extend(spec.read.iter().map(|p| (p.as_path(), "--ro-bind-try")));
        let overlaid = |p: &Path| spec.overlays.iter().any(|(root, _)| p.starts_with(root));
        // An overlay's lower layer is the real directory, bound read-only.
        mounts.extend(
            spec.overlays
                .iter()
                .map(|(root, _)| (root.as_path(), "--ro-bind")),
        );
        mounts.extend(
            spec.write
                .iter()
                .filter(|p| !overlaid(p))
                .map(|p| (p.as_path(), "--bind-try")),
        );
        mounts.sort_by_key(|(p, flag)| (p.components().count(), *flag != "--ro-bind-try"));
        for (p, flag) in mounts {
            bind(&mut cmd, flag, p);
        }
        for (i, (_, stage)) in spec.overlays.iter().enumerate() {
            cmd.arg("--bind")
                .arg(stage)
                .arg(format!("{STAGE_MOUNT}/{i}"));
        }
        bind(&mut cmd, "--ro-bind", &self.helper);
        cmd.arg("--chdir")
            .arg(&spec.cwd)
            .arg("--")
            .arg(&self.helper)
            .arg("__confine");
        for (i, (root, _)) in spec.overlays.iter().enumerate() {
            cmd.arg("--overlay")
                .arg(root)
                .arg(format!("{STAGE_MOUNT}/{i}"));
        }
        for p in &spec.protected {
            cmd.arg("--protect").arg(p);
        }
        for p in &spec.hidden {
            cmd.arg("--hide").arg(p);
        }
        cmd.arg("--chdir").arg(&spec.cwd);
        let readable = spec.read.iter().map(PathBuf::as_path);
        for p in readable.chain(spec.program.parent()) {
            cmd.arg("--read").arg(p);
        }
        for p in &spec.write {
            cmd.arg("--write").arg(p);
        }
        let l = &spec.limits;
        cmd.arg("--processes").arg(l.processes.to_string());
        cmd.arg("--address-space").arg(l.address_space.to_string());
        cmd.arg("--file-size").arg(l.file_size.to_string());
        cmd.arg("--").arg(&spec.program).args(&spec.args);
        cmd
    }
}

/// What `warden __confine` was asked to do.
#[derive(Debug, Default)]
pub struct ConfineArgs {
    /// Paths to allow reading.
    pub read: Vec<PathBuf>,
    /// Paths to allow writing.
    pub write: Vec<PathBuf>,
    /// Overlays to mount: (directory, staging directory inside the sandbox).
    pub overlays: Vec<(PathBuf, PathBuf)>,
    /// Paths to mount read-only again, once the overlays are in place.
    pub protect: Vec<PathBuf>,
    /// Directories to cover with an empty read-only tmpfs.
    pub hide: Vec<PathBuf>,
    /// Working directory to enter once the overlays are mounted (the one
    /// bubblewrap entered is the lower layer).
    pub chdir: Option<PathBuf>,
    /// RLIMIT_NPROC.
    pub processes: u64,
    /// RLIMIT_AS.
    pub address_space: u64,
    /// RLIMIT_FSIZE.
    pub file_size: u64,
    /// The program and its arguments.
    pub command: Vec<OsString>,
}

impl ConfineArgs {
    /// Parse the arguments after `__confine`.
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Self, ConfineError> {
        let mut out = ConfineArgs::default();
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            let mut value = || {
                it.next()
                    .ok_or_else(|| ConfineError::NeedsValue(arg.to_string_lossy().into_owned()))
            };
            match arg.to_str() {
                Some("--read") => out.read.push(value()?.into()),
                Some("--write") => out.write.push(value()?.into()),
                Some("--overlay") => {
                    let root = value()?.into();
                    out.overlays.push((root, value()?.into()));
                }
                Some("--protect") => out.protect.push(value()?.into()),
                Some("--hide") => out.hide.push(value()?.into()),
                Some("--chdir") => out.chdir = Some(value()?.into()),
                Some("--processes") => out.processes = number(value()?)?,
                Some("--address-space") => out.address_space = number(value()?)?,
                Some("--file-size") => out.file_size = number(value()?)?,
                Some("--") => {
                    out.command = it.collect();
                    break;
                }
                _ => return Err(ConfineError::Unexpected(arg)),
            }
        }
        if out.command.is_empty() {
            return Err(ConfineError::NoCommand);
        }
        Ok(out)
    }
}

fn number(v: OsString) -> Result<u64, ConfineError> {
    v.to_str()
        .and_then(|s| s.parse().ok())
        .ok_or(ConfineError::NotANumber(v))
}

/// Confine this process and replace it with the command. Returns only on
/// failure, with the reason.
pub fn confine_and_exec(args: ConfineArgs) -> String {
    use std::os::unix::process::CommandExt;
    if let Err(e) = mount_views(&args) {
        return format!("cannot set up the program's view of the files: {e}");
    }
    if let Some(dir) = &args.chdir
        && let Err(e) = std::env::set_current_dir(dir)
    {
        return format!("cannot enter {}: {e}", dir.display());
    }
    if let Err(e) = drop_capabilities() {
        return format!("cannot drop capabilities: {e}");
    }
    if let Err(e) = set_limits(&args) {
        return format!("cannot set resource limits: {e}");
    }
    if let Err(e) = restrict(&args) {
        return format!("cannot apply Landlock: {e}");
    }
    let (program, rest) = match args.command.split_first() {
        Some(split) => split,
        None => return "no command to run".into(),
    };
    let err = std::process::Command::new(program).args(rest).exec();
    format!("cannot run {}: {err}", Path::new(program).display())
}

/// Overlays first (each covers whatever bubblewrap mounted below its root),
/// then the read-only and hidden paths on top of them.
fn mount_views(args: &ConfineArgs) -> Result<(), ConfineError> {
    use rustix::mount::{MountFlags, UnmountFlags, mount, mount_bind, mount_remount, unmount};
    let failed = |step: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |errno| ConfineError::Step { step, path, errno }
    };
    for (root, stage) in &args.overlays {
        let text = |p: &Path| -> Result<String, ConfineError> {
            match p.to_str() {
                // Overlay options split on `,` and `:`, and escape with `\`;
                // a NUL cannot reach here from a path.
                Some(s) if !s.contains([',', ':', '\\', '\0']) => Ok(s.to_string()),
                _ => Err(ConfineError::OverlayPath(p.to_path_buf())),
            }
        };
        let (lower, stage_text) = (text(root)?, text(stage)?);
        let data = std::ffi::CString::new(format!(
            "lowerdir={lower},upperdir={stage_text}/upper,workdir={stage_text}/work,userxattr"
        ))
        .map_err(|_| ConfineError::OverlayPath(root.clone()))?;
        let stage = stage_text;
        mount(
            "overlay",
            root,
            "overlay",
            MountFlags::NOSUID | MountFlags::NODEV,
            data.as_c_str(),
        )
        .map_err(failed("mounting an overlay on", root))?;
        // The child writes only through the overlay, never into the layer.
        unmount(stage.as_str(), UnmountFlags::DETACH)
            .map_err(failed("unmounting", Path::new(&stage)))?;
    }
    for p in args.protect.iter().filter(|p| p.exists()) {
        mount_bind(p, p).map_err(failed("binding", p))?;
        mount_remount(
            p,
            MountFlags::BIND | MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV,
            "",
        )
        .map_err(failed("making read-only", p))?;
    }
    for p in &args.hide {
        match std::fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(ConfineError::HideNotDirectory(p.clone())),
            Err(_) => continue,
        }
        mount(
            "tmpfs",
            p,
            "tmpfs",
            MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            c"size=4k,mode=0555",
        )
        .map_err(failed("hiding", p))?;
    }
    Ok(())
}

/// Empty every capability set, bounding and ambient included, so that the
/// program (even as uid 0 of the sandbox) cannot regain the helper's.
fn drop_capabilities() -> Result<(), ConfineError> {
    use rustix::thread::{
        CapabilitySet, CapabilitySets, capabilities, clear_ambient_capability_set,
        remove_capability_from_bounding_set, set_capabilities,
    };
    for cap in CapabilitySet::all().iter() {
        match remove_capability_from_bounding_set(cap) {
            Ok(()) | Err(rustix::io::Errno::INVAL) => {}
            Err(e) => return Err(ConfineError::Capabilities("bounding set", e)),
        }
    }
    clear_ambient_capability_set().map_err(|e| ConfineError::Capabilities("ambient set", e))?;
    let none = CapabilitySets {
        effective: CapabilitySet::empty(),
        permitted: CapabilitySet::empty(),
        inheritable: CapabilitySet::empty(),
    };
    set_capabilities(None, none).map_err(|e| ConfineError::Capabilities("setting", e))?;
    let left = capabilities(None).map_err(|e| ConfineError::Capabilities("reading", e))?;
    if !(left.effective.is_empty() && left.permitted.is_empty() && left.inheritable.is_empty()) {
        return Err(ConfineError::CapabilitiesRemain);
    }
    Ok(())
}

fn set_limits(args: &ConfineArgs) -> rustix::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let limit = |n: u64| Rlimit {
        current: Some(n),
        maximum: Some(n),
    };
    setrlimit(Resource::Nproc, limit(args.processes))?;
    setrlimit(Resource::As, limit(args.address_space))?;
    setrlimit(Resource::Fsize, limit(args.file_size))?;
    setrlimit(Resource::Core, limit(0))
}

fn restrict(args: &ConfineArgs) -> Result<(), ConfineError> {
    use landlock::{
        ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr,
        RulesetCreatedAttr, path_beneath_rules,
    };
    let abi = ABI::V5;
    let readable: Vec<&Path> = SYSTEM_READ
        .iter()
        .map(Path::new)
        .chain(args.read.iter().map(PathBuf::as_path))
        .chain([Path::new("/proc"), Path::new("/dev")])
        .filter(|p| p.exists())
        .collect();
    let writable: Vec<&Path> = args
        .write
        .iter()
        .map(PathBuf::as_path)
        .chain([Path::new("/tmp"), Path::new("/dev/null")])
        .filter(|p| p.exists())
        .collect();
    let created = || -> Result<landlock::RestrictionStatus, landlock::RulesetError> {
        Ruleset::default()
            // Filesystem confinement is required (ABI 1); newer rights (refer,
            // truncate, ioctl) and TCP rules are added where the kernel has them.
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessFs::from_all(ABI::V1))?
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(AccessFs::from_all(abi))?
            .handle_access(AccessNet::from_all(abi))?
            .create()?
            .add_rules(path_beneath_rules(readable, AccessFs::from_read(abi)))?
            .add_rules(path_beneath_rules(writable, AccessFs::from_all(abi)))?
            .restrict_self()
    };
    let status = created().map_err(|e| ConfineError::Landlock(e.to_string()))?;
    if !status.no_new_privs {
        return Err(ConfineError::NoNewPrivs);
    }
    Ok(())
}

/// A cgroup that caps the number of processes of one child's tree.
///
/// RLIMIT_NPROC does not bind the real root user, so where warden may create
/// cgroups (as root, or with a delegated hierarchy) each child gets one with
/// `pids.max`. The child joins it itself between fork and exec, so nothing it
/// starts escapes the count. Removed when dropped, after the tree is gone.
pub struct PidsCgroup {
    dir: PathBuf,
    procs: std::fs::File,
}

/// Where a pids cgroup may be created: cgroup v1's `pids` hierarchy, or v2.
const CGROUP_BASES: &[&str] = &["/sys/fs/cgroup/pids", "/sys/fs/cgroup"];

impl PidsCgroup {
    /// A fresh cgroup limited to `max` processes, if this machine allows it.
    pub fn create(max: u64) -> Option<Self> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for base in CGROUP_BASES.iter().map(Path::new) {
            if !base.join("cgroup.procs").exists() {
                continue;
            }
            let dir = base.join(format!("warden-{}-{n}", std::process::id()));
            if std::fs::create_dir(&dir).is_err() {
                continue;
            }
            let limited = std::fs::write(dir.join("pids.max"), max.to_string()).is_ok();
            let procs = std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"));
            match (limited, procs) {
                (true, Ok(procs)) => return Some(PidsCgroup { dir, procs }),
                _ => {
                    let _ = std::fs::remove_dir(&dir);
                }
            }
        }
        None
    }

    /// Make the child of `cmd` join this cgroup before it runs anything.
    pub fn join_on_spawn(&self, cmd: &mut std::process::Command) -> std::io::Result<()> {
        use std::os::unix::process::CommandExt;
        let fd = self.procs.try_clone()?;
        // SAFETY: between fork and exec only async-signal-safe work happens
        // here: getpid, formatting into a stack buffer, one write(2).
        unsafe {
            cmd.pre_exec(move || {
                let mut buf = [0u8; 20];
                let mut pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
                let mut at = buf.len();
                loop {
                    at -= 1;
                    buf[at] = b'0' + (pid % 10) as u8;
                    pid /= 10;
                    if pid == 0 {
                        break;
                    }
                }
                rustix::io::write(&fd, &buf[at..])?;
                Ok(())
            });
        }
        Ok(())
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        // The tree is normally gone already (its PID namespace collapsed);
        // kill any straggler, then remove the group once it is empty.
        for _ in 0..50 {
            let members =
                std::fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
            for pid in members.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        tracing::warn!("could not remove cgroup {}", self.dir.display());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_confine_arguments() {
        let a = ConfineArgs::parse(
            [
                "--read",
                "/r",
                "--write",
                "/w",
                "--processes",
                "8",
                "--address-space",
                "9",
                "--file-size",
                "10",
                "--overlay",
                "/w",
                "/run/s/0",
                "--protect",
                "/w/.git",
                "--hide",
                "/w/.cache/warden",
                "--chdir",
                "/w/sub",
                "--",
                "prog",
                "--read",
            ]
            .map(OsString::from),
        )
        .unwrap();
        assert_eq!(a.overlays, [("/w".into(), "/run/s/0".into())]);
        assert_eq!(a.protect, [PathBuf::from("/w/.git")]);
        assert_eq!(a.hide, [PathBuf::from("/w/.cache/warden")]);
        assert_eq!(a.chdir.as_deref(), Some(Path::new("/w/sub")));
        assert!(ConfineArgs::parse(["--overlay", "/w"].map(OsString::from)).is_err());
        assert_eq!(a.read, [PathBuf::from("/r")]);
        assert_eq!(a.write, [PathBuf::from("/w")]);
        assert_eq!((a.processes, a.address_space, a.file_size), (8, 9, 10));
        assert_eq!(a.command, ["prog", "--read"].map(OsString::from));
        assert!(ConfineArgs::parse(["--read"].map(OsString::from)).is_err());
        assert!(ConfineArgs::parse(["--bogus"].map(OsString::from)).is_err());
        assert!(ConfineArgs::parse(["--"].map(OsString::from)).is_err());
    }

    #[test]
    fn mounts_read_only_paths_over_writable_parents() {
        let sandbox = Sandbox {
            bwrap: "/usr/bin/bwrap".into(),
            helper: "/opt/warden".into(),
        };
        let spec = ChildSpec {
            program: "/usr/bin/git".into(),
            args: vec!["status".into()],
            cwd: "/w".into(),
            env: vec![("PATH".into(), "/usr/bin".into())],
            read: vec!["/w/docs".into()],
            write: vec!["/w".into(), "/notes.txt".into()],
            overlays: vec![("/w".into(), "/stage/0".into())],
            protected: vec!["/w/.git".into()],
            hidden: vec!["/w/.state/warden".into()],
            limits: ChildLimits {
                processes: 1,
                address_space: 2,
                file_size: 3,
                quota: crate::capability::process::overlay::Quota::default(),
            },
        };
        let args: Vec<String> = sandbox
            .command(&spec)
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let pos = |needle: &[&str]| {
            args.windows(needle.len())
                .position(|w| w == needle)
                .unwrap()
        };
        // The writable root is only a read-only lower layer; the helper
        // mounts the overlay, then the protected and hidden paths on it.
        assert!(pos(&["--ro-bind", "/w", "/w"]) < pos(&["--ro-bind-try", "/w/docs", "/w/docs"]));
        assert!(!args.windows(2).any(|w| w == ["--bind-try", "/w"]));
        assert!(pos(&["--bind-try", "/notes.txt", "/notes.txt"]) > 0);
        assert!(pos(&["--bind", "/stage/0", "/run/warden/overlay/0"]) < pos(&["__confine"]));
        assert!(pos(&["__confine"]) < pos(&["--overlay", "/w", "/run/warden/overlay/0"]));
        assert!(pos(&["--protect", "/w/.git"]) > pos(&["__confine"]));
        assert!(pos(&["--hide", "/w/.state/warden"]) > pos(&["__confine"]));
        // bubblewrap enters the lower layer; the helper enters the overlay.
        let last_chdir = args
            .windows(2)
            .rposition(|w| w == ["--chdir", "/w"])
            .unwrap();
        assert!(pos(&["--chdir", "/w"]) < pos(&["__confine"]));
        assert!(last_chdir > pos(&["__confine"]));
        assert!(args.contains(&"--unshare-all".to_string()));
        assert!(!args.iter().any(|a| a == "--share-net"));
        assert_eq!(&args[args.len() - 3..], ["--", "/usr/bin/git", "status"]);
    }
}
