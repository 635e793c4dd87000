//! Plain-language descriptions of what a plugin asks for and holds, shared by
//! `install` and `audit`. All plugin-provided text is escaped.

use warden_core::capability::CapabilityKind;
use warden_core::escape::escape;
use warden_core::grant::Effective;
use warden_core::imports::Import;
use warden_core::limits::Limits;
use warden_core::manifest::{Access, Manifest, PathSpec};

/// The request section: one line per capability.
pub fn requested(m: &Manifest) -> Vec<String> {
    let mut lines = Vec::new();
    for f in &m.files {
        let why = why(f.why.as_deref());
        lines.push(format!(
            "files  {} {}{why}",
            f.access,
            describe_path(&f.path)
        ));
    }
    for var in &m.env {
        lines.push(format!("env    {var}"));
    }
    for p in &m.programs {
        let why = why(p.why.as_deref());
        lines.push(format!(
            "run    {} {}{why}",
            escape(&p.program),
            escape(&p.args.to_string())
        ));
        let denied =
            warden_core::capability::process::argv::FlagPolicy::new(p.basename(), &p.deny).denied();
        if !denied.is_empty() {
            lines.push(format!(
                "         refused flags: {}",
                escape(&denied.join(" "))
            ));
        }
        if !p.env.is_empty() {
            lines.push(format!("         may set env: {}", p.env.join(", ")));
        }
        for r in &p.reads {
            lines.push(format!(
                "         program reads {}",
                escape(&String::from(r.clone()))
            ));
        }
        for w in &p.writes {
            lines.push(format!(
                "         program writes {}",
                escape(&String::from(w.clone()))
            ));
        }
    }
    for n in &m.network {
        let why = why(n.why.as_deref());
        lines.push(format!("net    {}{why}", n.origin));
    }
    if lines.is_empty() {
        lines.push("nothing beyond computing".into());
    }
    let l = Limits::of(m);
    lines.push(format!(
        "limits memory {} MiB, time {} ms, output {} KiB per call",
        l.memory_mib,
        l.timeout_ms,
        l.output_bytes / 1024
    ));
    lines
}

/// ` — why`, escaped, when the author said why.
fn why(why: Option<&str>) -> String {
    why.map(|w| format!(" — {}", escape(w))).unwrap_or_default()
}

fn describe_path(p: &PathSpec) -> String {
    match p {
        PathSpec::Workspace(rel) if rel.as_os_str().is_empty() => "the workspace".into(),
        PathSpec::Workspace(_) => format!("{p} (inside the workspace)"),
        PathSpec::Absolute(_) => format!("{} (outside the workspace)", escape(&p.to_string())),
    }
}

/// The effective grant: one line per path and variable.
pub fn effective(e: &Effective) -> Vec<String> {
    warden_core::session::rule(e)
}

/// What a reviewer should know, in sentences.
pub fn risks(m: &Manifest, imports: &[Import]) -> Vec<String> {
    let mut risks = Vec::new();
    let files = imports
        .iter()
        .any(|i| i.capability == Some(CapabilityKind::Files));
    let writes = m.files.iter().filter(|f| f.access == Access::Write);
    let outside = m
        .files
        .iter()
        .filter(|f| matches!(f.path, PathSpec::Absolute(_)));
    if files {
        let w: Vec<String> = writes.map(|f| f.path.to_string()).collect();
        if w.is_empty() {
            risks.push("Can read, but not change, the files it is granted.".into());
        } else {
            risks.push(format!(
                "Can create, change and delete files under: {} (.git and warden's own files stay read-only unless granted by name).",
                w.join(", ")
            ));
        }
        let o: Vec<String> = outside.map(|f| escape(&f.path.to_string())).collect();
        if !o.is_empty() {
            risks.push(format!(
                "Asks for paths outside the workspace: {}.",
                o.join(", ")
            ));
        }
    } else {
        risks.push("Cannot touch any file (it does not import wasi:filesystem).".into());
    }
    if !m.env.is_empty() {
        risks.push(format!(
            "Can read the environment variables {}.",
            m.env.join(", ")
        ));
    }
    if imports
        .iter()
        .any(|i| i.capability == Some(CapabilityKind::Process))
    {
        let names: Vec<String> = m.programs.iter().map(|p| escape(&p.program)).collect();
        risks.push(format!(
            "Can run these programs once you grant them: {}. Each runs confined to the plugin's file grants, without network, with matching arguments only.",
            names.join(", ")
        ));
    } else {
        risks.push("Cannot start processes (it does not import warden:plugin/process).".into());
    }
    if imports
        .iter()
        .any(|i| i.capability == Some(CapabilityKind::Network))
    {
        let origins: Vec<String> = m.network.iter().map(|n| n.origin.to_string()).collect();
        risks.push(format!(
            "Can send HTTP(S) requests to the origins you grant within: {}. Warden sends each request itself, follows redirects only to granted origins, and refuses loopback, private, link-local and cloud-metadata addresses unless granted by address.",
            origins.join(", ")
        ));
    } else {
        risks.push("Cannot reach the network (it does not import wasi:http).".into());
    }
    let unknown: Vec<&str> = imports
        .iter()
        .filter(|i| !i.offered)
        .map(|i| i.name.as_str())
        .collect();
    if !unknown.is_empty() {
        risks.push(format!(
            "REFUSED: imports interfaces warden does not offer: {}.",
            unknown.join(", ")
        ));
    }
    risks
}

/// Print a titled block of lines.
pub fn block(title: &str, lines: &[String]) {
    eprintln!("{title}:");
    for line in lines {
        eprintln!("  {line}");
    }
}
