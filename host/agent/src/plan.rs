//! The plan the model keeps: a built-in tool, `update_plan`, that replaces
//! the list of steps and their status. It touches nothing on the machine
//! (it is no plugin and needs no grant); warden shows the plan (the chat
//! above its prompt), keeps it in the transcript and in summaries of older
//! turns, and gives it back to the model when a session is resumed.

use super::provider::ToolDef;
use serde::{Deserialize, Serialize};
use serde_json::json;
use warden_core::escape::escape;

/// The tool's name. Plugin tools are always `plugin__tool`, so it cannot
/// collide with one.
pub const TOOL: &str = "update_plan";
/// Most steps in a plan.
pub const MAX_STEPS: usize = 30;
/// Longest step, in characters.
pub const MAX_STEP_CHARS: usize = 300;
/// Longest explanation, in characters.
pub const MAX_EXPLANATION_CHARS: usize = 1000;

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    InProgress,
    Completed,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub step: String,
    pub status: Status,
}

/// The plan: empty until the model makes one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    plan: Vec<Step>,
    #[serde(default)]
    explanation: Option<String>,
}

/// The tool as the model is offered it.
pub fn def() -> ToolDef {
    ToolDef {
        name: TOOL.into(),
        description: format!(
            "[warden] Keep a short plan of the work, shown to the user. Send the whole plan each \
             time (it replaces the previous one): at most {MAX_STEPS} steps, each `pending`, \
             `in_progress` (at most one) or `completed`. Use it for work of several steps; \
             update it as steps are done."
        ),
        parameters: json!({
            "type": "object",
            "properties": {
                "explanation": {"type": "string", "description": "Why the plan changed (optional)."},
                "plan": {
                    "type": "array",
                    "description": "The steps, in order.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "step": {"type": "string"},
                            "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]}
                        },
                        "required": ["step", "status"],
                        "additionalProperties": false
                    }
                }
            },
            "required": ["plan"],
            "additionalProperties": false
        }),
    }
}

/// Read the model's arguments. The error tells the model what to fix.
pub fn parse(arguments: &str) -> Result<Plan, String> {
    let text = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    let input: Input = serde_json::from_str(text).map_err(|e| {
        format!(
            "{TOOL}: the arguments do not match its schema ({e}); send {{\"plan\": [{{\"step\": \"...\", \"status\": \"pending\"}}]}}"
        )
    })?;
    if input.plan.len() > MAX_STEPS {
        return Err(format!(
            "{TOOL}: {} steps is more than {MAX_STEPS}; keep the plan short",
            input.plan.len()
        ));
    }
    for (n, s) in input.plan.iter().enumerate() {
        let len = s.step.chars().count();
        if s.step.trim().is_empty() {
            return Err(format!("{TOOL}: step {} is empty", n + 1));
        }
        if len > MAX_STEP_CHARS {
            return Err(format!(
                "{TOOL}: step {} is {len} characters, more than {MAX_STEP_CHARS}",
                n + 1
            ));
        }
    }
    let running = input
        .plan
        .iter()
        .filter(|s| s.status == Status::InProgress)
        .count();
    if running > 1 {
        return Err(format!(
            "{TOOL}: {running} steps are in_progress; at most one may be"
        ));
    }
    if let Some(e) = &input.explanation
        && e.chars().count() > MAX_EXPLANATION_CHARS
    {
        return Err(format!(
            "{TOOL}: the explanation is longer than {MAX_EXPLANATION_CHARS} characters"
        ));
    }
    Ok(Plan {
        steps: input.plan,
        explanation: input.explanation.filter(|e| !e.trim().is_empty()),
    })
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// What the tool answers the model.
    pub fn receipt(&self) -> String {
        let done = self
            .steps
            .iter()
            .filter(|s| s.status == Status::Completed)
            .count();
        format!(
            "plan updated: {} steps, {done} completed (shown to the user)",
            self.steps.len()
        )
    }

    /// The plan as lines for people (escaped): `✓` done, `→` in progress,
    /// `·` pending.
    pub fn lines(&self) -> Vec<String> {
        self.steps
            .iter()
            .map(|s| {
                let mark = match s.status {
                    Status::Completed => "✓",
                    Status::InProgress => "→",
                    Status::Pending => "·",
                };
                format!("{mark} {}", escape(&s.step))
            })
            .collect()
    }

    /// The plan as the model reads it in a summary.
    pub fn text(&self) -> String {
        self.steps
            .iter()
            .map(|s| {
                let status = match s.status {
                    Status::Completed => "completed",
                    Status::InProgress => "in_progress",
                    Status::Pending => "pending",
                };
                format!("- [{status}] {}", s.step)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_parses_and_bad_ones_say_what_to_fix() {
        let p = parse(
            r#"{"plan":[{"step":"read","status":"completed"},{"step":"fix","status":"in_progress"},{"step":"test","status":"pending"}],"explanation":"x"}"#,
        )
        .unwrap();
        assert_eq!(p.lines(), ["✓ read", "→ fix", "· test"]);
        assert_eq!(
            p.receipt(),
            "plan updated: 3 steps, 1 completed (shown to the user)"
        );
        assert!(p.text().contains("- [in_progress] fix"));
        let two =
            r#"{"plan":[{"step":"a","status":"in_progress"},{"step":"b","status":"in_progress"}]}"#;
        assert!(parse(two).unwrap_err().contains("at most one"));
        assert!(parse("{}").unwrap_err().contains("missing field `plan`"));
        assert!(
            parse(r#"{"plan":[{"step":"a","status":"done"}]}"#)
                .unwrap_err()
                .contains("unknown variant")
        );
        assert!(
            parse(r#"{"plan":[{"step":" ","status":"pending"}]}"#)
                .unwrap_err()
                .contains("step 1 is empty")
        );
        let many: Vec<_> = (0..=MAX_STEPS)
            .map(|i| json!({"step": format!("s{i}"), "status": "pending"}))
            .collect();
        assert!(
            parse(&json!({ "plan": many }).to_string())
                .unwrap_err()
                .contains("keep the plan short")
        );
        let esc = parse(r#"{"plan":[{"step":"\u001b[2Jx","status":"pending"}]}"#).unwrap();
        assert_eq!(esc.lines(), ["· \\u{1b}[2Jx"]);
    }
}
