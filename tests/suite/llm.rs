//! A scripted model server: a real HTTP server on 127.0.0.1 that answers
//! each request with the next scripted step, in the wire format of the API
//! the request was sent to (chosen by path), streamed as Server-Sent Events
//! in small, awkwardly split chunks with keep-alives between them.
//!
//! A step can be a model turn (text and tool calls), built from the request
//! it answers so a scripted model can act on what it was shown, or a raw
//! response (an error status, a broken stream). The server records every
//! request and stops when dropped.

#![allow(dead_code)]

use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// One scripted model turn.
#[derive(Debug, Clone, Default)]
pub struct Turn {
    pub text: String,
    /// (tool name, raw arguments text)
    pub calls: Vec<(String, String)>,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Turn {
    pub fn text(text: &str) -> Self {
        Turn {
            text: text.into(),
            input_tokens: 100,
            output_tokens: 10,
            ..Turn::default()
        }
    }

    pub fn call(name: &str, args: Value) -> Self {
        Turn::raw_call(name, &args.to_string())
    }

    pub fn raw_call(name: &str, args: &str) -> Self {
        Turn {
            calls: vec![(name.into(), args.into())],
            input_tokens: 100,
            output_tokens: 10,
            ..Turn::default()
        }
    }

    pub fn and_call(mut self, name: &str, args: Value) -> Self {
        self.calls.push((name.into(), args.to_string()));
        self
    }

    pub fn saying(mut self, text: &str) -> Self {
        self.text = text.into();
        self
    }
}

type Builder = Box<dyn Fn(&Value) -> Turn + Send>;

pub enum Step {
    /// A model turn built from the request body.
    Turn(Builder),
    /// A raw response: status, headers, body chunks.
    Raw {
        status: u16,
        headers: Vec<(String, String)>,
        chunks: Vec<Vec<u8>>,
    },
}

impl Step {
    pub fn turn(t: Turn) -> Self {
        Step::Turn(Box::new(move |_| t.clone()))
    }

    pub fn with(f: impl Fn(&Value) -> Turn + Send + 'static) -> Self {
        Step::Turn(Box::new(f))
    }

    pub fn status(status: u16, body: &str) -> Self {
        Step::Raw {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            chunks: vec![body.as_bytes().to_vec()],
        }
    }

    pub fn sse(chunks: &[&str]) -> Self {
        Step::Raw {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            chunks: chunks.iter().map(|c| c.as_bytes().to_vec()).collect(),
        }
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Server {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<Step>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(steps: Vec<Step>) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(steps)));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (seen2, script2) = (seen.clone(), script.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let accept = async {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            continue;
                        };
                        let (seen, script) = (seen2.clone(), script2.clone());
                        tokio::spawn(async move {
                            let svc = hyper::service::service_fn(move |req| {
                                handle(req, seen.clone(), script.clone())
                            });
                            let io = hyper_util::rt::TokioIo::new(stream);
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(io, svc)
                                .await;
                        });
                    }
                };
                tokio::select! {
                    () = accept => {}
                    _ = stopped => {}
                }
            });
        });
        Server {
            addr,
            seen,
            script,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Base URL with the API version, as a client is configured.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn remaining(&self) -> usize {
        self.script.lock().unwrap().len()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A body that sends its chunks as separate frames, a moment apart, so
/// the client really receives them split.
struct Chunked(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for Chunked {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|o| o.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

async fn handle(
    req: hyper::Request<hyper::body::Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<Step>>>,
) -> Result<hyper::Response<Chunked>, Infallible> {
    use http_body_util::BodyExt;
    let path = req.uri().path().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    seen.lock().unwrap().push(Seen {
        path: path.clone(),
        headers,
        body: body.clone(),
    });
    let step = script.lock().unwrap().pop_front();
    let (status, headers, chunks) = match step {
        None => (
            400,
            vec![("content-type".to_string(), "application/json".to_string())],
            vec![br#"{"error":{"message":"the scripted server has no more turns"}}"#.to_vec()],
        ),
        Some(Step::Raw {
            status,
            headers,
            chunks,
        }) => (status, headers, chunks),
        Some(Step::Turn(build)) => {
            let turn = build(&body);
            let stream = encode(&path, &turn);
            (
                200,
                vec![("content-type".to_string(), "text/event-stream".to_string())],
                awkward(stream.as_bytes()),
            )
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        for c in chunks {
            if tx.send(Bytes::from(c)).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    });
    let mut resp = hyper::Response::new(Chunked(rx));
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    for (k, v) in headers {
        resp.headers_mut().insert(
            hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    Ok(resp)
}

/// Split a stream in uneven pieces that cut lines, `\r\n`-free data and
/// multi-byte characters: sizes cycle through 1, 7, 3, 13, 2, 29 bytes.
pub fn awkward(bytes: &[u8]) -> Vec<Vec<u8>> {
    const SIZES: [usize; 6] = [1, 7, 3, 13, 2, 29];
    let mut out = Vec::new();
    let mut at = 0;
    let mut n = 0;
    while at < bytes.len() {
        let end = (at + SIZES[n % SIZES.len()]).min(bytes.len());
        out.push(bytes[at..end].to_vec());
        at = end;
        n += 1;
    }
    out
}

fn sse(event: Option<&str>, data: &Value) -> String {
    match event {
        Some(e) => format!("event: {e}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

/// Pieces of a text, for deltas.
fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(5).map(|c| c.iter().collect()).collect()
}

/// Encode a turn in the wire format of the API at `path`.
pub fn encode(path: &str, turn: &Turn) -> String {
    if path.ends_with("/chat/completions") {
        chat(turn)
    } else if path.ends_with("/responses") {
        responses(turn)
    } else if path.ends_with("/messages") {
        anthropic(turn)
    } else {
        panic!("unknown API path {path}")
    }
}

fn chat(turn: &Turn) -> String {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
               "model": "scripted", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut s = sse(
        None,
        &chunk(json!({"role": "assistant", "content": ""}), Value::Null),
    );
    s.push_str(": keep-alive\n\n");
    for p in pieces(&turn.text) {
        s.push_str(&sse(None, &chunk(json!({"content": p}), Value::Null)));
    }
    for (i, (name, args)) in turn.calls.iter().enumerate() {
        s.push_str(&sse(
            None,
            &chunk(
                json!({"tool_calls": [{"index": i, "id": format!("call_{i}x"), "type": "function",
                        "function": {"name": name, "arguments": ""}}]}),
                Value::Null,
            ),
        ));
        for p in pieces(args) {
            s.push_str(&sse(
                None,
                &chunk(
                    json!({"tool_calls": [{"index": i, "function": {"arguments": p}}]}),
                    Value::Null,
                ),
            ));
        }
    }
    let finish = if turn.calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    s.push_str(&sse(None, &chunk(json!({}), json!(finish))));
    s.push_str(&sse(
        None,
        &json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [],
                "usage": {"prompt_tokens": turn.input_tokens, "completion_tokens": turn.output_tokens,
                          "total_tokens": turn.input_tokens + turn.output_tokens}}),
    ));
    s.push_str("data: [DONE]\n\n");
    s
}

fn responses(turn: &Turn) -> String {
    let mut seq = 0;
    let mut ev = |kind: &str, mut data: Value| {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(seq);
        seq += 1;
        sse(Some(kind), &data)
    };
    let mut s = ev(
        "response.created",
        json!({"response": {"id": "resp_1", "object": "response", "status": "in_progress", "output": []}}),
    );
    let mut output = Vec::new();
    let mut index = 0;
    if !turn.text.is_empty() {
        s.push_str(&ev("response.output_item.added", json!({"output_index": index,
            "item": {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}})));
        s.push_str(&ev(
            "response.content_part.added",
            json!({"item_id": "msg_1", "output_index": index,
            "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
        ));
        for p in pieces(&turn.text) {
            s.push_str(&ev(
                "response.output_text.delta",
                json!({"item_id": "msg_1",
                "output_index": index, "content_index": 0, "delta": p}),
            ));
        }
        s.push_str(&ev(
            "response.output_text.done",
            json!({"item_id": "msg_1",
            "output_index": index, "content_index": 0, "text": turn.text}),
        ));
        let item = json!({"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": turn.text, "annotations": []}]});
        s.push_str(&ev(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        ));
        output.push(item);
        index += 1;
    }
    for (i, (name, args)) in turn.calls.iter().enumerate() {
        let id = format!("fc_{i}");
        let call_id = format!("call_{i}r");
        s.push_str(&ev(
            "response.output_item.added",
            json!({"output_index": index,
            "item": {"id": id, "type": "function_call", "status": "in_progress", "arguments": "",
                     "call_id": call_id, "name": name}}),
        ));
        for p in pieces(args) {
            s.push_str(&ev(
                "response.function_call_arguments.delta",
                json!({"item_id": id, "output_index": index, "delta": p}),
            ));
        }
        s.push_str(&ev(
            "response.function_call_arguments.done",
            json!({"item_id": id, "output_index": index, "arguments": args}),
        ));
        let item = json!({"id": id, "type": "function_call", "status": "completed",
            "arguments": args, "call_id": call_id, "name": name});
        s.push_str(&ev(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        ));
        output.push(item);
        index += 1;
    }
    s.push_str(&ev(
        "response.completed",
        json!({"response": {"id": "resp_1", "object": "response",
        "status": "completed", "output": output,
        "usage": {"input_tokens": turn.input_tokens, "output_tokens": turn.output_tokens,
                  "total_tokens": turn.input_tokens + turn.output_tokens}}}),
    ));
    s
}

fn anthropic(turn: &Turn) -> String {
    let ev = |kind: &str, mut data: Value| {
        data["type"] = json!(kind);
        sse(Some(kind), &data)
    };
    let mut s = ev(
        "message_start",
        json!({"message": {"id": "msg_1", "type": "message", "role": "assistant",
        "content": [], "model": "scripted", "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": turn.input_tokens, "output_tokens": 1}}}),
    );
    let mut index = 0;
    if !turn.text.is_empty() {
        s.push_str(&ev(
            "content_block_start",
            json!({"index": index, "content_block": {"type": "text", "text": ""}}),
        ));
        s.push_str(&ev("ping", json!({})));
        for p in pieces(&turn.text) {
            s.push_str(&ev(
                "content_block_delta",
                json!({"index": index, "delta": {"type": "text_delta", "text": p}}),
            ));
        }
        s.push_str(&ev("content_block_stop", json!({"index": index})));
        index += 1;
    }
    for (i, (name, args)) in turn.calls.iter().enumerate() {
        s.push_str(&ev(
            "content_block_start",
            json!({"index": index, "content_block":
            {"type": "tool_use", "id": format!("toolu_{i}a"), "name": name, "input": {}}}),
        ));
        s.push_str(&ev(
            "content_block_delta",
            json!({"index": index, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        ));
        for p in pieces(args) {
            s.push_str(&ev(
                "content_block_delta",
                json!({"index": index, "delta": {"type": "input_json_delta", "partial_json": p}}),
            ));
        }
        s.push_str(&ev("content_block_stop", json!({"index": index})));
        index += 1;
    }
    s.push_str(&ev("ping", json!({})));
    let stop = if turn.calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    s.push_str(&ev(
        "message_delta",
        json!({"delta": {"stop_reason": stop, "stop_sequence": null},
        "usage": {"output_tokens": turn.output_tokens}}),
    ));
    s.push_str(&ev("message_stop", json!({})));
    s
}
