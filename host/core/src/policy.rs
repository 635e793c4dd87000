//! The organisation policy: rules an administrator writes in Cedar that sit
//! above every user's grants.
//!
//! What a plugin may do is the meeting of three things: what its manifest
//! requests, what the user granted ([`crate::grant`]), and what the
//! organisation's policy allows. The policy can only take away: warden
//! places the organisation's rules beside one base rule,
//! `permit(principal, action, resource);` (id `warden-base-permit`), so
//! anything the grants allow stays allowed unless a `forbid` rule matches,
//! and by Cedar's semantics a matching `forbid` always wins over any
//! `permit`. An organisation that wants an allow-list writes
//! `forbid (...) unless { ... }`.
//!
//! Where it comes from: the managed file `/etc/warden/policy.cedar` and the
//! users' roles in `/etc/warden/roles.toml` (`[users] alice = ["contractor"]`).
//! `WARDEN_POLICY` names a further policy file (and `WARDEN_ROLES` its roles
//! file, by default `roles.toml` beside it); it is checked *in addition to*
//! the managed one, never instead of it, so the variable can narrow but not
//! lift the organisation's rules. The user is `$USER` (else `$LOGNAME`):
//! this identifies the person warden acts for; it is not authentication,
//! since the user controls warden's environment anyway.
//!
//! Failing closed: a missing managed file means no organisation policy. A
//! policy file that exists but cannot be read, is larger than
//! [`MAX_POLICY_BYTES`], does not parse, or does not validate against the
//! schema ([`SCHEMA`], strict mode) refuses everything it governs, with an
//! error naming the file and the problem; so does a broken roles file, and
//! a `WARDEN_POLICY` naming a file that does not exist. A rule that fails
//! to evaluate counts as a `forbid`.
//!
//! When it is checked: at install and at `warden plugin grant`, every
//! capability of the new grant (phase `"grant"`); and again each time a
//! plugin is prepared to run (`warden call`, `warden mcp`, `warden run`;
//! phase `"call"`), against the effective grant in that workspace, so a
//! policy tightened after a grant refuses the next call. A refused
//! capability refuses the whole plugin with an error naming the rule; it is
//! not silently narrowed away. Programs are checked as granted (program,
//! resolved path, argv patterns), not per run: an argv rule sees the
//! patterns every run must match.
//!
//! The vocabulary (see [`SCHEMA`] and [`request`]): principals
//! `Warden::User` (in `Warden::Role`s) for `install` and `grant`, and
//! `Warden::Plugin` (in its `Warden::Publisher`) for the capability actions
//! `fs_read`, `fs_write`, `exec`, `net_connect` and `env_read`; resources
//! `Warden::Plugin`, `Path`, `Program`, `Origin` and `Env`; every context
//! carries `user`, `plugin`, `phase` and `workspace`.

pub mod access;
pub mod request;

pub use request::{current_user, for_call, for_grant};

pub use request::{Action, Phase, Request, Subject};

use crate::{Error, Result};
use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityUid, PolicyId,
    PolicySet, RestrictedExpression, Schema, ValidationMode, Validator,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

/// The managed policy file.
pub const MANAGED_POLICY: &str = "/etc/warden/policy.cedar";
/// The variable naming a further policy file, checked besides the managed one.
pub const POLICY_VAR: &str = "WARDEN_POLICY";
/// The variable naming the roles file of `WARDEN_POLICY`.
pub const ROLES_VAR: &str = "WARDEN_ROLES";
/// The largest policy or roles file warden reads: policies are written by
/// people, and an enormous one is a mistake or an attack on the parser.
pub const MAX_POLICY_BYTES: u64 = 1024 * 1024;
/// The schema every policy is validated against.
pub const SCHEMA: &str = include_str!("../policies/warden.cedarschema");
/// The id of the rule warden adds below the organisation's.
pub const BASE_PERMIT: &str = "warden-base-permit";

/// The organisation's policy: none, or one or two layers (the managed file
/// and `WARDEN_POLICY`), each of which must allow a request.
#[derive(Debug, Default, Clone)]
pub struct Policy {
    layers: Vec<Layer>,
}

#[derive(Debug, Clone)]
enum Layer {
    /// Shared: a long-lived session asks the policy before every call, and
    /// an unchanged file is not parsed again (see [`Layer::load`]).
    Loaded(std::sync::Arc<Loaded>),
    Broken {
        file: PathBuf,
        reason: String,
    },
}

/// One parsed and validated policy with its roles.
#[derive(Debug, Clone)]
pub struct Loaded {
    file: PathBuf,
    set: PolicySet,
    schema: Schema,
    /// user → roles
    roles: BTreeMap<String, Vec<String>>,
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether every layer allows it.
    pub allowed: bool,
    /// The rules that decided: for a denial the `forbid` rules that matched
    /// (or failed to evaluate); for an allowance the `permit` rules.
    pub rules: Vec<String>,
    /// The file whose rules decided (the denying one, or the last allowing).
    pub file: PathBuf,
    /// Rules that failed to evaluate (each counted as a `forbid`).
    pub errors: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RolesFile {
    #[serde(default)]
    users: BTreeMap<String, Vec<String>>,
}

impl Policy {
    /// No organisation policy: everything the grants allow.
    pub fn none() -> Self {
        Policy::default()
    }

    /// The managed policy, plus `WARDEN_POLICY` if set. `var` reads the
    /// environment (passed in so tests need not mutate it).
    pub fn from_env(var: impl Fn(&str) -> Option<OsString>) -> Self {
        let mut layers = Vec::new();
        let managed = Path::new(MANAGED_POLICY);
        if let Some(layer) = Layer::load(managed, &managed.with_file_name("roles.toml"), false) {
            layers.push(layer);
        }
        if let Some(file) = var(POLICY_VAR).filter(|v| !v.is_empty()) {
            let file = PathBuf::from(file);
            let roles = var(ROLES_VAR)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| file.with_file_name("roles.toml"));
            layers.extend(Layer::load(&file, &roles, true));
        }
        Policy { layers }
    }

    /// One policy file with its roles file (which may be missing). The
    /// policy file must exist.
    pub fn from_file(file: &Path, roles: &Path) -> Self {
        Policy {
            layers: Layer::load(file, roles, true).into_iter().collect(),
        }
    }

    /// A policy from text, for tests and `warden policy check`.
    pub fn from_text(file: &Path, policy: &str, roles: Option<&str>) -> Result<Self> {
        let loaded = Loaded::parse(file, policy, roles).map_err(|problem| Error::Policy {
            file: file.to_path_buf(),
            reason: problem.to_string(),
        })?;
        Ok(Policy {
            layers: vec![Layer::Loaded(std::sync::Arc::new(loaded))],
        })
    }

    /// The same rules with these roles (user → roles) instead of the
    /// roles files', so examples can state the roles they assume.
    pub fn with_roles(mut self, roles: &BTreeMap<String, Vec<String>>) -> Self {
        for layer in &mut self.layers {
            if let Layer::Loaded(l) = layer {
                std::sync::Arc::make_mut(l).roles = roles.clone();
            }
        }
        self
    }

    /// How many rules the organisation wrote, over all layers (warden's
    /// base permit not counted).
    pub fn rule_count(&self) -> usize {
        self.layers
            .iter()
            .map(|l| match l {
                Layer::Loaded(l) => l.set.policies().count().saturating_sub(1),
                Layer::Broken { .. } => 0,
            })
            .sum()
    }

    /// Whether any organisation policy applies.
    pub fn is_active(&self) -> bool {
        !self.layers.is_empty()
    }

    /// The files in force, in the order they are checked.
    pub fn files(&self) -> Vec<&Path> {
        self.layers
            .iter()
            .map(|l| match l {
                Layer::Loaded(l) => l.file.as_path(),
                Layer::Broken { file, .. } => file.as_path(),
            })
            .collect()
    }

    /// The first reason this policy cannot be used, if any.
    pub fn broken(&self) -> Option<Error> {
        self.layers.iter().find_map(|l| match l {
            Layer::Broken { file, reason } => Some(Error::Policy {
                file: file.clone(),
                reason: reason.clone(),
            }),
            Layer::Loaded(_) => None,
        })
    }

    /// Decide one request. Fails when a layer is broken (fail closed).
    pub fn decide(&self, req: &Request) -> Result<Decision> {
        if let Some(e) = self.broken() {
            return Err(e);
        }
        let mut last = Decision {
            allowed: true,
            rules: vec![],
            file: PathBuf::new(),
            errors: vec![],
        };
        for layer in &self.layers {
            if let Layer::Loaded(l) = layer {
                last = l.decide(req)?;
                if !last.allowed {
                    return Ok(last);
                }
            }
        }
        Ok(last)
    }

    /// Refuse the request unless every layer allows it.
    pub fn check(&self, req: &Request) -> Result<()> {
        let d = self.decide(req)?;
        if d.allowed {
            return Ok(());
        }
        Err(Error::PolicyDenied {
            subject: match req.action {
                Action::Install | Action::Grant => format!("user `{}`", req.subject.user),
                _ => format!("plugin `{}`", req.subject.plugin),
            },
            action: req.action.id(),
            resource: req.action.resource_id(&req.subject),
            rule: d.rules.join("`, `"),
            file: d.file,
        })
    }

    /// Check every request in turn; the first refusal wins.
    pub fn check_all(&self, requests: &[Request]) -> Result<()> {
        if !self.is_active() {
            return Ok(());
        }
        requests.iter().try_for_each(|r| self.check(r))
    }
}

impl Layer {
    /// Load one layer. A missing file is no layer unless `must_exist`.
    /// The layer of `file` and `roles`: parsed again only when either
    /// changed since it was last parsed in this process, as a stat of each
    /// tells (device, inode, length, modification and status-change
    /// times). A file changed too recently for its times to tell a later
    /// change apart is parsed every time until it is older.
    fn load(file: &Path, roles: &Path, must_exist: bool) -> Option<Layer> {
        type Cached = ((Option<FileStamp>, Option<FileStamp>), Option<Layer>);
        static PARSED: std::sync::Mutex<BTreeMap<(PathBuf, PathBuf, bool), Cached>> =
            std::sync::Mutex::new(BTreeMap::new());
        let key = (file.to_path_buf(), roles.to_path_buf(), must_exist);
        let stamps = (FileStamp::of(file), FileStamp::of(roles));
        let trusted = [&stamps.0, &stamps.1]
            .into_iter()
            .all(|s| s.as_ref().is_none_or(|s| !s.racy));
        if trusted
            && let Ok(parsed) = PARSED.lock()
            && let Some((seen, layer)) = parsed.get(&key)
            && *seen == stamps
        {
            return layer.clone();
        }
        let layer = Self::parse_files(file, roles, must_exist);
        if trusted && let Ok(mut parsed) = PARSED.lock() {
            // Bounded by the distinct policy files a process is pointed at.
            if parsed.len() >= MAX_CACHED_POLICIES {
                parsed.clear();
            }
            parsed.insert(key, (stamps, layer.clone()));
        }
        layer
    }

    fn parse_files(file: &Path, roles: &Path, must_exist: bool) -> Option<Layer> {
        let broken = |reason: String| {
            Some(Layer::Broken {
                file: file.to_path_buf(),
                reason,
            })
        };
        let text = match read_bounded(file) {
            Ok(Some(t)) => t,
            Ok(None) if must_exist => {
                return broken(format!(
                    "it does not exist (unset {POLICY_VAR} or point it at a policy file)"
                ));
            }
            Ok(None) => return None,
            Err(e) => return broken(e),
        };
        let roles_text = match read_bounded(roles) {
            Ok(t) => t,
            Err(e) => return broken(format!("its roles file {}: {e}", roles.display())),
        };
        match Loaded::parse(file, &text, roles_text.as_deref()) {
            Ok(l) => Some(Layer::Loaded(std::sync::Arc::new(l))),
            Err(problem @ PolicyProblem::Roles(_)) => {
                broken(format!("{}: {problem}", roles.display()))
            }
            Err(problem) => broken(problem.to_string()),
        }
    }
}

/// Policy files whose parse a process keeps.
const MAX_CACHED_POLICIES: usize = 16;

/// A change test for a policy or roles file.
#[derive(Debug, Clone, Copy)]
struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    /// Changed less than a file-time tick before it was looked at.
    racy: bool,
}

impl PartialEq for FileStamp {
    fn eq(&self, o: &Self) -> bool {
        (self.dev, self.ino, self.len, self.mtime, self.ctime)
            == (o.dev, o.ino, o.len, o.mtime, o.ctime)
    }
}

impl FileStamp {
    fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt as _;
        // Longer than the kernel's file-time tick (one jiffy, at most 10 ms).
        const RACY_NS: i128 = 100_000_000;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        let m = std::fs::metadata(path).ok()?;
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        let newest = ns(m.mtime(), m.mtime_nsec()).max(ns(m.ctime(), m.ctime_nsec()));
        Some(FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            racy: now - newest < RACY_NS,
        })
    }
}

/// Read a file of at most [`MAX_POLICY_BYTES`]; `None` if it does not exist.
/// A FIFO, device or directory is refused at once rather than waited on.
fn read_bounded(path: &Path) -> std::result::Result<Option<String>, String> {
    match crate::configfile::read_bounded(path, MAX_POLICY_BYTES) {
        Ok(None) => Ok(None),
        Ok(Some(bytes)) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| "it is not UTF-8 text".to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Describe a Cedar error with where it is in `text` and Cedar's hint.
fn describe(err: &dyn miette::Diagnostic, text: &str) -> String {
    let mut out = err.to_string();
    if let Some(label) = err.labels().and_then(|mut l| l.next()) {
        let before = text.get(..label.offset()).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        out.push_str(&format!(" (line {line}, column {column})"));
    }
    if let Some(help) = err.help() {
        out.push_str(&format!("; {help}"));
    }
    if let Some(related) = err.related() {
        for r in related {
            out.push_str("; ");
            out.push_str(&describe(r, text));
        }
    }
    out
}

/// Why a policy file (or its roles file) cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyProblem {
    /// warden's own schema; a bug, never the user's doing.
    #[error("warden's own schema does not parse: {0}")]
    Schema(String),
    /// Not Cedar; where and why.
    #[error("{0}")]
    Syntax(String),
    /// A rule with `?principal` or `?resource`.
    #[error(
        "policy templates (rules with ?principal or ?resource) are not supported; write plain rules"
    )]
    Templates,
    /// warden's base rule; a bug.
    #[error("warden's base rule does not parse: {0}")]
    Base(String),
    /// A rule that takes the base rule's id.
    #[error("a rule uses warden's reserved id `{BASE_PERMIT}`: {0}")]
    Reserved(String),
    /// Rules that do not fit the schema, each named.
    #[error("it does not validate against warden's schema: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The roles file beside the policy.
    #[error("roles file: {0}")]
    Roles(String),
}

impl Loaded {
    fn parse(
        file: &Path,
        text: &str,
        roles: Option<&str>,
    ) -> std::result::Result<Self, PolicyProblem> {
        let (schema, _warnings) = Schema::from_cedarschema_str(SCHEMA)
            .map_err(|e| PolicyProblem::Schema(e.to_string()))?;
        let mut set =
            PolicySet::from_str(text).map_err(|e| PolicyProblem::Syntax(describe(&e, text)))?;
        if set.templates().next().is_some() {
            return Err(PolicyProblem::Templates);
        }
        let base = cedar_policy::Policy::parse(
            Some(PolicyId::new(BASE_PERMIT)),
            "permit(principal, action, resource);",
        )
        .map_err(|e| PolicyProblem::Base(e.to_string()))?;
        set.add(base)
            .map_err(|e| PolicyProblem::Reserved(e.to_string()))?;
        let verdict = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
        let problems: Vec<String> = verdict
            .validation_errors()
            .map(|e| {
                format!(
                    "rule `{}`: {}",
                    rule_name(&set, e.policy_id()),
                    describe(e, text)
                )
            })
            .collect();
        if !problems.is_empty() {
            return Err(PolicyProblem::Invalid(problems));
        }
        let roles = match roles {
            None => BTreeMap::new(),
            Some(t) => {
                toml::from_str::<RolesFile>(t)
                    .map_err(|e| PolicyProblem::Roles(e.message().to_string()))?
                    .users
            }
        };
        Ok(Loaded {
            file: file.to_path_buf(),
            set,
            schema,
            roles,
        })
    }

    fn decide(&self, req: &Request) -> Result<Decision> {
        let fail = |what: &str, e: &dyn std::fmt::Display| Error::Policy {
            file: self.file.clone(),
            reason: format!("cannot build the {what} of a request: {e}"),
        };
        let roles = self
            .roles
            .get(&req.subject.user)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let user = uid("User", &req.subject.user)?;
        let plugin = uid("Plugin", &req.subject.plugin)?;
        let role_uids = roles
            .iter()
            .map(|r| uid("Role", r))
            .collect::<Result<HashSet<_>>>()?;
        let publisher = req.subject.publisher.clone().unwrap_or_default();
        let mut plugin_parents = HashSet::new();
        if !publisher.is_empty() {
            plugin_parents.insert(uid("Publisher", &publisher)?);
        }
        let plugin_entity = Entity::new(
            plugin.clone(),
            HashMap::from([
                (
                    "publisher".into(),
                    RestrictedExpression::new_string(publisher),
                ),
                (
                    "version".into(),
                    RestrictedExpression::new_string(req.subject.version.clone()),
                ),
            ]),
            plugin_parents,
        )
        .map_err(|e| fail("plugin", &e))?;
        let entities = Entities::from_entities(
            [Entity::new_no_attrs(user.clone(), role_uids), plugin_entity],
            Some(&self.schema),
        )
        .map_err(|e| fail("entities", &e))?;
        let (principal, resource) = match req.action {
            Action::Install | Action::Grant => (user.clone(), plugin.clone()),
            _ => (
                plugin.clone(),
                uid(
                    req.action.resource_type(),
                    &req.action.resource_id(&req.subject),
                )?,
            ),
        };
        let mut pairs = vec![
            (
                "user".to_string(),
                RestrictedExpression::new_entity_uid(user),
            ),
            (
                "plugin".to_string(),
                RestrictedExpression::new_entity_uid(plugin),
            ),
            (
                "phase".to_string(),
                RestrictedExpression::new_string(req.phase.as_str().into()),
            ),
            (
                "workspace".to_string(),
                RestrictedExpression::new_string(req.workspace.clone()),
            ),
            (
                "signed_by".to_string(),
                RestrictedExpression::new_string(req.subject.signed_by.clone().unwrap_or_default()),
            ),
        ];
        pairs.extend(req.action.context());
        let context = Context::from_pairs(pairs).map_err(|e| fail("context", &e))?;
        let action = uid("Action", req.action.id())?;
        let request =
            cedar_policy::Request::new(principal, action, resource, context, Some(&self.schema))
                .map_err(|e| fail("request", &e))?;
        let response = Authorizer::new().is_authorized(&request, &self.set, &entities);
        // A rule that fails to evaluate is skipped by Cedar; here it counts
        // as a forbid, so a broken rule never lets a request through.
        let failed: Vec<(String, String)> = response
            .diagnostics()
            .errors()
            .map(|e| match e {
                cedar_policy::AuthorizationError::PolicyEvaluationError(p) => {
                    (rule_name(&self.set, p.policy_id()), p.inner().to_string())
                }
            })
            .collect();
        let errors: Vec<String> = failed.iter().map(|(r, e)| format!("{r}: {e}")).collect();
        let mut rules: Vec<String> = response
            .diagnostics()
            .reason()
            .map(|id| rule_name(&self.set, id))
            .collect();
        let allowed = response.decision() == CedarDecision::Allow && errors.is_empty();
        if !errors.is_empty() {
            rules = failed.into_iter().map(|(r, _)| r).collect();
        }
        rules.sort();
        rules.dedup();
        Ok(Decision {
            allowed,
            rules,
            file: self.file.clone(),
            errors,
        })
    }
}

/// A rule's name: its `@id("...")` annotation, else Cedar's policy id.
fn rule_name(set: &PolicySet, id: &PolicyId) -> String {
    set.annotation(id, "id")
        .map(str::to_string)
        .unwrap_or_else(|| id.to_string())
}

fn uid(kind: &str, id: &str) -> Result<EntityUid> {
    let name = cedar_policy::EntityTypeName::from_str(&format!("Warden::{kind}")).map_err(|e| {
        Error::Policy {
            file: PathBuf::new(),
            reason: format!("bad entity type {kind}: {e}"),
        }
    })?;
    Ok(EntityUid::from_type_name_and_id(
        name,
        cedar_policy::EntityId::new(id),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
