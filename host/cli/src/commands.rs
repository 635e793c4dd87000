//! The commands behind the CLI. Each prints text for people or, with
//! `--json`, one JSON document for scripts.

mod call;
mod chat;
mod demo;
pub use demo::demo;
mod journal;
mod keyless;
mod man;
pub use man::man;
mod log;
pub use log::Filter;
mod mcp;
mod pack;
pub use mcp::serve_http;
mod credentials;
mod oci;
mod plugin;
mod source;
mod update;
pub use update::UpdateArgs;
mod policy;
pub use policy::ExplainArgs;
mod report;
mod run;
mod scaffold;
pub use scaffold::{Capability, Lang, NewArgs, plugin_new};
mod signing;
pub use run::AgentArgs;
mod undo;

use anyhow::Context as _;
use std::path::Path;
use warden_core::capability::process::confine::{Sandbox, Unavailable};
use warden_core::component::Package;
use warden_core::dirs::Dirs;
use warden_core::grant::Context;
use warden_core::policy::{self as org, Policy};
use warden_core::registry::{Registry, Source};
use warden_core::runtime::{Loaded, Runtime};
use warden_core::session::{Session, Setup};

/// What every command needs.
pub struct App {
    json: bool,
    rt: Runtime,
    registry: Registry,
    /// The organisation's policy, above every grant.
    policy: Policy,
    /// Whom warden acts for, as the policy sees it.
    user: String,
    /// Where audit records are also sent, when `WARDEN_OTLP_ENDPOINT` is set.
    export: Option<std::sync::Arc<warden_core::audit::otlp::Exporter>>,
}

impl App {
    /// Resolve directories from the environment and create the engine.
    pub fn from_env(json: bool) -> anyhow::Result<Self> {
        let dirs = Dirs::from_env(|k| std::env::var_os(k))
            .context("cannot find warden's directories: set HOME (or XDG_CONFIG_HOME, XDG_DATA_HOME and XDG_CACHE_HOME)")?;
        Self::with_dirs(json, dirs)
    }

    /// The engine, with warden's state in `dirs`.
    pub fn with_dirs(json: bool, dirs: Dirs) -> anyhow::Result<Self> {
        // Child processes are confined by bubblewrap and Landlock, applied by
        // this same binary; if either is missing, programs are refused.
        let sandbox = std::env::current_exe()
            .map_err(|_| Unavailable::NoHelper("/proc/self/exe".into()))
            .and_then(Sandbox::detect);
        let export = match std::env::var("WARDEN_OTLP_ENDPOINT") {
            Ok(url) if !url.is_empty() => Some(std::sync::Arc::new(
                warden_core::audit::otlp::Exporter::new(&url)?,
            )),
            _ => None,
        };
        let mut rt = Runtime::new(Some(dirs.cache.join("compiled")))?.with_sandbox(sandbox);
        // Every call records itself before it runs, and fails if it cannot,
        // so a log that cannot be opened here stops calls there.
        if let Ok(log) = warden_core::audit::Log::open(&dirs) {
            rt = rt.with_audit(log.with_export(export.clone()));
        }
        Ok(App {
            json,
            rt,
            registry: Registry::new(dirs),
            policy: Policy::from_env(|k| std::env::var_os(k)),
            user: org::current_user(|k| std::env::var_os(k)),
            export,
        })
    }

    fn context(&self, workspace: &Path) -> anyhow::Result<Context> {
        let hint = "name an existing directory with --workspace (default: the current one)";
        let workspace = workspace.canonicalize().map_err(|e| Usage {
            message: format!("workspace {} is not usable: {e}", workspace.display()),
            hint: hint.into(),
        })?;
        if !workspace.is_dir() {
            return Err(Usage {
                message: format!("workspace {} is not a directory", workspace.display()),
                hint: hint.into(),
            }
            .into());
        }
        Ok(Context {
            workspace,
            protected: self.registry.dirs().protected(),
            home: self.registry.dirs().home.clone(),
        })
    }

    fn open(&self, name: &str) -> anyhow::Result<(Package, Source, Loaded)> {
        let (package, source) = self.registry.package(name)?;
        let loaded = self.rt.load(&package)?;
        Ok((package, source, loaded))
    }

    /// A session of calls in `ctx`, named `name`: every call of `warden
    /// call`, `warden mcp` and the agent goes through one (see
    /// [`warden_core::session`]).
    fn session(&self, ctx: Context, name: &str, audit: warden_core::audit::Log) -> Session {
        let setup = Setup {
            rt: self.rt.clone(),
            registry: self.registry.clone(),
            user: self.user.clone(),
            env: std::sync::Arc::new(|k| std::env::var_os(k)),
            audit,
            name: name.to_string(),
        };
        Session::new(setup, ctx)
    }

    fn print_json(&self, value: &impl serde::Serialize) -> anyhow::Result<()> {
        outln!("{}", serde_json::to_string_pretty(value)?);
        Ok(())
    }
}

/// Whether a command's plugin-or-component argument names a file: one that
/// is there, or one spelled as a path (plugin names hold no `/` and do not
/// end in `.wasm`), so a missing file says so instead of "no plugin".
pub(crate) fn names_a_file(target: &str) -> bool {
    Path::new(target).is_file() || target.contains('/') || target.ends_with(".wasm")
}

/// A component the user named by path. A path that is missing or cannot
/// be read is a usage error (exit 2), unlike an installed component gone
/// missing, which is damage to warden's state.
pub(crate) fn component_at(path: &Path) -> anyhow::Result<Package> {
    Package::from_file(path).map_err(|e| match e {
        warden_core::Error::Io(io) => Usage {
            message: match io.source.kind() {
                std::io::ErrorKind::NotFound => format!("no component at {}", path.display()),
                _ => format!("cannot read component {}: {}", path.display(), io.source),
            },
            hint: "name the path of a readable `.wasm` component".into(),
        }
        .into(),
        other => other.into(),
    })
}

/// A command line that has to change before warden can act on it (a path
/// that is not there, an approval that cannot be asked for): exit 2.
#[derive(Debug)]
pub struct Usage {
    /// What is wrong.
    pub message: String,
    /// How to put it right.
    pub hint: String,
}

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; {}", self.message, self.hint)
    }
}

impl std::error::Error for Usage {}
