//! The store of one call: its state, the linker that gives a plugin exactly
//! the interfaces its grant allows, and the memory limiter.

use super::{MAX_RESOURCES, MAX_STDIO_BYTES, MAX_TABLE_ELEMENTS, Runtime};
use crate::capability::files::guard::{FsGuard, GuardedView};
use crate::capability::log::LogSink;
use crate::capability::network::outgoing::NetHooks;
use crate::capability::process::ProcessState;
use crate::capability::{self, CapabilityKind};
use crate::imports::{self, Import};
use crate::limits::Limits;
use crate::{Error, Result};
use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::WasiFilesystemView;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::sockets::WasiSocketsView;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// State of one store: one call.
pub struct State {
    wasi: WasiState,
    pub(super) process: ProcessState,
    pub(super) stdout: MemoryOutputPipe,
    pub(super) stderr: MemoryOutputPipe,
    pub(super) fs: FsGuard,
    pub(super) log: LogSink,
    pub(super) limiter: Limiter,
    http: WasiHttpCtx,
    pub(super) net: NetHooks,
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
pub(super) struct Links {
    pub(super) files: bool,
    pub(super) process: bool,
    pub(super) network: bool,
    /// `wasi:sockets`, linked deny-all.
    pub(super) sockets: bool,
}

impl Links {
    pub(super) fn of(imports: &[Import]) -> Self {
        Links {
            files: imports::needs(imports, CapabilityKind::Files),
            process: imports::needs(imports, CapabilityKind::Process),
            network: imports::needs(imports, CapabilityKind::Network),
            sockets: imports::denies_all(imports),
        }
    }
}

/// Link exactly the interfaces a plugin may use: the baseline always, each
/// capability's interfaces (from its own module) only when `links` names it.
/// `wasi:sockets` is linked deny-all (see [`capability::sockets`]); anything
/// else stays unlinked, so a component that imports it cannot be
/// instantiated.
pub(super) fn linker(engine: &Engine, links: Links) -> Result<Linker<State>> {
    let mut l = Linker::<State>::new(engine);
    let link = |r: wasmtime::Result<()>| r.map_err(|e| Error::wasm("cannot link", e));
    link(add_baseline(&mut l))?;
    link(capability::log::add_to_linker(&mut l, |s: &mut State| {
        &mut s.log
    }))?;
    if links.files {
        link(capability::files::add_to_linker(&mut l, guarded))?;
    }
    if links.network {
        link(capability::network::add_to_linker(&mut l))?;
    }
    if links.sockets {
        link(capability::sockets::add_to_linker(
            &mut l,
            |s: &mut State| s.wasi.sockets(),
        ))?;
    }
    if links.process {
        link(capability::process::add_to_linker(
            &mut l,
            |s: &mut State| &mut s.process,
        ))?;
    }
    Ok(l)
}

/// What every plugin gets: streams, clocks, randomness, and a `wasi:cli`
/// whose environment holds only granted variables and whose stdio is
/// captured.
fn add_baseline(l: &mut Linker<State>) -> wasmtime::Result<()> {
    use wasmtime_wasi::p2::bindings::{cli, clocks, random};
    use wasmtime_wasi_io::bindings::wasi::io;
    io::error::add_to_linker::<State, HasTable>(l, |s| &mut s.wasi.table)?;
    io::poll::add_to_linker::<State, HasTable>(l, |s| &mut s.wasi.table)?;
    io::streams::add_to_linker::<State, HasTable>(l, |s| &mut s.wasi.table)?;
    clocks::wall_clock::add_to_linker::<State, WasiClocks>(l, |s| s.wasi.clocks())?;
    clocks::monotonic_clock::add_to_linker::<State, WasiClocks>(l, |s| s.wasi.clocks())?;
    random::random::add_to_linker::<State, WasiRandom>(l, |s| s.wasi.ctx.random())?;
    random::insecure::add_to_linker::<State, WasiRandom>(l, |s| s.wasi.ctx.random())?;
    random::insecure_seed::add_to_linker::<State, WasiRandom>(l, |s| s.wasi.ctx.random())?;
    cli::exit::add_to_linker::<State, WasiCli>(l, |s| s.wasi.cli())?;
    cli::environment::add_to_linker::<State, WasiCli>(l, |s| s.wasi.cli())?;
    cli::stdin::add_to_linker::<State, WasiCli>(l, |s| s.wasi.cli())?;
    cli::stdout::add_to_linker::<State, WasiCli>(l, |s| s.wasi.cli())?;
    cli::stderr::add_to_linker::<State, WasiCli>(l, |s| s.wasi.cli())?;
    cli::terminal_input::add_to_linker::<State, WasiCli>(l, |s| s.wasi.cli())?;
    cli::terminal_output::add_to_linker::<State, WasiCli>(l, |s| s.wasi.cli())?;
    cli::terminal_stdin::add_to_linker::<State, WasiCli>(l, |s| s.wasi.cli())?;
    cli::terminal_stdout::add_to_linker::<State, WasiCli>(l, |s| s.wasi.cli())?;
    cli::terminal_stderr::add_to_linker::<State, WasiCli>(l, |s| s.wasi.cli())
}

fn guarded(s: &mut State) -> GuardedView<'_> {
    GuardedView {
        inner: s.wasi.filesystem(),
        guard: &mut s.fs,
    }
}

/// Memory and table limits of one store; remembers whether memory ran out
/// so the trap can be reported as what it is.
pub(super) struct Limiter {
    memory_bytes: usize,
    pub(super) memory_hit: bool,
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

pub(super) fn new_store(
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
    capability::sockets::deny_all(&mut b);
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
