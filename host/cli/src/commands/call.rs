//! `warden call` and `warden tools`.

use super::App;
use super::report;
use serde_json::json;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use warden_core::Error;
use warden_core::audit::Kind;
use warden_core::capability::{CapabilityKind, Denial};
use warden_core::escape::escape;
use warden_core::runtime::{MAX_INPUT_BYTES, ToolFailure};
use warden_core::session::{Note, Refused, Request};

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
        warden_core::journal::check_session(session)?;
        let input = read_input(qualified, input)?;
        let input = input.as_str();
        let (plugin, tool) = self.split_name(qualified)?;
        let (plugin, tool) = (plugin.as_str(), tool.as_str());
        let ctx = self.context(workspace)?;
        let unrecorded = |what: &str, e: anyhow::Error| {
            e.context(format!(
                "refused {what} {qualified}: it could not be recorded in the audit log"
            ))
        };
        let audit = self.audit_log().map_err(|e| unrecorded("the call", e))?;
        let calls = self.session(ctx, session, audit);
        let request = Request {
            plugin,
            tool,
            input,
            note: Note::default(),
            expect: None,
        };
        let running = match calls.begin(request).await {
            Ok(r) => r,
            Err(Refused::Unknown(e) | Refused::Gone(e)) => return Err(e.into()),
            Err(Refused::NotAllowed(e)) => return Err(anyhow::Error::new(e)),
            Err(Refused::Changed { plugin }) => {
                anyhow::bail!("{qualified} was not run: the grant of `{plugin}` changed meanwhile")
            }
            Err(Refused::Capture(e)) => anyhow::bail!(
                "{qualified} was not run: its file changes could not be captured for undo: {e}"
            ),
            Err(Refused::Unrecorded(e)) => return Err(unrecorded("the call", e.into())),
        };
        let prepared = running.prepared().clone();
        let workspace = calls.workspace();
        if !self.json {
            eprintln!("{qualified} in {} under:", workspace.display());
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
        let recorded = running.run(std::future::pending()).await;
        if let Some((kind, e)) = recorded.unrecorded {
            let what = match kind {
                Kind::Denial => "recording the denial of",
                Kind::Result => "reporting the result of",
                _ => "the call",
            };
            return Err(unrecorded(what, e.into()));
        }
        let captured = recorded.captured.map_err(|e| {
            anyhow::anyhow!(
                "{qualified} ran, but its file changes could not be journaled: {e}; the next `warden undo` in this workspace will capture them"
            )
        })?;
        let out = recorded.out?;
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
                    "workspace": workspace,
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

    /// The plugin and tool of `plugin.tool`, or of `plugin__tool` as MCP
    /// clients and the agent name it. Plugin names may hold `_`, so the
    /// longest installed or bundled name that fits is the plugin.
    fn split_name(&self, qualified: &str) -> anyhow::Result<(String, String)> {
        if let Some((plugin, tool)) = qualified.split_once('.') {
            return Ok((plugin.into(), tool.into()));
        }
        let sep = warden_agent::tools::SEPARATOR;
        let names = self.registry.names().unwrap_or_default();
        let known = names
            .iter()
            .filter_map(|n| {
                let tool = qualified.strip_prefix(n.as_str())?.strip_prefix(sep)?;
                (!tool.is_empty()).then_some((n.clone(), tool.to_string()))
            })
            .max_by_key(|(n, _)| n.len());
        match known.or_else(|| {
            let (p, t) = qualified.split_once(sep)?;
            Some((p.to_string(), t.to_string()))
        }) {
            Some(parts) => Ok(parts),
            None => Err(Error::InvalidInput {
                tool: qualified.to_string(),
                reason: "name the tool as PLUGIN.TOOL or PLUGIN__TOOL, e.g. fs.read (see `warden tools`)".into(),
            }
            .into()),
        }
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
                outln!("{}", t["name"].as_str().unwrap_or_default());
                outln!(
                    "    {}",
                    escape(t["description"].as_str().unwrap_or_default())
                );
                let props = t["input_schema"]["properties"].as_object();
                let args: Vec<&String> = props.map(|p| p.keys().collect()).unwrap_or_default();
                if !args.is_empty() {
                    outln!(
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
        s if s.starts_with('@') => {
            Box::new(std::fs::File::open(&s[1..]).map_err(|e| super::Usage {
                message: format!("cannot read input file {}: {e}", &s[1..]),
                hint: "give --input @FILE with a readable file, `-` for standard input, or the JSON itself".into(),
            })?)
        }
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
        (None, CapabilityKind::Process) => format!(
            "no grant of yours allows this as asked: it is outside the argument pattern or refused by warden's rules for the program (see `warden plugin audit {plugin}`)"
        ),
        (None, _) if d.reason.starts_with("denied by organisation policy") => {
            "no grant can allow this: the organisation's policy forbids it".into()
        }
        (None, CapabilityKind::Files) => {
            "no grant allows this: the plugin tried to reach outside its granted directories".into()
        }
        (None, CapabilityKind::Network) => {
            "no grant allows this: warden never lets a plugin reach this address, whatever it is granted".into()
        }
        (None, CapabilityKind::Env) => {
            "no grant allows this: warden never passes this variable to plugins".into()
        }
    }
}

fn describe_failure(f: &ToolFailure) -> String {
    escape(&warden_core::audit::failure_text(f))
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
        outln!("{safe}");
    } else {
        outln!("{text}");
    }
}

/// The session of `warden call` without `--session`.
pub const DEFAULT_SESSION: &str = "cli";
