use schemars::JsonSchema;
use serde::Deserialize;
use warden_sdk::ToolError;

/// Read a text file.
#[derive(Deserialize, JsonSchema)]
struct Read {
    /// Path of the file.
    path: String,
}

fn read(input: Read) -> Result<String, ToolError> {
    std::fs::read_to_string(&input.path).map_err(|e| ToolError::io(&input.path, e))
}

warden_sdk::plugin! {
    read: read => "Read a file.",
}
