//! Anthropic Messages: `tool_use` and `tool_result` content blocks in;
//! `message_start`, `content_block_*` (with `input_json_delta`),
//! `message_delta` (usage), `message_stop`, `ping` and `error` events out.

use super::{
    Endpoint, Item, MAX_CALLS_PER_REPLY, Observer, Reply, Request, ToolCall, WireError, bounded,
    json, malformed, preview, sse,
};
use serde_json::{Value, json};

/// Anthropic requires `max_tokens`; used when the profile sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 8192;

pub(super) fn body(endpoint: &Endpoint, req: &Request<'_>) -> Value {
    // Roles must alternate: consecutive blocks of one role share a message
    // (tool results and the next user text go in one user message).
    let mut messages: Vec<(&str, Vec<Value>)> = Vec::new();
    let mut push = |role: &'static str, block: Value| match messages.last_mut() {
        Some((r, blocks)) if *r == role => blocks.push(block),
        _ => messages.push((role, vec![block])),
    };
    for item in req.items {
        match item {
            Item::User { text } => push("user", json!({"type": "text", "text": text})),
            Item::Summary { text } => push(
                "user",
                json!({"type": "text", "text": Item::summary_text(text)}),
            ),
            Item::Assistant { text, calls } => {
                if !text.is_empty() {
                    push("assistant", json!({"type": "text", "text": text}));
                }
                for c in calls {
                    // The API wants an object; arguments that were not one
                    // were refused as a tool error, which the result says.
                    let input = serde_json::from_str::<Value>(&c.arguments)
                        .ok()
                        .filter(Value::is_object)
                        .unwrap_or_else(|| json!({}));
                    push(
                        "assistant",
                        json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}),
                    );
                }
            }
            Item::Tool {
                call_id,
                output,
                is_error,
                ..
            } => push(
                "user",
                json!({"type": "tool_result", "tool_use_id": call_id, "content": output, "is_error": is_error}),
            ),
        }
    }
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    let mut body = json!({
        "model": endpoint.model,
        "max_tokens": endpoint.max_output_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "system": req.instructions,
        "messages": messages,
        "stream": true,
    });
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
    }
    body
}

/// A content block being streamed.
enum Block {
    Text,
    ToolUse(ToolCall),
    Other,
}

#[derive(Default)]
pub(super) struct Parser {
    reply: Reply,
    /// Blocks by their stream index.
    blocks: Vec<(u64, Block)>,
    started: bool,
}

impl Parser {
    pub(super) fn event(
        &mut self,
        ev: &sse::Event,
        obs: &mut dyn Observer,
    ) -> Result<bool, WireError> {
        let v = json(ev)?;
        let kind = v["type"].as_str().unwrap_or(ev.name.as_str());
        match kind {
            "ping" => {}
            "message_start" => {
                self.started = true;
                let usage = &v["message"]["usage"];
                self.reply.usage.input_tokens = usage["input_tokens"].as_u64().unwrap_or(0)
                    + usage["cache_creation_input_tokens"].as_u64().unwrap_or(0)
                    + usage["cache_read_input_tokens"].as_u64().unwrap_or(0);
                self.reply.usage.output_tokens = usage["output_tokens"].as_u64().unwrap_or(0);
            }
            "content_block_start" => {
                let index = index(&v)?;
                let cb = &v["content_block"];
                let block = match cb["type"].as_str() {
                    Some("text") => {
                        if let Some(text) = cb["text"].as_str().filter(|t| !t.is_empty()) {
                            self.text(text, obs)?;
                        }
                        Block::Text
                    }
                    Some("tool_use") => {
                        let calls = self
                            .blocks
                            .iter()
                            .filter(|(_, b)| matches!(b, Block::ToolUse(_)))
                            .count();
                        if calls >= MAX_CALLS_PER_REPLY {
                            return Err(malformed(format!(
                                "more than {MAX_CALLS_PER_REPLY} tool calls in one reply"
                            )));
                        }
                        Block::ToolUse(ToolCall {
                            id: cb["id"].as_str().unwrap_or_default().to_string(),
                            name: cb["name"].as_str().unwrap_or_default().to_string(),
                            arguments: String::new(),
                        })
                    }
                    _ => Block::Other,
                };
                self.blocks.push((index, block));
            }
            "content_block_delta" => {
                let index = index(&v)?;
                let delta = &v["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => {
                        let text = delta["text"].as_str().unwrap_or_default();
                        self.text(text, obs)?;
                    }
                    Some("input_json_delta") => {
                        let part = delta["partial_json"].as_str().unwrap_or_default();
                        match self.blocks.iter_mut().find(|(i, _)| *i == index) {
                            Some((_, Block::ToolUse(call))) => {
                                call.arguments.push_str(part);
                                bounded(&call.arguments, "a tool call's arguments")?;
                            }
                            _ => {
                                return Err(malformed(format!(
                                    "input_json_delta for block {index}, which is not a tool_use block"
                                )));
                            }
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {}
            "message_delta" => {
                if let Some(out) = v["usage"]["output_tokens"].as_u64() {
                    self.reply.usage.output_tokens = out;
                }
            }
            "message_stop" => return Ok(true),
            "error" => {
                let msg = v["error"]["message"].as_str().unwrap_or("unknown error");
                let kind = v["error"]["type"].as_str().unwrap_or("error");
                return Err(WireError::Remote(format!(
                    "{}: {}",
                    preview(kind),
                    preview(msg)
                )));
            }
            _ => {}
        }
        Ok(false)
    }

    fn text(&mut self, text: &str, obs: &mut dyn Observer) -> Result<(), WireError> {
        self.reply.text.push_str(text);
        bounded(&self.reply.text, "the model's text")?;
        obs.text(text);
        Ok(())
    }

    pub(super) fn finish(mut self) -> Result<Reply, WireError> {
        if !self.started {
            return Err(malformed("the stream has no message_start"));
        }
        self.blocks.sort_by_key(|(i, _)| *i);
        for (n, (_, block)) in self.blocks.into_iter().enumerate() {
            if let Block::ToolUse(mut call) = block {
                if call.arguments.trim().is_empty() {
                    call.arguments = "{}".into();
                }
                if call.id.is_empty() {
                    call.id = format!("toolu_{n}");
                }
                self.reply.calls.push(call);
            }
        }
        Ok(self.reply)
    }
}

fn index(v: &Value) -> Result<u64, WireError> {
    v["index"].as_u64().ok_or_else(|| {
        malformed(format!(
            "a content block event has no `index`: {}",
            preview(&v.to_string())
        ))
    })
}
