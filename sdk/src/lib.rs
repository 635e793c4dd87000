//! Write a warden plugin as a typed input struct and a function.
//!
//! ```ignore
//! use serde::Deserialize;
//! use schemars::JsonSchema;
//! use warden_sdk::ToolError;
//!
//! /// Greet someone.
//! #[derive(Deserialize, JsonSchema)]
//! struct Greet { name: String }
//!
//! fn greet(input: Greet) -> Result<String, ToolError> {
//!     Ok(format!("hello, {}", input.name))
//! }
//!
//! warden_sdk::plugin! {
//!     greet: greet => "Say hello to someone.",
//! }
//! ```
//!
//! The plugin's capability manifest is the file `warden.toml` beside its
//! `Cargo.toml`. [`plugin!`] embeds it into the component as the custom
//! section [`MANIFEST_SECTION`], so it is covered by the component's digest
//! and the host can compare it with the component's real imports. Build with
//! `cargo build --target wasm32-wasip2 --release`.

pub mod paths;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

#[doc(hidden)]
pub mod __bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugin",
        default_bindings_module: "warden_sdk::__bindings",
    });
}

#[doc(hidden)]
pub use schemars as __schemars;
#[doc(hidden)]
pub use serde_json as __serde_json;

use __bindings::exports::warden::plugin::tool as wit;

/// Name of the custom section that carries the capability manifest.
pub const MANIFEST_SECTION: &str = "warden:manifest";

/// Why a tool call failed. Returned to the host as a typed WIT variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// The input was not usable.
    InvalidInput(String),
    /// The tool needed something it was not granted.
    Denied {
        /// The capability kind, e.g. `files`.
        capability: String,
        /// The refused resource, e.g. a path.
        resource: String,
        /// Why it was refused.
        reason: String,
    },
    /// A named thing does not exist.
    NotFound(String),
    /// The tool ran but could not complete.
    Failed(String),
}

impl ToolError {
    /// A failure with a message.
    pub fn failed(msg: impl std::fmt::Display) -> Self {
        Self::Failed(msg.to_string())
    }

    /// An input error with a message.
    pub fn invalid(msg: impl std::fmt::Display) -> Self {
        Self::InvalidInput(msg.to_string())
    }

    /// Map an I/O error on `path` to the closest variant. A permission error
    /// means the sandbox refused the access, so it becomes [`ToolError::Denied`].
    pub fn io(path: &str, err: std::io::Error) -> Self {
        use std::io::ErrorKind;
        match err.kind() {
            ErrorKind::NotFound => Self::NotFound(format!("{path}: no such file or directory")),
            ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => Self::Denied {
                capability: "files".into(),
                resource: path.into(),
                reason: err.to_string(),
            },
            _ => Self::Failed(format!("{path}: {err}")),
        }
    }
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Self::Denied {
                capability,
                resource,
                reason,
            } => write!(f, "denied: {capability} {resource}: {reason}"),
            Self::NotFound(m) => write!(f, "not found: {m}"),
            Self::Failed(m) => write!(f, "failed: {m}"),
        }
    }
}

impl From<ToolError> for wit::ToolError {
    fn from(e: ToolError) -> Self {
        match e {
            ToolError::InvalidInput(m) => Self::InvalidInput(m),
            ToolError::Denied {
                capability,
                resource,
                reason,
            } => Self::Denied(wit::Denial {
                capability,
                resource,
                reason,
            }),
            ToolError::NotFound(m) => Self::NotFound(m),
            ToolError::Failed(m) => Self::Failed(m),
        }
    }
}

/// Send a diagnostic message to the host's log. Never printed raw.
pub mod log {
    use crate::__bindings::warden::plugin::log::{Level, log};

    /// Log at debug level.
    pub fn debug(msg: &str) {
        log(Level::Debug, msg);
    }
    /// Log at info level.
    pub fn info(msg: &str) {
        log(Level::Info, msg);
    }
    /// Log at warn level.
    pub fn warn(msg: &str) {
        log(Level::Warn, msg);
    }
}

/// Run granted programs on the host (needs a `[[programs]]` entry in the
/// manifest and a grant). The child starts from an empty environment, in the
/// workspace root unless `cwd` says otherwise, confined to the plugin's file
/// grants.
pub mod process {
    use crate::__bindings::warden::plugin::process as wit;

    pub use wit::{Error, Output};

    /// A command to run.
    #[derive(Debug, Clone, Default)]
    pub struct Command {
        program: String,
        args: Vec<String>,
        cwd: Option<String>,
        env: Vec<(String, String)>,
        stdin: Option<Vec<u8>>,
        timeout_ms: Option<u64>,
    }

    impl Command {
        /// Run `program` (as named in the grant, e.g. `cargo`).
        pub fn new(program: impl Into<String>) -> Self {
            Command {
                program: program.into(),
                ..Default::default()
            }
        }

        /// Add one argument.
        pub fn arg(mut self, arg: impl Into<String>) -> Self {
            self.args.push(arg.into());
            self
        }

        /// Add arguments.
        pub fn args<I, S>(mut self, args: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.args.extend(args.into_iter().map(Into::into));
            self
        }

        /// Working directory, relative to the workspace root or absolute.
        pub fn cwd(mut self, cwd: impl Into<String>) -> Self {
            self.cwd = Some(cwd.into());
            self
        }

        /// Set an environment variable (the key must be granted).
        pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
            self.env.push((key.into(), value.into()));
            self
        }

        /// Bytes for standard input.
        pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
            self.stdin = Some(bytes.into());
            self
        }

        /// Wall-time limit, at most what is granted.
        pub fn timeout_ms(mut self, ms: u64) -> Self {
            self.timeout_ms = Some(ms);
            self
        }

        /// Run to completion.
        pub fn run(self) -> Result<Output, Error> {
            wit::run(&wit::Command {
                program: self.program,
                args: self.args,
                cwd: self.cwd,
                env: self.env,
                stdin: self.stdin,
                timeout_ms: self.timeout_ms,
            })
        }
    }

    impl From<Error> for crate::ToolError {
        fn from(e: Error) -> Self {
            match e {
                Error::Denied(reason) => crate::ToolError::Denied {
                    capability: "process".into(),
                    resource: String::new(),
                    reason,
                },
                Error::NotFound(m) => crate::ToolError::NotFound(m),
                Error::Invalid(m) => crate::ToolError::InvalidInput(m),
                Error::Failed(m) => crate::ToolError::Failed(m),
            }
        }
    }
}

/// The key of the input schema under which a tool's output schema travels
/// to the host (the host takes it out again; see the `tool-info` record in
/// `wit/plugin.wit`).
pub const OUTPUT_SCHEMA_KEY: &str = "x-warden-output-schema";

/// Describe one tool: its input schema comes from the input type, and the
/// schema of its result from the output type, when that type implements
/// `JsonSchema` and describes an object (see [`__Output`]).
#[doc(hidden)]
pub fn __describe<I, O, F>(
    name: &str,
    description: &str,
    _f: &F,
    output: Option<serde_json::Value>,
) -> wit::ToolInfo
where
    I: JsonSchema,
    F: Fn(I) -> Result<O, ToolError>,
{
    let mut schema = serde_json::to_value(schemars::schema_for!(I)).unwrap_or_default();
    if let (Some(map), Some(output)) = (schema.as_object_mut(), output)
        && output.get("type").and_then(|t| t.as_str()) == Some("object")
    {
        map.insert(OUTPUT_SCHEMA_KEY.to_string(), output);
    }
    wit::ToolInfo {
        name: name.to_string(),
        description: description.to_string(),
        input_schema: serde_json::to_string(&schema).unwrap_or_else(|_| "{}".into()),
    }
}

/// A tool's output type, for choosing at compile time whether it has a
/// schema: `(&&__Output::of(&f)).__schema()` resolves to [`__WithSchema`]
/// when the type implements `JsonSchema` and to [`__WithoutSchema`]
/// otherwise, so plugins whose results do not derive it still build.
#[doc(hidden)]
pub struct __Output<O>(std::marker::PhantomData<O>);

impl<O> __Output<O> {
    #[doc(hidden)]
    pub fn of<I, F: Fn(I) -> Result<O, ToolError>>(_f: &F) -> Self {
        __Output(std::marker::PhantomData)
    }
}

#[doc(hidden)]
pub trait __WithSchema {
    fn __schema(&self) -> Option<serde_json::Value>;
}

impl<O: JsonSchema> __WithSchema for &__Output<O> {
    /// The schema of what the tool returns, as it is serialized (a field
    /// skipped when empty is not required).
    fn __schema(&self) -> Option<serde_json::Value> {
        let generator = schemars::generate::SchemaSettings::draft2020_12()
            .for_serialize()
            .into_generator();
        serde_json::to_value(generator.into_root_schema_for::<O>()).ok()
    }
}

#[doc(hidden)]
pub trait __WithoutSchema {
    fn __schema(&self) -> Option<serde_json::Value>;
}

impl<O> __WithoutSchema for __Output<O> {
    fn __schema(&self) -> Option<serde_json::Value> {
        None
    }
}

/// Decode the input, run the tool, encode its output.
#[doc(hidden)]
pub fn __invoke<I, O, F>(f: &F, input: &str) -> Result<String, wit::ToolError>
where
    I: DeserializeOwned,
    O: Serialize,
    F: Fn(I) -> Result<O, ToolError>,
{
    let input: I =
        serde_json::from_str(input).map_err(|e| wit::ToolError::InvalidInput(e.to_string()))?;
    let output = f(input).map_err(wit::ToolError::from)?;
    serde_json::to_string(&output).map_err(|e| wit::ToolError::Failed(e.to_string()))
}

#[doc(hidden)]
pub fn __unknown(name: &str) -> wit::ToolError {
    wit::ToolError::NotFound(format!("this plugin has no tool named {name:?}"))
}

/// Declare the plugin's tools and export it.
///
/// Each entry is `tool_name: function => "description"`, where `function`
/// takes one `Deserialize + JsonSchema` input and returns
/// `Result<impl Serialize, ToolError>`. When the output type also derives
/// `JsonSchema` and is a struct (a JSON object), the host learns its schema
/// and MCP clients get the result as structured content checked against it. The manifest is read from
/// `warden.toml` in the crate's root and embedded as a custom section.
///
/// The component exports exist only on `wasm32`; on every target the macro
/// also defines `__warden_describe()` and `__warden_call(name, input)`, so
/// native unit tests can drive the tools without a host.
#[macro_export]
macro_rules! plugin {
    ($($name:ident : $func:path => $desc:expr),* $(,)?) => {
        #[cfg(target_arch = "wasm32")]
        #[unsafe(link_section = "warden:manifest")]
        #[used]
        static __WARDEN_MANIFEST: [u8; include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/warden.toml")).len()] =
            *include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/warden.toml"));

        /// The tools this plugin describes to the host.
        #[doc(hidden)]
        pub fn __warden_describe() -> ::std::vec::Vec<$crate::__bindings::exports::warden::plugin::tool::ToolInfo> {
            #[allow(unused_imports)]
            use $crate::{__WithSchema as _, __WithoutSchema as _};
            ::std::vec![$($crate::__describe(
                stringify!($name),
                $desc,
                &$func,
                (&&$crate::__Output::of(&$func)).__schema(),
            )),*]
        }

        /// Call one tool with a JSON input, as the host would.
        #[doc(hidden)]
        pub fn __warden_call(
            name: &str,
            input: &str,
        ) -> ::std::result::Result<::std::string::String, $crate::__bindings::exports::warden::plugin::tool::ToolError> {
            match name {
                $(stringify!($name) => $crate::__invoke(&$func, input),)*
                other => ::std::result::Result::Err($crate::__unknown(other)),
            }
        }

        #[cfg(target_arch = "wasm32")]
        struct __WardenPlugin;

        #[cfg(target_arch = "wasm32")]
        impl $crate::__bindings::exports::warden::plugin::tool::Guest for __WardenPlugin {
            fn describe() -> ::std::vec::Vec<$crate::__bindings::exports::warden::plugin::tool::ToolInfo> {
                __warden_describe()
            }

            fn call(
                name: ::std::string::String,
                input: ::std::string::String,
            ) -> ::std::result::Result<::std::string::String, $crate::__bindings::exports::warden::plugin::tool::ToolError> {
                __warden_call(&name, &input)
            }
        }

        #[cfg(target_arch = "wasm32")]
        $crate::__bindings::__export_plugin!(__WardenPlugin with_types_in $crate::__bindings);
    };
}
