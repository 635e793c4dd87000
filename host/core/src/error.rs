//! The error type of the host library. Every variant carries what a person
//! needs to act: which plugin, which capability or resource, and how to allow
//! it where allowing makes sense.

use crate::capability::CapabilityKind;
use std::path::PathBuf;

/// A filesystem operation of the host that failed: what it tried, on which
/// path, and why. The library's error types all carry this one shape.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {source}", path.display())]
pub struct IoFailure {
    /// What was tried: `read`, `create`, `lock`, …
    pub action: &'static str,
    /// On which path.
    pub path: PathBuf,
    /// What the OS said.
    #[source]
    pub source: std::io::Error,
}

/// For `map_err`: the failure of `action` on `path`, as any error type that
/// carries an [`IoFailure`].
pub(crate) fn io<E: From<IoFailure>>(
    action: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> E {
    let path = path.to_path_buf();
    move |source| {
        E::from(IoFailure {
            action,
            path,
            source,
        })
    }
}

/// Result alias for the host library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the host.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A manifest failed to parse or validate.
    #[error("invalid manifest ({origin}): {problem}")]
    Manifest {
        origin: String,
        problem: crate::manifest::Problem,
    },

    /// A grant specification or grant file is invalid.
    #[error("invalid grant: {reason}")]
    Grant { reason: String },

    /// The file is not a usable WebAssembly component.
    #[error("refused {path}: {reason}")]
    NotAComponent { path: String, reason: String },

    /// The component imports an interface its manifest does not justify.
    #[error(
        "refused plugin `{plugin}`: it imports `{import}`, which needs the `{capability}` capability, but its manifest requests none; {hint}"
    )]
    UndeclaredImport {
        plugin: String,
        import: String,
        capability: CapabilityKind,
        hint: &'static str,
    },

    /// The component imports an interface warden does not offer.
    #[error(
        "refused plugin `{plugin}`: it imports `{import}`, which warden does not provide to plugins (allowed: WASI 0.2 cli/clocks/io/random/filesystem/http and warden:plugin/log, process; raw wasi:sockets is never linked: a plugin reaches the network only through wasi:http/outgoing-handler and a [[network]] request in its manifest)"
    )]
    UnknownImport { plugin: String, import: String },

    /// A capability the component needs at run time was not granted.
    #[error(
        "denied: plugin `{plugin}` needs {} `{resource}`, which is not granted; to allow it: {hint}",
        capability.granted_things()
    )]
    NotGranted {
        plugin: String,
        capability: CapabilityKind,
        resource: String,
        hint: String,
    },

    /// The organisation's policy forbids a capability.
    #[error(
        "denied by organisation policy: {subject} may not {action} `{resource}` (rule `{rule}` in {}); the organisation's policy sits above warden's grants, so no grant can allow it: ask whoever manages that file",
        file.display()
    )]
    PolicyDenied {
        subject: String,
        action: &'static str,
        resource: String,
        rule: String,
        file: PathBuf,
    },

    /// The organisation's policy cannot be used: warden refuses everything
    /// it governs until it is fixed.
    #[error(
        "organisation policy {} is unusable, so warden refuses what it governs: {reason} (see `warden policy check {}`)",
        file.display(),
        file.display()
    )]
    Policy { file: PathBuf, reason: String },

    /// No plugin with this name is installed or bundled.
    #[error("no plugin named `{name}`{suggestion} (see `warden plugin list`)")]
    PluginNotFound {
        name: String,
        suggestion: crate::suggest::Suggestion,
    },

    /// The plugin has no tool with this name.
    #[error("plugin `{plugin}` has no tool `{tool}`{suggestion} (see `warden tools`)")]
    ToolNotFound {
        plugin: String,
        tool: String,
        suggestion: crate::suggest::Suggestion,
    },

    /// Installing would overwrite something that must not be overwritten.
    #[error("{0}")]
    Conflict(String),

    /// A plugin of this name is installed already.
    #[error("plugin `{name}` is already installed; run `warden plugin remove {name}` first")]
    AlreadyInstalled { name: String },

    /// The plugin is bundled with warden, so this cannot be done to it.
    #[error("`{name}` is bundled with warden {refused}")]
    Bundled { name: String, refused: String },

    /// A file of warden's plugin store cannot be parsed.
    #[error("{} is damaged ({reason}){hint}", path.display())]
    Damaged {
        path: PathBuf,
        reason: String,
        hint: String,
    },

    /// An installed (or kept previous) component's bytes are not the ones
    /// recorded.
    #[error("{} changed since it was {when} (digest {found} instead of {recorded}); refusing to {refused}", path.display())]
    Tampered {
        path: PathBuf,
        when: &'static str,
        found: String,
        recorded: String,
        refused: &'static str,
    },

    /// `rollback` with nothing kept to roll back to.
    #[error("`{name}` has no previous version to roll back to")]
    NoPreviousVersion { name: String },

    /// An update names a component of another plugin.
    #[error("{target} is the plugin `{found}`, not `{name}`")]
    WrongPlugin {
        target: String,
        found: String,
        name: String,
    },

    /// An update is not newer than the installed version (a downgrade, or
    /// other bytes under the same version) and `--allow-downgrade` was not
    /// given.
    #[error("{reason}")]
    NotNewer { reason: String },

    /// The tool input was refused before the plugin ran.
    #[error("invalid input for {tool}: {reason}")]
    InvalidInput { tool: String, reason: String },

    /// The call ran past its wall-time limit; the instance was discarded.
    #[error(
        "{tool} was stopped after its time limit of {limit_ms} ms; the limit is the plugin's own (`[limits] timeout_ms` in its manifest, at most {max_ms} ms): no grant raises it, so ask its author for a higher one or split the work"
    )]
    Timeout {
        tool: String,
        limit_ms: u64,
        max_ms: u64,
    },

    /// The call hit its memory limit; the instance was discarded.
    #[error("{tool} exceeded its memory limit of {limit_mib} MiB and was stopped")]
    MemoryLimit { tool: String, limit_mib: u32 },

    /// The result was larger than the output limit.
    #[error("{tool} produced {size} bytes of output, over its limit of {limit} bytes")]
    OutputLimit {
        tool: String,
        size: usize,
        limit: usize,
    },

    /// The plugin trapped (crashed); the instance was discarded.
    #[error("{tool} crashed: {message}")]
    Trap { tool: String, message: String },

    /// A filesystem operation of the host itself failed.
    #[error(transparent)]
    Io(#[from] IoFailure),

    /// The audit log refused or failed: the action is not taken.
    #[error(transparent)]
    Audit(#[from] crate::audit::Error),

    /// The undo journal refused or failed.
    #[error(transparent)]
    Journal(#[from] crate::journal::Error),

    /// wasmtime refused to compile, link or instantiate.
    #[error("{context}: {source:#}")]
    Wasm {
        context: String,
        #[source]
        source: wasmtime::Error,
    },
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io(IoFailure {
            action,
            path: path.into(),
            source,
        })
    }

    pub(crate) fn wasm(context: impl Into<String>, source: wasmtime::Error) -> Self {
        Self::Wasm {
            context: context.into(),
            source,
        }
    }
}
