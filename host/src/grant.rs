//! Grants: what the user allowed a plugin, stored apart from what the plugin
//! requested, and the effective grant that is the meeting of the two.
//!
//! The effective grant is never wider than either side: a path is granted
//! only where a request and a grant overlap, with the lesser access of the
//! two, and an environment variable only if both name it.

use crate::manifest::{Access, Manifest, PathSpec, check_env_name};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a user granted one plugin. Stored as TOML in the config directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// Granted paths.
    #[serde(default)]
    pub files: Vec<FileGrant>,
    /// Granted environment variables.
    #[serde(default)]
    pub env: Vec<String>,
}

/// One granted path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileGrant {
    /// Where.
    pub path: PathSpec,
    /// How.
    pub access: Access,
}

impl Grant {
    /// The grant that allows exactly what the manifest requests.
    pub fn everything_requested(manifest: &Manifest) -> Self {
        Grant {
            files: manifest
                .files
                .iter()
                .map(|f| FileGrant {
                    path: f.path.clone(),
                    access: f.access,
                })
                .collect(),
            env: manifest.env.clone(),
        }
    }

    /// Build a grant from command-line specs:
    /// `file:PATH` (read), `file:PATH:read`, `file:PATH:write`, `env:NAME`.
    pub fn from_specs<S: AsRef<str>>(specs: &[S]) -> Result<Self> {
        let mut grant = Grant::default();
        for spec in specs {
            let spec = spec.as_ref();
            let bad = |reason: String| Error::Grant {
                reason: format!("{spec:?}: {reason}"),
            };
            let (kind, rest) = spec
                .split_once(':')
                .ok_or_else(|| bad("expected `file:PATH[:read|write]` or `env:NAME`".into()))?;
            match kind {
                "file" => {
                    let (path, access) = match rest.rsplit_once(':') {
                        Some((p, "read")) => (p, Access::Read),
                        Some((p, "write")) => (p, Access::Write),
                        _ => (rest, Access::Read),
                    };
                    let path = PathSpec::try_from(path.to_string()).map_err(bad)?;
                    grant.files.push(FileGrant { path, access });
                }
                "env" => {
                    check_env_name(rest).map_err(bad)?;
                    grant.env.push(rest.to_string());
                }
                other => {
                    return Err(bad(format!(
                        "unknown capability `{other}` (use `file` or `env`)"
                    )));
                }
            }
        }
        Ok(grant)
    }

    /// Parse a stored grant file.
    pub fn parse(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::Grant {
            reason: e.message().to_string(),
        })
    }

    /// Refuse a grant that gives what the manifest never asked for, so a
    /// typo on the command line does not silently grant nothing.
    pub fn check_within(&self, manifest: &Manifest) -> Result<()> {
        for g in &self.files {
            let covered = manifest.files.iter().any(|r| {
                let (rp, gp) = (
                    r.path.resolve(Path::new("/ws")),
                    g.path.resolve(Path::new("/ws")),
                );
                gp.starts_with(&rp) || rp.starts_with(&gp)
            });
            if !covered {
                return Err(Error::Grant {
                    reason: format!(
                        "plugin `{}` does not request access to `{}`",
                        manifest.name, g.path
                    ),
                });
            }
        }
        if let Some(var) = self.env.iter().find(|v| !manifest.env.contains(v)) {
            return Err(Error::Grant {
                reason: format!("plugin `{}` does not request env `{var}`", manifest.name),
            });
        }
        Ok(())
    }
}

/// Where the grant is applied.
#[derive(Debug, Clone)]
pub struct Context {
    /// Canonical workspace root.
    pub workspace: PathBuf,
    /// Paths that stay read-only inside writable grants unless granted by
    /// name: warden's own config, data and cache directories.
    pub protected: Vec<PathBuf>,
}

impl Context {
    /// Paths that are protected for this workspace: its `.git` and warden's
    /// own directories.
    pub fn protected_paths(&self) -> Vec<PathBuf> {
        let mut all = vec![self.workspace.join(".git")];
        all.extend(self.protected.iter().cloned());
        all
    }
}

/// One effective path grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectivePath {
    /// Absolute host path.
    pub host: PathBuf,
    /// The lesser of requested and granted access.
    pub access: Access,
    /// The path as the manifest/grant wrote it.
    pub spec: String,
}

/// The meeting of a manifest and a grant, resolved in a context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Effective {
    /// Paths the plugin may use.
    pub files: Vec<EffectivePath>,
    /// Environment variables it may read.
    pub env: Vec<String>,
    /// Paths inside writable grants that stay read-only.
    pub protected: Vec<PathBuf>,
}

/// Compute the effective grant.
pub fn effective(manifest: &Manifest, grant: &Grant, ctx: &Context) -> Effective {
    let ws = &ctx.workspace;
    let mut files: Vec<EffectivePath> = Vec::new();
    for req in &manifest.files {
        let rp = req.path.resolve(ws);
        for g in &grant.files {
            let gp = g.path.resolve(ws);
            let (host, spec) = if rp.starts_with(&gp) {
                (rp.clone(), req.path.to_string())
            } else if gp.starts_with(&rp) {
                (gp, g.path.to_string())
            } else {
                continue;
            };
            let access = req.access.min(g.access);
            match files.iter_mut().find(|e| e.host == host) {
                Some(existing) => existing.access = existing.access.max(access),
                None => files.push(EffectivePath { host, access, spec }),
            }
        }
    }
    let env = manifest
        .env
        .iter()
        .filter(|v| grant.env.contains(v))
        .cloned()
        .collect();
    // A protected path stays read-only unless a writable grant names it (or a
    // path inside it) explicitly.
    let protected = ctx
        .protected_paths()
        .into_iter()
        .filter(|p| {
            !files
                .iter()
                .any(|e| e.access == Access::Write && e.host.starts_with(p))
        })
        .collect();
    Effective {
        files,
        env,
        protected,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn manifest(files: &[(&str, Access)], env: &[&str]) -> Manifest {
        Manifest {
            name: "p".into(),
            version: "1".into(),
            description: String::new(),
            publisher: None,
            env: env.iter().map(|s| s.to_string()).collect(),
            files: files
                .iter()
                .map(|(p, a)| crate::manifest::FileRequest {
                    path: PathSpec::try_from(p.to_string()).unwrap(),
                    access: *a,
                    why: None,
                })
                .collect(),
            limits: Default::default(),
        }
    }

    fn ctx() -> Context {
        Context {
            workspace: PathBuf::from("/w/proj"),
            protected: vec![PathBuf::from("/home/u/.config/warden")],
        }
    }

    use Access::{Read, Write};

    #[test]
    fn meets_requests_and_grants() {
        // (requested, granted, expected effective)
        type Row<'a> = (
            &'a [(&'a str, Access)],
            &'a [&'a str],
            &'a [(&'a str, Access)],
        );
        let table: &[Row] = &[
            (&[(".", Write)], &["file:.:write"], &[("/w/proj", Write)]),
            (&[(".", Write)], &["file:.:read"], &[("/w/proj", Read)]),
            (&[(".", Read)], &["file:.:write"], &[("/w/proj", Read)]),
            (
                &[(".", Write)],
                &["file:src:write"],
                &[("/w/proj/src", Write)],
            ),
            (
                &[("src", Write)],
                &["file:.:write"],
                &[("/w/proj/src", Write)],
            ),
            (&[("src", Write)], &["file:docs:write"], &[]),
            (&[(".", Write)], &[], &[]),
            // Component-wise comparison: `/w/proj` does not admit `/w/proj-evil`.
            (&[("/w/proj-evil", Read)], &["file:/w/proj:read"], &[]),
            (&[("/w/proj", Read)], &["file:/w/proj-evil:read"], &[]),
            (
                &[("/etc/hosts", Read)],
                &["file:/etc:read"],
                &[("/etc/hosts", Read)],
            ),
        ];
        for (req, specs, want) in table {
            let g = Grant::from_specs(specs).unwrap();
            let e = effective(&manifest(req, &[]), &g, &ctx());
            let got: Vec<(String, Access)> = e
                .files
                .iter()
                .map(|f| (f.host.display().to_string(), f.access))
                .collect();
            let want: Vec<(String, Access)> =
                want.iter().map(|(p, a)| (p.to_string(), *a)).collect();
            assert_eq!(got, want, "request {req:?} grant {specs:?}");
        }
    }

    #[test]
    fn env_needs_both_sides() {
        let m = manifest(&[], &["A", "B"]);
        let e = effective(&m, &Grant::from_specs(&["env:B", "env:C"]).unwrap(), &ctx());
        assert_eq!(e.env, ["B"]);
    }

    #[test]
    fn protected_paths_stay_unless_named() {
        let m = manifest(&[(".", Write), (".git", Write)], &[]);
        let e = effective(&m, &Grant::from_specs(&["file:.:write"]).unwrap(), &ctx());
        assert!(e.protected.contains(&PathBuf::from("/w/proj/.git")));
        let e = effective(
            &m,
            &Grant::from_specs(&["file:.:write", "file:.git:write"]).unwrap(),
            &ctx(),
        );
        assert!(!e.protected.contains(&PathBuf::from("/w/proj/.git")));
        assert!(
            e.protected
                .contains(&PathBuf::from("/home/u/.config/warden"))
        );
    }

    #[test]
    fn grant_specs() {
        let g = Grant::from_specs(&["file:src", "file:/tmp/x:write", "env:HOME"]).unwrap();
        assert_eq!(g.files[0].access, Read);
        assert_eq!(g.files[1].path, PathSpec::Absolute("/tmp/x".into()));
        assert_eq!(g.env, ["HOME"]);
        for bad in ["net:example.com", "file:../x", "env:A B", "nonsense"] {
            assert!(Grant::from_specs(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn grants_beyond_the_request_are_refused() {
        let m = manifest(&[("src", Write)], &["A"]);
        assert!(
            Grant::from_specs(&["file:src/x:write"])
                .unwrap()
                .check_within(&m)
                .is_ok()
        );
        let err = Grant::from_specs(&["file:docs"])
            .unwrap()
            .check_within(&m)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("does not request access to `docs`")
        );
        let err = Grant::from_specs(&["env:B"])
            .unwrap()
            .check_within(&m)
            .unwrap_err();
        assert!(err.to_string().contains("does not request env `B`"));
    }
}
