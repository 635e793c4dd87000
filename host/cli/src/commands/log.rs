//! `warden log` and `warden log verify`, and the one way the other commands
//! write to the audit log ([`App::record`]).

use super::App;
use serde_json::json;
use std::process::ExitCode;
use warden_core::audit::{self, Decision, Entry, Kind, Record};
use warden_core::escape::escape;

/// Exit code of `warden log verify` when the log is not intact.
pub const EXIT_TAMPERED: u8 = 6;

/// Which records `warden log` shows.
#[derive(Debug, Default)]
pub struct Filter {
    pub session: Option<String>,
    pub plugin: Option<String>,
    pub decision: Option<Decision>,
    pub since: Option<String>,
}

impl Filter {
    fn keeps(&self, e: &Entry) -> bool {
        let r = &e.record;
        self.session
            .as_ref()
            .is_none_or(|s| r.session.as_ref() == Some(s))
            && self
                .plugin
                .as_ref()
                .is_none_or(|p| r.plugin.as_ref() == Some(p))
            && self.decision.is_none_or(|d| r.decision == d)
            && self.since.as_ref().is_none_or(|t| e.time >= *t)
    }
}

impl App {
    /// The audit log of this installation.
    pub fn audit_log(&self) -> anyhow::Result<audit::Log> {
        Ok(audit::Log::open(self.registry.dirs())?.with_export(self.export.clone()))
    }

    /// Append `record` before the action it describes; an error means the
    /// action must not happen.
    pub fn record(&self, record: Record) -> anyhow::Result<Entry> {
        let what = describe_kind(&record);
        self.audit_log()
            .and_then(|log| Ok(log.append(record)?))
            .map_err(|e| {
                e.context(format!(
                    "refused {what}: it could not be recorded in the audit log"
                ))
            })
    }

    /// Show the records that pass `filter`.
    pub fn log(&self, filter: &Filter) -> anyhow::Result<ExitCode> {
        let log = self.audit_log()?;
        let verdict = log.verify();
        let entries: Vec<Entry> = log
            .entries()?
            .into_iter()
            .filter(|e| filter.keeps(e))
            .collect();
        if self.json {
            self.print_json(&json!({
                "intact": verdict.is_ok(),
                "problem": verdict.as_ref().err().map(ToString::to_string),
                "records": entries,
            }))?;
        } else {
            for e in &entries {
                for line in describe(e) {
                    outln!("{line}");
                }
            }
            if entries.is_empty() {
                eprintln!("no records match");
            }
        }
        if let Err(e) = verdict {
            eprintln!("warning: {e}; the records above may have been altered");
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Check the whole log against its key and anchor.
    pub fn log_verify(&self) -> anyhow::Result<ExitCode> {
        let log = self.audit_log()?;
        let verdict = log.verify();
        if self.json {
            self.print_json(&match &verdict {
                Ok(v) => json!({"intact": true, "records": v.records, "anchored": v.anchored, "path": log.path()}),
                Err(e) => json!({"intact": false, "problem": e.to_string(), "path": log.path()}),
            })?;
        }
        match verdict {
            Ok(v) => {
                if !self.json {
                    outln!(
                        "audit log {} is intact: {} records, the last one matches the anchor",
                        log.path().display(),
                        v.records
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(audit::Error::Tampered { at, what, path }) => {
                if !self.json {
                    outln!("audit log {} is NOT intact", path.display());
                    outln!("  at {at}: {what}");
                }
                Ok(ExitCode::from(EXIT_TAMPERED))
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn describe_kind(r: &Record) -> String {
    let target = match (&r.plugin, &r.tool) {
        (Some(p), Some(t)) => format!(" {p}.{t}"),
        (Some(p), None) => format!(" {p}"),
        _ => String::new(),
    };
    let kind = match r.kind {
        Kind::Call => "the call",
        Kind::Denial => "recording the denial of",
        Kind::Result => "reporting the result of",
        Kind::Use => "the capability use of",
        Kind::Install => "installing",
        Kind::Remove => "removing",
        Kind::Grant => "changing the grant of",
        Kind::Rollback => "the rollback",
        Kind::Update => "updating",
    };
    format!("{kind}{target}")
}

/// One record for a person: a header line, then indented details. Text
/// from plugins and paths is escaped.
fn describe(e: &Entry) -> Vec<String> {
    let r = &e.record;
    let kind = serde_json::to_value(r.kind)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let decision = match r.decision {
        Decision::Allow => "allow",
        Decision::Deny => "DENY",
    };
    let what = match (&r.plugin, &r.tool) {
        (Some(p), Some(t)) => format!("{}.{}", escape(p), escape(t)),
        (Some(p), None) => escape(p),
        _ => String::new(),
    };
    let mut head = format!("#{} {} {kind} {decision} {what}", e.seq, e.time);
    if let Some(s) = &r.session {
        head.push_str(&format!(" [session {}", escape(s)));
        if let Some(t) = r.turn {
            head.push_str(&format!(" turn {t}"));
        }
        head.push(']');
    }
    head.push_str(&format!(" by {}", escape(&e.user)));
    let mut lines = vec![head];
    let mut detail = |label: &str, text: String| lines.push(format!("    {label}: {text}"));
    match (&r.capability, &r.operation, &r.resource) {
        (Some(c), Some(o), Some(res)) => detail(
            "what",
            format!("{} {} {}", escape(c), escape(o), escape(res)),
        ),
        (Some(c), None, Some(res)) => detail("what", format!("{} {}", escape(c), escape(res))),
        (_, _, Some(res)) => detail("where", escape(res)),
        _ => {}
    }
    if let Some(o) = &r.outcome {
        detail("outcome", escape(o));
    }
    if let Some(why) = &r.reason {
        detail("why", escape(why));
    }
    for rule in &r.rule {
        detail(
            if r.kind == Kind::Grant {
                "grant"
            } else {
                "under"
            },
            escape(rule),
        );
    }
    if let Some(by) = &r.approved_by {
        detail("approved by", escape(by));
    }
    match (&r.allow, r.kind, &r.plugin) {
        (Some(spec), _, Some(p)) => detail(
            "to allow",
            format!(
                "warden plugin grant {} --add --grant {}",
                escape(p),
                escape(spec)
            ),
        ),
        (None, Kind::Denial, _) => detail("to allow", "no grant allows this".into()),
        _ => {}
    }
    if let Some(d) = &r.detail {
        detail("detail", escape(&d.to_string()));
    }
    lines
}
