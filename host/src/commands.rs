//! The commands behind the CLI. Each prints text for people or, with
//! `--json`, one JSON document for scripts.

mod call;
mod demo;
pub use demo::demo;
mod log;
pub use log::Filter;
mod mcp;
pub use mcp::serve_http;
mod plugin;
mod policy;
pub use policy::ExplainArgs;
mod report;
mod run;
pub use run::AgentArgs;
mod undo;

use anyhow::Context as _;
use std::path::Path;
use std::sync::Arc;
use warden::component::Package;
use warden::confine::Sandbox;
use warden::dirs::Dirs;
use warden::grant::{self, Context};
use warden::policy::{self as org, Policy, Subject};
use warden::registry::{Registry, Source};
use warden::runtime::{Loaded, Prepared, Runtime, ToolSpec};

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
    export: Option<std::sync::Arc<warden::audit::otlp::Exporter>>,
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
            .map_err(|e| format!("cannot locate warden's own binary: {e}"))
            .and_then(Sandbox::detect);
        let export = match std::env::var("WARDEN_OTLP_ENDPOINT") {
            Ok(url) if !url.is_empty() => Some(std::sync::Arc::new(
                warden::audit::otlp::Exporter::new(&url).map_err(anyhow::Error::msg)?,
            )),
            _ => None,
        };
        let mut rt = Runtime::new(Some(dirs.cache.join("compiled")))?.with_sandbox(sandbox);
        // Every call records itself before it runs, and fails if it cannot,
        // so a log that cannot be opened here stops calls there.
        if let Ok(log) = warden::audit::Log::open(&dirs) {
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
        let workspace = workspace
            .canonicalize()
            .with_context(|| format!("workspace {} is not usable", workspace.display()))?;
        anyhow::ensure!(
            workspace.is_dir(),
            "workspace {} is not a directory",
            workspace.display()
        );
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

    /// A plugin's tools, and the plugin bound to its grant in `ctx` (or why
    /// its grant does not let it run there).
    async fn prepare(
        &self,
        name: &str,
        ctx: &Context,
    ) -> anyhow::Result<(Vec<ToolSpec>, warden::Result<Prepared>)> {
        let (package, source, loaded) = self.open(name)?;
        let tools = self.registry.tools(name, &self.rt, &loaded).await?;
        let granted = self.registry.grant(name, &package, &source)?;
        let effective = grant::effective(&package.manifest, &granted, ctx);
        // The organisation's policy is asked again before every run, so a
        // policy tightened after a grant refuses the plugin from then on.
        // A long-lived server (`warden mcp`) or agent session reads the
        // policy files again before each call.
        let subject = Subject::new(&self.user, &package.manifest);
        let requests = org::for_call(&subject, &effective, &ctx.workspace);
        // Beyond the grant, the policy is asked about what each call really
        // reaches (see warden::policy::access), with the policy the gate
        // read for that call.
        let access = Arc::new(org::access::Access::new(
            subject,
            &ctx.workspace,
            Arc::new(self.policy.clone()),
        ));
        // A program sees every path of the plugin's file grants, through
        // the kernel rather than warden's guard.
        let program_roots: Vec<(std::path::PathBuf, bool)> = if effective.programs.is_empty() {
            Vec::new()
        } else {
            effective
                .files
                .iter()
                .map(|f| (f.host.clone(), f.access == warden::manifest::Access::Write))
                .collect()
        };
        let prepared = self.policy.check_all(&requests).and_then(|()| {
            loaded.prepare(&self.rt, effective, &ctx.workspace, |k| {
                std::env::var(k).ok()
            })
        });
        let prepared = prepared.map(|p| {
            let net = access.clone();
            p.with_policy(
                access.clone(),
                Arc::new(move |origin: &str| net.origin_from_guest(origin).map_err(|r| r.reason())),
            )
            .with_gate(Arc::new(move || {
                let policy = Policy::from_env(|k| std::env::var_os(k));
                policy.check_all(&requests)?;
                access.set_policy(Arc::new(policy));
                access.visible_to_programs(&program_roots)
            }))
        });
        Ok((tools, prepared))
    }

    fn print_json(&self, value: &impl serde::Serialize) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string_pretty(value)?);
        Ok(())
    }
}
