
/// Bytes of a file `read` returns at most; over it, the tool says so.
const MAX_READ_BYTES: u64 = 64 * 1024;

/// Input of `read`.
#[derive(Deserialize, JsonSchema)]
struct ReadInput {
    /// The file, relative to the workspace root.
    path: String,
}

/// What `read` answers.
#[derive(Serialize, JsonSchema)]
struct ReadOutput {
    /// The file as asked for.
    path: String,
    /// Its contents (invalid UTF-8 replaced).
    text: String,
}

/// Read a workspace file. Needs a `file:` grant covering it; without one
/// warden refuses the open and records which grant would allow it.
fn read(input: ReadInput) -> Result<ReadOutput, ToolError> {
    use std::io::Read as _;
    let rel = warden_sdk::paths::RelPath::parse(&input.path)?;
    let shown = rel.display();
    let file =
        std::fs::File::open(rel.under(std::path::Path::new("."))).map_err(|e| ToolError::io(&shown, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_READ_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ToolError::io(&shown, e))?;
    if bytes.len() as u64 > MAX_READ_BYTES {
        return Err(ToolError::failed(format!(
            "{shown} is over {MAX_READ_BYTES} bytes"
        )));
    }
    Ok(ReadOutput {
        path: shown,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    })
}
