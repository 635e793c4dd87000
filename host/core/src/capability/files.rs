//! The file capability: directories (read-only or writable) and single
//! files a plugin may use, served by wasmtime's WASI filesystem behind
//! warden's [`guard`].

pub mod guard;
