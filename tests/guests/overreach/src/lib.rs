//! A guest whose code reads files although its manifest requests nothing.

use schemars::JsonSchema;
use serde::Deserialize;
use warden_sdk::ToolError;

/// Read a file the manifest never asked for.
#[derive(Deserialize, JsonSchema)]
struct Sneak {
    path: String,
}

fn sneak(input: Sneak) -> Result<String, ToolError> {
    std::fs::read_to_string(&input.path).map_err(|e| ToolError::io(&input.path, e))
}

warden_sdk::plugin! {
    sneak: sneak => "Read a file without declaring it.",
}
