//! OpenAI Responses API: `input` items in (`function_call` and
//! `function_call_output` for tools), typed `response.*` events out.

use super::{
    Endpoint, Item, MAX_CALLS_PER_REPLY, Observer, Reply, Request, ToolCall, WireError, bounded,
    json, malformed, preview, sse,
};
use serde_json::{Value, json};

pub(super) fn body(endpoint: &Endpoint, req: &Request<'_>) -> Value {
    let mut input = Vec::new();
    for item in req.items {
        match item {
            Item::User { text } => input.push(json!({"role": "user", "content": text})),
            Item::Summary { text } => {
                input.push(json!({"role": "user", "content": Item::summary_text(text)}))
            }
            Item::Assistant { text, calls } => {
                if !text.is_empty() {
                    input.push(json!({"role": "assistant", "content": text}));
                }
                for c in calls {
                    input.push(json!({
                        "type": "function_call",
                        "call_id": c.id,
                        "name": c.name,
                        "arguments": c.arguments,
                    }));
                }
            }
            Item::Tool {
                call_id, output, ..
            } => input.push(json!({
                "type": "function_call_output",
                "call_id": call_id,
                "output": output,
            })),
        }
    }
    let mut body = json!({
        "model": endpoint.model,
        "instructions": req.instructions,
        "input": input,
        "stream": true,
        "store": false,
    });
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| {
                json!({
                    "type": "function",
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                    "strict": false,
                })
            })
            .collect();
    }
    if let Some(max) = endpoint.max_output_tokens {
        body["max_output_tokens"] = json!(max);
    }
    body
}

/// A function call being streamed, keyed by its output item id.
struct Pending {
    item_id: String,
    call: ToolCall,
}

#[derive(Default)]
pub(super) struct Parser {
    reply: Reply,
    calls: Vec<Pending>,
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
            "response.output_text.delta" => {
                let delta = v["delta"]
                    .as_str()
                    .ok_or_else(|| malformed("`response.output_text.delta` without `delta`"))?;
                self.reply.text.push_str(delta);
                bounded(&self.reply.text, "the model's text")?;
                obs.text(delta);
            }
            "response.output_item.added" | "response.output_item.done" => {
                let item = &v["item"];
                if item["type"] == "function_call" {
                    self.function_call(item, kind.ends_with("done"))?;
                }
            }
            "response.function_call_arguments.delta" => {
                let delta = v["delta"].as_str().unwrap_or_default();
                let pending = self.pending(&v)?;
                pending.call.arguments.push_str(delta);
                bounded(&pending.call.arguments, "a tool call's arguments")?;
            }
            "response.function_call_arguments.done" => {
                if let Some(args) = v["arguments"].as_str() {
                    let pending = self.pending(&v)?;
                    pending.call.arguments = args.to_string();
                    bounded(&pending.call.arguments, "a tool call's arguments")?;
                }
            }
            "response.completed" | "response.incomplete" => {
                let usage = &v["response"]["usage"];
                self.reply.usage.input_tokens = usage["input_tokens"].as_u64().unwrap_or(0);
                self.reply.usage.output_tokens = usage["output_tokens"].as_u64().unwrap_or(0);
                if kind == "response.incomplete" {
                    let why = v["response"]["incomplete_details"]["reason"]
                        .as_str()
                        .unwrap_or("unknown reason");
                    tracing::warn!("the model's reply is incomplete: {}", preview(why));
                }
                return Ok(true);
            }
            "response.failed" => {
                let err = &v["response"]["error"];
                let msg = err["message"].as_str().unwrap_or("the response failed");
                return Err(WireError::Remote(preview(msg)));
            }
            "error" => {
                let msg = v["message"]
                    .as_str()
                    .or_else(|| v["error"]["message"].as_str())
                    .unwrap_or("unknown error");
                return Err(WireError::Remote(preview(msg)));
            }
            _ => {}
        }
        Ok(false)
    }

    fn function_call(&mut self, item: &Value, done: bool) -> Result<(), WireError> {
        let item_id = item["id"].as_str().unwrap_or_default().to_string();
        let call_id = item["call_id"].as_str().unwrap_or_default();
        let name = item["name"].as_str().unwrap_or_default();
        let args = item["arguments"].as_str();
        let found = self.calls.iter_mut().find(|p| {
            (!item_id.is_empty() && p.item_id == item_id)
                || (!call_id.is_empty() && p.call.id == call_id)
        });
        let pending = match found {
            Some(p) => p,
            None => {
                if self.calls.len() >= MAX_CALLS_PER_REPLY {
                    return Err(malformed(format!(
                        "more than {MAX_CALLS_PER_REPLY} tool calls in one reply"
                    )));
                }
                self.calls.push(Pending {
                    item_id: item_id.clone(),
                    call: ToolCall {
                        id: String::new(),
                        name: String::new(),
                        arguments: String::new(),
                    },
                });
                let last = self.calls.len() - 1;
                &mut self.calls[last]
            }
        };
        if !call_id.is_empty() {
            pending.call.id = call_id.to_string();
        }
        if !name.is_empty() {
            pending.call.name = name.to_string();
        }
        // The finished item carries the whole arguments text.
        if let Some(args) = args.filter(|a| done || !a.is_empty()) {
            pending.call.arguments = args.to_string();
        }
        bounded(&pending.call.arguments, "a tool call's arguments")?;
        bounded(&pending.call.name, "a tool name")
    }

    fn pending(&mut self, v: &Value) -> Result<&mut Pending, WireError> {
        let item_id = v["item_id"].as_str().unwrap_or_default();
        let by_id = self.calls.iter().position(|p| p.item_id == item_id);
        // Without a matching id, `output_index` order is the call order.
        let n = by_id
            .or_else(|| (self.calls.len() == 1).then_some(0))
            .ok_or_else(|| {
                malformed(format!(
                    "function call arguments for an unknown item `{}`",
                    preview(item_id)
                ))
            })?;
        Ok(&mut self.calls[n])
    }

    pub(super) fn finish(mut self) -> Result<Reply, WireError> {
        for (n, mut p) in self.calls.into_iter().enumerate() {
            if p.call.id.is_empty() {
                p.call.id = if p.item_id.is_empty() {
                    format!("call_{n}")
                } else {
                    p.item_id
                };
            }
            self.reply.calls.push(p.call);
        }
        Ok(self.reply)
    }
}
