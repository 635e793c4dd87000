//! `warden call` and `warden tools`.

use super::App;
use super::report;
use serde_json::json;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use warden::Error;
use warden::audit::Record;
use warden::escape::escape;
use warden::fsguard::Denial;
use warden::journal::Journal;
use warden::manifest::Access;
use warden::runtime::{MAX_INPUT_BYTES, Prepared, ToolFailure};

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
                self.record(
                    Record::refused_call(plugin, tool, &ctx.workspace, &e).in_turn(session, None),
                )?;
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
                    let why = Error::Conflict(e.to_string());
                    self.record(
                        Record::refused_call(plugin, tool, &ctx.workspace, &why)
                            .in_turn(session, None),
                    )?;
                    return Err(e);
                }
            }
        } else {
            None
        };
        let turn_no = turn.as_ref().map(|t| t.id().1);
        let stamp = |r: warden::audit::Record| r.in_turn(session, turn_no);
        self.record(stamp(Record::call(
            plugin,
            tool,
            &ctx.workspace,
            report::effective(prepared.effective()),
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
        let mut result = stamp(Record::result(plugin, tool, out.as_ref()));
        if let Ok(Some(t)) = &captured {
            result.detail =
                Some(json!({"changed": t.changes.iter().map(|c| &c.path).collect::<Vec<_>>()}));
        }
        if let Ok(o) = &out {
            for d in &o.denials {
                self.record(stamp(Record::denial(plugin, tool, d)))?;
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
        (None, _) if d.reason.starts_with("denied by organisation policy") => {
            "no grant can allow this: the organisation's policy forbids it".into()
        }
        (None, _) => {
            "no grant allows this: the plugin tried to reach outside its granted directories".into()
        }
    }
}

fn describe_failure(f: &ToolFailure) -> String {
    escape(&warden::audit::failure_text(f))
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

/// Whether a call of `p` can have an effect that outlives it (files,
/// programs, network requests), so its audit record is forced to the disk
/// before it runs.
pub fn lasting(p: &Prepared) -> bool {
    writes(p) || !p.effective().network.is_empty()
}
