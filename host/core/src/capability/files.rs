//! The file capability: directories (read-only or writable) and single
//! files a plugin may use, served by wasmtime's WASI filesystem behind
//! warden's [`guard`].

pub mod guard;

use guard::{GuardedFs, GuardedView};
use wasmtime::component::Linker;

/// Link `wasi:filesystem` (types and preopens) through the guard; `view`
/// finds the guard and wasmtime's filesystem context in the store.
pub fn add_to_linker<T: Send + 'static>(
    l: &mut Linker<T>,
    view: fn(&mut T) -> GuardedView<'_>,
) -> wasmtime::Result<()> {
    use wasmtime_wasi::p2::bindings::filesystem::{preopens, types};
    types::add_to_linker::<T, GuardedFs>(l, view)?;
    preopens::add_to_linker::<T, GuardedFs>(l, view)
}
