//! How a failed command ends: its exit code, and its words as text on
//! stderr or, with `--json`, as one line of JSON on stdout:
//!
//! ```text
//! {"error":{"kind":"plugin_not_found","message":"no plugin named …","hint":"did you mean `fs`?"},"exit":2}
//! ```
//!
//! `kind` is a stable word per kind of failure (see [`kind`]), `message`
//! the same text the plain form prints after `error: `, `hint` what to do
//! about it, or null. The exit code is the same with and without `--json`.

use crate::commands::Usage;
use serde_json::json;
use std::io::Write as _;
use std::process::ExitCode;
use warden_core::Error;

/// End with `err`, printed as the user asked.
pub fn report(err: &anyhow::Error, json: bool) -> ExitCode {
    let (kind, code) = classify(err);
    let message = format!("{err:#}");
    if json {
        emit(kind, &message, hint(err), code);
    } else {
        let _ = writeln!(std::io::stderr(), "error: {message}");
    }
    ExitCode::from(code)
}

/// End with a command line clap refused (or `--help`, `--version`). The
/// JSON form is used when `--json` appears anywhere among the arguments,
/// since the flag itself could not be parsed into place.
pub fn usage(e: &clap::Error) -> ExitCode {
    let code = e.exit_code();
    let json = std::env::args_os().skip(1).any(|a| a == "--json");
    if !json || !e.use_stderr() {
        e.exit();
    }
    let text = e.render().to_string();
    let (first, rest) = text.split_once("\n\n").unwrap_or((&text, ""));
    let message = first.trim().trim_start_matches("error: ");
    let rest = rest.trim();
    let hint = (!rest.is_empty()).then(|| rest.to_string());
    emit("usage", message, hint, u8::try_from(code).unwrap_or(2));
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}

fn emit(kind: &str, message: &str, hint: Option<String>, code: u8) {
    let line = json!({
        "error": { "kind": kind, "message": message, "hint": hint },
        "exit": code,
    });
    // Whoever closed stdout still gets the exit code.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

fn core(err: &anyhow::Error) -> Option<&Error> {
    // A session shares why a plugin may not run among its calls.
    let shared = || err.downcast_ref::<std::sync::Arc<Error>>().map(|e| &**e);
    err.downcast_ref::<Error>().or_else(shared)
}

/// The stable word for what kind of failure this is, and its documented
/// exit code: one table, so a new error variant cannot get a kind without
/// a code (the match has no catch-all).
fn classify(err: &anyhow::Error) -> (&'static str, u8) {
    if err.downcast_ref::<Usage>().is_some() {
        return ("usage", 2);
    }
    match core(err) {
        Some(Error::Manifest { .. }) => ("invalid_manifest", 2),
        Some(Error::Grant { .. }) => ("invalid_grant", 2),
        Some(Error::NotAComponent { .. }) => ("not_a_component", 2),
        Some(Error::UndeclaredImport { .. }) => ("undeclared_import", 2),
        Some(Error::UnknownImport { .. }) => ("unknown_import", 2),
        Some(Error::NotGranted { .. }) => ("not_granted", 3),
        Some(Error::PolicyDenied { .. }) => ("policy_denied", 3),
        Some(Error::Policy { .. }) => ("policy_unusable", 2),
        Some(Error::PluginNotFound { .. }) => ("plugin_not_found", 2),
        Some(Error::ToolNotFound { .. }) => ("tool_not_found", 2),
        Some(Error::Conflict(_)) => ("conflict", 2),
        Some(Error::AlreadyInstalled { .. }) => ("already_installed", 2),
        Some(Error::Bundled { .. }) => ("bundled", 2),
        Some(Error::Damaged { .. }) => ("damaged", 2),
        Some(Error::Tampered { .. }) => ("tampered", 2),
        Some(Error::NoPreviousVersion { .. }) => ("no_previous_version", 2),
        Some(Error::WrongPlugin { .. }) => ("wrong_plugin", 2),
        Some(Error::NotNewer { .. }) => ("not_newer", 2),
        Some(Error::InvalidInput { .. }) => ("invalid_input", 2),
        Some(Error::Timeout { .. }) => ("timeout", 4),
        Some(Error::MemoryLimit { .. }) => ("memory_limit", 4),
        Some(Error::OutputLimit { .. }) => ("output_limit", 4),
        Some(Error::Trap { .. }) => ("trap", 4),
        Some(Error::Io(_)) => ("io", 5),
        Some(Error::Audit(_)) => ("audit", 5),
        Some(Error::Journal(_)) => ("journal", 5),
        Some(Error::Wasm { .. }) => ("wasm", 5),
        None => ("error", 5),
    }
}

/// What to do about it, where warden knows more than the message says.
fn hint(err: &anyhow::Error) -> Option<String> {
    if let Some(u) = err.downcast_ref::<Usage>() {
        return Some(u.hint.clone());
    }
    let did_you_mean = |s: &warden_core::suggest::Suggestion, otherwise: &str| {
        Some(match &s.0 {
            Some(name) => format!("did you mean `{name}`? ({otherwise})"),
            None => otherwise.to_string(),
        })
    };
    match core(err)? {
        Error::NotGranted { hint, .. } => Some(hint.clone()),
        Error::UndeclaredImport { hint, .. } => Some((*hint).to_string()),
        Error::PluginNotFound { suggestion, .. } => {
            did_you_mean(suggestion, "see `warden plugin list`")
        }
        Error::ToolNotFound { suggestion, .. } => did_you_mean(suggestion, "see `warden tools`"),
        Error::PolicyDenied { file, .. } => Some(format!(
            "no grant can allow it: ask whoever manages {}",
            file.display()
        )),
        Error::Policy { file, .. } => Some(format!("see `warden policy check {}`", file.display())),
        _ => None,
    }
}
