//! The tools the model may call: exactly those of plugins whose grants let
//! them run in the workspace, named `plugin__tool`. Each call goes through
//! the agent's [`Session`], the same recorded call path as `warden call`
//! and `warden mcp`: the grant as it is on disk now, the policy, the audit
//! records, the undo capture, the limits and a fresh instance.

use super::provider::ToolDef;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;
use warden_core::escape::escape;
use warden_core::manifest::Access;
use warden_core::runtime::{CallOutput, Prepared, ToolFailure};
use warden_core::session::{Note, Plugin, Refused, Request, Running, Session};

/// Separates plugin and tool in the names the model sees (model APIs allow
/// only `[a-zA-Z0-9_-]` in tool names).
pub const SEPARATOR: &str = "__";

/// Most bytes of one tool result put into the conversation; the rest is cut
/// from the middle, with a note saying how much.
pub const MAX_RESULT_BYTES: usize = 24 * 1024;

/// What a plugin can do, from its effective grant: this decides whether a
/// call needs approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// Only reads files.
    Read,
    /// May write files.
    Write,
    /// May run programs.
    Process,
    /// May send requests to granted origins (what it sends can carry what
    /// it read, so it is not a plain read).
    Network,
}

impl Class {
    /// What a plugin bound to its grant can do.
    pub fn of(prepared: &Prepared) -> Self {
        let e = prepared.effective();
        if !e.programs.is_empty() {
            Class::Process
        } else if !e.network.is_empty() {
            Class::Network
        } else if e.files.iter().any(|f| f.access == Access::Write) {
            Class::Write
        } else {
            Class::Read
        }
    }
}

/// One tool the model sees.
#[derive(Debug, Clone)]
pub struct Tool {
    /// `plugin__tool`.
    pub exposed: String,
    /// `plugin.tool`, as people and `warden call` name it.
    pub qualified: String,
    pub plugin: String,
    pub tool: String,
    /// What its plugin could do when the session started; a call is
    /// approved by what it can do when it is made.
    pub class: Class,
    /// Its place in the list the model is given.
    pub index: usize,
}

impl Tool {
    pub(crate) fn new(plugin: &str, tool: &str, class: Class, index: usize) -> Self {
        Tool {
            exposed: format!("{plugin}{SEPARATOR}{tool}"),
            qualified: format!("{plugin}.{tool}"),
            plugin: plugin.to_string(),
            tool: tool.to_string(),
            class,
            index,
        }
    }
}

/// The result of a call, ready for the model.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub is_error: bool,
    /// What goes into the conversation (capped).
    pub text: String,
    /// Bytes cut from the middle of the result.
    pub cut: usize,
    /// The tool's JSON result, when it succeeded.
    #[serde(skip)]
    pub value: Option<Value>,
    /// What warden refused during the call.
    pub denials: Vec<warden_core::capability::Denial>,
}

/// The granted tools, called through the agent's session.
pub struct Toolbox {
    session: Arc<Session>,
    tools: Vec<Tool>,
    defs: Vec<ToolDef>,
}

/// How a call that was begun ended.
pub struct Finished {
    pub outcome: Outcome,
    /// The paths it changed, when it was captured for undo.
    pub changed: Option<Vec<String>>,
    /// The user cancelled it.
    pub cancelled: bool,
}

impl Toolbox {
    /// No tools yet; calls go through `session`.
    pub fn new(session: Arc<Session>) -> Self {
        Toolbox {
            session,
            tools: vec![],
            defs: vec![],
        }
    }

    /// The session calls go through.
    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }

    /// Offer the tools of a plugin that may run. Returns a note for each
    /// tool left out (a schema the model APIs would refuse).
    pub fn add(&mut self, plugin: &Plugin) -> Vec<String> {
        let Ok(prepared) = plugin.allowed() else {
            return vec![];
        };
        let class = Class::of(prepared);
        let name = plugin.name.as_str();
        let mut notes = Vec::new();
        for spec in &plugin.tools {
            if spec.input_schema.get("type") != Some(&Value::from("object")) {
                notes.push(format!(
                    "not offering `{name}.{}`: its input schema is not a JSON object schema",
                    escape(&spec.name)
                ));
                continue;
            }
            self.defs.push(ToolDef {
                name: format!("{name}{SEPARATOR}{}", spec.name),
                description: format!("[{name}] {}", spec.description),
                parameters: spec.input_schema.clone(),
            });
            let index = self.tools.len();
            self.tools.push(Tool::new(name, &spec.name, class, index));
        }
        notes
    }

    pub fn defs(&self) -> &[ToolDef] {
        &self.defs
    }

    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// The tool the model named, if it is one of ours.
    pub fn find(&self, exposed: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.exposed == exposed)
    }

    /// The tool's plugin as its grant is now, and what it can do: a call
    /// is approved by this, and runs only if the plugin is still this one
    /// when it begins. Why not, for the model, when it cannot run now.
    pub async fn look(&self, tool: &Tool) -> Result<(Arc<Plugin>, Tool), String> {
        let plugin = self.session.plugin(&tool.plugin).await.map_err(|e| {
            format!(
                "{} was not run: plugin `{}` cannot be opened any more: {e}",
                tool.qualified, tool.plugin
            )
        })?;
        let class = match plugin.allowed() {
            Ok(p) => Class::of(p),
            Err(e) => {
                return Err(format!(
                    "{} was not run: {e} (only the user can change grants)",
                    tool.qualified
                ));
            }
        };
        Ok((
            plugin.clone(),
            Tool {
                class,
                ..tool.clone()
            },
        ))
    }

    /// Record (and, if it can change files, capture) the call of `tool`
    /// with `input` (already checked to be a JSON object) as it was
    /// approved; it then runs with [`Toolbox::finish`]. Why not, for the
    /// model (already in the audit log where it can be).
    pub async fn begin(
        &self,
        tool: &Tool,
        input: &str,
        note: Note,
        approved: Arc<Plugin>,
    ) -> Result<Running<'_>, String> {
        let request = Request {
            plugin: &tool.plugin,
            tool: &tool.tool,
            input,
            note,
            expect: Some(approved),
        };
        let q = &tool.qualified;
        self.session.begin(request).await.map_err(|r| match r {
            Refused::Capture(e) => {
                format!("{q} was not run: its file changes could not be captured for undo: {e}")
            }
            Refused::Unrecorded(e) => {
                format!("{q} was not run: it could not be recorded in the audit log: {e}")
            }
            Refused::NotAllowed(e) => {
                format!("{q} was not run: {e} (only the user can change grants)")
            }
            Refused::Gone(e) => format!(
                "{q} was not run: plugin `{}` cannot be opened any more: {e}",
                tool.plugin
            ),
            Refused::Changed { plugin } => format!(
                "{q} was not run: the grant of `{plugin}` changed while the call waited for approval; ask for it again"
            ),
            Refused::Unknown(e) => format!("{q} was not run: {e}"),
        })
    }

    /// Run a begun call until it ends or `cancelled` resolves.
    pub async fn finish(
        &self,
        tool: &Tool,
        running: Running<'_>,
        cancelled: impl Future<Output = ()>,
    ) -> Finished {
        let recorded = running
            .run(async {
                cancelled.await;
                "cancelled by the user".to_string()
            })
            .await;
        if let Some((_, e)) = &recorded.unrecorded {
            tracing::warn!("the end of a call could not be recorded in the audit log: {e}");
        }
        if let Err(e) = &recorded.captured {
            tracing::warn!(
                "{}'s changes could not be journaled ({e}); the next `warden undo` here captures them",
                tool.qualified
            );
        }
        let changed = recorded.changed();
        let outcome = match recorded.out {
            _ if recorded.cancelled => {
                error_outcome(format!("{} was cancelled by the user", tool.qualified))
            }
            Ok(out) => outcome(tool, out),
            Err(e) => error_outcome(e.to_string()),
        };
        Finished {
            outcome,
            changed,
            cancelled: recorded.cancelled,
        }
    }
}

/// An error result for the model.
pub fn error_outcome(text: String) -> Outcome {
    let (text, cut) = cap(&text);
    Outcome {
        is_error: true,
        text,
        cut,
        value: None,
        denials: vec![],
    }
}

fn outcome(tool: &Tool, out: CallOutput) -> Outcome {
    let (is_error, full, value) = match &out.result {
        Ok(Value::String(s)) => (false, s.clone(), Some(Value::String(s.clone()))),
        Ok(v) => (false, v.to_string(), Some(v.clone())),
        Err(f) => (true, failure_text(tool, &out, f), None),
    };
    let (text, cut) = cap(&full);
    Outcome {
        is_error,
        text,
        cut,
        value,
        denials: out.denials,
    }
}

/// What a failed call says to the model: the refusal and what a person
/// could grant (the model itself cannot).
fn failure_text(tool: &Tool, out: &CallOutput, failure: &ToolFailure) -> String {
    out.failure_text(&tool.qualified, failure, |plugin, spec| {
        format!(
            "only the user can allow this, with: warden plugin grant {plugin} --add --grant {spec}"
        )
    })
}

/// Keep at most [`MAX_RESULT_BYTES`]: two thirds from the start, one third
/// from the end, and a note in between. Returns the bytes cut.
pub fn cap(text: &str) -> (String, usize) {
    if text.len() <= MAX_RESULT_BYTES {
        return (text.to_string(), 0);
    }
    let mut head = MAX_RESULT_BYTES * 2 / 3;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - (MAX_RESULT_BYTES - head);
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    let cut = tail - head;
    let note = format!(
        "\n[warden: {cut} of {} bytes cut from the middle of this result; ask for a smaller part]\n",
        text.len()
    );
    (format!("{}{note}{}", &text[..head], &text[tail..]), cut)
}

/// Whether a tool that answered says that what it did failed: `"ok":
/// false` in its result, as `exec.run` answers for a program that exited
/// non-zero or timed out. The model reads the whole result either way;
/// people are shown the failure.
pub fn reported_failure(value: &Value) -> bool {
    value.get("ok") == Some(&Value::Bool(false))
}

/// Workspace-relative paths a successful write reported (`path`, or
/// `files[].path`, as the edit tools answer).
pub fn changed_paths(value: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    if let Some(p) = value["path"].as_str() {
        paths.push(p.to_string());
    }
    if let Some(files) = value["files"].as_array() {
        paths.extend(
            files
                .iter()
                .filter_map(|f| f["path"].as_str().map(str::to_string)),
        );
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::{MAX_RESULT_BYTES, cap};

    #[test]
    fn results_are_capped_on_char_boundaries_with_a_note() {
        let short = "é".repeat(10);
        assert_eq!(cap(&short), (short.clone(), 0));
        let long = "é".repeat(MAX_RESULT_BYTES);
        let (text, cut) = cap(&long);
        assert!(text.len() < MAX_RESULT_BYTES + 200);
        assert!(text.contains(&format!("[warden: {cut} of {} bytes cut", long.len())));
        assert!(text.starts_with('é') && text.ends_with('é'));
        assert_eq!(text.matches('é').count() * 2 + cut, long.len());
    }
}
