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

/// How each capability the component imports is linked: with what the
/// grant holds (`effective`, when the plugin is installed), or with
/// nothing granted, so every use is refused and names the grant that would
/// allow it; and `wasi:sockets` deny-all, whatever is granted.
pub fn linked(imports: &[Import], effective: Option<&Effective>) -> Vec<String> {
    let has = |c: CapabilityKind| imports.iter().any(|i| i.capability == Some(c));
    let mut lines = Vec::new();
    let how = |what: &str, held: Option<usize>, things: &str| -> String {
        match held {
            None => format!("{what}: linked; what it may reach is what you grant"),
            Some(0) => format!(
                "{what}: linked with nothing granted: every use is refused, naming the grant that would allow it"
            ),
            Some(n) => format!(
                "{what}: linked with {n} granted {things}; anything else is refused, naming the grant that would allow it"
            ),
        }
    };
    if has(CapabilityKind::Files) {
        lines.push(how(
            "files (wasi:filesystem, through warden's guard; the workspace is `.`)",
            effective.map(|e| e.files.len()),
            "path(s)",
        ));
    }
    if has(CapabilityKind::Process) {
        lines.push(how(
            "programs (warden:plugin/process)",
            effective.map(|e| e.programs.len()),
            "program(s)",
        ));
    }
    if has(CapabilityKind::Network) {
        lines.push(how(
            "network (wasi:http, sent by warden)",
            effective.map(|e| e.network.len()),
            "origin(s)",
        ));
    }
    if warden_core::imports::denies_all(imports) {
        lines.push(
            "sockets (wasi:sockets): linked deny-all: every socket, connection and name lookup fails with access-denied; raw sockets are never granted"
                .into(),
        );
    }
    if lines.is_empty() {
        lines.push("no capability: only the baseline (clocks, randomness, captured stdio, granted env, log)".into());
    }
    lines
}

/// The effective grant: one line per path and variable.
pub fn effective(e: &Effective) -> Vec<String> {
    warden_core::session::rule(e)
}

/// What a reviewer should know, in sentences: what the plugin itself can
/// reach, and what the programs it runs can reach. Programs see the
/// plugin's file grants whether or not the plugin imports wasi:filesystem,
/// so a plugin without file imports is not "harmless to files" when it runs
/// programs.
pub fn risks(m: &Manifest, imports: &[Import]) -> Vec<String> {
    let mut risks = Vec::new();
    let has = |c: CapabilityKind| imports.iter().any(|i| i.capability == Some(c));
    let files = has(CapabilityKind::Files);
    let runs = has(CapabilityKind::Process) && !m.programs.is_empty();
    let paths = |access: Option<Access>| -> Vec<String> {
        m.files
            .iter()
            .filter(|f| access.is_none_or(|a| f.access == a))
            .map(|f| escape(&f.path.to_string()))
            .collect()
    };
    let writes = paths(Some(Access::Write));
    let reads = paths(Some(Access::Read));
    let outside: Vec<String> = m
        .files
        .iter()
        .filter(|f| matches!(f.path, PathSpec::Absolute(_)))
        .map(|f| escape(&f.path.to_string()))
        .collect();
    let reach = |who: &str| -> Vec<String> {
        let mut out = Vec::new();
        if !writes.is_empty() {
            out.push(format!(
                "{who} create, change and delete files under: {} (.git and warden's own files stay read-only unless granted by name).",
                writes.join(", ")
            ));
        }
        if !reads.is_empty() {
            out.push(format!(
                "{who} read, but not change, files under: {} (read-only grants).",
                reads.join(", ")
            ));
        }
        out
    };
    match (files, runs) {
        (true, _) if m.files.is_empty() => {
            risks.push(
                "Imports wasi:filesystem but requests no path, so it can touch no file.".into(),
            );
        }
        (true, _) => risks.extend(reach("Can")),
        (false, true) if !m.files.is_empty() => {
            risks.push("Does not open files itself (it does not import wasi:filesystem), but the programs it runs can:".into());
            risks.extend(reach("Its programs can"));
        }
        (false, _) => {
            risks.push("Cannot touch any file (it does not import wasi:filesystem, and no program it runs is given a path).".into());
        }
    }
    if (files || runs) && !outside.is_empty() {
        risks.push(format!(
            "Asks for paths outside the workspace: {}.",
            outside.join(", ")
        ));
    }
    if !m.env.is_empty() {
        risks.push(format!(
            "Can read the environment variables {}.",
            m.env.join(", ")
        ));
    }
    if has(CapabilityKind::Process) {
        let names: Vec<String> = m.programs.iter().map(|p| escape(&p.program)).collect();
        risks.push(format!(
            "Can run these programs once you grant them: {}. Each runs with the plugin's file grants (what it can read and write, above), without network, with matching arguments only.",
            names.join(", ")
        ));
        for p in &m.programs {
            let mut extra = Vec::new();
            if !p.reads.is_empty() {
                let r: Vec<String> = p
                    .reads
                    .iter()
                    .map(|r| escape(&String::from(r.clone())))
                    .collect();
                extra.push(format!("also reads {}", r.join(", ")));
            }
            if !p.writes.is_empty() {
                let w: Vec<String> = p
                    .writes
                    .iter()
                    .map(|w| escape(&String::from(w.clone())))
                    .collect();
                extra.push(format!("also writes {}", w.join(", ")));
            }
            if !p.env.is_empty() {
                extra.push(format!(
                    "may be given the environment variables {}",
                    p.env.join(", ")
                ));
            }
            if !extra.is_empty() {
                risks.push(format!(
                    "Program {} {}.",
                    escape(&p.program),
                    extra.join("; ")
                ));
            }
        }
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
