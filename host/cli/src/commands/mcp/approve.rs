//! `warden mcp --approval ask|auto|read-only`: who decides, within the
//! grants, that a call runs.
//!
//! The decision is the agent's ([`Approvals`]): the same modes, the same
//! prompt (the exact argv, the URL, the edit as a diff), and "always"
//! remembered for the project in the same place. What differs is who is
//! asked: the person behind the MCP client, through MCP elicitation. The
//! only answer that runs a call is that person's answer to the elicitation
//! request warden sends; nothing in a tool call's arguments or metadata
//! counts. A client that cannot elicit gets a refusal that says so.

use super::tools::exposed;
use rmcp::RoleServer;
use rmcp::model::{ElicitRequestParams, ElicitationAction, ElicitationSchema};
use rmcp::service::{ElicitationMode, RequestContext};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, Mutex};
use warden_agent::approval::{Answer, Approvals, Asker, Decision, Mode, preview};
use warden_agent::tools::{Class, Tool};
use warden_core::session::{Note, Plugin, Session};

/// What the approval step decided.
pub enum Verdict {
    /// Run it as approved (`by`), if the plugin is still the one approved.
    Run {
        by: &'static str,
        plugin: Arc<Plugin>,
    },
    /// Not run; the text (already in the audit log) says why.
    Refused(String),
    /// The plugin cannot run here at all: the session refuses and records
    /// that itself.
    Unopened,
}

/// The server's approvals: one mode, and the remembered "always" answers
/// of this workspace.
pub struct Approver {
    mode: Mode,
    approvals: Mutex<Approvals>,
}

/// An answer already given, for [`Approvals::decide`]'s second pass.
struct Given(Answer);

impl Asker for Given {
    fn ask(&mut self, _prompt: &str) -> Answer {
        self.0
    }
}

/// The choice the person is offered.
fn requested_schema() -> Result<ElicitationSchema, serde_json::Error> {
    let schema = json!({
        "type": "object",
        "properties": {
            "answer": {
                "type": "string",
                "title": "Run this call?",
                "oneOf": [
                    {"const": "yes", "title": "Yes, this once"},
                    {"const": "always", "title": "Always run this exact call in this project"},
                    {"const": "no", "title": "No"}
                ]
            }
        },
        "required": ["answer"]
    });
    ElicitationSchema::from_json_schema(schema.as_object().cloned().unwrap_or_default())
}

impl Approver {
    /// Approvals in `mode`, "always" remembered in `dir` for `workspace`.
    pub fn new(mode: Mode, dir: &Path, workspace: &Path) -> anyhow::Result<Self> {
        // Checked now, so a broken schema stops the server, not a call.
        requested_schema()?;
        let approvals = Approvals::new(mode, Some(dir), workspace).map_err(anyhow::Error::msg)?;
        Ok(Approver {
            mode,
            approvals: Mutex::new(approvals),
        })
    }

    fn decide(&self, tool: &Tool, input: &Value, ws: &Path, answer: Option<Answer>) -> Decision {
        let mut approvals = self.approvals.lock().unwrap_or_else(|p| p.into_inner());
        match answer {
            Some(a) => approvals.decide(tool, input, ws, Some(&mut Given(a))),
            None => approvals.decide(tool, input, ws, None),
        }
    }

    /// Decide on `plugin.tool` with `input`, asking the client's person
    /// when the mode says to. Every refusal is recorded in the session.
    pub async fn approve(
        &self,
        session: &Session,
        plugin: &str,
        tool: &str,
        input: &Value,
        context: &RequestContext<RoleServer>,
    ) -> Verdict {
        let Ok(opened) = session.plugin(plugin).await else {
            return Verdict::Unopened;
        };
        let Ok(prepared) = opened.allowed() else {
            return Verdict::Unopened;
        };
        let subject = Tool {
            exposed: exposed(plugin, tool),
            qualified: format!("{plugin}.{tool}"),
            plugin: plugin.to_string(),
            tool: tool.to_string(),
            class: Class::of(prepared),
            index: 0,
        };
        let ws = session.workspace();
        // First without anyone to ask: a read, `auto`, `read-only` and a
        // remembered "always" are decided here. In `ask`, a refusal here
        // means a person must answer.
        let reason = match self.decide(&subject, input, ws, None) {
            Decision::Run { by } => {
                return Verdict::Run {
                    by,
                    plugin: opened.clone(),
                };
            }
            Decision::Deny { reason } if self.mode != Mode::Ask => reason,
            Decision::Deny { .. } => match ask(&subject, input, ws, context).await {
                Ok(answer) => match self.decide(&subject, input, ws, Some(answer)) {
                    Decision::Run { by } => {
                        return Verdict::Run {
                            by,
                            plugin: opened.clone(),
                        };
                    }
                    Decision::Deny { reason } => format!("{reason}; it did not run"),
                },
                Err(reason) => reason,
            },
        };
        let text = format!("{}: refused: {reason}", subject.qualified);
        if let Err(e) = session.refuse(plugin, Some(tool), &reason, &Note::default()) {
            return Verdict::Refused(format!(
                "{text} (and the refusal could not be recorded in the audit log: {e})"
            ));
        }
        Verdict::Refused(text)
    }
}

/// Ask the person behind the client, through elicitation. `Err` says why
/// the call does not run without an answer that allows it.
async fn ask(
    tool: &Tool,
    input: &Value,
    ws: &Path,
    context: &RequestContext<RoleServer>,
) -> Result<Answer, String> {
    let q = &tool.qualified;
    if !context
        .peer
        .supported_elicitation_modes()
        .contains(&ElicitationMode::Form)
    {
        return Err(format!(
            "{q} needs a person's approval (warden mcp --approval ask) and this client cannot ask for it: it did not declare MCP elicitation. Use a client that supports elicitation, or have the person start `warden mcp --approval auto` to run calls within the grants without asking"
        ));
    }
    let requested_schema =
        requested_schema().map_err(|e| format!("{q}: cannot build the question: {e}"))?;
    let params = ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: format!(
            "warden: {}\n\nRun it? (warden's grants still apply)",
            preview(tool, input, ws, false)
        ),
        requested_schema,
    };
    let answer = tokio::select! {
        answer = context.peer.create_elicitation(params) => answer,
        () = context.ct.cancelled() => {
            return Err(format!("{q} was cancelled by the client while it waited for approval"));
        }
    };
    let answer =
        answer.map_err(|e| format!("{q} needs a person's approval and asking failed: {e}"))?;
    match answer.action {
        ElicitationAction::Accept => {
            let choice = answer
                .content
                .as_ref()
                .and_then(|c| c.get("answer"))
                .and_then(Value::as_str);
            Ok(match choice {
                Some("yes") => Answer::Yes,
                Some("always") => Answer::Always,
                _ => Answer::No,
            })
        }
        ElicitationAction::Decline => Ok(Answer::No),
        ElicitationAction::Cancel => Err(format!(
            "the person dismissed the approval of {q} without answering; it did not run"
        )),
        // An answer this server does not know is not a yes.
        _ => Ok(Answer::No),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_question_is_a_valid_elicitation_schema() {
        let schema = super::requested_schema().unwrap_or_else(|e| panic!("{e}"));
        let v = serde_json::to_value(schema).unwrap_or_default();
        assert_eq!(v["required"][0], "answer");
        assert_eq!(v["properties"]["answer"]["oneOf"][1]["const"], "always");
    }
}
