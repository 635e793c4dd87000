//! The organisation's policy asked about what a call actually reaches, not
//! only about the grant that lets it.
//!
//! A grant is checked as a whole before each call ([`super::for_call`]), but
//! a `forbid` on `.ssh/…` says nothing about a grant of `.`, and a `forbid`
//! on one origin says nothing about a grant of `http://127.0.0.1:*`. So the
//! host asks again at the moment of use, with the real resource:
//! - the file guard asks `fs_read` / `fs_write` with the real host path of
//!   every path a plugin opens, lists, stats or changes ([`Access::file`]);
//! - the network hook asks `net_connect` with the `scheme://host:port` the
//!   request goes to, before any DNS query, and again with each address a
//!   name resolved to ([`Access::origin`]);
//! - before a call of a plugin that runs programs, whose file access the
//!   kernel mediates, every path the programs would see is walked (at most
//!   [`MAX_WALK_ENTRIES`]) and asked about ([`Access::visible_to_programs`]).
//!
//! The policy used is the one the call's gate last read, so a policy
//! changed while `warden mcp` runs applies from the next call on.

use super::{Action, Phase, Policy, Request, Subject};
use crate::Error;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Most entries walked to find what a plugin's programs would see. Past
/// it warden cannot tell whether a forbidden file is in view, and refuses
/// to run programs (fail closed).
pub const MAX_WALK_ENTRIES: usize = 20_000;

/// One plugin's questions to the policy at the moment of use.
pub struct Access {
    subject: Subject,
    workspace: PathBuf,
    policy: RwLock<Arc<Policy>>,
}

/// A use the policy refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.reason())]
pub struct Refused {
    /// `fs_read`, `fs_write` or `net_connect`.
    pub action: &'static str,
    /// The path or origin.
    pub resource: String,
    /// The rules that refused it.
    pub rule: String,
    /// The policy file they are in.
    pub file: PathBuf,
}

impl Refused {
    /// Why, as a denial's reason: the rule and that no grant can allow it.
    pub fn reason(&self) -> String {
        format!(
            "denied by organisation policy: {} of it is forbidden by rule `{}` in {}; the organisation's policy sits above warden's grants, so no grant can allow it: ask whoever manages that file",
            self.action,
            self.rule,
            self.file.display()
        )
    }
}

impl Access {
    /// Questions for `subject` in `workspace` under `policy`.
    pub fn new(subject: Subject, workspace: &Path, policy: Arc<Policy>) -> Self {
        Access {
            subject,
            workspace: workspace.to_path_buf(),
            policy: RwLock::new(policy),
        }
    }

    /// Use `policy` from now on (the gate read it for a new call).
    pub fn set_policy(&self, policy: Arc<Policy>) {
        if let Ok(mut p) = self.policy.write() {
            *p = policy;
        }
    }

    fn current(&self) -> Option<Arc<Policy>> {
        self.policy.read().ok().map(|p| p.clone())
    }

    /// Whether any rule could refuse a use at all (else nothing is asked).
    pub fn is_active(&self) -> bool {
        self.current().is_some_and(|p| p.is_active())
    }

    fn ask(&self, capability: Action) -> Result<(), Refused> {
        let action = capability.id();
        let resource = capability.resource_id(&self.subject);
        let Some(policy) = self.current() else {
            // A poisoned lock: nothing is known, so nothing is allowed.
            return Err(Refused {
                action,
                resource,
                rule: "(policy unavailable)".into(),
                file: PathBuf::new(),
            });
        };
        if !policy.is_active() {
            return Ok(());
        }
        let request = Request {
            subject: self.subject.clone(),
            action: capability,
            phase: Phase::Call,
            workspace: self.workspace.display().to_string(),
        };
        match policy.decide(&request) {
            Ok(d) if d.allowed => Ok(()),
            Ok(d) => Err(Refused {
                action,
                resource,
                rule: d.rules.join("`, `"),
                file: d.file,
            }),
            // A broken policy refuses what it governs.
            Err(e) => Err(Refused {
                action,
                resource,
                rule: format!("(unusable policy: {e})"),
                file: policy
                    .files()
                    .first()
                    .map(|f| f.to_path_buf())
                    .unwrap_or_default(),
            }),
        }
    }

    /// May the plugin read (or, with `write`, change) the real host path
    /// `path`? A write is also a read: both are asked.
    pub fn file(&self, path: &Path, write: bool) -> Result<(), Refused> {
        let p = path.display().to_string();
        let inside_workspace = path.starts_with(&self.workspace);
        self.ask(Action::FsRead {
            path: p.clone(),
            inside_workspace,
        })?;
        if write {
            self.ask(Action::FsWrite {
                path: p,
                inside_workspace,
            })?;
        }
        Ok(())
    }

    /// May the plugin connect to `origin` (`scheme://host:port`)?
    pub fn origin(&self, origin: &str) -> Result<(), Refused> {
        self.ask(Action::NetConnect {
            origin: origin.to_string(),
        })
    }

    /// Refuse when a path under `roots` (path, writable) that the plugin's
    /// programs would see is one the policy forbids them to read (or, for
    /// a writable root, to change). The kernel, not warden, mediates a
    /// child's file access, so this is asked before the call about every
    /// entry there is, at most [`MAX_WALK_ENTRIES`] of them. Symbolic links
    /// are not followed (a child sees what they point to only if that is
    /// itself in view, and then it is walked there).
    pub fn visible_to_programs(&self, roots: &[(PathBuf, bool)]) -> crate::Result<()> {
        if !self.is_active() {
            return Ok(());
        }
        let subject = format!(
            "plugin `{}` (whose programs would see it)",
            self.subject.plugin
        );
        let refuse = |r: Refused| Error::PolicyDenied {
            subject: subject.clone(),
            action: r.action,
            resource: r.resource,
            rule: r.rule,
            file: r.file,
        };
        let mut seen = 0usize;
        for (root, write) in roots {
            let mut stack = vec![root.clone()];
            while let Some(path) = stack.pop() {
                seen += 1;
                if seen > MAX_WALK_ENTRIES {
                    return Err(Error::Policy {
                        file: self
                            .current()
                            .and_then(|p| p.files().first().map(|f| f.to_path_buf()))
                            .unwrap_or_default(),
                        reason: format!(
                            "plugin `{}` runs programs, which see every file under its grants, and there are more than {MAX_WALK_ENTRIES} entries under {} to check against the policy; warden refuses to run them rather than let them see a file the policy forbids (grant a narrower path)",
                            self.subject.plugin,
                            root.display()
                        ),
                    });
                }
                self.file(&path, *write).map_err(refuse)?;
                let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
                if is_dir && let Ok(entries) = std::fs::read_dir(&path) {
                    stack.extend(entries.flatten().map(|e| e.path()));
                }
            }
        }
        Ok(())
    }
}

impl Access {
    /// Run `f` on a thread of its own. The file and network hooks are
    /// called from inside a guest's call, on wasmtime's fiber stack, where
    /// Cedar's stack-depth guard sees too little room and refuses to
    /// evaluate ("recursion limit reached"); a plain thread has a normal
    /// stack. Answers are cached per call, so this is paid once per path.
    fn off_fiber<T: Send>(&self, f: impl FnOnce(&Self) -> T + Send) -> T
    where
        Self: Sync,
    {
        std::thread::scope(|s| match s.spawn(|| f(self)).join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    }

    /// [`Access::origin`], callable from inside a guest's call.
    pub fn origin_from_guest(&self, origin: &str) -> Result<(), Refused> {
        self.off_fiber(|a| a.origin(origin))
    }
}

impl crate::capability::files::guard::PathPolicy for Access {
    fn active(&self) -> bool {
        self.is_active()
    }

    fn check(&self, real: &Path, write: bool) -> Result<(), Refused> {
        self.off_fiber(|a| a.file(real, write))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn access(policy: &str, ws: &Path) -> Access {
        let p = Policy::from_text(Path::new("/org/policy.cedar"), policy, None).unwrap();
        let subject = Subject {
            user: "alice".into(),
            plugin: "fs".into(),
            publisher: Some("warden".into()),
            version: "0.1.0".into(),
            signed_by: None,
        };
        Access::new(subject, ws, Arc::new(p))
    }

    const NO_SSH: &str = "@id(\"no-ssh\")\nforbid (principal, action in [Warden::Action::\"fs_read\", Warden::Action::\"fs_write\"], resource) when { context.path like \"*/.ssh/*\" };\n@id(\"no-local-8080\")\nforbid (principal, action == Warden::Action::\"net_connect\", resource == Warden::Origin::\"http://127.0.0.1:8080\");\n";

    #[test]
    fn a_forbid_holds_for_the_real_path_and_origin() {
        let a = access(NO_SSH, Path::new("/ws"));
        assert!(a.file(Path::new("/ws/src/lib.rs"), true).is_ok());
        let r = a.file(Path::new("/ws/.ssh/id_rsa"), false).unwrap_err();
        assert_eq!(r.action, "fs_read");
        assert_eq!(r.rule, "no-ssh");
        assert_eq!(r.resource, "/ws/.ssh/id_rsa");
        assert!(a.origin("http://127.0.0.1:8081").is_ok());
        assert_eq!(
            a.origin("http://127.0.0.1:8080").unwrap_err().rule,
            "no-local-8080"
        );
    }

    #[test]
    fn programs_may_not_see_forbidden_files() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(ws.join("src")).unwrap();
        std::fs::write(ws.join("src/a.rs"), "").unwrap();
        let a = access(NO_SSH, &ws);
        assert!(a.visible_to_programs(&[(ws.clone(), true)]).is_ok());
        std::fs::create_dir_all(ws.join("deep/.ssh")).unwrap();
        std::fs::write(ws.join("deep/.ssh/id_rsa"), "secret").unwrap();
        let e = a
            .visible_to_programs(&[(ws.clone(), false)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no-ssh"), "{e}");
        assert!(e.contains(".ssh/id_rsa"), "{e}");
    }
}
