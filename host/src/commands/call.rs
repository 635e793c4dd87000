//! `warden call` and `warden tools`.

use super::App;
use super::report;
use serde_json::json;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use warden::Error;
use warden::audit::{Decision, Kind, Record};
use warden::escape::escape;
use warden::fsguard::Denial;
use warden::journal::Journal;
use warden::manifest::Access;
use warden::runtime::{CallOutput, MAX_INPUT_BYTES, Prepared, ToolFailure};

impl App {
    /// Run one tool and print its result.
    pub async fn call(
        &self,
        qualified: &str,
        input: &str,
        workspace: &Path,
        session: Option<&str>,
    ) -> anyhow::Result<ExitCode> {
        let session = session.unwrap_or(DEFAULT_SESSION);
        warden::journal::check_session(session)?;
        let input = read_input(qualified, input)?;
        let input = input.as_str();
        let Some((plugin, tool)) = qualified.split_once('.') else {
            anyhow::bail!(Error::InvalidInput {
                tool: qualified.to_string(),
                reason: "name the tool as PLUGIN.TOOL, e.g. fs.read (see `warden tools`)".into(),
            });
        };
        let ctx = self.context(workspace)?;
        let (tools, prepared) = self.prepare(plugin, &ctx).await?;
        if !tools.iter().any(|t| t.name == tool) {
            anyhow::bail!(Error::ToolNotFound {
                plugin: plugin.into(),
                tool: tool.into(),
            });
        }
        let prepared = match prepared {
            Ok(p) => p,
            Err(e) => {
                let mut refused = refused_call(plugin, tool, &ctx.workspace, &e);
                refused.session = Some(session.into());
                self.record(refused)?;
                return Err(e.into());
            }
        };
        // A plugin that can change files (itself or through a program) runs
        // as a captured turn, so `warden undo` can take its changes back.
        let turn = if writes(&prepared) {
            let begun = Journal::open(self.registry.dirs(), &ctx.workspace)
                .and_then(|j| j.begin_next(session));
            match begun {
                Ok(t) => Some(t),
                Err(e) => {
                    let e = anyhow::anyhow!(
                        "{qualified} was not run: its file changes could not be captured for undo: {e}"
                    );
                    let mut refused = refused_call(
                        plugin,
                        tool,
                        &ctx.workspace,
                        &Error::Conflict(e.to_string()),
                    );
                    refused.session = Some(session.into());
                    self.record(refused)?;
                    return Err(e);
                }
            }
        } else {
            None
        };
        let turn_no = turn.as_ref().map(|t| t.id().1);
        let stamp = |mut r: Record| {
            r.session = Some(session.into());
            r.turn = turn_no;
            r
        };
        self.record(stamp(allowed_call(
            plugin,
            tool,
            &ctx.workspace,
            &prepared,
            input,
        )))?;
        if !self.json {
            eprintln!("{qualified} in {} under:", ctx.workspace.display());
            for line in report::effective(prepared.effective()) {
                eprintln!("  {line}");
            }
            let l = prepared.limits();
            eprintln!(
                "  limits memory {} MiB, time {} ms, output {} KiB",
                l.memory_mib,
                l.timeout_ms,
                l.output_bytes / 1024
            );
        }
        let out = prepared.call(tool, input).await;
        // The turn is journaled before the result is reported. If that
        // fails, the turn stays in progress on disk and the next journal
        // operation in this workspace finishes it.
        let captured = turn.map(|t| t.finish()).transpose();
        let mut result = stamp(call_result(plugin, tool, out.as_ref()));
        if let Ok(Some(t)) = &captured {
            result.detail =
                Some(json!({"changed": t.changes.iter().map(|c| &c.path).collect::<Vec<_>>()}));
        }
        if let Ok(o) = &out {
            for d in &o.denials {
                self.record(stamp(denial(plugin, tool, d)))?;
            }
        }
        self.record(result)?;
        let captured = captured.map_err(|e| {
            anyhow::anyhow!(
                "{qualified} ran, but its file changes could not be journaled: {e}; the next `warden undo` in this workspace will capture them"
            )
        })?;
        let out = out?;
        if let (Some(t), false) = (&captured, self.json) {
            eprintln!(
                "turn {} of session {session}: {} path(s) changed (undo with `warden undo`)",
                t.turn,
                t.changes.len()
            );
        }
        let denied =
            !out.denials.is_empty() || matches!(out.result, Err(ToolFailure::Denied { .. }));
        let code = match (&out.result, denied) {
            (Ok(_), _) => ExitCode::SUCCESS,
            (Err(_), true) => ExitCode::from(3),
            (Err(_), false) => ExitCode::from(1),
        };
        let hints: Vec<String> = out.denials.iter().map(|d| hint(plugin, d)).collect();
        if self.json {
            return self
                .print_json(&json!({
                    "tool": qualified,
                    "workspace": ctx.workspace,
                    "grants": prepared.effective(),
                    "limits": prepared.limits(),
                    "ok": out.result.is_ok(),
                    "result": out.result.as_ref().ok(),
                    "error": out.result.as_ref().err(),
                    "denials": out.denials,
                    "hints": hints,
                    "log": out.log,
                    "session": session,
                    "turn": captured.as_ref().map(|t| t.turn),
                    "changed": captured.as_ref().map(|t| t.changes.iter().map(|c| &c.path).collect::<Vec<_>>()),
                }))
                .map(|()| code);
        }
        for line in &out.log {
            eprintln!("  [{plugin}] {line}");
        }
        match &out.result {
            Ok(value) => print_result(value),
            Err(failure) => eprintln!("{qualified} failed: {}", describe_failure(failure)),
        }
        for (d, h) in out.denials.iter().zip(&hints) {
            eprintln!(
                "denied: {} {} {}: {}\n  {h}",
                d.capability,
                d.operation,
                escape(&d.resource),
                d.reason
            );
        }
        Ok(code)
    }

    /// List every tool.
    pub async fn tools(&self) -> anyhow::Result<ExitCode> {
        let mut all = Vec::new();
        for name in self.registry.names()? {
            let (_, _, loaded) = self.open(&name)?;
            for tool in self.registry.tools(&name, &self.rt, &loaded).await? {
                all.push(json!({
                    "name": format!("{name}.{}", tool.name),
                    "plugin": name,
                    "tool": tool.name,
                    "description": tool.description,
                    "input_schema": tool.input_schema,
                }));
            }
        }
        if self.json {
            self.print_json(&all)?;
        } else {
            for t in &all {
                println!("{}", t["name"].as_str().unwrap_or_default());
                println!(
                    "    {}",
                    escape(t["description"].as_str().unwrap_or_default())
                );
                let props = t["input_schema"]["properties"].as_object();
                let args: Vec<&String> = props.map(|p| p.keys().collect()).unwrap_or_default();
                if !args.is_empty() {
                    println!(
                        "    input: {}",
                        args.iter()
                            .map(|a| escape(a))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `--input` is inline JSON, `-` for standard input or `@FILE`; reading
/// stops past the input limit so a huge input is refused, not buffered.
fn read_input(tool: &str, spec: &str) -> anyhow::Result<String> {
    use std::io::Read;
    let reader: Box<dyn Read> = match spec {
        "-" => Box::new(std::io::stdin().lock()),
        s if s.starts_with('@') => Box::new(
            std::fs::File::open(&s[1..])
                .map_err(|e| anyhow::anyhow!("cannot read input file {}: {e}", &s[1..]))?,
        ),
        inline => return Ok(inline.to_string()),
    };
    let mut text = String::new();
    reader
        .take(MAX_INPUT_BYTES as u64 + 1)
        .read_to_string(&mut text)?;
    if text.len() > MAX_INPUT_BYTES {
        anyhow::bail!(Error::InvalidInput {
            tool: tool.to_string(),
            reason: format!("the input is over the limit of {MAX_INPUT_BYTES} bytes"),
        });
    }
    Ok(text)
}

/// How to allow what was denied.
fn hint(plugin: &str, d: &Denial) -> String {
    match (&d.allow, d.capability) {
        (Some(spec), _) => format!(
            "to allow it: warden plugin grant {plugin} --add --grant {} (only if the plugin's manifest requests it)",
            escape(spec)
        ),
        (None, "process") => format!(
            "no grant of yours allows this as asked: it is outside the argument pattern or refused by warden's rules for the program (see `warden plugin audit {plugin}`)"
        ),
        (None, _) => {
            "no grant allows this: the plugin tried to reach outside its granted directories".into()
        }
    }
}

fn describe_failure(f: &ToolFailure) -> String {
    match f {
        ToolFailure::InvalidInput { message } => format!("invalid input: {}", escape(message)),
        ToolFailure::Denied {
            capability,
            resource,
            reason,
        } if resource.is_empty() => format!("denied {}: {}", escape(capability), escape(reason)),
        ToolFailure::Denied {
            capability,
            resource,
            reason,
        } => format!(
            "denied {} {}: {}",
            escape(capability),
            escape(resource),
            escape(reason)
        ),
        ToolFailure::NotFound { message } => format!("not found: {}", escape(message)),
        ToolFailure::Failed { message } => escape(message),
    }
}

/// Print a result: strings as text, anything else as JSON. Control
/// characters are escaped when a terminal would interpret them.
fn print_result(value: &serde_json::Value) {
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    };
    if std::io::stdout().is_terminal() {
        let safe: String = text
            .split('\n')
            .map(|line| escape(line).replace("\\u{9}", "\t"))
            .collect::<Vec<_>>()
            .join("\n");
        println!("{safe}");
    } else {
        println!("{text}");
    }
}

/// The session of `warden call` without `--session`.
pub const DEFAULT_SESSION: &str = "cli";

/// Whether a call may change files: a writable file grant, or any program.
pub fn writes(p: &Prepared) -> bool {
    let e = p.effective();
    e.files.iter().any(|f| f.access == Access::Write) || !e.programs.is_empty()
}

/// Bytes of a call's input kept in its audit record (the digest covers all).
const AUDITED_INPUT_BYTES: usize = 1024;

/// The record written before a call runs: who, what, and the grant it runs
/// under.
pub fn allowed_call(
    plugin: &str,
    tool: &str,
    workspace: &Path,
    prepared: &Prepared,
    input: &str,
) -> Record {
    use sha2::Digest as _;
    let mut shown = input.to_string();
    if shown.len() > AUDITED_INPUT_BYTES {
        let mut at = AUDITED_INPUT_BYTES;
        while !shown.is_char_boundary(at) {
            at -= 1;
        }
        shown.truncate(at);
        shown.push_str("…(cut)");
    }
    Record {
        kind: Kind::Call,
        decision: Decision::Allow,
        plugin: Some(plugin.into()),
        tool: Some(tool.into()),
        resource: Some(workspace.display().to_string()),
        rule: report::effective(prepared.effective()),
        detail: Some(json!({
            "input": shown,
            "input_bytes": input.len(),
            "input_sha256": hex::encode(sha2::Sha256::digest(input.as_bytes())),
        })),
        ..Record::default()
    }
}

/// The record of a call refused before it ran (its grant does not let it
/// run in this workspace).
pub fn refused_call(plugin: &str, tool: &str, workspace: &Path, e: &Error) -> Record {
    let capability = match e {
        Error::NotGranted { capability, .. } => Some(capability.to_string()),
        _ => None,
    };
    Record {
        kind: Kind::Call,
        decision: Decision::Deny,
        plugin: Some(plugin.into()),
        tool: Some(tool.into()),
        capability,
        resource: Some(workspace.display().to_string()),
        reason: Some(e.to_string()),
        ..Record::default()
    }
}

/// One capability use the host refused during a call.
pub fn denial(plugin: &str, tool: &str, d: &Denial) -> Record {
    Record {
        kind: Kind::Denial,
        decision: Decision::Deny,
        plugin: Some(plugin.into()),
        tool: Some(tool.into()),
        capability: Some(d.capability.into()),
        operation: Some(d.operation.into()),
        resource: Some(d.resource.clone()),
        reason: Some(d.reason.clone()),
        allow: d.allow.clone(),
        ..Record::default()
    }
}

/// How a call ended.
pub fn call_result(plugin: &str, tool: &str, out: Result<&CallOutput, &Error>) -> Record {
    let (decision, outcome, reason) = match out {
        Ok(o) => match &o.result {
            Ok(_) if o.denials.is_empty() => (Decision::Allow, "ok", None),
            Ok(_) => (Decision::Deny, "ok with denials", None),
            Err(f @ ToolFailure::Denied { .. }) => {
                (Decision::Deny, "denied", Some(describe_failure(f)))
            }
            Err(f) if !o.denials.is_empty() => (
                Decision::Deny,
                "failed after a denial",
                Some(describe_failure(f)),
            ),
            Err(f) => (Decision::Allow, "failed", Some(describe_failure(f))),
        },
        Err(e) => (Decision::Allow, "stopped", Some(e.to_string())),
    };
    Record {
        kind: Kind::Result,
        decision,
        plugin: Some(plugin.into()),
        tool: Some(tool.into()),
        outcome: Some(outcome.into()),
        reason,
        ..Record::default()
    }
}
