//! The requests warden asks the organisation policy: one per capability of
//! a grant, built from the grant at install/grant time and from the
//! effective grant before every call.

use crate::capability::network::OriginGrant;
use crate::grant::{Effective, Grant};
use crate::manifest::{Access, Manifest, PathSpec};
use cedar_policy::RestrictedExpression;
use std::path::Path;

/// Who is asking: the user warden acts for and the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The user (`$USER`).
    pub user: String,
    /// The plugin's name.
    pub plugin: String,
    /// The plugin's publisher, if its manifest names one.
    pub publisher: Option<String>,
    /// The plugin's version.
    pub version: String,
    /// The trusted publisher whose signature was verified when the plugin
    /// was fetched (`context.signed_by`, "" when none).
    pub signed_by: Option<String>,
}

impl Subject {
    /// The subject for `manifest`'s plugin acting for `user`.
    pub fn new(user: &str, manifest: &Manifest) -> Self {
        Subject {
            user: user.to_string(),
            plugin: manifest.name.clone(),
            publisher: manifest.publisher.clone(),
            version: manifest.version.clone(),
            signed_by: None,
        }
    }

    /// The same subject, signed by `signer` (see [`Subject::signed_by`]).
    pub fn signed(mut self, signer: Option<String>) -> Self {
        self.signed_by = signer;
        self
    }
}

/// The user warden acts for: `$USER`, else `$LOGNAME`, else `unknown`.
pub fn current_user(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|k| var(k).filter(|v| !v.is_empty()))
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_else(|| "unknown".into())
}

/// When a request is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Installing a plugin or changing its grant.
    Grant,
    /// Preparing a plugin to run.
    Call,
}

impl Phase {
    /// As policies see it in `context.phase`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Grant => "grant",
            Phase::Call => "call",
        }
    }
}

/// One action on one resource, as Cedar sees it: each capability's uses
/// ([`Action::kind`]), plus installing and granting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Install the plugin (the resource is the plugin).
    Install,
    /// Change what the plugin is granted (the resource is the plugin).
    Grant,
    /// Read a path.
    FsRead {
        path: String,
        inside_workspace: bool,
    },
    /// Write a path.
    FsWrite {
        path: String,
        inside_workspace: bool,
    },
    /// Run a program.
    Exec {
        program: String,
        path: String,
        argv: Vec<String>,
    },
    /// Connect to an origin.
    NetConnect { origin: String },
    /// Read an environment variable.
    EnvRead { name: String },
}

impl Action {
    /// The capability it uses, if any (installing and granting use none).
    pub fn kind(&self) -> Option<crate::capability::CapabilityKind> {
        use crate::capability::CapabilityKind as K;
        match self {
            Action::Install | Action::Grant => None,
            Action::FsRead { .. } | Action::FsWrite { .. } => Some(K::Files),
            Action::Exec { .. } => Some(K::Process),
            Action::NetConnect { .. } => Some(K::Network),
            Action::EnvRead { .. } => Some(K::Env),
        }
    }

    /// The Cedar action's id.
    pub fn id(&self) -> &'static str {
        match self {
            Action::Install => "install",
            Action::Grant => "grant",
            Action::FsRead { .. } => "fs_read",
            Action::FsWrite { .. } => "fs_write",
            Action::Exec { .. } => "exec",
            Action::NetConnect { .. } => "net_connect",
            Action::EnvRead { .. } => "env_read",
        }
    }

    /// The resource's entity type in the `Warden` namespace.
    pub fn resource_type(&self) -> &'static str {
        match self {
            Action::Install | Action::Grant => "Plugin",
            Action::FsRead { .. } | Action::FsWrite { .. } => "Path",
            Action::Exec { .. } => "Program",
            Action::NetConnect { .. } => "Origin",
            Action::EnvRead { .. } => "Env",
        }
    }

    /// The resource's entity id.
    pub fn resource_id(&self, subject: &Subject) -> String {
        match self {
            Action::Install | Action::Grant => subject.plugin.clone(),
            Action::FsRead { path, .. } | Action::FsWrite { path, .. } => path.clone(),
            Action::Exec { program, .. } => program.clone(),
            Action::NetConnect { origin } => origin.clone(),
            Action::EnvRead { name } => name.clone(),
        }
    }

    /// The action-specific part of the context.
    pub(super) fn context(&self) -> Vec<(String, RestrictedExpression)> {
        let s = |k: &str, v: &str| (k.to_string(), RestrictedExpression::new_string(v.into()));
        match self {
            Action::Install | Action::Grant => vec![],
            Action::FsRead {
                path,
                inside_workspace,
            }
            | Action::FsWrite {
                path,
                inside_workspace,
            } => vec![
                s("path", path),
                (
                    "inside_workspace".into(),
                    RestrictedExpression::new_bool(*inside_workspace),
                ),
            ],
            Action::Exec { path, argv, .. } => vec![
                s("path", path),
                (
                    "argv".into(),
                    RestrictedExpression::new_set(
                        argv.iter()
                            .map(|a| RestrictedExpression::new_string(a.clone())),
                    ),
                ),
            ],
            Action::NetConnect { origin } => {
                let (scheme, rest) = origin.split_once("://").unwrap_or(("", origin));
                let host = rest.rsplit_once(':').map_or(rest, |(h, _)| h);
                vec![s("origin", origin), s("scheme", scheme), s("host", host)]
            }
            Action::EnvRead { name } => vec![s("name", name)],
        }
    }

    /// Parse `KIND:VALUE` as `warden policy explain` and examples spell a
    /// resource, for `action`.
    pub fn parse(
        action: &str,
        resource: Option<&str>,
        argv: &[String],
        workspace: &str,
    ) -> std::result::Result<Self, ActionError> {
        let need = |example: &'static str| {
            resource.ok_or_else(|| ActionError::NoResource {
                action: action.to_string(),
                example,
            })
        };
        let path = |p: &str| {
            let inside = if workspace.is_empty() {
                !p.starts_with('/')
            } else {
                !p.starts_with('/') || Path::new(p).starts_with(workspace)
            };
            (p.to_string(), inside)
        };
        Ok(match action {
            "install" => Action::Install,
            "grant" => Action::Grant,
            "fs_read" => {
                let (path, inside_workspace) = path(need("/etc/passwd")?);
                Action::FsRead {
                    path,
                    inside_workspace,
                }
            }
            "fs_write" => {
                let (path, inside_workspace) = path(need("/etc/passwd")?);
                Action::FsWrite {
                    path,
                    inside_workspace,
                }
            }
            "exec" => {
                let program = need("cargo")?.to_string();
                // The caller resolves a bare name on PATH, as a grant does.
                Action::Exec {
                    path: if program.starts_with('/') {
                        program.clone()
                    } else {
                        String::new()
                    },
                    program,
                    argv: argv.to_vec(),
                }
            }
            "net_connect" => {
                let spec = need("https://docs.rs")?;
                Action::NetConnect {
                    origin: OriginGrant::parse(spec)?.to_string(),
                }
            }
            "env_read" => Action::EnvRead {
                name: need("RUST_BACKTRACE")?.to_string(),
            },
            other => return Err(ActionError::Unknown(other.to_string())),
        })
    }
}

/// Why `warden policy explain` could not make a question of its words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// An action that is not one of the schema's.
    #[error(
        "unknown action `{0}` (use install, grant, fs_read, fs_write, exec, net_connect or env_read)"
    )]
    Unknown(String),
    /// An action without the resource it is about.
    #[error("action `{action}` needs a resource, e.g. {example}")]
    NoResource {
        action: String,
        example: &'static str,
    },
    /// An origin that is not one.
    #[error(transparent)]
    Origin(#[from] crate::capability::network::OriginError),
}

/// One question to the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Who.
    pub subject: Subject,
    /// What, on what.
    pub action: Action,
    /// When.
    pub phase: Phase,
    /// The canonical workspace, or "" when not tied to one (grant time).
    pub workspace: String,
}

/// Everything installing (`install`) or re-granting (`grant`) a plugin
/// asks: the action itself, then each capability the new grant gives,
/// without a workspace. A path relative to the workspace is inside it; an
/// absolute one counts as outside (it may name any workspace).
pub fn for_grant(
    subject: &Subject,
    action: Action,
    manifest: &Manifest,
    grant: &Grant,
) -> Vec<Request> {
    let mut caps = vec![action];
    for f in &grant.files {
        let (path, inside_workspace) = match &f.path {
            PathSpec::Workspace(_) => (f.path.to_string(), true),
            PathSpec::Absolute(p) => (p.display().to_string(), false),
        };
        caps.push(Action::FsRead {
            path: path.clone(),
            inside_workspace,
        });
        if f.access == Access::Write {
            caps.push(Action::FsWrite {
                path,
                inside_workspace,
            });
        }
    }
    caps.extend(
        grant
            .env
            .iter()
            .map(|name| Action::EnvRead { name: name.clone() }),
    );
    for p in &grant.programs {
        let mut argv: Vec<String> = manifest
            .programs
            .iter()
            .filter(|r| r.program == p.program)
            .map(|r| r.args.to_string())
            .collect();
        argv.extend(p.args.as_ref().map(ToString::to_string));
        caps.push(Action::Exec {
            program: p.program.clone(),
            path: p.path.display().to_string(),
            argv,
        });
    }
    caps.extend(
        crate::grant::effective_network(manifest, grant)
            .iter()
            .map(|o| Action::NetConnect {
                origin: o.to_string(),
            }),
    );
    requests(subject, caps, Phase::Grant, "")
}

/// Everything running a plugin under `effective` in `workspace` asks:
/// `install` (so a plugin the organisation no longer allows stops), then
/// each capability of the effective grant.
pub fn for_call(subject: &Subject, effective: &Effective, workspace: &Path) -> Vec<Request> {
    let mut caps = vec![Action::Install];
    for f in &effective.files {
        let path = f.host.display().to_string();
        let inside_workspace = f.host.starts_with(workspace);
        caps.push(Action::FsRead {
            path: path.clone(),
            inside_workspace,
        });
        if f.access == Access::Write {
            caps.push(Action::FsWrite {
                path,
                inside_workspace,
            });
        }
    }
    caps.extend(
        effective
            .env
            .iter()
            .map(|name| Action::EnvRead { name: name.clone() }),
    );
    caps.extend(effective.programs.iter().map(|p| Action::Exec {
        program: p.name.clone(),
        path: p.path.display().to_string(),
        argv: p.patterns.iter().map(ToString::to_string).collect(),
    }));
    // The paths a program is given besides the plugin's grants (a
    // toolchain, a package cache) are reached too, so they are asked about.
    for p in &effective.programs {
        for (path, write) in p
            .reads
            .iter()
            .map(|r| (r, false))
            .chain(p.writes.iter().map(|w| (w, true)))
        {
            let inside_workspace = path.starts_with(workspace);
            let path = path.display().to_string();
            caps.push(Action::FsRead {
                path: path.clone(),
                inside_workspace,
            });
            if write {
                caps.push(Action::FsWrite {
                    path,
                    inside_workspace,
                });
            }
        }
    }
    caps.extend(effective.network.iter().map(|o| Action::NetConnect {
        origin: o.to_string(),
    }));
    requests(subject, caps, Phase::Call, &workspace.display().to_string())
}

fn requests(subject: &Subject, caps: Vec<Action>, phase: Phase, workspace: &str) -> Vec<Request> {
    caps.into_iter()
        .map(|capability| Request {
            subject: subject.clone(),
            action: capability,
            phase,
            workspace: workspace.to_string(),
        })
        .collect()
}
