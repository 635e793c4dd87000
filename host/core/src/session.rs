//! One recorded call: the sequence every caller (`warden call`, `warden
//! mcp`, the agent) runs a tool through, so each promise is kept in one
//! place:
//!
//! 1. the plugin is opened for the workspace: its grant met with its
//!    manifest, the organisation's policy asked ([`Session::plugin`]). A
//!    long-lived session checks again before every call whether the grant
//!    or the installed plugin changed on disk, so a revoked grant or a
//!    removed plugin takes effect on the next call;
//! 2. a call of a plugin that can change files (itself or through a
//!    program) is captured as a journal turn, so `warden undo` can take it
//!    back ([`writes`]);
//! 3. the call is in the audit log before it runs, forced to the disk when
//!    it can have an effect that outlives it ([`lasting`]);
//! 4. it runs under its limits, and stops when the caller cancels;
//! 5. each denial and the outcome are recorded after it.
//!
//! A call that cannot be recorded or captured does not run. Callers only
//! phrase the result for their audience: [`Refused`] and [`Recorded`] say
//! what happened, in data.

use crate::audit::{Decision, Durability, Kind, Log, Record};
use crate::component::Package;
use crate::escape::escape;
use crate::grant::{self, Context, Effective};
use crate::journal::{Journal, Turn, TurnRecord};
use crate::manifest::Access;
use crate::policy::{self as org, Policy, Subject};
use crate::registry::Registry;
use crate::runtime::{CallOutput, Prepared, Runtime, ToolSpec};
use crate::{Error, Result};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::ffi::OsString;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// How warden reads its environment: the organisation's policy files and
/// the variables a grant passes on.
pub type Env = Arc<dyn Fn(&str) -> Option<OsString> + Send + Sync>;

/// Whether a call may change files: a writable file grant, or any program.
pub fn writes(p: &Prepared) -> bool {
    let e = p.effective();
    e.files.iter().any(|f| f.access == Access::Write) || !e.programs.is_empty()
}

/// Whether a call of `p` can have an effect that outlives it (files,
/// programs, network requests), so its audit record is forced to the disk
/// before it runs.
pub fn lasting(p: &Prepared) -> bool {
    writes(p) || !p.effective().network.is_empty()
}

/// The effective grant in words, one line per path, variable, program and
/// origin: what people are shown and what a call's record names as its
/// rule.
pub fn rule(e: &Effective) -> Vec<String> {
    let mut lines: Vec<String> = e
        .files
        .iter()
        .map(|f| {
            format!(
                "files  {} {}",
                f.access,
                escape(&f.host.display().to_string())
            )
        })
        .collect();
    lines.extend(e.env.iter().map(|v| format!("env    {v}")));
    for p in &e.programs {
        let patterns: Vec<String> = p.patterns.iter().map(|a| format!("`{a}`")).collect();
        lines.push(format!(
            "run    {} as {} with arguments {}",
            p.name,
            p.path.display(),
            patterns.join(" and ")
        ));
    }
    lines.extend(e.network.iter().map(|o| format!("net    {o}")));
    if lines.is_empty() {
        lines.push("nothing".into());
    }
    let writable = e.files.iter().any(|f| f.access == Access::Write);
    if writable {
        for p in &e.protected {
            if e.files
                .iter()
                .any(|f| f.access == Access::Write && p.starts_with(&f.host))
            {
                lines.push(format!("kept read-only: {}", p.display()));
            }
        }
    }
    lines
}

/// What a session is opened with.
pub struct Setup {
    pub rt: Runtime,
    pub registry: Registry,
    /// Whom warden acts for, as the organisation's policy sees it.
    pub user: String,
    pub env: Env,
    /// Where the session's records go.
    pub audit: Log,
    /// The session's name: its calls that change files are its turns.
    pub name: String,
}

/// Calls in one workspace, as one session: `cli`, `mcp` or an agent
/// session's id.
pub struct Session {
    rt: Runtime,
    registry: Registry,
    user: String,
    env: Env,
    audit: Log,
    name: String,
    ctx: Context,
    /// Opened at the first call that is captured (`warden call` of a
    /// read-only plugin never needs it).
    journal: Mutex<Option<Journal>>,
    /// Plugins opened so far, each with what its files looked like then;
    /// a plugin whose files changed is opened again. An entry that can no
    /// longer be opened stays, so its calls are refused and recorded
    /// rather than unknown.
    open: Mutex<HashMap<String, Arc<Plugin>>>,
}

/// A plugin opened for a session's workspace.
pub struct Plugin {
    pub name: String,
    /// Its tools, as it described them.
    pub tools: Vec<ToolSpec>,
    /// What it asks for (its embedded manifest).
    pub manifest: Arc<crate::manifest::Manifest>,
    /// Bound to its effective grant, or why its grant or the organisation's
    /// policy does not let it run here.
    allowed: std::result::Result<Arc<Prepared>, Arc<Error>>,
    seen: Seen,
}

impl Plugin {
    /// The plugin bound to its grant, or why it may not run here.
    pub fn allowed(&self) -> std::result::Result<&Arc<Prepared>, &Arc<Error>> {
        self.allowed.as_ref()
    }

    /// Whether it asks for some access and none of it is granted here: it
    /// runs, and everything it tries beyond its own memory is refused,
    /// naming the grant that would allow it.
    pub fn nothing_granted(&self) -> bool {
        let Ok(prepared) = &self.allowed else {
            return false;
        };
        let m = &self.manifest;
        let e = prepared.effective();
        let asks = !(m.files.is_empty()
            && m.programs.is_empty()
            && m.network.is_empty()
            && m.env.is_empty());
        let granted = !(e.files.is_empty()
            && e.programs.is_empty()
            && e.network.is_empty()
            && e.env.is_empty());
        asks && !granted
    }

    /// Whether it has a tool named `tool`.
    pub fn has(&self, tool: &str) -> bool {
        self.tools.iter().any(|t| t.name == tool)
    }
}

/// A change test for the files that decide what a plugin may do: its grant
/// file, its install record and its component. A file rewritten in place
/// or replaced by a rename (how warden writes them) changes its length,
/// times or inode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    files: Vec<Option<Stamp>>,
    /// A file changed too close to when it was looked at for its times to
    /// tell a later change apart (file times advance in coarse ticks), so
    /// it is read again next time rather than trusted.
    racy: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// Longer than the kernel's file-time tick (one jiffy, at most 10 ms).
const RACY: Duration = Duration::from_millis(100);

impl Seen {
    fn now(paths: &[PathBuf]) -> Self {
        use std::os::unix::fs::MetadataExt;
        let taken = SystemTime::now();
        let mut racy = false;
        let files = paths
            .iter()
            .map(|p| {
                let m = std::fs::metadata(p).ok()?;
                for (secs, nanos) in [(m.mtime(), m.mtime_nsec()), (m.ctime(), m.ctime_nsec())] {
                    let at = u64::try_from(secs).ok().map(|s| {
                        SystemTime::UNIX_EPOCH + Duration::new(s, u32::try_from(nanos).unwrap_or(0))
                    });
                    racy |= at
                        .and_then(|at| taken.duration_since(at).ok())
                        .is_none_or(|age| age < RACY);
                }
                Some(Stamp {
                    dev: m.dev(),
                    ino: m.ino(),
                    len: m.len(),
                    mtime: (m.mtime(), m.mtime_nsec()),
                    ctime: (m.ctime(), m.ctime_nsec()),
                })
            })
            .collect();
        Seen { files, racy }
    }
}

/// Why a call did not run. Every refusal but [`Refused::Unknown`] (and a
/// log that cannot be written) is in the audit log.
#[derive(Debug)]
pub enum Refused {
    /// The plugin or tool does not exist, and the session never offered it.
    Unknown(Error),
    /// The plugin was offered but cannot be opened any more: removed,
    /// damaged, its grant file unreadable.
    Gone(Error),
    /// Its grant or the organisation's policy does not let it run here.
    NotAllowed(Arc<Error>),
    /// Its effective grant changed between the caller's look at it and the
    /// call (the agent approves a call by what the plugin could do then).
    Changed { plugin: String },
    /// Its file changes could not be captured for undo.
    Capture(crate::journal::Error),
    /// It could not be recorded in the audit log.
    Unrecorded(crate::audit::Error),
}

/// What is added to every record of a call.
#[derive(Debug, Clone, Default)]
pub struct Note {
    /// Who approved the call (the agent's approval mode or person).
    pub approved_by: Option<String>,
    /// Extra fields of each record's detail (the agent's turn number).
    pub detail: serde_json::Map<String, Value>,
    /// The caller's own turn (an agent's): the call's records name it and,
    /// when it is captured, it is part of that journal turn, so a turn has
    /// one number in events, the audit log, `diff`, `undo` and `rollback`.
    /// Without one, each captured call is the session's next turn.
    pub turn: Option<u64>,
}

/// One call to make.
pub struct Request<'a> {
    pub plugin: &'a str,
    pub tool: &'a str,
    /// JSON input, exactly as it runs and is recorded.
    pub input: &'a str,
    pub note: Note,
    /// The plugin as the caller saw it when it decided to call (see
    /// [`Refused::Changed`]); `None` takes it as it is now.
    pub expect: Option<Arc<Plugin>>,
}

/// A call that is recorded (and captured) and about to run.
pub struct Running<'s> {
    session: &'s Session,
    plugin: String,
    prepared: Arc<Prepared>,
    tool: String,
    input: String,
    note: Note,
    turn: Option<Turn>,
    number: Option<u64>,
}

/// How a call ended, and what was recorded of it.
pub struct Recorded {
    /// What the plugin produced, or why the host stopped it (its time,
    /// memory or output limit, a crash, the policy asked again, or the
    /// caller cancelling it).
    pub out: Result<CallOutput>,
    /// The caller cancelled it.
    pub cancelled: bool,
    /// The journal turn, when it was captured.
    pub captured: std::result::Result<Option<TurnRecord>, crate::journal::Error>,
    /// A record of the call's end that could not be written, and which.
    pub unrecorded: Option<(Kind, crate::audit::Error)>,
}

impl Recorded {
    /// The paths the call changed, when it was captured.
    pub fn changed(&self) -> Option<Vec<String>> {
        match &self.captured {
            Ok(Some(t)) => Some(t.changes.iter().map(|c| c.path.clone()).collect()),
            _ => None,
        }
    }
}

impl Session {
    /// A session of calls in `ctx.workspace`.
    pub fn new(setup: Setup, ctx: Context) -> Self {
        Session {
            rt: setup.rt,
            registry: setup.registry,
            user: setup.user,
            env: setup.env,
            audit: setup.audit,
            name: setup.name,
            ctx,
            journal: Mutex::new(None),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The session's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The canonical workspace.
    pub fn workspace(&self) -> &Path {
        &self.ctx.workspace
    }

    /// The plugin store.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The workspace's journal, opened once.
    pub fn journal(&self) -> std::result::Result<Journal, crate::journal::Error> {
        let mut slot = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(j) = slot.as_ref() {
            return Ok(j.clone());
        }
        let j = Journal::open(self.registry.dirs(), &self.ctx.workspace)?;
        *slot = Some(j.clone());
        Ok(j)
    }

    fn cached(&self, name: &str) -> Option<Arc<Plugin>> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(name).cloned()
    }

    /// Names of the plugins opened so far, including any since removed.
    pub fn opened(&self) -> Vec<String> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.keys().cloned().collect()
    }

    /// The tools a plugin had when this session last opened it, whether or
    /// not it can still be opened.
    pub fn last_tools(&self, name: &str) -> Option<Vec<ToolSpec>> {
        self.cached(name).map(|p| p.tools.clone())
    }

    /// The plugin `name` as its files are now: the one opened before when
    /// nothing changed (a few `stat`s), else opened again.
    pub async fn plugin(&self, name: &str) -> Result<Arc<Plugin>> {
        let watched = self.registry.watched(name, &self.ctx.workspace)?;
        let cached = self.cached(name);
        if let Some(p) = &cached
            && !p.seen.racy
            && p.seen == Seen::now(&watched)
        {
            return Ok(p.clone());
        }
        // Looked at before anything is read: a change made while the plugin
        // is being opened shows as a change next time.
        let seen = Seen::now(&watched);
        let opened = Arc::new(self.open_plugin(name, seen).await?);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.insert(name.to_string(), opened.clone());
        Ok(opened)
    }

    async fn open_plugin(&self, name: &str, seen: Seen) -> Result<Plugin> {
        let (package, source) = self.registry.package(name)?;
        let loaded = self.rt.load(&package)?;
        let tools = self.registry.tools(name, &self.rt, &loaded).await?;
        let (granted, _) = self
            .registry
            .grant_in(name, &package, &source, &self.ctx.workspace)?;
        let allowed = self.allow(&package, &loaded, &granted);
        Ok(Plugin {
            name: name.to_string(),
            tools,
            manifest: Arc::new(package.manifest.clone()),
            allowed: allowed.map(Arc::new).map_err(Arc::new),
            seen,
        })
    }

    fn allow(
        &self,
        package: &Package,
        loaded: &crate::runtime::Loaded,
        granted: &grant::Grant,
    ) -> Result<Prepared> {
        let effective = grant::effective(&package.manifest, granted, &self.ctx);
        let env = self.env.clone();
        // The organisation's policy is asked when the plugin is opened and
        // again before every call, so a policy tightened while a server or
        // agent session runs refuses the plugin from then on.
        // The signer recorded at install, so a policy requiring a signature
        // holds at every call too.
        let signer = self
            .registry
            .record(&package.manifest.name)?
            .and_then(|r| r.signer);
        let subject = Subject::new(&self.user, &package.manifest).signed(signer);
        let requests = org::for_call(&subject, &effective, &self.ctx.workspace);
        let policy = Policy::from_env(|k| env(k));
        policy.check_all(&requests)?;
        // Beyond the grant, the policy is asked about what each call really
        // reaches (see crate::policy::access), with the policy the gate
        // read for that call.
        let access = Arc::new(org::access::Access::new(
            subject,
            &self.ctx.workspace,
            Arc::new(policy),
        ));
        // A program sees every path of the plugin's file grants, through
        // the kernel rather than warden's guard.
        let program_roots: Vec<(PathBuf, bool)> = if effective.programs.is_empty() {
            Vec::new()
        } else {
            effective
                .files
                .iter()
                .map(|f| (f.host.clone(), f.access == Access::Write))
                .collect()
        };
        let vars = env.clone();
        let prepared = loaded.prepare(&self.rt, effective, &self.ctx.workspace, |k| {
            vars(k).and_then(|v| v.into_string().ok())
        })?;
        let net = access.clone();
        Ok(prepared
            .with_policy(
                access.clone(),
                Arc::new(move |origin: &str| net.origin_from_guest(origin)),
            )
            .with_gate(Arc::new(move || {
                let policy = Policy::from_env(|k| env(k));
                policy.check_all(&requests)?;
                access.set_policy(Arc::new(policy));
                access.visible_to_programs(&program_roots)
            })))
    }

    /// The audit log this session records into, for what its caller
    /// records of its own (an MCP server's refused HTTP origins).
    pub fn audit(&self) -> &Log {
        &self.audit
    }

    fn append(&self, record: Record, durability: Durability) -> Result<(), crate::audit::Error> {
        self.audit.append_with(record, durability).map(drop)
    }

    fn stamp(&self, mut record: Record, note: &Note, turn: Option<u64>) -> Record {
        if note.approved_by.is_some() && record.kind == Kind::Call {
            record.approved_by = note.approved_by.clone();
        }
        if !note.detail.is_empty() {
            let mut detail = record.detail.take().unwrap_or_else(|| json!({}));
            if let Some(map) = detail.as_object_mut() {
                map.extend(note.detail.clone());
            }
            record.detail = Some(detail);
        }
        record.in_turn(&self.name, turn.or(note.turn))
    }

    /// Record a call the caller refused before it reached the session (an
    /// unknown tool, arguments that are not an object, approval withheld).
    pub fn refuse(
        &self,
        plugin: &str,
        tool: Option<&str>,
        reason: &str,
        note: &Note,
    ) -> Result<(), crate::audit::Error> {
        let record = Record {
            kind: Kind::Call,
            decision: Decision::Deny,
            plugin: Some(plugin.to_string()),
            tool: tool.map(str::to_string),
            resource: Some(self.ctx.workspace.display().to_string()),
            reason: Some(reason.to_string()),
            ..Record::default()
        };
        self.append(self.stamp(record, note, None), Durability::Written)
    }

    /// Record that `req` was refused before it ran, then refuse it; a
    /// refusal that cannot be recorded is refused as unrecorded.
    fn refused_call<T>(
        &self,
        req: &Request<'_>,
        why: &Error,
        refusal: Refused,
    ) -> std::result::Result<T, Refused> {
        let record = Record::refused_call(req.plugin, req.tool, &self.ctx.workspace, why);
        match self.append(self.stamp(record, &req.note, None), Durability::Written) {
            Ok(()) => Err(refusal),
            Err(e) => Err(Refused::Unrecorded(e)),
        }
    }

    /// Steps 1 to 3: open the plugin, capture the turn, record the call.
    /// What returns is recorded and about to run.
    pub async fn begin(&self, req: Request<'_>) -> std::result::Result<Running<'_>, Refused> {
        let plugin = match self.plugin(req.plugin).await {
            Ok(p) => p,
            // Offered earlier in this session, so a refusal to record, not
            // a name nobody knows.
            Err(e) if self.cached(req.plugin).is_some() => {
                let why = Error::Conflict(e.to_string());
                return self.refused_call(&req, &why, Refused::Gone(e));
            }
            Err(e) => return Err(Refused::Unknown(e)),
        };
        if !plugin.has(req.tool) {
            let names = plugin.tools.iter().map(|t| t.name.as_str());
            return Err(Refused::Unknown(Error::ToolNotFound {
                plugin: req.plugin.into(),
                tool: req.tool.into(),
                suggestion: crate::suggest::Suggestion::closest(req.tool, names),
            }));
        }
        if let Some(expected) = &req.expect
            && !same_grant(expected, &plugin)
        {
            let why = Error::Conflict(format!(
                "{}.{} was not run: the grant of `{}` changed while the call waited for approval; ask for it again",
                req.plugin, req.tool, req.plugin
            ));
            let name = req.plugin.to_string();
            return self.refused_call(&req, &why, Refused::Changed { plugin: name });
        }
        let prepared = match plugin.allowed() {
            Ok(p) => p.clone(),
            Err(e) => return self.refused_call(&req, e, Refused::NotAllowed(e.clone())),
        };
        let turn = if writes(&prepared) {
            match self.capture(req.note.turn).await {
                Ok(t) => Some(t),
                Err(e) => {
                    let why = Error::Conflict(format!(
                        "{}.{} was not run: its file changes could not be captured for undo: {e}",
                        req.plugin, req.tool
                    ));
                    return self.refused_call(&req, &why, Refused::Capture(e));
                }
            }
        } else {
            None
        };
        let number = turn.as_ref().map(|t| t.id().1);
        let record = Record::call(
            req.plugin,
            req.tool,
            &self.ctx.workspace,
            rule(prepared.effective()),
            req.input,
        );
        // Forced to the disk before anything with a lasting effect runs; a
        // call that can only read is written, not synced (see Durability).
        let durability = if lasting(&prepared) {
            Durability::Synced
        } else {
            Durability::Written
        };
        if let Err(e) = self.append(self.stamp(record, &req.note, number), durability) {
            // Nothing ran: close the capture, which finds no change (a turn
            // that cannot be closed now is closed by the next journal
            // operation in the workspace).
            let _ = finish(turn).await;
            return Err(Refused::Unrecorded(e));
        }
        Ok(Running {
            session: self,
            plugin: plugin.name.clone(),
            prepared,
            tool: req.tool.to_string(),
            input: req.input.to_string(),
            note: req.note,
            turn,
            number,
        })
    }

    /// A journal turn of this session. Beginning one blocks (the workspace
    /// lock, an fsync), so it runs off the async threads; captured calls in
    /// one workspace take turns.
    async fn capture(&self, turn: Option<u64>) -> std::result::Result<Turn, crate::journal::Error> {
        let journal = self.journal()?;
        let name = self.name.clone();
        tokio::task::spawn_blocking(move || match turn {
            Some(n) => journal.begin_part(&name, n),
            None => journal.begin_next(&name),
        })
        .await
        .map_err(|e| crate::journal::Error::Usage(format!("the capture stopped: {e}")))?
    }

    /// The whole call: [`Session::begin`] then [`Running::run`].
    pub async fn call(
        &self,
        req: Request<'_>,
        cancelled: impl Future<Output = String>,
    ) -> std::result::Result<Recorded, Refused> {
        Ok(self.begin(req).await?.run(cancelled).await)
    }
}

/// Whether two openings of a plugin run it under the same effective grant
/// (a file rewritten with the same grant opens it again, to the same).
fn same_grant(a: &Plugin, b: &Plugin) -> bool {
    match (a.allowed(), b.allowed()) {
        (Ok(x), Ok(y)) => Arc::ptr_eq(x, y) || x.effective() == y.effective(),
        _ => false,
    }
}

/// Close a capture off the async threads.
async fn finish(
    turn: Option<Turn>,
) -> std::result::Result<Option<TurnRecord>, crate::journal::Error> {
    match turn {
        Some(t) => tokio::task::spawn_blocking(move || t.finish())
            .await
            .map_err(|e| crate::journal::Error::Usage(format!("the capture stopped: {e}")))?
            .map(Some),
        None => Ok(None),
    }
}

impl Running<'_> {
    /// The plugin bound to the grant it runs under.
    pub fn prepared(&self) -> &Arc<Prepared> {
        &self.prepared
    }

    /// Its journal turn, when it is captured.
    pub fn turn(&self) -> Option<u64> {
        self.number
    }

    /// Steps 4 and 5: run the call under its limits until it ends or
    /// `cancelled` resolves (with why), close its capture, and record each
    /// denial and the outcome.
    pub async fn run(self, cancelled: impl Future<Output = String>) -> Recorded {
        let s = self.session;
        let (plugin, tool) = (self.plugin.as_str(), self.tool.as_str());
        let prepared = &self.prepared;
        // Each path the call is about to change is saved first, where the
        // change is made (the file guard, the overlay commit).
        let capture = self.turn.as_ref().map(Turn::capture);
        let (out, was_cancelled) = tokio::select! {
            out = prepared.call_captured(tool, &self.input, capture) => (out, false),
            why = cancelled => (Err(Error::Trap { tool: format!("{plugin}.{tool}"), message: why }), true),
        };
        // The turn is journaled before the result is reported. If that
        // fails, it stays in progress on disk and the next journal operation
        // in this workspace finishes it.
        let captured = finish(self.turn).await;
        let mut result = Record::result(plugin, tool, out.as_ref());
        if let Ok(Some(t)) = &captured {
            result.detail =
                Some(json!({"changed": t.changes.iter().map(|c| &c.path).collect::<Vec<_>>()}));
        }
        let denials = out.as_ref().map(|o| o.denials.as_slice()).unwrap_or(&[]);
        let unrecorded = denials
            .iter()
            .map(|d| Record::denial(plugin, tool, d))
            .chain([result])
            .map(|r| s.stamp(r, &self.note, self.number))
            .find_map(|r| {
                let kind = r.kind;
                s.append(r, Durability::Written).err().map(|e| (kind, e))
            });
        Recorded {
            out,
            cancelled: was_cancelled,
            captured,
            unrecorded,
        }
    }
}
