//! What `tools/list` says about a tool, and how a result goes back.
//!
//! The annotations come from the plugin's effective grant in this
//! workspace, never from the plugin: a plugin cannot call itself read-only.
//! They are computed each time the list is asked for, so a grant changed
//! while the server runs changes them on the next `tools/list`.

use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock, Tool, ToolAnnotations};
use serde_json::{Map, Value};
use std::sync::Arc;
use warden_core::escape::escape;
use warden_core::grant::Effective;
use warden_core::manifest::Access;
use warden_core::runtime::ToolSpec;

/// Separates plugin and tool in MCP tool names: the same as in the names
/// the agent's model sees.
pub use warden_agent::tools::SEPARATOR;

/// Longest tool name the MCP specification allows (2025-11-25, "Tool
/// names").
pub const MAX_TOOL_NAME: usize = 128;

/// Whether `name` follows the specification's rule for tool names: 1 to
/// 128 ASCII letters, digits, `_`, `-` and `.`.
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_TOOL_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The name a client calls `plugin`'s `tool` by.
pub fn exposed(plugin: &str, tool: &str) -> String {
    format!("{plugin}{SEPARATOR}{tool}")
}

/// A tool's input schema, when MCP clients accept it: one bad tool must
/// not make clients reject the whole list.
pub fn object_schema(spec: &ToolSpec) -> Option<&Map<String, Value>> {
    spec.input_schema
        .as_object()
        .filter(|map| map.get("type") == Some(&Value::from("object")))
}

/// What the effective grant lets every tool of the plugin do.
///
/// - `readOnlyHint` only with no writable file grant, no program and no
///   origin: a program can write wherever the plugin may, and a request
///   can carry what was read, or change something at the other end;
/// - `destructiveHint` whenever it is not read-only: nothing in a grant
///   limits a writer to additions (an edit overwrites, a program deletes);
/// - `openWorldHint` exactly when it holds a network grant (programs never
///   have network);
/// - `idempotentHint` only where it is known: a tool that can only read
///   changes nothing however often it runs. Of a writer, the grant says
///   nothing either way, so the hint is left out.
pub fn annotations(e: &Effective) -> ToolAnnotations {
    let writes = e.files.iter().any(|f| f.access == Access::Write);
    let programs = !e.programs.is_empty();
    let network = !e.network.is_empty();
    let read_only = !writes && !programs && !network;
    let hints = ToolAnnotations::new()
        .read_only(read_only)
        .destructive(!read_only)
        .open_world(network);
    if read_only {
        hints.idempotent(true)
    } else {
        hints
    }
}

/// The tool as `tools/list` shows it, when its name and input schema are
/// ones clients accept. A plugin that asks for access and was granted none
/// (`nothing_granted`) is still offered, since it runs and each use it
/// tries is refused naming the grant a person can give; its annotations
/// then say what it can do now (nothing beyond reading its input), and its
/// description says why, so a model does not expect more of it.
pub fn describe(
    plugin: &str,
    spec: &ToolSpec,
    effective: &Effective,
    nothing_granted: bool,
) -> Option<Tool> {
    let name = exposed(plugin, &spec.name);
    if !valid_name(&name) {
        return None;
    }
    let schema = object_schema(spec)?;
    let description = if nothing_granted {
        format!(
            "[{plugin}] (Nothing is granted to `{plugin}` in this workspace yet: each file, program or network use it tries is refused until a person grants it; `warden plugin audit {plugin}` shows what it asks for.) {}",
            spec.description
        )
    } else {
        format!("[{plugin}] {}", spec.description)
    };
    let mut tool = Tool::new(name, description, Arc::new(schema.clone()))
        .with_title(format!("{plugin}.{}", spec.name))
        .with_annotations(annotations(effective));
    if let Some(Value::Object(output)) = &spec.output_schema {
        tool = tool.with_raw_output_schema(Arc::new(output.clone()));
    }
    Some(tool)
}

/// A tool error: the text says what went wrong and how a person can fix it.
pub fn error(text: String) -> CallToolResponse {
    CallToolResponse::Complete(CallToolResult::error(vec![ContentBlock::text(text)]))
}

/// A successful result. An object is structured content, with its JSON
/// also as a text block for clients older than structured results; a
/// string is text. A tool that promises an object (its output schema) and
/// returns something else gets a tool error rather than a result that
/// breaks the promise.
pub fn success(qualified: &str, spec: Option<&ToolSpec>, value: Value) -> CallToolResponse {
    let promised = spec.is_some_and(|s| s.output_schema.is_some());
    match value {
        Value::Object(_) => CallToolResponse::Complete(CallToolResult::structured(value)),
        _ if promised => error(format!(
            "{qualified} returned {}, not the JSON object its output schema describes",
            kind(&value)
        )),
        Value::String(text) => {
            CallToolResponse::Complete(CallToolResult::success(vec![ContentBlock::text(text)]))
        }
        other => CallToolResponse::Complete(CallToolResult::success(vec![ContentBlock::text(
            other.to_string(),
        )])),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A note for the person starting the server about a tool it leaves out.
pub fn left_out(plugin: &str, spec: &ToolSpec) -> Option<String> {
    let name = exposed(plugin, &spec.name);
    if !valid_name(&name) {
        return Some(format!(
            "not offering `{plugin}.{}`: its MCP name is not 1-{MAX_TOOL_NAME} letters, digits, `_`, `-` or `.`",
            escape(&spec.name)
        ));
    }
    object_schema(spec).is_none().then(|| {
        format!(
            "not offering `{plugin}.{}`: its input schema is not a JSON object schema",
            escape(&spec.name)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_specification() {
        for ok in ["fs__read", "a", "A.b-c_d", &"x".repeat(MAX_TOOL_NAME)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "a b", "a,b", "é", "a/b", &"x".repeat(MAX_TOOL_NAME + 1)] {
            assert!(!valid_name(bad), "{bad}");
        }
        // The longest plugin and tool names warden accepts still fit.
        assert!(valid_name(&exposed(&"p".repeat(32), &"t".repeat(32))));
    }
}
