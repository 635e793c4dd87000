//! The engine and the compile cache; linking and the store of one call are
//! in [`store`], calls under limits in [`call`], what a call produced in
//! [`output`].
//!
//! One [`Runtime`] holds one engine. A component is compiled once and cached
//! on disk; each tool call gets a fresh store and instance from a
//! pre-instantiated component, and the store is dropped after the call
//! whatever happened, so nothing a trapped or timed-out instance left behind
//! is ever reused.

mod call;
mod output;
mod store;

pub use call::{Gate, Loaded, OUTPUT_SCHEMA_KEY, Prepared, ToolSpec};
pub use output::{CallOutput, TRUNCATED_MARK, ToolFailure};

use crate::capability::process::confine::{Sandbox, Unavailable};
use crate::component::Package;
use crate::imports;
use crate::{Error, Result};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

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
    sandbox: Result<Sandbox, Unavailable>,
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
            sandbox: Err(Unavailable::NotConfigured),
            audit: None,
        })
    }

    /// Use `sandbox` (from [`Sandbox::detect`]) to confine child processes.
    /// Without one, or with the reason detection failed, every process
    /// request is refused with that reason.
    pub fn with_sandbox(mut self, sandbox: Result<Sandbox, Unavailable>) -> Self {
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
        Ok(Loaded::new(package, imports, component))
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
