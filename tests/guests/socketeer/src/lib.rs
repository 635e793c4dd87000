//! A guest that opens a TCP connection itself, through `wasi:sockets`.

use schemars::JsonSchema;
use serde::Deserialize;
use warden_sdk::ToolError;

/// Where to connect.
#[derive(Deserialize, JsonSchema)]
struct Dial {
    addr: String,
}

fn dial(input: Dial) -> Result<String, ToolError> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(&input.addr)
        .map_err(|e| ToolError::failed(format!("connect: {e}")))?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")
        .map_err(|e| ToolError::failed(format!("write: {e}")))?;
    Ok("sent".into())
}

warden_sdk::plugin! {
    dial: dial => "Open a raw TCP connection.",
}
