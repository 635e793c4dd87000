//! Raw sockets: never granted. CPython and the JavaScript runtimes import
//! `wasi:sockets` whether or not a plugin opens a socket, so a component
//! that imports them is linked with wasmtime's sockets turned off: creating
//! a TCP or UDP socket, connecting, binding and name lookups all fail with
//! `access-denied`. A plugin reaches the network only through `wasi:http`,
//! where warden checks every origin and address (see [`super::network`]).

use wasmtime::component::Linker;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsCtxView};

/// Turn every socket use off in `b`: no TCP, no UDP, no name lookups, and
/// no address allowed should any of them be reached anyway.
pub fn deny_all(b: &mut WasiCtxBuilder) {
    b.allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }));
}

/// Link `wasi:sockets` (every interface of 0.2) over a context made with
/// [`deny_all`].
pub fn add_to_linker<T: Send + 'static>(
    l: &mut Linker<T>,
    view: fn(&mut T) -> WasiSocketsCtxView<'_>,
) -> wasmtime::Result<()> {
    use wasmtime_wasi::p2::bindings::sockets;
    sockets::tcp::add_to_linker::<T, WasiSockets>(l, view)?;
    sockets::udp::add_to_linker::<T, WasiSockets>(l, view)?;
    sockets::udp_create_socket::add_to_linker::<T, WasiSockets>(l, view)?;
    sockets::tcp_create_socket::add_to_linker::<T, WasiSockets>(l, view)?;
    sockets::instance_network::add_to_linker::<T, WasiSockets>(l, view)?;
    sockets::network::add_to_linker::<T, WasiSockets>(l, &Default::default(), view)?;
    sockets::ip_name_lookup::add_to_linker::<T, WasiSockets>(l, view)
}
