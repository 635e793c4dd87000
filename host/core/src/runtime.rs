//! The engine, the compile cache, linking and calls under limits.
//!
//! One [`Runtime`] holds one engine. A component is compiled once and cached
//! on disk; each tool call gets a fresh store and instance from a
//! pre-instantiated component, and the store is dropped after the call
//! whatever happened, so nothing a trapped or timed-out instance left behind
//! is ever reused.

use crate::capability::files::guard::{Denial, FsGuard, GuardedFs, GuardedView};
use crate::capability::log::{HasLog, LogSink};
use crate::capability::network::NetPolicy;
use crate::capability::network::outgoing::NetHooks;
use crate::capability::process::confine::Sandbox;
use crate::capability::process::{HasProcess, ProcessSetup, ProcessState};
use crate::capability::{CapabilityKind, Denials};
use crate::component::Package;
use crate::grant::Effective;
use crate::imports::{self, Import};
use crate::limits::Limits;
use crate::manifest::{self, Manifest};
use crate::{Error, Result};
use serde::Serialize;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, HasData, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::WasiFilesystemView;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::exports::warden::plugin::tool::{ToolError as WitToolError, ToolInfo};
use crate::bindings::{self, Plugin, PluginPre};

/// Largest tool input accepted, in bytes.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;
/// Bytes of a plugin's stdout and of its stderr kept per call.
pub const MAX_STDIO_BYTES: usize = 64 * 1024;
/// Most resources (descriptors, streams, pollables) one instance may hold.
pub const MAX_RESOURCES: usize = 4096;
/// Most table elements one instance may have.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;
/// Bytes of a pooled linear memory and table that a reused slot keeps
/// mapped; only the pages a call dirtied are reset (see `pagemap_scan`).
const KEEP_RESIDENT_MEMORY: usize = 4 << 20;
const KEEP_RESIDENT_TABLE: usize = 64 << 10;

/// Wasm stack a call may use; deeper recursion traps.
pub const MAX_WASM_STACK: usize = 1024 * 1024;
/// Instances that may be alive at once across all calls.
pub const MAX_CONCURRENT_INSTANCES: u32 = 64;
/// How often the epoch advances; the granularity of time limits.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);
/// Most tools a plugin may describe.
pub const MAX_TOOLS: usize = 64;
/// Largest JSON Schema of one tool, in bytes.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// The engine and the compile cache.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    cache_dir: Option<PathBuf>,
    /// One permit per instance slot of the pooling allocator: calls beyond
    /// that wait their turn instead of failing or growing memory.
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    /// How child processes are confined, or why they cannot be.
    sandbox: Result<Sandbox, String>,
    /// Where each program run is recorded before it starts.
    audit: Option<crate::audit::Log>,
}

impl Runtime {
    /// Create the engine. Compiled components are cached in `cache_dir`
    /// (created with mode 0700) when given.
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.max_wasm_stack(MAX_WASM_STACK);
        config.async_stack_size(MAX_WASM_STACK + 512 * 1024);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(MAX_CONCURRENT_INSTANCES);
        pool.total_core_instances(MAX_CONCURRENT_INSTANCES * 8);
        pool.total_memories(MAX_CONCURRENT_INSTANCES * 4);
        pool.total_tables(MAX_CONCURRENT_INSTANCES * 4);
        pool.total_stacks(MAX_CONCURRENT_INSTANCES);
        pool.max_memory_size(crate::limits::MAX_MEMORY_MIB as usize * 1024 * 1024);
        // Reset a reused slot by finding the pages the last call dirtied
        // (PAGEMAP_SCAN, Linux 6.7+) and restoring just those, instead of
        // handing the memory back to the kernel: no madvise, so no TLB
        // shootdown across the server's threads and no page faults on the
        // next call. Older kernels fall back to madvise.
        pool.pagemap_scan(wasmtime::Enabled::Auto);
        pool.linear_memory_keep_resident(KEEP_RESIDENT_MEMORY);
        pool.table_keep_resident(KEEP_RESIDENT_TABLE);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine =
            Engine::new(&config).map_err(|e| Error::wasm("cannot create the engine", e))?;
        start_epoch_ticker(&engine);
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(
            MAX_CONCURRENT_INSTANCES as usize,
        ));
        Ok(Runtime {
            engine,
            cache_dir,
            slots,
            sandbox: Err("no confinement is configured for child processes".into()),
            audit: None,
        })
    }

    /// Use `sandbox` (from [`Sandbox::detect`]) to confine child processes.
    /// Without one, or with the reason detection failed, every process
    /// request is refused with that reason.
    pub fn with_sandbox(mut self, sandbox: Result<Sandbox, String>) -> Self {
        self.sandbox = sandbox;
        self
    }

    /// Record each program run in `log` before it starts; a run that cannot
    /// be recorded does not start.
    pub fn with_audit(mut self, log: crate::audit::Log) -> Self {
        self.audit = Some(log);
        self
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn cache_path(&self, digest: &str) -> Option<PathBuf> {
        let dir = self.cache_dir.as_ref()?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        Some(dir.join(format!("{hex}-{:016x}.cwasm", h.finish())))
    }

    /// Compile a component, or load what warden itself compiled earlier.
    pub fn compile(&self, package: &Package) -> Result<Component> {
        let cached = self.cache_path(&package.digest);
        if let Some(path) = &cached
            && path.exists()
        {
            // SAFETY: the file was written by `compile` below into warden's
            // own cache directory (mode 0700, and a protected path for every
            // plugin), under a name derived from the digest of the component
            // bytes we hold and of this engine's configuration. Nothing else
            // is ever deserialized.
            match unsafe { Component::deserialize_file(&self.engine, path) } {
                Ok(c) => return Ok(c),
                Err(e) => tracing::warn!("recompiling: cached {} unusable: {e:#}", path.display()),
            }
        }
        let component =
            Component::new(&self.engine, &package.bytes).map_err(|e| Error::NotAComponent {
                path: package.manifest.name.clone(),
                reason: format!("{e:#}"),
            })?;
        if let Some(path) = cached
            && let Err(e) = self.write_cache(&component, &path)
        {
            tracing::warn!("cannot cache compiled component at {}: {e}", path.display());
        }
        Ok(component)
    }

    fn write_cache(&self, component: &Component, path: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let bytes = component.serialize().map_err(std::io::Error::other)?;
        let tmp = dir.join(format!(".tmp-{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    }

    /// Compile and check a package: its imports must be ones warden offers
    /// and its manifest justifies.
    pub fn load(&self, package: &Package) -> Result<Loaded> {
        let component = self.compile(package)?;
        let imports = imports::list(&component, &self.engine);
        imports::check(&imports, &package.manifest)?;
        Ok(Loaded {
            manifest: package.manifest.clone(),
            digest: package.digest.clone(),
            imports,
            component,
        })
    }
}

/// Advance the engine's epoch from a background thread for as long as the
/// engine lives; time limits are counted in these ticks.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("warden-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(e) = spawned {
        // Without the ticker only the async timeout bounds a call.
        tracing::error!("cannot start the epoch thread: {e}");
    }
}

/// A compiled, checked component.
#[derive(Clone)]
pub struct Loaded {
    /// Its manifest.
    pub manifest: Manifest,
    /// Its digest.
    pub digest: String,
    /// Its imports, classified.
    pub imports: Vec<Import>,
    component: Component,
}

/// State of one store: one call.
pub struct State {
    wasi: WasiState,
    process: ProcessState,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    fs: FsGuard,
    log: LogSink,
    limiter: Limiter,
    http: WasiHttpCtx,
    net: NetHooks,
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.wasi.table,
            hooks: &mut self.net,
        }
    }
}

struct WasiState {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for WasiState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

struct HasTable;

impl HasData for HasTable {
    type Data<'a> = &'a mut ResourceTable;
}

/// Which capability interfaces to link beside the baseline.
#[derive(Debug, Clone, Copy)]
struct Links {
    files: bool,
    process: bool,
    network: bool,
}

impl Links {
    fn of(imports: &[Import]) -> Self {
        Links {
            files: imports::needs(imports, CapabilityKind::Files),
            process: imports::needs(imports, CapabilityKind::Process),
            network: imports::needs(imports, CapabilityKind::Network),
        }
    }
}

/// Link exactly the interfaces a plugin may use: the baseline always, each
/// capability's interfaces only when `links` names it. Anything else stays
/// unlinked (`wasi:sockets` always), so a component that imports it cannot
/// be instantiated.
fn linker(engine: &Engine, links: Links) -> Result<Linker<State>> {
    use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random};
    use wasmtime_wasi_io::bindings::wasi::io;
    let mut l = Linker::<State>::new(engine);
    let link = |r: wasmtime::Result<()>| r.map_err(|e| Error::wasm("cannot link", e));
    link(io::error::add_to_linker::<State, HasTable>(&mut l, |s| {
        &mut s.wasi.table
    }))?;
    link(io::poll::add_to_linker::<State, HasTable>(&mut l, |s| {
        &mut s.wasi.table
    }))?;
    link(io::streams::add_to_linker::<State, HasTable>(&mut l, |s| {
        &mut s.wasi.table
    }))?;
    link(clocks::wall_clock::add_to_linker::<State, WasiClocks>(
        &mut l,
        |s| s.wasi.clocks(),
    ))?;
    link(clocks::monotonic_clock::add_to_linker::<State, WasiClocks>(
        &mut l,
        |s| s.wasi.clocks(),
    ))?;
    link(random::random::add_to_linker::<State, WasiRandom>(
        &mut l,
        |s| s.wasi.ctx.random(),
    ))?;
    link(random::insecure::add_to_linker::<State, WasiRandom>(
        &mut l,
        |s| s.wasi.ctx.random(),
    ))?;
    link(random::insecure_seed::add_to_linker::<State, WasiRandom>(
        &mut l,
        |s| s.wasi.ctx.random(),
    ))?;
    link(cli::exit::add_to_linker::<State, WasiCli>(&mut l, |s| {
        s.wasi.cli()
    }))?;
    link(cli::environment::add_to_linker::<State, WasiCli>(
        &mut l,
        |s| s.wasi.cli(),
    ))?;
    link(cli::stdin::add_to_linker::<State, WasiCli>(&mut l, |s| {
        s.wasi.cli()
    }))?;
    link(cli::stdout::add_to_linker::<State, WasiCli>(&mut l, |s| {
        s.wasi.cli()
    }))?;
    link(cli::stderr::add_to_linker::<State, WasiCli>(&mut l, |s| {
        s.wasi.cli()
    }))?;
    link(cli::terminal_input::add_to_linker::<State, WasiCli>(
        &mut l,
        |s| s.wasi.cli(),
    ))?;
    link(cli::terminal_output::add_to_linker::<State, WasiCli>(
        &mut l,
        |s| s.wasi.cli(),
    ))?;
    link(cli::terminal_stdin::add_to_linker::<State, WasiCli>(
        &mut l,
        |s| s.wasi.cli(),
    ))?;
    link(cli::terminal_stdout::add_to_linker::<State, WasiCli>(
        &mut l,
        |s| s.wasi.cli(),
    ))?;
    link(cli::terminal_stderr::add_to_linker::<State, WasiCli>(
        &mut l,
        |s| s.wasi.cli(),
    ))?;
    link(bindings::warden::plugin::log::add_to_linker::<State, HasLog>(&mut l, |s| &mut s.log))?;
    if links.files {
        link(filesystem::types::add_to_linker::<State, GuardedFs>(
            &mut l, guarded,
        ))?;
        link(filesystem::preopens::add_to_linker::<State, GuardedFs>(
            &mut l, guarded,
        ))?;
    }
    if links.network {
        // `wasi:http/types` and `outgoing-handler` only; every request goes
        // through `NetHooks::send_request`.
        link(wasmtime_wasi_http::p2::add_only_http_to_linker_async(
            &mut l,
        ))?;
    }
    if links.process {
        link(bindings::warden::plugin::process::add_to_linker::<
            State,
            HasProcess,
        >(&mut l, |s| &mut s.process))?;
    }
    Ok(l)
}

fn guarded(s: &mut State) -> GuardedView<'_> {
    GuardedView {
        inner: s.wasi.filesystem(),
        guard: &mut s.fs,
    }
}

/// Memory and table limits of one store; remembers whether memory ran out
/// so the trap can be reported as what it is.
struct Limiter {
    memory_bytes: usize,
    memory_hit: bool,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.memory_hit = true;
            wasmtime::bail!("memory limit of {} bytes reached", self.memory_bytes);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// Why a tool reported failure (the plugin's own typed error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ToolFailure {
    /// The input was not usable.
    InvalidInput { message: String },
    /// The plugin says it was denied something.
    Denied {
        capability: String,
        resource: String,
        reason: String,
    },
    /// Something did not exist.
    NotFound { message: String },
    /// The tool failed.
    Failed { message: String },
}

/// Marks text cut to the output limit.
pub const TRUNCATED_MARK: &str =
    "… [truncated to the output limit; raise `limits.output_kib` in the plugin's manifest]";

/// Cut `text` to at most `limit` bytes (on a character boundary), marked.
fn cap_text(text: &mut String, limit: usize) {
    if text.len() <= limit {
        return;
    }
    let mut cut = limit.saturating_sub(TRUNCATED_MARK.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push_str(TRUNCATED_MARK);
}

/// The log messages that fit in `limit` bytes together, then a mark: the
/// log is returned to the caller too, so it is no way around
/// `limits.output_kib` either.
fn capped_log(messages: impl Iterator<Item = String>, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut used = 0usize;
    for m in messages {
        if used + m.len() > limit {
            out.push(format!("[log{}]", TRUNCATED_MARK.trim_start_matches('…')));
            break;
        }
        used += m.len();
        out.push(m);
    }
    out
}

impl ToolFailure {
    /// The failure with every text the plugin chose cut so that together
    /// they stay within `limit` bytes, like a result must: a failure is no
    /// way around `limits.output_kib`.
    pub fn capped(mut self, limit: usize) -> Self {
        match &mut self {
            ToolFailure::InvalidInput { message }
            | ToolFailure::NotFound { message }
            | ToolFailure::Failed { message } => cap_text(message, limit),
            ToolFailure::Denied {
                capability,
                resource,
                reason,
            } => {
                let third = limit / 3;
                cap_text(capability, third);
                cap_text(resource, third);
                cap_text(reason, third);
            }
        }
        self
    }
}

impl From<WitToolError> for ToolFailure {
    fn from(e: WitToolError) -> Self {
        match e {
            WitToolError::InvalidInput(message) => Self::InvalidInput { message },
            WitToolError::Denied(d) => Self::Denied {
                capability: d.capability,
                resource: d.resource,
                reason: d.reason,
            },
            WitToolError::NotFound(message) => Self::NotFound { message },
            WitToolError::Failed(message) => Self::Failed { message },
        }
    }
}

/// What one call produced.
#[derive(Debug, Serialize)]
pub struct CallOutput {
    /// The tool's JSON result, or its typed failure.
    pub result: std::result::Result<serde_json::Value, ToolFailure>,
    /// Accesses the host refused during the call, at most
    /// [`crate::capability::MAX_DENIALS`].
    pub denials: Vec<Denial>,
    /// Refused accesses beyond those kept in `denials`.
    pub denials_dropped: usize,
    /// The plugin's log messages and captured output, escaped.
    pub log: Vec<String>,
}

impl CallOutput {
    /// A failed call in words, for a person or a model: the tool's own
    /// failure, then each refusal with the grant that would allow it, as
    /// `allow(plugin, spec)` phrases it for the reader (who usually cannot
    /// grant it). Everything from the plugin is escaped.
    pub fn failure_text(
        &self,
        qualified: &str,
        failure: &ToolFailure,
        allow: impl Fn(&str, &str) -> String,
    ) -> String {
        use crate::escape::escape;
        let mut text = match failure {
            ToolFailure::InvalidInput { message } => {
                format!("{qualified}: invalid input: {}", escape(message))
            }
            ToolFailure::Denied {
                capability,
                resource,
                reason,
            } => format!(
                "{qualified}: denied {} {}: {}",
                escape(capability),
                escape(resource),
                escape(reason)
            ),
            ToolFailure::NotFound { message } => {
                format!("{qualified}: not found: {}", escape(message))
            }
            ToolFailure::Failed { message } => format!("{qualified} failed: {}", escape(message)),
        };
        let plugin = qualified.split('.').next().unwrap_or_default();
        for d in &self.denials {
            text.push_str(&format!(
                "\nrefused by warden: {} {} {}: {}",
                d.capability,
                d.operation,
                escape(&d.resource),
                d.reason
            ));
            match &d.allow {
                Some(spec) => {
                    text.push_str("\n  ");
                    text.push_str(&allow(plugin, &escape(spec)));
                }
                None => text.push_str("\n  no grant allows this"),
            }
        }
        text
    }
}

/// A tool as described by its plugin, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ToolSpec {
    /// Name within the plugin.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its input.
    pub input_schema: serde_json::Value,
}

impl Loaded {
    /// Ask the plugin for its tools, in an instance that holds no
    /// capabilities at all.
    pub async fn describe(&self, rt: &Runtime) -> Result<Vec<ToolSpec>> {
        let empty = Effective {
            files: vec![],
            env: vec![],
            protected: vec![],
            hidden: vec![],
            programs: vec![],
            home: None,
            network: vec![],
        };
        let pre = self.pre(rt, Links::of(&self.imports))?;
        let limits = Limits::of(&self.manifest);
        let fs = FsGuard::new(&empty, Path::new("/"))
            .map_err(|e| Error::io("cannot prepare", "/", e))?;
        let _slot = rt
            .slots
            .acquire()
            .await
            .map_err(|e| Error::wasm("no instance slot", e.into()))?;
        let process = process_state(rt, &self.manifest.name, &empty, Path::new("/"), &limits);
        let net = NetHooks::new(
            Arc::default(),
            std::time::Instant::now() + Duration::from_millis(limits.timeout_ms),
        );
        let mut store = new_store(rt, &self.manifest.name, &limits, fs, process, net, &[]);
        let tool = format!("{}.describe", self.manifest.name);
        let run = async {
            let plugin = pre.instantiate_async(&mut store).await?;
            plugin.warden_plugin_tool().call_describe(&mut store).await
        };
        let infos = match tokio::time::timeout(Duration::from_millis(limits.timeout_ms), run).await
        {
            Ok(Ok(infos)) => infos,
            Ok(Err(e)) => return Err(classify_trap(&tool, e, &limits, store.data())),
            Err(_) => {
                return Err(Error::Timeout {
                    tool,
                    limit_ms: limits.timeout_ms,
                    max_ms: crate::limits::MAX_TIMEOUT_MS,
                });
            }
        };
        validate_tools(&self.manifest.name, infos)
    }

    fn pre(&self, rt: &Runtime, links: Links) -> Result<PluginPre<State>> {
        let linker = linker(&rt.engine, links)?;
        let name = &self.manifest.name;
        let pre = linker
            .instantiate_pre(&self.component)
            .map_err(|e| Error::wasm(format!("cannot link plugin `{name}`"), e))?;
        PluginPre::new(pre).map_err(|e| {
            Error::wasm(
                format!("plugin `{name}` does not export warden:plugin/tool@0.1.0"),
                e,
            )
        })
    }

    /// Bind the plugin to its effective grant in a workspace. Refuses when
    /// the component needs a capability the grant does not give.
    pub fn prepare(
        &self,
        rt: &Runtime,
        effective: Effective,
        workspace: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Prepared> {
        let name = &self.manifest.name;
        let links = Links::of(&self.imports);
        if links.files && effective.files.is_empty() {
            let wanted = self
                .manifest
                .files
                .iter()
                .map(|f| format!("--grant file:{}:{}", f.path, f.access))
                .collect::<Vec<_>>()
                .join(" ");
            return Err(Error::NotGranted {
                plugin: name.clone(),
                capability: CapabilityKind::Files,
                resource: self
                    .manifest
                    .files
                    .iter()
                    .map(|f| f.path.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                hint: format!("warden plugin grant {name} {wanted}"),
            });
        }
        if links.network && effective.network.is_empty() {
            let requested: Vec<String> = self
                .manifest
                .network
                .iter()
                .map(|n| n.origin.to_string())
                .collect();
            return Err(Error::NotGranted {
                plugin: name.clone(),
                capability: CapabilityKind::Network,
                resource: requested.join(", "),
                hint: format!(
                    "grant the origins it may reach, e.g. warden plugin grant {name} --add --grant net:https://docs.rs (a pattern within {})",
                    requested.join(" or ")
                ),
            });
        }
        if links.process && effective.programs.is_empty() {
            let wanted: Vec<String> = self
                .manifest
                .programs
                .iter()
                .map(|p| format!("--grant program:{}", p.program))
                .collect();
            return Err(Error::NotGranted {
                plugin: name.clone(),
                capability: CapabilityKind::Process,
                resource: self
                    .manifest
                    .programs
                    .iter()
                    .map(|p| p.program.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
                hint: format!("warden plugin grant {name} --add {}", wanted.join(" ")),
            });
        }
        let limits = Limits::of(&self.manifest);
        let fs = FsGuard::new(&effective, workspace)
            .map_err(|e| Error::io("cannot open granted path under", workspace, e))?
            .with_limits(limits.writes());
        let process = process_state(rt, name, &effective, workspace, &limits);
        let env_values = crate::capability::env::values(&effective.env, env);
        Ok(Prepared {
            name: name.clone(),
            pre: self.pre(rt, links)?,
            net: Arc::new(NetPolicy::new(effective.network.clone())),
            rt: rt.clone(),
            limits,
            effective,
            fs,
            process,
            env: env_values,
            gate: None,
            org_net: None,
        })
    }
}

/// A check run before every call of a [`Prepared`] plugin, such as the
/// organisation's policy, which may change while a server runs.
pub type Gate = Arc<dyn Fn() -> Result<()> + Send + Sync>;

fn validate_tools(plugin: &str, infos: Vec<ToolInfo>) -> Result<Vec<ToolSpec>> {
    let bad = |reason: String| Error::NotAComponent {
        path: plugin.to_string(),
        reason,
    };
    if infos.len() > MAX_TOOLS {
        return Err(bad(format!(
            "it describes {} tools; the limit is {MAX_TOOLS}",
            infos.len()
        )));
    }
    let mut tools: Vec<ToolSpec> = Vec::with_capacity(infos.len());
    for info in infos {
        manifest::check_name(&info.name).map_err(|e| bad(format!("tool {e}")))?;
        if tools.iter().any(|t| t.name == info.name) {
            return Err(bad(format!("it describes the tool `{}` twice", info.name)));
        }
        if info.description.len() > manifest::MAX_DESCRIPTION_BYTES * 4 {
            return Err(bad(format!(
                "tool `{}` has an over-long description",
                info.name
            )));
        }
        if info.input_schema.len() > MAX_SCHEMA_BYTES {
            return Err(bad(format!(
                "tool `{}` has a schema over {MAX_SCHEMA_BYTES} bytes",
                info.name
            )));
        }
        let schema: serde_json::Value = serde_json::from_str(&info.input_schema).map_err(|e| {
            bad(format!(
                "tool `{}` has an invalid JSON schema: {e}",
                info.name
            ))
        })?;
        tools.push(ToolSpec {
            name: info.name,
            description: info.description,
            input_schema: schema,
        });
    }
    Ok(tools)
}

fn process_state(
    rt: &Runtime,
    plugin: &str,
    effective: &Effective,
    workspace: &Path,
    limits: &Limits,
) -> ProcessState {
    ProcessState::new(ProcessSetup {
        plugin: plugin.to_string(),
        programs: effective.programs.clone(),
        files: effective.files.clone(),
        protected: effective.protected.clone(),
        // The one list of what no plugin may see, for its children too.
        hidden: effective.hidden.clone(),
        workspace: workspace.to_path_buf(),
        home: effective.home.clone(),
        sandbox: rt.sandbox.clone(),
        limits: limits.child(),
        output_cap: limits.process_output_bytes,
        audit: rt.audit.clone(),
    })
}

fn new_store(
    rt: &Runtime,
    plugin: &str,
    limits: &Limits,
    fs: FsGuard,
    process: ProcessState,
    net: NetHooks,
    env: &[(String, String)],
) -> Store<State> {
    let stdout = MemoryOutputPipe::new(MAX_STDIO_BYTES);
    let stderr = MemoryOutputPipe::new(MAX_STDIO_BYTES);
    let mut b = WasiCtxBuilder::new();
    // File I/O runs inline, which is fast and safe because the file guard
    // only ever opens regular files and directories (a FIFO, socket or
    // device is refused at open, which is non-blocking), so nothing a guest
    // does can wait on another party and keep the call's deadline (an
    // async timeout) from firing.
    b.allow_blocking_current_thread(true)
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .envs(env);
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_RESOURCES);
    let state = State {
        wasi: WasiState {
            ctx: b.build(),
            table,
        },
        process,
        stdout,
        stderr,
        fs,
        log: LogSink::new(plugin),
        limiter: Limiter {
            memory_bytes: limits.memory_mib as usize * 1024 * 1024,
            memory_hit: false,
        },
        http: WasiHttpCtx::new(),
        net,
    };
    let mut store = Store::new(&rt.engine, state);
    store.limiter(|s| &mut s.limiter);
    // A guest that computes without calling the host yields to the executor
    // at every epoch tick, so other calls keep being answered and the call's
    // wall-time deadline (an async timeout around it) can fire.
    store.epoch_deadline_async_yield_and_update(1);
    store
}

fn classify_trap(tool: &str, err: wasmtime::Error, limits: &Limits, state: &State) -> Error {
    let tool = tool.to_string();
    if state.limiter.memory_hit {
        return Error::MemoryLimit {
            tool,
            limit_mib: limits.memory_mib,
        };
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Error::Timeout {
            tool,
            limit_ms: limits.timeout_ms,
            max_ms: crate::limits::MAX_TIMEOUT_MS,
        },
        Some(Trap::StackOverflow) => Error::Trap {
            tool,
            message: "stack overflow (recursion too deep)".into(),
        },
        Some(Trap::UnreachableCodeReached) => Error::Trap {
            tool,
            message: "the plugin panicked or aborted (wasm `unreachable`)".into(),
        },
        _ if format!("{err:#}").contains("resource table has no free keys") => Error::Trap {
            tool,
            message: format!("it held more than {MAX_RESOURCES} open resources (handles, streams)"),
        },
        _ => Error::Trap {
            tool,
            message: format!("{err:#}"),
        },
    }
}

/// A plugin bound to its grant, ready for calls. Cheap calls: each one is a
/// fresh store and instance from the pre-instantiated component.
pub struct Prepared {
    name: String,
    pre: PluginPre<State>,
    rt: Runtime,
    limits: Limits,
    effective: Effective,
    fs: FsGuard,
    process: ProcessState,
    net: Arc<NetPolicy>,
    env: Vec<(String, String)>,
    gate: Option<Gate>,
    /// The organisation's policy on each origin reached, if one is in force.
    org_net: Option<crate::capability::network::outgoing::OriginCheck>,
}

impl Prepared {
    /// Ask the organisation's policy about every real path (`files`) and
    /// origin (`net`) a call reaches, not only about the grant.
    pub fn with_policy(
        mut self,
        files: crate::capability::files::guard::PathCheck,
        net: crate::capability::network::outgoing::OriginCheck,
    ) -> Self {
        self.fs = self.fs.with_policy(files);
        self.org_net = Some(net);
        self
    }

    /// Run `gate` first on every call; its error refuses the call.
    pub fn with_gate(mut self, gate: Gate) -> Self {
        self.gate = Some(gate);
        self
    }

    /// The grant the plugin runs under.
    pub fn effective(&self) -> &Effective {
        &self.effective
    }

    /// The limits each call runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Call `tool` with a JSON `input`.
    #[tracing::instrument(level = "debug", skip(self, input), fields(plugin = %self.name, input_bytes = input.len()))]
    pub async fn call(&self, tool: &str, input: &str) -> Result<CallOutput> {
        if let Some(gate) = &self.gate {
            gate()?;
        }
        let qualified = format!("{}.{tool}", self.name);
        if input.len() > MAX_INPUT_BYTES {
            return Err(Error::InvalidInput {
                tool: qualified,
                reason: format!(
                    "{} bytes is over the input limit of {MAX_INPUT_BYTES}",
                    input.len()
                ),
            });
        }
        // Parsed fully (not skimmed) so nesting is bounded by serde_json's
        // recursion limit before any guest sees the input.
        if let Err(e) = serde_json::from_str::<serde_json::Value>(input) {
            return Err(Error::InvalidInput {
                tool: qualified,
                reason: format!("not valid JSON: {e}"),
            });
        }
        let _slot = self
            .rt
            .slots
            .acquire()
            .await
            .map_err(|e| Error::wasm("no instance slot", e.into()))?;
        let timeout = Duration::from_millis(self.limits.timeout_ms);
        let deadline = std::time::Instant::now() + timeout;
        let process = self.process.for_call(deadline);
        let mut store = new_store(
            &self.rt,
            &self.name,
            &self.limits,
            self.fs.for_call(),
            process,
            NetHooks::new(self.net.clone(), deadline).with_policy(self.org_net.clone()),
            &self.env,
        );
        let pre = &self.pre;
        let run = async {
            let plugin: Plugin = pre.instantiate_async(&mut store).await?;
            plugin
                .warden_plugin_tool()
                .call_call(&mut store, tool, input)
                .await
        };
        let outcome = tokio::time::timeout(timeout, run).await;
        let state = store.data_mut();
        let (out, err) = (state.stdout.contents(), state.stderr.contents());
        state.log.record_stream("stdout", &out);
        state.log.record_stream("stderr", &err);
        let result = match outcome {
            Err(_) => {
                return Err(Error::Timeout {
                    tool: qualified,
                    limit_ms: self.limits.timeout_ms,
                    max_ms: crate::limits::MAX_TIMEOUT_MS,
                });
            }
            Ok(Err(e)) => return Err(classify_trap(&qualified, e, &self.limits, state)),
            Ok(Ok(Ok(json))) => {
                if json.len() > self.limits.output_bytes {
                    return Err(Error::OutputLimit {
                        tool: qualified,
                        size: json.len(),
                        limit: self.limits.output_bytes,
                    });
                }
                let value = serde_json::from_str(&json).map_err(|e| Error::Trap {
                    tool: qualified.clone(),
                    message: format!("the plugin returned invalid JSON: {e}"),
                })?;
                Ok(value)
            }
            Ok(Ok(Err(e))) => Err(ToolFailure::from(e).capped(self.limits.output_bytes)),
        };
        // One bound over every capability: each keeps its own, and so
        // does the call.
        let mut denials = Denials::default();
        for d in state.fs.denials().iter().chain(state.process.denials()) {
            denials.push(d.clone());
        }
        denials.extend(&state.net.denials());
        Ok(CallOutput {
            result,
            denials_dropped: denials.dropped(),
            denials: denials.into_vec(),
            log: capped_log(
                state.log.messages.iter().map(|(_, m)| m.clone()),
                self.limits.output_bytes,
            ),
        })
    }
}
