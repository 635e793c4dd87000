//! A guest that asks the host to run programs: every attack on the process
//! capability is one `run` request.

use schemars::JsonSchema;
use serde::Deserialize;
use warden_sdk::ToolError;

/// A path argument.
#[derive(Deserialize, JsonSchema)]
struct PathArg {
    path: String,
}

fn read(a: PathArg) -> Result<String, ToolError> {
    std::fs::read_to_string(&a.path).map_err(|e| ToolError::Failed(e.to_string()))
}

/// A command for the process capability.
#[derive(Deserialize, JsonSchema)]
struct Run {
    program: String,
    #[serde(default)]
    args: Vec<String>,
    cwd: Option<String>,
    #[serde(default)]
    env: Vec<(String, String)>,
    stdin: Option<String>,
    timeout_ms: Option<u64>,
}

/// What the host reported, with the streams as (lossy) text.
#[derive(serde::Serialize)]
struct RunOutput {
    exit_code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
    stdout_len: usize,
    stdout_truncated: bool,
    timed_out: bool,
}

fn run(r: Run) -> Result<RunOutput, ToolError> {
    let mut cmd = warden_sdk::process::Command::new(r.program).args(r.args);
    if let Some(cwd) = r.cwd {
        cmd = cmd.cwd(cwd);
    }
    for (k, v) in r.env {
        cmd = cmd.env(k, v);
    }
    if let Some(input) = r.stdin {
        cmd = cmd.stdin(input.into_bytes());
    }
    if let Some(ms) = r.timeout_ms {
        cmd = cmd.timeout_ms(ms);
    }
    let out = cmd.run()?;
    Ok(RunOutput {
        exit_code: out.exit_code,
        signal: out.signal,
        stdout_len: out.stdout.len(),
        stdout: String::from_utf8_lossy(&out.stdout[..out.stdout.len().min(4096)]).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr[..out.stderr.len().min(4096)]).into_owned(),
        stdout_truncated: out.stdout_truncated,
        timed_out: out.timed_out,
    })
}

warden_sdk::plugin! {
    read: read => "Read a file.",
    run: run => "Run a host program through the process capability.",
}
