//! A plugin compiled and checked ([`Loaded`]), bound to its grant in a
//! workspace ([`Prepared`]), and one call of it under its limits.

use super::output::{CallOutput, ToolFailure, capped_log};
use super::store::{Links, State, linker, new_store};
use super::{MAX_INPUT_BYTES, MAX_RESOURCES, MAX_SCHEMA_BYTES, MAX_TOOLS, Runtime};
use crate::bindings::exports::warden::plugin::tool::ToolInfo;
use crate::bindings::{Plugin, PluginPre};
use crate::capability::Denials;
use crate::capability::files::guard::FsGuard;
use crate::capability::network::NetPolicy;
use crate::capability::network::outgoing::NetHooks;
use crate::capability::process::{ProcessSetup, ProcessState};
use crate::component::Package;
use crate::grant::Effective;
use crate::imports::Import;
use crate::limits::Limits;
use crate::manifest::{self, Manifest};
use crate::{Error, Result};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::Trap;
use wasmtime::component::Component;

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

impl Loaded {
    pub(super) fn new(package: &Package, imports: Vec<Import>, component: Component) -> Self {
        Loaded {
            manifest: package.manifest.clone(),
            digest: package.digest.clone(),
            imports,
            component,
        }
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
    /// JSON Schema of its result, when the plugin describes one and it is
    /// an object schema (what MCP's `outputSchema` must be). Carried in
    /// the WIT `input-schema` string under [`OUTPUT_SCHEMA_KEY`], so
    /// `tool-info` of `warden:plugin@0.1.0` is unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<serde_json::Value>,
}

/// The key of a tool's input schema under which the SDK carries the JSON
/// Schema of the tool's result. A JSON Schema validator ignores a keyword
/// it does not know, so a host that does not look for it validates inputs
/// as before; warden takes it out before anyone sees the input schema.
pub const OUTPUT_SCHEMA_KEY: &str = "x-warden-output-schema";

/// Take the output schema out of a tool's input schema: the input schema
/// as clients see it, and the output schema when it is an object schema.
fn split_schemas(mut input: serde_json::Value) -> (serde_json::Value, Option<serde_json::Value>) {
    let output = input
        .as_object_mut()
        .and_then(|map| map.remove(OUTPUT_SCHEMA_KEY))
        .filter(|o| o.get("type").and_then(|t| t.as_str()) == Some("object"));
    (input, output)
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
        let fs = FsGuard::none();
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

    /// Bind the plugin to its effective grant in a workspace. Any part of
    /// what the manifest requests may be granted, nothing included: what is
    /// not granted is refused at the moment of use.
    pub fn prepare(
        &self,
        rt: &Runtime,
        effective: Effective,
        workspace: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Prepared> {
        let name = &self.manifest.name;
        // Every capability the component imports is linked, granted or
        // not: one with nothing granted holds no rules (no paths, programs
        // or origins), so a tool that reaches it gets a denial naming the
        // grant that would allow it, and the plugin's other tools work.
        let links = Links::of(&self.imports);
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
        let (input_schema, output_schema) = split_schemas(schema);
        tools.push(ToolSpec {
            name: info.name,
            description: info.description,
            input_schema,
            output_schema,
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
    pub async fn call(&self, tool: &str, input: &str) -> Result<CallOutput> {
        self.call_captured(tool, input, None).await
    }

    /// Call `tool`, reporting every workspace path the plugin or its
    /// programs are about to change to `capture` first (the undo journal's
    /// turn, see [`crate::journal::Capture`]).
    #[tracing::instrument(level = "debug", skip(self, input, capture), fields(plugin = %self.name, input_bytes = input.len()))]
    pub async fn call_captured(
        &self,
        tool: &str,
        input: &str,
        capture: Option<crate::journal::Capture>,
    ) -> Result<CallOutput> {
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
        let process = self.process.for_call(deadline, capture.clone());
        let mut store = new_store(
            &self.rt,
            &self.name,
            &self.limits,
            self.fs.for_call(capture),
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
        denials.extend(&state.fs.denials());
        denials.extend(state.process.denials());
        denials.extend(&state.net.denials());
        let log = capped_log(
            state.log.messages.iter().map(|(_, m)| m.clone()),
            self.limits.output_bytes,
        );
        use crate::capability::log::Level;
        let log_levels = state
            .log
            .messages
            .iter()
            .map(|(level, _)| *level)
            .chain(std::iter::repeat(Level::Warn))
            .take(log.len())
            .collect();
        Ok(CallOutput {
            result,
            denials_dropped: denials.dropped(),
            denials: denials.into_vec(),
            log,
            log_levels,
        })
    }
}
