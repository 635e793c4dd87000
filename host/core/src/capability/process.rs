//! The `process` capability: run a granted program for a plugin.
//!
//! Every check comes before anything runs, in this order: the program is
//! granted (by name, at the absolute path resolved when it was granted, and
//! not somewhere the plugin can write); the arguments match every granted
//! pattern and use no refused flag in any spelling; the working directory
//! lies inside the plugin's file grants; every environment key is granted
//! and not dangerous. Then the child runs confined (see [`confine`]),
//! with output capped and the whole tree killed at the deadline, on an
//! overlay of its writable directories; what it wrote is applied to them
//! afterwards under the rules for a plugin's own writes, within a quota
//! (see [`overlay`]).

pub mod argv;
pub mod confine;
pub mod overlay;
mod request;

pub use request::{
    ChildPath, ChildPathError, EffectiveProgram, ProgramGrant, ProgramProblem, ProgramRequest,
    ProgramSpecError, check_within, meet, resolve,
};

use crate::bindings::warden::plugin::process::{Command, Error, Host, Output};
use crate::capability::files::{Access, EffectivePath};
use crate::capability::{Denial, Denials};
use crate::escape::escape;
use argv::{FlagPolicy, check_env_key, forced_env};
use confine::{CONFINE_FAILED, ChildLimits, ChildSpec, PidsCgroup, Sandbox};
use overlay::{Rules, Staging};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use wasmtime::component::HasData;

/// Longest argument list accepted, in bytes, arguments and environment
/// together.
pub const MAX_COMMAND_BYTES: usize = 256 * 1024;
/// Largest stdin a plugin may pass, in bytes.
pub const MAX_STDIN_BYTES: usize = 4 * 1024 * 1024;
/// `PATH` every child gets; the granted program is run by absolute path.
pub const CHILD_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Per-store state of the process capability: the plugin's fixed setup,
/// shared by every call, plus what belongs to one call.
#[derive(Clone)]
pub struct ProcessState {
    setup: Arc<ProcessSetup>,
    deadline: Option<Instant>,
    denials: Denials,
    /// The undo journal's turn, told of each path before a child's change
    /// to it is applied.
    capture: Option<crate::journal::Capture>,
}

/// How the host's process capability is set up for one plugin.
pub struct ProcessSetup {
    /// The plugin's name, for messages.
    pub plugin: String,
    /// Its effective programs.
    pub programs: Vec<EffectiveProgram>,
    /// Its effective file grants (the child sees exactly these).
    pub files: Vec<EffectivePath>,
    /// Protected paths, read-only for the child too.
    pub protected: Vec<PathBuf>,
    /// Paths the child may neither see nor change (warden's own
    /// directories), wherever they are.
    pub hidden: Vec<PathBuf>,
    /// The workspace (default working directory).
    pub workspace: PathBuf,
    /// The user's home, given to the child as `HOME`.
    pub home: Option<PathBuf>,
    /// Confinement, or why it is not available.
    pub sandbox: Result<Sandbox, confine::Unavailable>,
    /// Resource limits of the child's tree.
    pub limits: ChildLimits,
    /// Bytes kept of each output stream.
    pub output_cap: usize,
    /// Where each run is recorded before it starts (none in embedders and
    /// tests that keep no log).
    pub audit: Option<crate::audit::Log>,
}

impl ProcessState {
    /// State for one plugin.
    pub fn new(setup: ProcessSetup) -> Self {
        ProcessState {
            setup: Arc::new(setup),
            deadline: None,
            denials: Denials::default(),
            capture: None,
        }
    }

    /// A copy for one call, which must end by `deadline`; what its
    /// programs change is reported to `capture` before it is applied.
    pub fn for_call(&self, deadline: Instant, capture: Option<crate::journal::Capture>) -> Self {
        ProcessState {
            setup: self.setup.clone(),
            deadline: Some(deadline),
            denials: Denials::default(),
            capture,
        }
    }

    /// Refusals recorded so far.
    pub fn denials(&self) -> &Denials {
        &self.denials
    }

    /// Record the changes of a child that were not applied.
    fn refused_changes(&mut self, refused: &[crate::capability::process::overlay::Refusal]) {
        for r in refused {
            tracing::info!(plugin = %self.setup.plugin, path = %r.path.display(), reason = %r.reason, "program's change refused");
            self.denials.push(Denial {
                capability: crate::capability::CapabilityKind::Files,
                operation: r.operation,
                resource: r.path.display().to_string(),
                reason: r.reason.clone(),
                allow: r.allow.clone(),
            });
        }
    }

    fn deny(&mut self, argv: &str, reason: String, allow: Option<String>) -> Error {
        tracing::info!(plugin = %self.setup.plugin, command = %argv, %reason, "process denied");
        self.denials.push(Denial {
            capability: crate::capability::CapabilityKind::Process,
            operation: "run",
            resource: argv.to_string(),
            reason: reason.clone(),
            allow,
        });
        Error::Denied(format!("{argv}: {reason}"))
    }

    /// Every check, before anything runs. Returns the child to start and
    /// the rules its changes are committed under.
    fn check(&mut self, cmd: &Command) -> Result<(ChildSpec, Duration, Rules), Error> {
        let argv = escape(
            &std::iter::once(cmd.program.as_str())
                .chain(cmd.args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" "),
        );
        let size: usize = cmd.args.iter().map(String::len).sum::<usize>()
            + cmd
                .env
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        if size > MAX_COMMAND_BYTES {
            return Err(Error::Invalid(format!(
                "the command is {size} bytes, over the limit of {MAX_COMMAND_BYTES}"
            )));
        }
        if std::iter::once(&cmd.program)
            .chain(&cmd.args)
            .any(|a| a.contains('\0'))
        {
            return Err(Error::Invalid("an argument contains a NUL byte".into()));
        }
        if cmd
            .stdin
            .as_ref()
            .is_some_and(|s| s.len() > MAX_STDIN_BYTES)
        {
            return Err(Error::Invalid(format!(
                "stdin is over the limit of {MAX_STDIN_BYTES} bytes"
            )));
        }
        let Some(program) = self
            .setup
            .programs
            .iter()
            .find(|p| p.name == cmd.program)
            .cloned()
        else {
            let plugin = self.setup.plugin.clone();
            return Err(self.deny(
                &argv,
                format!(
                    "the program `{}` is not granted to plugin `{plugin}`",
                    escape(&cmd.program)
                ),
                Some(format!("program:{}", cmd.program)),
            ));
        };
        // The granted path may be a link (rustup's proxies are); both it and
        // the file it leads to count.
        let real = match program.path.canonicalize() {
            Ok(real) => real,
            Err(e) => {
                return Err(Error::NotFound(format!(
                    "{}: {e} (it was granted at that path; grant it again if it moved)",
                    program.path.display()
                )));
            }
        };
        // Anything the plugin or any of its programs can write could hold a
        // replaced binary.
        let writable: Vec<PathBuf> = self
            .setup
            .files
            .iter()
            .filter(|f| f.access == Access::Write)
            .map(|f| f.host.clone())
            .chain(
                self.setup
                    .programs
                    .iter()
                    .flat_map(|p| p.writes.iter().cloned()),
            )
            .collect();
        for path in [&program.path, &real] {
            if let Some(w) = writable.iter().find(|w| path.starts_with(w)) {
                let reason = format!(
                    "{} lies in {}, which the plugin can write; a program there could be replaced",
                    path.display(),
                    w.display()
                );
                return Err(self.deny(&argv, reason, None));
            }
        }
        for pattern in &program.patterns {
            if let Err(why) = pattern.check(&cmd.args) {
                let reason =
                    format!("the arguments do not match the granted pattern `{pattern}`: {why}");
                return Err(self.deny(&argv, reason, None));
            }
        }
        // The rules follow both the name the plugin asked for and the file
        // that really runs (a `cat` that resolves to busybox is busybox).
        let basename = program
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(&program.name)
            .to_string();
        let requested = program
            .name
            .rsplit('/')
            .next()
            .unwrap_or(&program.name)
            .to_string();
        let target = real
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(&basename)
            .to_string();
        for name in [&requested, &basename, &target] {
            if let Some(why) = crate::capability::process::argv::program_refusal(name) {
                let reason = format!("`{}` cannot be granted: {why}", program.path.display());
                return Err(self.deny(&argv, reason, None));
            }
            let policy = FlagPolicy::new(name, &program.deny);
            if let Err(why) = policy.check(&cmd.args) {
                return Err(self.deny(&argv, why.to_string(), None));
            }
            if cmd.stdin.is_some()
                && let Some(why) = policy.stdin_refusal()
            {
                return Err(self.deny(&argv, why.to_string(), None));
            }
        }
        let cwd = match self.resolve_cwd(cmd.cwd.as_deref()) {
            Ok(cwd) => cwd,
            Err(why) => return Err(self.deny(&argv, why.to_string(), None)),
        };
        for name in [&requested, &basename, &target] {
            let policy = FlagPolicy::new(name, &program.deny);
            if let Some(why) = code_path_refusal(&policy, &cmd.args, &cwd, &writable) {
                return Err(self.deny(&argv, why.to_string(), None));
            }
            if policy.picks_toolchain()
                && let Some(why) = toolchain_file_refusal(&cwd)
            {
                return Err(self.deny(&argv, why.to_string(), None));
            }
        }
        let mut env = vec![
            ("PATH".to_string(), CHILD_PATH.to_string()),
            ("LANG".to_string(), "C.UTF-8".to_string()),
            ("TERM".to_string(), "dumb".to_string()),
        ];
        if let Some(home) = &self.setup.home {
            env.push(("HOME".into(), home.display().to_string()));
        }
        for (key, value) in &cmd.env {
            if let Err(why) = check_env_key(key) {
                return Err(self.deny(&argv, format!("env `{}`: {why}", escape(key)), None));
            }
            if !program.env.contains(key) {
                let reason = format!(
                    "env `{}` is not granted for `{}`",
                    escape(key),
                    program.name
                );
                return Err(self.deny(&argv, reason, None));
            }
            if value.contains('\0') {
                return Err(Error::Invalid(format!("env `{key}` contains a NUL byte")));
            }
            env.push((key.clone(), value.clone()));
        }
        env.extend(forced_env(&requested));
        if requested != basename {
            env.extend(forced_env(&basename));
        }
        let sandbox_ok = self.setup.sandbox.clone();
        if let Err(why) = sandbox_ok {
            return Err(self.deny(&argv, why.to_string(), None));
        }
        let remaining = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::MAX);
        let timeout = cmd
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(remaining)
            .min(remaining);
        let (spec, rules) = self.view(&program, cmd, cwd, env);
        Ok((spec, timeout, rules))
    }

    /// What the child sees and may write, all as real paths: every writable
    /// directory becomes an overlay root (the outermost ones only; the
    /// others lie inside them), a writable single file is bound as it is
    /// unless the rules refuse writing it, existing protected paths are
    /// mounted read-only again, and warden's own directories are hidden.
    fn view(
        &self,
        program: &EffectiveProgram,
        cmd: &Command,
        cwd: PathBuf,
        env: Vec<(String, String)>,
    ) -> (ChildSpec, Rules) {
        let mut read: Vec<PathBuf> = program.reads.iter().map(|p| real(p)).collect();
        let mut writable: Vec<PathBuf> = program.writes.iter().map(|p| real(p)).collect();
        let mut file_writes = Vec::new();
        for f in &self.setup.files {
            match f.access {
                Access::Read => read.push(real(&f.host)),
                Access::Write => {
                    writable.push(real(&f.host));
                    file_writes.push(real(&f.host));
                }
            }
        }
        let hidden: Vec<PathBuf> = self.setup.hidden.iter().map(|p| real(p)).collect();
        let rules = Rules {
            workspace: self.setup.workspace.clone(),
            file_writes,
            writable: writable.clone(),
            read_only: read.clone(),
            protected: self.setup.protected.iter().map(|p| real(p)).collect(),
            hidden: hidden.clone(),
        };
        let dirs: Vec<&PathBuf> = writable.iter().filter(|w| w.is_dir()).collect();
        let roots: Vec<PathBuf> = dirs
            .iter()
            .filter(|d| !dirs.iter().any(|o| o != *d && d.starts_with(o)))
            .map(|d| (*d).clone())
            .collect();
        let mut write = Vec::new();
        for w in writable {
            let overlaid = roots.iter().any(|r| w.starts_with(r));
            if !overlaid && rules.refusal("write", &w).is_some() {
                read.push(w);
            } else {
                write.push(w);
            }
        }
        let protected = rules
            .protected
            .iter()
            .filter(|p| {
                p.exists()
                    && roots.iter().any(|r| p.starts_with(r))
                    && !hidden.iter().any(|h| p.starts_with(h))
            })
            .cloned()
            .collect();
        let visible: Vec<&PathBuf> = read.iter().chain(&write).collect();
        let hidden = hidden
            .into_iter()
            .filter(|h| {
                h.is_dir()
                    && visible.iter().any(|v| h.starts_with(v) && h != *v)
                    && !visible.iter().any(|v| v.starts_with(h))
            })
            .collect();
        let spec = ChildSpec {
            program: program.path.clone(),
            args: cmd.args.clone(),
            cwd,
            env,
            read,
            write,
            // Filled in with the staging directories when the child starts.
            overlays: roots.into_iter().map(|r| (r, PathBuf::new())).collect(),
            protected,
            hidden,
            limits: self.setup.limits,
        };
        (spec, rules)
    }

    /// The working directory: relative to the workspace, or absolute; it
    /// must exist and lie (after resolving symlinks) inside a file grant.
    fn resolve_cwd(&self, cwd: Option<&str>) -> Result<PathBuf, CwdError> {
        let Some(raw) = cwd else {
            return Ok(self.setup.workspace.clone());
        };
        if Path::new(raw)
            .components()
            .any(|c| c == Component::ParentDir)
        {
            return Err(CwdError::Parent(escape(raw)));
        }
        let joined = self.setup.workspace.join(raw);
        let real = joined.canonicalize().map_err(|e| CwdError::Unusable {
            cwd: escape(raw),
            error: e.to_string(),
        })?;
        if !real.is_dir() {
            return Err(CwdError::NotADirectory(escape(raw)));
        }
        if !self.setup.files.iter().any(|f| real.starts_with(&f.host)) {
            return Err(CwdError::Ungranted(real));
        }
        Ok(real)
    }
}

/// A file the program reads code from, named by an argument, that leads to
/// stdin, `/dev` or `/proc`, or — when the program would not otherwise run
/// code the plugin wrote, because its working directory is not writable —
/// to a place the plugin (or its programs) can write.
fn code_path_refusal(
    policy: &FlagPolicy,
    args: &[String],
    cwd: &Path,
    writable: &[PathBuf],
) -> Option<String> {
    let writable: Vec<PathBuf> = writable.iter().map(|w| real(w)).collect();
    let cwd_writable = writable.iter().any(|w| cwd.starts_with(w));
    for (shown, value) in policy.code_paths(args) {
        let mut lexical = PathBuf::new();
        for part in cwd.join(&value).components() {
            match part {
                Component::ParentDir => {
                    lexical.pop();
                }
                Component::CurDir => {}
                other => lexical.push(other),
            }
        }
        let text = lexical.to_string_lossy();
        if value == "-" || crate::capability::process::argv::is_special_file(&text) {
            return Some(format!(
                "`{}` is refused: it names {}, a file the program reads code from, and stdin, /dev and /proc carry what the plugin wrote",
                escape(&shown),
                escape(&value)
            ));
        }
        let at = real(&lexical);
        if !cwd_writable && let Some(w) = writable.iter().find(|w| at.starts_with(w)) {
            return Some(format!(
                "`{}` is refused: the program reads code from {}, which lies in {} where the plugin or its programs can write, so it would run code the plugin wrote",
                escape(&shown),
                at.display(),
                w.display()
            ));
        }
    }
    None
}

/// Largest rust-toolchain file read, in bytes.
const MAX_TOOLCHAIN_FILE_BYTES: u64 = 64 * 1024;

/// rustup picks the toolchain from `rust-toolchain(.toml)` in the working
/// directory or above, and such a file may name a toolchain **by path**: a
/// planted directory would then be the compiler that runs. Channels
/// (`stable`, `1.80`, `nightly-2024-05-01`) stay fine.
fn toolchain_file_refusal(cwd: &Path) -> Option<String> {
    for dir in cwd.ancestors() {
        for name in ["rust-toolchain", "rust-toolchain.toml"] {
            let file = dir.join(name);
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            let refuse = |why: &str| {
                Some(format!(
                    "{} {why}; rustup would choose the toolchain from it",
                    file.display()
                ))
            };
            if !meta.is_file() {
                return refuse("is not a regular file");
            }
            if meta.len() > MAX_TOOLCHAIN_FILE_BYTES {
                return refuse("is too large to be a toolchain file");
            }
            let Ok(text) = std::fs::read_to_string(&file) else {
                return refuse("cannot be read");
            };
            let by_path = match text.parse::<toml::Table>() {
                Ok(t) => {
                    t.contains_key("path")
                        || t.get("toolchain")
                            .and_then(|t| t.as_table())
                            .is_some_and(|t| t.contains_key("path"))
                }
                // The legacy one-line form names a channel, or a path.
                Err(_) => text.contains(['/', '\\']),
            };
            if by_path {
                return refuse(
                    "names a toolchain by path, which could be one the plugin planted; name a channel such as `stable` instead",
                );
            }
        }
    }
    None
}

/// The real path of `p`: its deepest existing ancestor resolved, the rest
/// (which does not exist yet) appended, so a path that will be created is
/// compared where it will really be.
fn real(p: &Path) -> PathBuf {
    let mut missing = Vec::new();
    let mut at = p;
    loop {
        if let Ok(r) = at.canonicalize() {
            let mut out = r;
            out.extend(missing.iter().rev());
            return out;
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                at = parent;
            }
            _ => return p.to_path_buf(),
        }
    }
}

/// Read a stream to its end, keeping at most `cap` bytes; the rest is read
/// and dropped so the child never blocks on a full pipe.
async fn capture(mut stream: impl AsyncRead + Unpin, cap: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                truncated |= n > room;
            }
        }
    }
    (kept, truncated)
}

/// Start the confined child and wait for it, killing the whole tree at the
/// deadline (or when this future is dropped).
async fn run_confined(
    sandbox: &Sandbox,
    spec: &ChildSpec,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    cap: usize,
) -> Result<Output, Error> {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let started = Instant::now();
    let mut std_cmd = sandbox.command(spec);
    let cgroup = PidsCgroup::create(spec.limits.processes);
    if let Some(group) = &cgroup {
        group
            .join_on_spawn(&mut std_cmd)
            .map_err(|e| Error::Failed(format!("cannot prepare the process limit: {e}")))?;
    }
    let mut cmd = tokio::process::Command::from(std_cmd);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Failed(format!("cannot start bubblewrap: {e}")))?;
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        tokio::spawn(async move {
            let _ = pipe.write_all(&bytes).await;
        });
    }
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(Error::Failed("cannot capture the child's output".into()));
    };
    let out = tokio::spawn(capture(out, cap));
    let err = tokio::spawn(capture(err, cap));
    let (status, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => (status.map_err(|e| Error::Failed(e.to_string()))?, false),
        Err(_) => {
            // Killing bubblewrap collapses the PID namespace: every process
            // of the tree dies with it.
            let _ = child.kill().await;
            (
                child
                    .wait()
                    .await
                    .map_err(|e| Error::Failed(e.to_string()))?,
                true,
            )
        }
    };
    let (stdout, stdout_truncated) = out.await.unwrap_or_default();
    let (stderr, stderr_truncated) = err.await.unwrap_or_default();
    drop(cgroup);
    if status.code() == Some(CONFINE_FAILED) && stderr.starts_with(b"warden-confine:") {
        return Err(Error::Failed(
            String::from_utf8_lossy(&stderr).trim().to_string(),
        ));
    }
    Ok(Output {
        exit_code: if timed_out { None } else { status.code() },
        signal: if timed_out { Some(9) } else { status.signal() },
        stdout,
        stderr,
        stdout_truncated,
        stderr_truncated,
        timed_out,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

impl Host for ProcessState {
    async fn run(&mut self, command: Command) -> Result<Output, Error> {
        let (mut spec, timeout, rules) = self.check(&command)?;
        // THREATS P6: the use is on record before the program starts.
        if let Some(log) = &self.setup.audit {
            let argv = escape(
                &std::iter::once(command.program.as_str())
                    .chain(command.args.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(" "),
            );
            let record = crate::audit::Record {
                kind: crate::audit::Kind::Use,
                decision: crate::audit::Decision::Allow,
                plugin: Some(self.setup.plugin.clone()),
                capability: Some("process".into()),
                operation: Some("run".into()),
                resource: Some(argv.clone()),
                rule: vec![format!(
                    "program {} as {}",
                    escape(&command.program),
                    spec.program.display()
                )],
                detail: Some(serde_json::json!({"cwd": spec.cwd})),
                ..Default::default()
            };
            if let Err(e) = log.append(record) {
                return Err(Error::Failed(format!(
                    "{argv}: not run: it could not be recorded in the audit log: {e}"
                )));
            }
        }
        let Ok(sandbox) = self.setup.sandbox.clone() else {
            return Err(Error::Failed("no sandbox".into()));
        };
        let argv = escape(
            &std::iter::once(command.program.as_str())
                .chain(command.args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" "),
        );
        let roots: Vec<PathBuf> = spec.overlays.iter().map(|(r, _)| r.clone()).collect();
        let staging = Staging::new(&roots, &spec.read).map_err(|e| {
            Error::Failed(format!(
                "{argv}: not run: cannot prepare the overlay its writes go to: {e}"
            ))
        })?;
        spec.overlays = staging.roots.clone();
        tracing::debug!(plugin = %self.setup.plugin, program = %spec.program.display(), "running confined");
        let output = run_confined(
            &sandbox,
            &spec,
            command.stdin,
            timeout,
            self.setup.output_cap,
        )
        .await?;
        // The tree is gone; its upper layers are still. Applying them is
        // file I/O, kept off the executor; a cancelled call still finishes
        // the commit and removes the staging directory.
        let quota = self.setup.limits.quota;
        let capture = self.capture.clone();
        let committed = tokio::task::spawn_blocking(move || {
            crate::capability::process::overlay::commit(&staging, &rules, quota, capture.as_ref())
        })
        .await
        .map_err(|e| Error::Failed(format!("{argv}: applying its changes failed: {e}")))?;
        if let Some(why) = committed.over_quota {
            let reason = format!("the program's changes were not applied: {why}");
            self.refused_changes(&[crate::capability::process::overlay::Refusal {
                operation: "write",
                path: self.setup.workspace.clone(),
                reason: reason.clone(),
                allow: None,
            }]);
            return Err(Error::Denied(format!("{argv}: {reason}")));
        }
        if let Some(first) = committed.refused.first() {
            self.refused_changes(&committed.refused);
            return Err(Error::Denied(format!(
                "{argv}: the program ran (exit {}), but {} of its changes were refused and not applied, the first {}: {}; {} others were applied",
                output
                    .exit_code
                    .map_or("by signal".to_string(), |c| c.to_string()),
                committed.refused.len(),
                first.path.display(),
                first.reason,
                committed.applied
            )));
        }
        Ok(output)
    }
}

/// Why a program's working directory was refused; paths are escaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CwdError {
    /// `..` anywhere.
    #[error("cwd {0:?} contains `..`")]
    Parent(String),
    /// Missing or unreadable; the OS's words.
    #[error("cwd {cwd}: {error}")]
    Unusable { cwd: String, error: String },
    /// A file.
    #[error("cwd {0} is not a directory")]
    NotADirectory(String),
    /// Outside every file grant, after resolving symlinks.
    #[error("cwd {} lies outside the plugin's file grants", .0.display())]
    Ungranted(PathBuf),
}

/// Marker type that links the process capability.
pub struct HasProcess;

impl HasData for HasProcess {
    type Data<'a> = &'a mut ProcessState;
}

/// Link `warden:plugin/process`; `state` finds this capability's state in
/// the store.
pub fn add_to_linker<T: Send + 'static>(
    l: &mut wasmtime::component::Linker<T>,
    state: fn(&mut T) -> &mut ProcessState,
) -> wasmtime::Result<()> {
    crate::bindings::warden::plugin::process::add_to_linker::<T, HasProcess>(l, state)
}
