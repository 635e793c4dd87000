//! `warden mcp` over stdio, measured as a client sees it, beside two
//! floors in this same binary that answer the same requests by reading the
//! file directly, with no sandbox at all: a plain JSON-RPC loop (the pipe
//! round trip and JSON), and the same tool served by rmcp on the runtime
//! `warden mcp` uses (what the protocol library and scheduling add). The
//! rest of warden's time is the sandboxed call itself (see the `calls`
//! benchmark).
//!
//! Run: `cargo bench -p warden --bench mcp` (add `-- --calls N`). Reports:
//! - start-up: process start to the answer of the first `tools/list`, with
//!   warden's compile cache warm;
//! - a 1 KiB `fs__read` over stdio: median and p99 of sequential calls;
//! - peak resident memory of the server (VmHWM).

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next: u64,
}

impl Server {
    fn start(mut cmd: Command) -> Result<(Self, Duration), Box<dyn std::error::Error>> {
        let started = Instant::now();
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdin = child.stdin.take().ok_or("stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("stdout")?);
        let mut s = Server {
            child,
            stdin,
            stdout,
            next: 1,
        };
        s.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}),
        )?;
        writeln!(
            s.stdin,
            "{}",
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
        )?;
        s.request("tools/list", json!({}))?;
        Ok((s, started.elapsed()))
    }

    fn request(
        &mut self,
        method: &str,
        params: Value,
    ) -> Result<Value, Box<dyn std::error::Error>> {
        let id = self.next;
        self.next += 1;
        writeln!(
            self.stdin,
            "{}",
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
        )?;
        self.stdin.flush()?;
        let mut line = String::new();
        loop {
            line.clear();
            if self.stdout.read_line(&mut line)? == 0 {
                return Err("the server closed its output".into());
            }
            let msg: Value = serde_json::from_str(&line)?;
            if msg["id"] == json!(id) {
                return Ok(msg);
            }
        }
    }

    fn peak_rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
            })
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)].as_secs_f64() * 1e6
}

fn measure(
    name: &str,
    cmd: impl Fn() -> Command,
    calls: usize,
) -> Result<(f64, f64, f64), Box<dyn std::error::Error>> {
    // The first start fills warden's compile cache; the measured one is warm.
    drop(Server::start(cmd())?);
    let mut startups = Vec::new();
    for _ in 0..5 {
        let (_, took) = Server::start(cmd())?;
        startups.push(took);
    }
    startups.sort();
    let (mut server, _) = Server::start(cmd())?;
    let mut samples = Vec::with_capacity(calls);
    for i in 0..calls + calls / 10 {
        let t = Instant::now();
        let reply = server.request(
            "tools/call",
            json!({"name": "fs__read", "arguments": {"path": "one-kib.txt"}}),
        )?;
        let took = t.elapsed();
        if reply["result"]["isError"] != json!(false) {
            return Err(format!("{name}: the call failed: {reply}").into());
        }
        if i >= calls / 10 {
            samples.push(took);
        }
    }
    samples.sort();
    let (median, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
    let startup_ms = startups[startups.len() / 2].as_secs_f64() * 1e3;
    println!(
        "{name:<24} start→tools/list {startup_ms:>7.1} ms   1 KiB read median {median:>8.1} µs   p99 {p99:>8.1} µs   peak RSS {:>6.1} MiB",
        server.peak_rss_kib() as f64 / 1024.0
    );
    Ok((median, p99, startup_ms))
}

/// The rmcp floor: the same read as an rmcp tool on stdio, on the runtime
/// `warden mcp` runs on (a worker pool, I/O polled after every task). Runs
/// when this binary is started with `--rmcp-floor DIR`.
fn rmcp_floor(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    use rmcp::ServiceExt;
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .event_interval(1)
        .build()?;
    rt.block_on(async {
        let server = NativeRead {
            dir: dir.to_path_buf(),
        };
        let running = server.serve(rmcp::transport::stdio_pipes()).await?;
        running.waiting().await?;
        Ok(())
    })
}

#[derive(Clone)]
struct NativeRead {
    dir: std::path::PathBuf,
}

impl rmcp::ServerHandler for NativeRead {
    fn get_info(&self) -> rmcp::model::ServerConfig {
        rmcp::model::InitializeResult::new(
            rmcp::model::ServerCapabilities::builder()
                .enable_tools()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<rmcp::model::PaginatedRequestParams>,
        _context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::ListToolsResult, rmcp::ErrorData> {
        let mut schema = serde_json::Map::new();
        schema.insert("type".into(), json!("object"));
        Ok(rmcp::model::ListToolsResult::with_all_items(vec![
            rmcp::model::Tool::new("fs__read", "read a file", std::sync::Arc::new(schema)),
        ]))
    }

    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        _context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, rmcp::ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let path = args.get("path").and_then(Value::as_str).unwrap_or_default();
        let content = std::fs::read_to_string(self.dir.join(path))
            .map_err(|e| rmcp::ErrorData::internal_error(e.to_string(), None))?;
        let text = json!({"path": path, "content": content}).to_string();
        Ok(rmcp::model::CallToolResponse::Complete(
            rmcp::model::CallToolResult::success(vec![rmcp::model::ContentBlock::text(text)]),
        ))
    }
}

/// The floor: a native MCP-shaped stdio server doing the same read, no
/// sandbox, no WebAssembly. Runs when this binary is started with
/// `--native-floor DIR`.
fn native_floor(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let msg: Value = serde_json::from_str(&line?)?;
        let Some(id) = msg.get("id").cloned() else {
            continue;
        };
        let result = match msg["method"].as_str() {
            Some("initialize") => {
                json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}, "serverInfo": {"name": "floor", "version": "1"}})
            }
            Some("tools/list") => {
                json!({"tools": [{"name": "fs__read", "inputSchema": {"type": "object"}}]})
            }
            Some("tools/call") => {
                let path = msg["params"]["arguments"]["path"]
                    .as_str()
                    .unwrap_or_default();
                let content = std::fs::read_to_string(dir.join(path))?;
                let text = json!({"path": path, "content": content}).to_string();
                json!({"content": [{"type": "text", "text": text}], "isError": false})
            }
            _ => json!({}),
        };
        writeln!(
            stdout,
            "{}",
            json!({"jsonrpc": "2.0", "id": id, "result": result})
        )?;
        stdout.flush()?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--native-floor") {
        return native_floor(Path::new(&args[i + 1]));
    }
    if let Some(i) = args.iter().position(|a| a == "--rmcp-floor") {
        return rmcp_floor(Path::new(&args[i + 1]));
    }
    let calls: usize = args
        .iter()
        .skip_while(|a| *a != "--calls")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let tmp = tempfile::tempdir()?;
    let ws = tmp.path().canonicalize()?.join("ws");
    std::fs::create_dir_all(&ws)?;
    std::fs::write(ws.join("one-kib.txt"), "abcdefghijklmno\n".repeat(64))?;
    let home = tmp.path().to_path_buf();
    let ws_for_warden = ws.clone();
    let warden = move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
        cmd.args(["mcp"])
            .current_dir(&ws_for_warden)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CACHE_HOME", home.join("cache"));
        cmd
    };
    let me = std::env::current_exe()?;
    let ws_for_floor = ws.clone();
    let floor = move || {
        let mut cmd = Command::new(&me);
        cmd.arg("--native-floor").arg(&ws_for_floor);
        cmd
    };
    println!(
        "MCP over stdio, {calls} sequential calls, {} cores",
        std::thread::available_parallelism()?.get()
    );
    let me = std::env::current_exe()?;
    let ws_for_rmcp = ws.clone();
    let rmcp_floor = move || {
        let mut cmd = Command::new(&me);
        cmd.arg("--rmcp-floor").arg(&ws_for_rmcp);
        cmd
    };
    let (fm, fp, fs) = measure("native floor (no sandbox)", floor, calls)?;
    measure("rmcp floor (no sandbox)", rmcp_floor, calls)?;
    let (wm, wp, wsu) = measure("warden mcp", warden, calls)?;
    println!(
        "warden / floor: median {:.1}x, p99 {:.1}x, start-up {:.1}x",
        wm / fm,
        wp / fp,
        wsu / fs
    );
    Ok(())
}
