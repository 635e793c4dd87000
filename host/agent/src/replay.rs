//! The model behind `warden demo`: a recorded fix of the demo project,
//! replayed by an OpenAI-compatible Chat Completions server on 127.0.0.1.
//!
//! It is not a language model and says so: it answers each request with the
//! next step of one script (run the tests, read the file the failure names,
//! patch the line, run the tests again), in the real wire format (Server-Sent
//! Events, `tool_calls` deltas, a usage chunk, `[DONE]`). The script looks at
//! the tool results it is sent only to stop early when a step did not go as
//! recorded, so what the demo shows is warden's loop, tools, grants and
//! sandbox doing real work on real files.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// Name the replayed model reports.
pub const MODEL: &str = "warden-demo-replay";

/// Largest request body read.
const MAX_REQUEST_BYTES: usize = 4 << 20;

/// A replay server; it stops when dropped.
pub struct Replay {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    ending: Arc<Mutex<Option<Ending>>>,
}

/// How the script ended: the last step it answered without a tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// Whether the recording played to its end (the tests passed after the
    /// fix) rather than stopping early because a step went otherwise.
    pub fixed: bool,
    /// What the replay said when it stopped.
    pub said: String,
}

impl Replay {
    /// Serve on an ephemeral port of 127.0.0.1.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let ending = Arc::new(Mutex::new(None));
        let shared = ending.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service =
                        hyper::service::service_fn(move |req| answer(req, shared.clone()));
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        Ok(Replay { addr, task, ending })
    }

    /// How the script ended, once it has answered a step without a tool
    /// call; `None` while it is still going or if it was never asked.
    pub fn ending(&self) -> Option<Ending> {
        self.ending.lock().map_or(None, |e| e.clone())
    }

    /// The base URL to configure, `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    req: Request<hyper::body::Incoming>,
    ending: Arc<Mutex<Option<Ending>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() != "/v1/chat/completions" {
        return Ok(status(
            404,
            "the demo replay serves only /v1/chat/completions",
        ));
    }
    let body = match http_body_util::Limited::new(req.into_body(), MAX_REQUEST_BYTES)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(status(413, "request too large")),
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return Ok(status(400, "not JSON"));
    };
    let step = next_step(&request);
    if step.call.is_none()
        && let Ok(mut e) = ending.lock()
    {
        *e = Some(Ending {
            fixed: step.fixed,
            said: step.text.clone(),
        });
    }
    let mut response = Response::new(Full::new(Bytes::from(sse(&step))));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/event-stream"),
    );
    Ok(response)
}

fn status(code: u16, message: &str) -> Response<Full<Bytes>> {
    let body = json!({"error": {"message": message}}).to_string();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::BAD_REQUEST);
    r
}

/// One replayed turn: text, then at most one tool call.
#[derive(Debug, PartialEq)]
struct Step {
    text: String,
    call: Option<(String, Value)>,
    /// The last step of a recording that played to its end.
    fixed: bool,
}

fn say(text: &str) -> Step {
    Step {
        text: text.to_string(),
        call: None,
        fixed: false,
    }
}

fn call(text: &str, tool: &str, args: Value) -> Step {
    Step {
        text: text.to_string(),
        call: Some((tool.to_string(), args)),
        fixed: false,
    }
}

/// The step after the tool results the request carries.
fn next_step(request: &Value) -> Step {
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let results: Vec<String> = messages
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect();
    let offered = |name: &str| {
        request["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["function"]["name"] == name))
    };
    for tool in ["exec__run", "fs__read", "edit__replace"] {
        if !offered(tool) {
            return say(&format!(
                "(replay) I was not offered `{tool}`, so I cannot go on: the demo needs the bundled exec, fs and edit plugins."
            ));
        }
    }
    let last = results.last().map(String::as_str).unwrap_or_default();
    match results.len() {
        0 => call(
            "(replay) First I run the project's tests to see what fails.\n",
            "exec__run",
            json!({"cmd": ["make", "test"]}),
        ),
        1 if last.contains("FAIL add") => call(
            "(replay) `add 2 3` gave -1 instead of 5. The test sources calc.sh; let me read it.\n",
            "fs__read",
            json!({"path": "calc.sh"}),
        ),
        1 => say("(replay) The run did not fail the way the recording expects, so I stop here."),
        2 if last.contains("$(($1 - $2))") => call(
            "(replay) `add` subtracts. I replace the minus with a plus.\n",
            "edit__replace",
            json!({"path": "calc.sh", "old": "echo $(($1 - $2))", "new": "echo $(($1 + $2))"}),
        ),
        2 => say("(replay) calc.sh is not what the recording expects, so I stop here."),
        3 => call(
            "(replay) Now I run the tests again.\n",
            "exec__run",
            json!({"cmd": ["make", "test"]}),
        ),
        _ if last.contains("1 passed") => Step {
            fixed: true,
            ..say(
                "(replay) The test passes: `add` in calc.sh subtracted its arguments; it now adds them.",
            )
        },
        _ => say("(replay) The tests still fail; a real model would keep going from here."),
    }
}

/// The step as a Chat Completions event stream.
fn sse(step: &Step) -> String {
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": "chatcmpl-demo",
            "object": "chat.completion.chunk",
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    // Text in small pieces, as a model streams it.
    let chars: Vec<char> = step.text.chars().collect();
    for piece in chars.chunks(12) {
        let text: String = piece.iter().collect();
        events.push(chunk(json!({"content": text}), Value::Null));
    }
    let finish = match &step.call {
        Some((name, args)) => {
            let args = args.to_string();
            let (head, tail) = args.split_at(args.len() / 2);
            events.push(chunk(
                json!({"tool_calls": [{"index": 0, "id": "call_demo", "type": "function",
                                        "function": {"name": name, "arguments": head}}]}),
                Value::Null,
            ));
            events.push(chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": tail}}]}),
                Value::Null,
            ));
            "tool_calls"
        }
        None => "stop",
    };
    events.push(chunk(json!({}), json!(finish)));
    events.push(json!({
        "id": "chatcmpl-demo", "object": "chat.completion.chunk", "model": MODEL, "choices": [],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }));
    let mut out = String::new();
    for e in events {
        out.push_str("data: ");
        out.push_str(&e.to_string());
        out.push_str("\n\n");
    }
    out.push_str("data: [DONE]\n\n");
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn request(results: &[&str]) -> Value {
        let tools: Vec<Value> = ["exec__run", "fs__read", "edit__replace"]
            .iter()
            .map(|n| json!({"type": "function", "function": {"name": n}}))
            .collect();
        let mut messages = vec![json!({"role": "user", "content": "fix it"})];
        for r in results {
            messages.push(json!({"role": "tool", "content": r}));
        }
        json!({"messages": messages, "tools": tools})
    }

    #[test]
    fn the_script_follows_the_recording_and_stops_when_it_diverges() {
        let first = next_step(&request(&[]));
        assert_eq!(first.call.unwrap().0, "exec__run");
        let read = next_step(&request(&["FAIL add: add 2 3: expected 5, got -1"]));
        assert_eq!(read.call.unwrap().1, json!({"path": "calc.sh"}));
        let early = next_step(&request(&["1 passed"]));
        assert!(early.call.is_none() && !early.fixed);
        let patch = next_step(&request(&["FAIL add", "echo $(($1 - $2))"]));
        assert_eq!(patch.call.unwrap().0, "edit__replace");
        let done = next_step(&request(&[
            "FAIL add",
            "echo $(($1 - $2))",
            "ok",
            "1 passed",
        ]));
        assert!(done.call.is_none() && done.fixed && done.text.contains("now adds them"));
        let still = next_step(&request(&[
            "FAIL add",
            "echo $(($1 - $2))",
            "ok",
            "FAIL add",
        ]));
        assert!(still.call.is_none() && !still.fixed);
        let mut no_tools = request(&[]);
        no_tools["tools"] = json!([]);
        assert!(
            next_step(&no_tools)
                .text
                .contains("not offered `exec__run`")
        );
    }

    #[test]
    fn steps_are_valid_chat_completion_streams() {
        let text = sse(&call("hi", "fs__read", json!({"path": "a b"})));
        let mut args = String::new();
        let mut done = false;
        for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
            if line == "[DONE]" {
                done = true;
                continue;
            }
            let v: Value = serde_json::from_str(line).unwrap();
            if let Some(a) =
                v["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str()
            {
                args.push_str(a);
            }
        }
        assert!(done);
        assert_eq!(
            serde_json::from_str::<Value>(&args).unwrap(),
            json!({"path": "a b"})
        );
    }
}
