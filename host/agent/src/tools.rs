//! The tools the model may call: exactly those of plugins whose grants let
//! them run in the workspace, named `plugin__tool`. Each call goes to the
//! plugin's [`Prepared`] instance, so it meets the same grant checks,
//! limits and fresh instance as `warden call`.

use super::provider::ToolDef;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use warden_core::escape::escape;
use warden_core::manifest::Access;
use warden_core::runtime::{CallOutput, Prepared, ToolFailure, ToolSpec};

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
    fn of(prepared: &Prepared) -> Self {
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
pub struct Tool {
    /// `plugin__tool`.
    pub exposed: String,
    /// `plugin.tool`, as people and `warden call` name it.
    pub qualified: String,
    pub plugin: String,
    pub tool: String,
    pub class: Class,
    index: usize,
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
    /// How the call ended, as the audit log states it for every caller;
    /// `None` when it never reached the plugin.
    #[serde(skip)]
    pub ended: Option<warden_core::audit::Record>,
}

/// The granted tools.
#[derive(Default)]
pub struct Toolbox {
    plugins: Vec<Prepared>,
    tools: Vec<Tool>,
    defs: Vec<ToolDef>,
}

impl Toolbox {
    /// Offer a prepared plugin's tools. Returns a note for each tool left
    /// out (a schema the model APIs would refuse).
    pub fn add(&mut self, plugin: &str, specs: Vec<ToolSpec>, prepared: Prepared) -> Vec<String> {
        let class = Class::of(&prepared);
        let index = self.plugins.len();
        self.plugins.push(prepared);
        let mut notes = Vec::new();
        for spec in specs {
            if spec.input_schema.get("type") != Some(&Value::from("object")) {
                notes.push(format!(
                    "not offering `{plugin}.{}`: its input schema is not a JSON object schema",
                    escape(&spec.name)
                ));
                continue;
            }
            self.defs.push(ToolDef {
                name: format!("{plugin}{SEPARATOR}{}", spec.name),
                description: format!("[{plugin}] {}", spec.description),
                parameters: spec.input_schema,
            });
            self.tools.push(Tool::new(plugin, &spec.name, class, index));
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

    /// Run a tool with `input` (already checked to be a JSON object).
    pub async fn call(&self, tool: &Tool, input: &str) -> Outcome {
        let Some(prepared) = self.plugins.get(tool.index) else {
            return error_outcome(format!("{} is not available", tool.qualified));
        };
        let out = prepared.call(&tool.tool, input).await;
        let ended = warden_core::audit::Record::result(&tool.plugin, &tool.tool, out.as_ref());
        let mut o = match out {
            Ok(out) => outcome(tool, out),
            Err(e) => error_outcome(e.to_string()),
        };
        o.ended = Some(ended);
        o
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
        ended: None,
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
        ended: None,
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
