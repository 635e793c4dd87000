//! The loop: ask the model, run the tool calls it makes (each through
//! approval and then the plugin's grants), give it the results, until it
//! answers without a tool call or a limit ends the session.

use super::approval::{Approvals, Asker, Decision};
use super::event::{DenialNote, Event};
use super::govern::{self, Guard};
use super::provider::{Item, Observer, Provider, Request, ToolCall, Usage};
use super::tools::{self, Class, Outcome, Toolbox};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tokio::sync::watch;
use warden_core::escape::escape;

/// Bounds on one session.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most requests to the model.
    pub max_turns: u32,
    /// Most tokens (input plus output, summed over requests); checked
    /// before each request.
    pub token_budget: Option<u64>,
}

/// Default for `--max-turns`.
pub const DEFAULT_MAX_TURNS: u32 = 50;

/// Where events, conversation items and streamed text go.
pub trait Sink {
    fn event(&mut self, event: &Event);
    /// An item was added to the conversation (for the transcript).
    fn item(&mut self, _item: &Item) {}
    /// A piece of the model's text, as it streams.
    fn text(&mut self, _delta: &str) {}
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// `done`, `max_turns`, `budget`, `cancelled` or `error`.
    pub reason: &'static str,
    /// The number of the last turn taken.
    pub turns: u32,
    pub usage: Usage,
    pub error: Option<String>,
}

pub struct Agent<'a> {
    pub provider: &'a Provider,
    pub tools: &'a Toolbox,
    pub approvals: &'a mut Approvals,
    pub asker: Option<&'a mut dyn Asker>,
    pub workspace: &'a Path,
    pub instructions: &'a str,
    pub limits: Limits,
    /// Records of the calls the agent refuses itself, when present (the
    /// calls it makes are recorded by the toolbox's session).
    pub guard: Option<&'a mut dyn Guard>,
    /// The last turn the session took: the next is one more. A resumed
    /// session and each prompt of a chat count on, so a turn has one
    /// number in events, transcripts and the audit log.
    pub turn: u32,
}

/// Resolves once the user asked to cancel (never if the sender is gone).
async fn cancelled(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

struct Relay<'s> {
    sink: &'s mut dyn Sink,
    turn: u32,
}

impl Observer for Relay<'_> {
    fn text(&mut self, delta: &str) {
        self.sink.text(delta);
    }
    fn retry(&mut self, attempt: u32, delay: Duration, why: &str) {
        self.sink.event(&Event::Retrying {
            turn: self.turn,
            attempt,
            delay_ms: delay.as_millis() as u64,
            reason: why.to_string(),
        });
    }
}

impl Agent<'_> {
    /// Continue the conversation in `items` until it ends, then say the
    /// session ended. `cancel` turning true stops the running request or
    /// tool call and ends the session.
    pub async fn run(
        &mut self,
        items: &mut Vec<Item>,
        sink: &mut dyn Sink,
        cancel: &mut watch::Receiver<bool>,
    ) -> Ended {
        let ended = self.converse(items, sink, cancel).await;
        sink.event(&Event::SessionCompleted {
            reason: String::from(ended.reason),
            turns: ended.turns,
            usage: ended.usage,
            error: ended.error.clone(),
        });
        ended
    }

    /// Take turns on the conversation in `items` until the model answers
    /// without a tool call, a limit is reached or `cancel` turns true; the
    /// session goes on (a chat's next prompt continues it). `usage` is
    /// what these turns used.
    pub async fn converse(
        &mut self,
        items: &mut Vec<Item>,
        sink: &mut dyn Sink,
        cancel: &mut watch::Receiver<bool>,
    ) -> Ended {
        let mut usage = Usage::default();
        let first = self.turn;
        let end = |reason, turn, usage, error: Option<String>| Ended {
            reason,
            turns: turn,
            usage,
            error,
        };
        loop {
            let taken = self.turn - first;
            if taken >= self.limits.max_turns {
                let why = format!("stopped after {taken} turns (--max-turns)");
                return end("max_turns", self.turn, usage, Some(why));
            }
            if let Some(budget) = self.limits.token_budget
                && usage.total() >= budget
            {
                let why = format!(
                    "stopped after {} tokens, at the budget of {budget} (--token-budget)",
                    usage.total()
                );
                return end("budget", self.turn, usage, Some(why));
            }
            self.turn += 1;
            let turn = self.turn;
            sink.event(&Event::TurnStarted { turn });
            let req = Request {
                instructions: self.instructions,
                items,
                tools: self.tools.defs(),
            };
            let reply = {
                let mut relay = Relay {
                    sink: &mut *sink,
                    turn,
                };
                tokio::select! {
                    r = self.provider.complete(&req, &mut relay) => r,
                    () = cancelled(cancel) => {
                        return end("cancelled", turn, usage, Some("cancelled by the user".into()));
                    }
                }
            };
            let reply = match reply {
                Ok(r) => r,
                Err(e) => return end("error", turn, usage, Some(e.to_string())),
            };
            usage.add(reply.usage);
            if !reply.text.is_empty() {
                sink.event(&Event::Message {
                    turn,
                    text: reply.text.clone(),
                });
            }
            let calls = reply.calls.clone();
            let assistant = Item::Assistant {
                text: reply.text,
                calls: reply.calls,
            };
            sink.item(&assistant);
            items.push(assistant);
            let mut stopped = false;
            for call in &calls {
                sink.event(&Event::ToolCallRequested {
                    turn,
                    call_id: call.id.clone(),
                    tool: call.name.clone(),
                    arguments: call.arguments.clone(),
                });
                let outcome = if stopped {
                    tools::error_outcome("not run: the user cancelled the turn".into())
                } else {
                    let (outcome, was_cancelled) = self.handle(turn, call, sink, cancel).await;
                    stopped = was_cancelled;
                    outcome
                };
                let result = Item::Tool {
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    output: outcome.text,
                    is_error: outcome.is_error,
                };
                sink.item(&result);
                items.push(result);
            }
            sink.event(&Event::TurnCompleted {
                turn,
                usage: reply.usage,
                total: usage,
            });
            if stopped {
                return end(
                    "cancelled",
                    turn,
                    usage,
                    Some("cancelled by the user".into()),
                );
            }
            if calls.is_empty() {
                return end("done", turn, usage, None);
            }
        }
    }

    /// Check, approve and run one call. Returns its outcome and whether the
    /// user cancelled it.
    async fn handle(
        &mut self,
        turn: u32,
        call: &ToolCall,
        sink: &mut dyn Sink,
        cancel: &mut watch::Receiver<bool>,
    ) -> (Outcome, bool) {
        let tools = self.tools;
        let Some(tool) = tools.find(&call.name) else {
            let names: Vec<&str> = tools.tools().iter().map(|t| t.exposed.as_str()).collect();
            let reason = format!(
                "there is no tool named {:?}; the tools are: {}",
                escape(&call.name),
                names.join(", ")
            );
            return self.deny(turn, call, sink, &call.name, reason);
        };
        let text = if call.arguments.trim().is_empty() {
            "{}"
        } else {
            call.arguments.as_str()
        };
        let input = match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                let reason = format!("{}: the arguments must be a JSON object", tool.qualified);
                return self.deny(turn, call, sink, &tool.qualified, reason);
            }
            Err(e) => {
                let reason = format!(
                    "{}: the arguments are not valid JSON ({e}); send one JSON object matching the tool's schema",
                    tool.qualified
                );
                return self.deny(turn, call, sink, &tool.qualified, reason);
            }
        };
        // The call is approved by what its plugin can do now (a grant
        // widened during the session is not approved by its old class), and
        // runs only if the plugin is still that when it begins.
        let (plugin, current) = match tools.look(tool).await {
            Ok(seen) => seen,
            Err(reason) => return self.deny(turn, call, sink, &tool.qualified, reason),
        };
        let asker = self.asker.as_mut().map(|a| &mut **a as &mut dyn Asker);
        let by = match self
            .approvals
            .decide(&current, &input, self.workspace, asker)
        {
            Decision::Run { by } => by,
            Decision::Deny { reason } => {
                return self.deny(turn, call, sink, &tool.qualified, reason);
            }
        };
        let tool = &current;
        // What runs is exactly what was decided on.
        let approved = input.to_string();
        // Recorded (and, if it can change files, captured) before it runs;
        // if that cannot be done, it does not run.
        let running = match tools
            .begin(tool, &approved, govern::note(turn, Some(by)), plugin)
            .await
        {
            Ok(r) => r,
            Err(reason) => {
                sink.event(&Event::ToolCallDenied {
                    call_id: call.id.clone(),
                    tool: tool.qualified.clone(),
                    reason: reason.clone(),
                });
                return (tools::error_outcome(reason), false);
            }
        };
        sink.event(&Event::ToolCallApproved {
            call_id: call.id.clone(),
            tool: tool.qualified.clone(),
            class: tool.class,
            by: by.to_string(),
        });
        let ended = tools.finish(tool, running, cancelled(cancel)).await;
        let (outcome, was_cancelled, captured) = (ended.outcome, ended.cancelled, ended.changed);
        sink.event(&Event::ToolCallFinished {
            call_id: call.id.clone(),
            tool: tool.qualified.clone(),
            ok: !outcome.is_error && !outcome.value.as_ref().is_some_and(tools::reported_failure),
            output: outcome.text.clone(),
            cut: outcome.cut,
            denials: outcome
                .denials
                .iter()
                .map(|d| DenialNote {
                    capability: d.capability.to_string(),
                    operation: d.operation.to_string(),
                    resource: d.resource.clone(),
                    reason: d.reason.clone(),
                })
                .collect(),
        });
        // What changed on disk: from the capture when there is one (it sees
        // what programs wrote too), else from what the edit tools report.
        let changed = match captured {
            Some(paths) => paths,
            None if tool.class != Class::Read => outcome
                .value
                .as_ref()
                .map(tools::changed_paths)
                .unwrap_or_default(),
            None => vec![],
        };
        for path in changed {
            sink.event(&Event::FileChanged {
                call_id: call.id.clone(),
                path,
            });
        }
        (outcome, was_cancelled)
    }

    /// Refuse a call before it runs: recorded, shown, and told to the model.
    fn deny(
        &mut self,
        turn: u32,
        call: &ToolCall,
        sink: &mut dyn Sink,
        tool: &str,
        reason: String,
    ) -> (Outcome, bool) {
        if let Some(g) = self.guard.as_deref_mut() {
            g.refused(turn, tool, &reason);
        }
        sink.event(&Event::ToolCallDenied {
            call_id: call.id.clone(),
            tool: tool.to_string(),
            reason: reason.clone(),
        });
        (tools::error_outcome(reason), false)
    }
}
