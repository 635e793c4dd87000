//! The loop: ask the model, run the tool calls it makes (each through
//! approval and then the plugin's grants), give it the results, until it
//! answers without a tool call or a limit ends the session.

use super::approval::{Approvals, Asker, Decision};
use super::context::{self, Context};
use super::event::{DenialNote, Event};
use super::govern::{self, Guard};
use super::plan::{self, Plan};
use super::provider::{Item, Observer, Provider, Request, ToolCall, ToolDef, Usage};
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
    /// The conversation was summarised: it is now `items` (for the
    /// transcript, so a resumed session starts from the summary).
    fn compacted(&mut self, _items: &[Item]) {}
}

/// How summarising the older turns went.
enum Compaction {
    /// Done, using these tokens.
    Done(Usage),
    /// Not done (announced as `compaction_failed`).
    Failed,
    Cancelled,
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
    /// The model's plan, kept across prompts and resumes.
    pub plan: &'a mut Plan,
    /// How full the model's window is.
    pub context: &'a mut Context,
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
    /// The text is not shown (a summary being written).
    quiet: bool,
}

impl Observer for Relay<'_> {
    fn text(&mut self, delta: &str) {
        if !self.quiet {
            self.sink.text(delta);
        }
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
        let defs: Vec<ToolDef> = self
            .tools
            .defs()
            .iter()
            .cloned()
            .chain([plan::def()])
            .collect();
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
            // Near the window, the older turns are summarised first; if the
            // provider still finds the conversation too long, once more
            // (from a smaller part kept) and the request is sent again.
            let estimate = self.context.estimate(self.instructions, &defs, items);
            if self.context.near(estimate) {
                match self
                    .compact(turn, items, "near_window", estimate, &defs, sink, cancel)
                    .await
                {
                    Compaction::Done(used) => usage.add(used),
                    Compaction::Failed => {}
                    Compaction::Cancelled => {
                        return end(
                            "cancelled",
                            turn,
                            usage,
                            Some("cancelled by the user".into()),
                        );
                    }
                }
            }
            let mut overflowed = false;
            let reply = loop {
                let req = Request {
                    instructions: self.instructions,
                    items,
                    tools: &defs,
                };
                let mut relay = Relay {
                    sink: &mut *sink,
                    turn,
                    quiet: false,
                };
                let reply = tokio::select! {
                    r = self.provider.complete(&req, &mut relay) => r,
                    () = cancelled(cancel) => {
                        return end("cancelled", turn, usage, Some("cancelled by the user".into()));
                    }
                };
                match reply {
                    Err(e) if e.is_overflow() && !overflowed => {
                        overflowed = true;
                        let estimate = self.context.estimate(self.instructions, &defs, items);
                        match self
                            .compact(turn, items, "overflow", estimate, &defs, sink, cancel)
                            .await
                        {
                            Compaction::Done(used) => usage.add(used),
                            Compaction::Failed => {
                                let why = format!(
                                    "{e}; the older turns could not be summarised to make room (start a new session, or set `context_window` for the model)"
                                );
                                return end("error", turn, usage, Some(why));
                            }
                            Compaction::Cancelled => {
                                return end(
                                    "cancelled",
                                    turn,
                                    usage,
                                    Some("cancelled by the user".into()),
                                );
                            }
                        }
                    }
                    other => break other,
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
            self.context.measured(reply.usage.total(), items.len());
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
        if call.name == plan::TOOL {
            return (self.update_plan(turn, call, sink), false);
        }
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

    /// The built-in plan tool: no plugin, no grant, nothing on the machine;
    /// the plan is shown and kept.
    fn update_plan(&mut self, turn: u32, call: &ToolCall, sink: &mut dyn Sink) -> Outcome {
        match plan::parse(&call.arguments) {
            Ok(new) => {
                let receipt = new.receipt();
                *self.plan = new.clone();
                sink.event(&Event::PlanUpdated { turn, plan: new });
                sink.event(&Event::ToolCallFinished {
                    call_id: call.id.clone(),
                    tool: plan::TOOL.into(),
                    ok: true,
                    output: receipt.clone(),
                    cut: 0,
                    denials: vec![],
                });
                Outcome {
                    is_error: false,
                    text: receipt,
                    cut: 0,
                    value: None,
                    denials: vec![],
                }
            }
            Err(reason) => {
                sink.event(&Event::ToolCallDenied {
                    call_id: call.id.clone(),
                    tool: plan::TOOL.into(),
                    reason: reason.clone(),
                });
                tools::error_outcome(reason)
            }
        }
    }

    /// Replace the older part of `items` by the model's summary of it.
    #[allow(clippy::too_many_arguments)]
    async fn compact(
        &mut self,
        turn: u32,
        items: &mut Vec<Item>,
        reason: &'static str,
        before: u64,
        defs: &[ToolDef],
        sink: &mut dyn Sink,
        cancel: &mut watch::Receiver<bool>,
    ) -> Compaction {
        // A provider that refused the conversation as too long has shown
        // that the window is smaller than it: what is kept is measured
        // against that, and so is when to summarise again.
        if reason == "overflow" {
            self.context.window = self.context.window.min(before).max(context::MIN_WINDOW);
        }
        let window = self.context.window;
        let failed = |sink: &mut dyn Sink, error: String| {
            sink.event(&Event::CompactionFailed {
                turn,
                reason: reason.into(),
                error,
            });
            Compaction::Failed
        };
        let Some(at) = context::split(items, window) else {
            return failed(
                sink,
                "there are no older turns to summarise: the latest exchange alone fills the window"
                    .into(),
            );
        };
        let ask = [Item::User {
            text: context::render(&items[..at], self.plan, window),
        }];
        let req = Request {
            instructions: context::SUMMARY_INSTRUCTIONS,
            items: &ask,
            tools: &[],
        };
        let mut relay = Relay {
            sink: &mut *sink,
            turn,
            quiet: true,
        };
        let reply = tokio::select! {
            r = self.provider.complete(&req, &mut relay) => r,
            () = cancelled(cancel) => return Compaction::Cancelled,
        };
        let reply = match reply {
            Ok(r) => r,
            Err(e) => return failed(sink, format!("the model could not summarise: {e}")),
        };
        let summary = context::bound_summary(reply.text.trim(), window);
        if summary.is_empty() {
            return failed(sink, "the model's summary was empty".into());
        }
        let kept = items.split_off(at);
        let summarised = items.len();
        items.clear();
        items.push(Item::Summary {
            text: summary.clone(),
        });
        let kept_len = kept.len();
        items.extend(kept);
        self.context.forget();
        let after = self.context.estimate(self.instructions, defs, items);
        sink.compacted(items);
        sink.event(&Event::ContextCompacted {
            turn,
            reason: reason.into(),
            tokens_before: before,
            tokens_after: after,
            window,
            summarised,
            kept: kept_len,
            summary,
        });
        Compaction::Done(reply.usage)
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
