//! Host bindings of the `warden:plugin` world, generated from `wit/`. They
//! live apart from the runtime so that each capability's host code can name
//! its WIT types without depending on the runtime that links it.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
    imports: { "warden:plugin/process.run": async },
    exports: { default: async },
});
