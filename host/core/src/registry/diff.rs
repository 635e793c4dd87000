//! What one version of a plugin asks for that another does not: the
//! capability diff shown by `warden plugin update` and `warden plugin diff`,
//! and the grant an update keeps.
//!
//! An update never widens a grant by itself. Files, environment variables
//! and origins are granted by explicit name, and the effective grant is the
//! meeting of grant and request, so an old grant entry that still falls
//! within the new manifest means no more than it did. A program grant is
//! different: without its own argv pattern it means "as the manifest asks",
//! so it is kept only when the program's request is unchanged.

use crate::grant::Grant;
use crate::manifest::{Access, Manifest};
use crate::runtime::ToolSpec;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// How an item changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum How {
    /// Asked for now, not before.
    Added,
    /// No longer asked for.
    Removed,
    /// Asked for more than before.
    Widened,
    /// Asked for less than before.
    Narrowed,
    /// Different, neither simply more nor less.
    Changed,
}

impl How {
    fn word(self) -> &'static str {
        match self {
            How::Added => "new",
            How::Removed => "removed",
            How::Widened => "widened",
            How::Narrowed => "narrowed",
            How::Changed => "changed",
        }
    }
}

/// One difference between two versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Added, removed, widened…
    pub how: How,
    /// `files`, `programs`, `network`, `env`, `imports`, `limits`, `tools`,
    /// `publisher`.
    pub what: &'static str,
    /// The item: a path, program, origin, variable, import, limit or tool.
    pub item: String,
    /// Before and after, where that says more than the item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Change {
    /// Changes that no grant can hold back, so the user must approve them
    /// as such: what a tool tells the model, higher limits, a new publisher.
    pub fn needs_review(&self) -> bool {
        match self.what {
            "tools" | "publisher" => true,
            "limits" => self.how == How::Widened || self.how == How::Added,
            _ => false,
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<8} {:<9} {}",
            self.how.word(),
            self.what,
            crate::escape::escape(&self.item)
        )?;
        if let Some(d) = &self.detail {
            write!(f, ": {}", crate::escape::escape(d))?;
        }
        Ok(())
    }
}

/// One version of a plugin as the diff sees it.
pub struct Side<'a> {
    /// What it requests.
    pub manifest: &'a Manifest,
    /// Its real imports.
    pub imports: &'a [String],
    /// What its tools say.
    pub tools: &'a [ToolSpec],
}

fn change(how: How, what: &'static str, item: impl Into<String>, detail: Option<String>) -> Change {
    Change {
        how,
        what,
        item: item.into(),
        detail,
    }
}

/// Everything that differs from `old` to `new`.
pub fn diff(old: &Side, new: &Side) -> Vec<Change> {
    let mut out = Vec::new();
    files(old.manifest, new.manifest, &mut out);
    programs(old.manifest, new.manifest, &mut out);
    network(old.manifest, new.manifest, &mut out);
    by_name("env", &old.manifest.env, &new.manifest.env, &mut out);
    by_name("imports", old.imports, new.imports, &mut out);
    limits(old.manifest, new.manifest, &mut out);
    tools(old.tools, new.tools, &mut out);
    if old.manifest.publisher != new.manifest.publisher {
        out.push(change(
            How::Changed,
            "publisher",
            new.manifest
                .publisher
                .clone()
                .unwrap_or_else(|| "(none)".into()),
            Some(format!(
                "was {}",
                old.manifest.publisher.as_deref().unwrap_or("(none)")
            )),
        ));
    }
    out
}

fn by_name(what: &'static str, old: &[String], new: &[String], out: &mut Vec<Change>) {
    for n in new.iter().filter(|n| !old.contains(n)) {
        out.push(change(How::Added, what, n.clone(), None));
    }
    for o in old.iter().filter(|o| !new.contains(o)) {
        out.push(change(How::Removed, what, o.clone(), None));
    }
}

fn files(old: &Manifest, new: &Manifest, out: &mut Vec<Change>) {
    let root = Path::new("/ws");
    for n in &new.files {
        let np = n.path.resolve(root);
        match old.files.iter().find(|o| o.path == n.path) {
            Some(o) if o.access == n.access => {}
            Some(o) => out.push(change(
                if n.access > o.access {
                    How::Widened
                } else {
                    How::Narrowed
                },
                "files",
                n.path.to_string(),
                Some(format!("{} → {}", o.access, n.access)),
            )),
            None => {
                // A new path above an old one asks for all of it and more.
                let below = old
                    .files
                    .iter()
                    .find(|o| o.path.resolve(root).starts_with(&np) && o.access <= n.access);
                out.push(match below {
                    Some(o) => change(
                        How::Widened,
                        "files",
                        n.path.to_string(),
                        Some(format!("{} {} → {} {}", o.path, o.access, n.path, n.access)),
                    ),
                    None => change(
                        How::Added,
                        "files",
                        n.path.to_string(),
                        Some(n.access.to_string()),
                    ),
                });
            }
        }
    }
    for o in &old.files {
        if !new.files.iter().any(|n| n.path == o.path) {
            out.push(change(
                How::Removed,
                "files",
                o.path.to_string(),
                Some(o.access.to_string()),
            ));
        }
    }
}

fn programs(old: &Manifest, new: &Manifest, out: &mut Vec<Change>) {
    for n in &new.programs {
        match old.programs.iter().find(|o| o.program == n.program) {
            None => out.push(change(
                How::Added,
                "programs",
                n.program.clone(),
                Some(format!("arguments `{}`", n.args)),
            )),
            Some(o) => {
                let mut parts = Vec::new();
                if o.args != n.args {
                    parts.push(format!("arguments `{}` → `{}`", o.args, n.args));
                }
                if o.deny != n.deny {
                    parts.push(format!("refused flags {:?} → {:?}", o.deny, n.deny));
                }
                if o.env != n.env {
                    parts.push(format!("environment {:?} → {:?}", o.env, n.env));
                }
                if o.reads != n.reads || o.writes != n.writes {
                    parts.push("the paths only it may read or write".into());
                }
                if !parts.is_empty() {
                    out.push(change(
                        How::Changed,
                        "programs",
                        n.program.clone(),
                        Some(parts.join("; ")),
                    ));
                }
            }
        }
    }
    for o in &old.programs {
        if !new.programs.iter().any(|n| n.program == o.program) {
            out.push(change(How::Removed, "programs", o.program.clone(), None));
        }
    }
}

fn network(old: &Manifest, new: &Manifest, out: &mut Vec<Change>) {
    for n in &new.network {
        if old.network.iter().any(|o| o.origin == n.origin) {
            continue;
        }
        let covered = old.network.iter().find(|o| n.origin.covers(&o.origin));
        out.push(match covered {
            Some(o) => change(
                How::Widened,
                "network",
                n.origin.to_string(),
                Some(format!("{} → {}", o.origin, n.origin)),
            ),
            None => change(How::Added, "network", n.origin.to_string(), None),
        });
    }
    for o in &old.network {
        if !new.network.iter().any(|n| n.origin == o.origin) {
            out.push(change(How::Removed, "network", o.origin.to_string(), None));
        }
    }
}

fn limits(old: &Manifest, new: &Manifest, out: &mut Vec<Change>) {
    let as_map = |m: &Manifest| -> BTreeMap<String, u64> {
        serde_json::to_value(&m.limits)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| v.as_u64().map(|v| (k, v)))
            .collect()
    };
    let (o, n) = (as_map(old), as_map(new));
    for key in o
        .keys()
        .chain(n.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let (before, after) = (o.get(key), n.get(key));
        let shown = |v: Option<&u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "default".into());
        let how = match (before, after) {
            (Some(b), Some(a)) if a == b => continue,
            (Some(b), Some(a)) if a > b => How::Widened,
            (Some(_), Some(_)) => How::Narrowed,
            (None, Some(_)) => How::Added,
            (Some(_), None) => How::Removed,
            (None, None) => continue,
        };
        out.push(change(
            how,
            "limits",
            key.clone(),
            Some(format!("{} → {}", shown(before), shown(after))),
        ));
    }
}

fn tools(old: &[ToolSpec], new: &[ToolSpec], out: &mut Vec<Change>) {
    for n in new {
        match old.iter().find(|o| o.name == n.name) {
            None => out.push(change(
                How::Added,
                "tools",
                n.name.clone(),
                Some(n.description.clone()),
            )),
            Some(o) => {
                if o.description != n.description {
                    out.push(change(
                        How::Changed,
                        "tools",
                        n.name.clone(),
                        Some(format!(
                            "description {:?} → {:?}",
                            o.description, n.description
                        )),
                    ));
                }
                if o.input_schema != n.input_schema {
                    out.push(change(
                        How::Changed,
                        "tools",
                        n.name.clone(),
                        Some(format!(
                            "input schema {} → {}",
                            o.input_schema, n.input_schema
                        )),
                    ));
                }
                if o.output_schema != n.output_schema {
                    let show = |s: &Option<serde_json::Value>| {
                        s.as_ref()
                            .map_or_else(|| "none".to_string(), |v| v.to_string())
                    };
                    out.push(change(
                        How::Changed,
                        "tools",
                        n.name.clone(),
                        Some(format!(
                            "output schema {} → {}",
                            show(&o.output_schema),
                            show(&n.output_schema)
                        )),
                    ));
                }
            }
        }
    }
    for o in old.iter().filter(|o| !new.iter().any(|n| n.name == o.name)) {
        out.push(change(How::Removed, "tools", o.name.clone(), None));
    }
}

/// The part of `grant` an update from `old` to `new` keeps (see the module
/// comment), and a line for each entry it drops.
pub fn carry(grant: &Grant, old: &Manifest, new: &Manifest) -> (Grant, Vec<String>) {
    let mut kept = Grant::default();
    let mut dropped = Vec::new();
    for f in &grant.files {
        let one = Grant {
            files: vec![f.clone()],
            ..Grant::default()
        };
        match one.check_within(new) {
            Ok(()) => kept.files.push(f.clone()),
            Err(_) if f.access == Access::Write => {
                // A path now only readable keeps its read grant.
                let read = crate::grant::FileGrant {
                    path: f.path.clone(),
                    access: Access::Read,
                };
                let one = Grant {
                    files: vec![read.clone()],
                    ..Grant::default()
                };
                if one.check_within(new).is_ok() {
                    kept.files.push(read);
                    dropped.push(format!("files write {} (now read only)", f.path));
                } else {
                    dropped.push(format!(
                        "files {} {} (no longer requested)",
                        f.access, f.path
                    ));
                }
            }
            Err(_) => dropped.push(format!(
                "files {} {} (no longer requested)",
                f.access, f.path
            )),
        }
    }
    for v in &grant.env {
        if new.env.contains(v) {
            kept.env.push(v.clone());
        } else {
            dropped.push(format!("env {v} (no longer requested)"));
        }
    }
    for p in &grant.programs {
        // Everything but `why` decides what the program may do.
        let request = |m: &Manifest| {
            m.programs.iter().find(|r| r.program == p.program).map(|r| {
                crate::manifest::ProgramRequest {
                    why: None,
                    ..r.clone()
                }
            })
        };
        match (request(old), request(new)) {
            (_, None) => dropped.push(format!("run {} (no longer requested)", p.program)),
            (Some(a), Some(b)) if a == b => kept.programs.push(p.clone()),
            _ => dropped.push(format!(
                "run {} (its request changed; grant it again to accept the change)",
                p.program
            )),
        }
    }
    for o in &grant.network {
        let one = Grant {
            network: vec![o.clone()],
            ..Grant::default()
        };
        if one.check_within(new).is_ok() {
            kept.network.push(o.clone());
        } else {
            dropped.push(format!("net {o} (no longer requested)"));
        }
    }
    (kept, dropped)
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn manifest(extra: &str) -> Manifest {
        Manifest::parse(
            &format!("name = \"p\"\nversion = \"1.0.0\"\ndescription = \"d\"\n{extra}"),
            "test",
        )
        .expect("manifest")
    }

    fn changes(old: &Manifest, new: &Manifest) -> Vec<String> {
        let none: [String; 0] = [];
        diff(
            &Side {
                manifest: old,
                imports: &none,
                tools: &[],
            },
            &Side {
                manifest: new,
                imports: &none,
                tools: &[],
            },
        )
        .iter()
        .map(|c| {
            c.to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
    }

    #[test]
    fn a_wider_path_write_access_and_a_new_origin_are_named() {
        let old = manifest("[[files]]\npath = \"src\"\naccess = \"read\"\n");
        let new = manifest(
            "[[files]]\npath = \".\"\naccess = \"write\"\n[[network]]\norigin = \"https://example.com\"\n",
        );
        assert_eq!(
            changes(&old, &new),
            [
                "widened files .: src read → . write",
                "removed files src: read",
                "new network https://example.com:443",
            ]
        );
    }

    #[test]
    fn an_unchanged_grant_is_kept_and_a_changed_program_is_not() {
        let old = manifest(
            "env = [\"A\"]\n[[files]]\npath = \"src\"\naccess = \"write\"\n[[programs]]\nprogram = \"git\"\nargs = [\"status\"]\n",
        );
        let new = manifest(
            "env = [\"A\", \"B\"]\n[[files]]\npath = \"src\"\naccess = \"read\"\n[[programs]]\nprogram = \"git\"\nargs = [\"**\"]\n",
        );
        let mut grant =
            Grant::from_specs(&["file:src:write", "env:A", "program:git"]).expect("grant");
        grant.programs[0].path = "/usr/bin/git".into();
        let (kept, dropped) = carry(&grant, &old, &new);
        assert_eq!(
            kept,
            Grant::from_specs(&["file:src:read", "env:A"]).expect("grant")
        );
        assert_eq!(dropped.len(), 2, "{dropped:?}");
        assert!(dropped[1].contains("its request changed"), "{dropped:?}");
    }

    #[test]
    fn raised_limits_and_tool_descriptions_need_review() {
        let old = manifest("[limits]\ntimeout_ms = 1000\n");
        let new = manifest("[limits]\ntimeout_ms = 9000\n");
        let t = |d: &str| ToolSpec {
            name: "t".into(),
            description: d.into(),
            input_schema: serde_json::json!({}),
            output_schema: None,
        };
        let none: [String; 0] = [];
        let c = diff(
            &Side {
                manifest: &old,
                imports: &none,
                tools: &[t("reads a file")],
            },
            &Side {
                manifest: &new,
                imports: &none,
                tools: &[t("reads a file and sends it away")],
            },
        );
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(c.iter().all(Change::needs_review), "{c:?}");
    }

    #[test]
    fn a_changed_output_schema_needs_review() {
        let m = manifest("");
        let t = |out: Option<serde_json::Value>| ToolSpec {
            name: "t".into(),
            description: "reads a file".into(),
            input_schema: serde_json::json!({}),
            output_schema: out,
        };
        let none: [String; 0] = [];
        let side = |tools| Side {
            manifest: &m,
            imports: &none,
            tools,
        };
        let old = [t(None)];
        let new = [t(Some(serde_json::json!({"type": "object"})))];
        let c = diff(&side(&old), &side(&new));
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(c[0].needs_review(), "{c:?}");
        assert!(format!("{c:?}").contains("output schema none"), "{c:?}");
        assert!(diff(&side(&old), &side(&old)).is_empty());
    }
}
