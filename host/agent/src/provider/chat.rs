//! OpenAI-compatible Chat Completions: `messages` in, `chat.completion.chunk`
//! events out, tool calls streamed as `tool_calls` deltas joined by index,
//! and `data: [DONE]` at the end.

use super::{
    Endpoint, Item, MAX_CALLS_PER_REPLY, Observer, Reply, Request, ToolCall, WireError, bounded,
    json, malformed, sse,
};
use serde_json::{Value, json};

pub(super) fn body(endpoint: &Endpoint, req: &Request<'_>) -> Value {
    let mut messages = vec![json!({"role": "system", "content": req.instructions})];
    for item in req.items {
        messages.push(match item {
            Item::User { text } => json!({"role": "user", "content": text}),
            Item::Summary { text } => {
                json!({"role": "user", "content": Item::summary_text(text)})
            }
            Item::Assistant { text, calls } if calls.is_empty() => {
                json!({"role": "assistant", "content": text})
            }
            Item::Assistant { text, calls } => json!({
                "role": "assistant",
                "content": if text.is_empty() { Value::Null } else { json!(text) },
                "tool_calls": calls.iter().map(|c| json!({
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                })).collect::<Vec<_>>(),
            }),
            Item::Tool {
                call_id, output, ..
            } => json!({"role": "tool", "tool_call_id": call_id, "content": output}),
        });
    }
    let mut body = json!({
        "model": endpoint.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters,
                }})
            })
            .collect();
    }
    if let Some(max) = endpoint.max_output_tokens {
        body["max_tokens"] = json!(max);
    }
    body
}

#[derive(Default)]
pub(super) struct Parser {
    reply: Reply,
    /// Calls by their stream index, in order of first appearance.
    calls: Vec<(u64, ToolCall)>,
    finished: bool,
}

impl Parser {
    pub(super) fn event(
        &mut self,
        ev: &sse::Event,
        obs: &mut dyn Observer,
    ) -> Result<bool, WireError> {
        if ev.data.trim() == "[DONE]" {
            return Ok(true);
        }
        let v = json(ev)?;
        if let Some(err) = v.get("error") {
            let msg = err["message"]
                .as_str()
                .map_or_else(|| err.to_string(), str::to_string);
            return Err(WireError::Remote(super::preview(&msg)));
        }
        if let Some(usage) = v.get("usage").filter(|u| u.is_object()) {
            self.reply.usage.input_tokens = usage["prompt_tokens"].as_u64().unwrap_or(0);
            self.reply.usage.output_tokens = usage["completion_tokens"].as_u64().unwrap_or(0);
        }
        let Some(choices) = v.get("choices") else {
            return Err(malformed(format!(
                "a chunk has no `choices`: {}",
                super::preview(&ev.data)
            )));
        };
        let choices = choices
            .as_array()
            .ok_or_else(|| malformed("`choices` is not an array"))?;
        // Only the first choice is used; warden never asks for more.
        let Some(choice) = choices.first() else {
            return Ok(false);
        };
        if choice["finish_reason"].is_string() {
            self.finished = true;
        }
        let delta = &choice["delta"];
        if let Some(text) = delta["content"].as_str() {
            self.reply.text.push_str(text);
            bounded(&self.reply.text, "the model's text")?;
            obs.text(text);
        }
        if let Some(calls) = delta.get("tool_calls").filter(|c| !c.is_null()) {
            let calls = calls
                .as_array()
                .ok_or_else(|| malformed("`tool_calls` is not an array"))?;
            for (pos, call) in calls.iter().enumerate() {
                self.call_delta(pos as u64, call)?;
            }
        }
        Ok(false)
    }

    fn call_delta(&mut self, pos: u64, delta: &Value) -> Result<(), WireError> {
        // Some servers omit `index` when they send each call whole.
        let index = delta["index"].as_u64().unwrap_or(pos);
        let slot = match self.calls.iter().position(|(i, _)| *i == index) {
            Some(n) => n,
            None => {
                if self.calls.len() >= MAX_CALLS_PER_REPLY {
                    return Err(malformed(format!(
                        "more than {MAX_CALLS_PER_REPLY} tool calls in one reply"
                    )));
                }
                self.calls.push((
                    index,
                    ToolCall {
                        id: String::new(),
                        name: String::new(),
                        arguments: String::new(),
                    },
                ));
                self.calls.len() - 1
            }
        };
        let call = &mut self.calls[slot].1;
        if let Some(id) = delta["id"].as_str().filter(|s| !s.is_empty()) {
            call.id = id.to_string();
        }
        let f = &delta["function"];
        if let Some(name) = f["name"].as_str() {
            call.name.push_str(name);
        }
        match &f["arguments"] {
            Value::String(s) => call.arguments.push_str(s),
            Value::Null => {}
            // A few servers send the arguments as an object already.
            other => call.arguments.push_str(&other.to_string()),
        }
        bounded(&call.arguments, "a tool call's arguments")?;
        bounded(&call.name, "a tool name")
    }

    pub(super) fn finish(mut self) -> Result<Reply, WireError> {
        for (n, (_, mut call)) in self.calls.into_iter().enumerate() {
            if call.id.is_empty() {
                call.id = format!("call_{n}");
            }
            self.reply.calls.push(call);
        }
        Ok(self.reply)
    }

    /// A stream that ended without `[DONE]` is accepted when a choice
    /// finished (llama.cpp and others may omit the marker).
    pub(super) fn finished(&self) -> bool {
        self.finished
    }
}
