//! Grants: what the user allowed a plugin, stored apart from what the plugin
//! requested, and the effective grant that is the meeting of the two.
//!
//! The effective grant is never wider than either side: a path is granted
//! only where a request and a grant overlap, with the lesser access of the
//! two, and an environment variable only if both name it.

use crate::capability::network::OriginGrant;
use crate::capability::{env, files, network, process};
use crate::manifest::Manifest;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

// Each capability's grant and effective grant live with the rest of that
// capability; these are the names a grant reader looks for.
pub use crate::capability::files::{EffectivePath, FileGrant};
pub use crate::capability::process::{EffectiveProgram, ProgramGrant};

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
    /// Granted programs, resolved to absolute paths when granted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub programs: Vec<ProgramGrant>,
    /// Granted origins (`net:` specs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network: Vec<OriginGrant>,
}

impl Grant {
    /// The grant that allows exactly what the manifest requests, except
    /// programs and network: running a program or reaching an origin always
    /// takes an explicit grant.
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
            programs: Vec::new(),
            network: Vec::new(),
        }
    }

    /// Build a grant from command-line specs:
    /// `file:PATH` (read), `file:PATH:read`, `file:PATH:write`, `env:NAME`,
    /// `program:NAME` or `program:NAME:PATTERN` (e.g. `program:cargo:test|check **`).
    /// Programs still need [`Grant::resolve_programs`].
    pub fn from_specs<S: AsRef<str>>(specs: &[S]) -> Result<Self> {
        let mut grant = Grant::default();
        for spec in specs {
            let spec = spec.as_ref();
            let bad = |reason: String| Error::Grant {
                reason: format!("{spec:?}: {reason}"),
            };
            let (kind, rest) = spec
                .split_once(':')
                .ok_or_else(|| {
                    bad("expected `file:PATH[:read|write]`, `env:NAME`, `program:NAME[:PATTERN]` or `net:ORIGIN`".into())
                })?;
            match kind {
                "file" => grant
                    .files
                    .push(FileGrant::parse_spec(rest).map_err(|e| bad(e.to_string()))?),
                "env" => {
                    env::check_name(rest).map_err(|e| bad(e.to_string()))?;
                    grant.env.push(rest.to_string());
                }
                "program" => grant
                    .programs
                    .push(ProgramGrant::parse_spec(rest).map_err(|e| bad(e.to_string()))?),
                "net" => grant
                    .network
                    .push(OriginGrant::parse(rest).map_err(|e| bad(e.to_string()))?),
                other => {
                    return Err(bad(format!(
                        "unknown capability `{other}` (use `file`, `env`, `program` or `net`)"
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
        let plugin = &manifest.name;
        files::check_within(&self.files, &manifest.files, plugin)?;
        env::check_within(&self.env, &manifest.env, plugin)?;
        process::check_within(&self.programs, &manifest.programs, plugin)?;
        network::check_within(&self.network, &manifest.network, plugin)
    }

    /// Resolve every program that has no path yet: see
    /// [`process::resolve`].
    pub fn resolve_programs(&mut self, path_var: Option<&std::ffi::OsStr>) -> Result<()> {
        process::resolve(&mut self.programs, path_var)
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
    /// The user's home, for programs' `~/` paths.
    pub home: Option<PathBuf>,
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

/// The meeting of a manifest and a grant, resolved in a context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Effective {
    /// Paths the plugin may use.
    pub files: Vec<EffectivePath>,
    /// Environment variables it may read.
    pub env: Vec<String>,
    /// Paths inside writable grants that stay read-only.
    pub protected: Vec<PathBuf>,
    /// Paths no plugin or child may see at all, whatever is granted:
    /// warden's own directories (as configured and as real paths, also
    /// before they exist), and any the organisation's policy forbids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hidden: Vec<PathBuf>,
    /// Programs it may run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub programs: Vec<EffectiveProgram>,
    /// The user's home, given to child processes as `HOME`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home: Option<PathBuf>,
    /// Origins it may reach.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub network: Vec<OriginGrant>,
}

/// Compute the effective grant.
pub fn effective(manifest: &Manifest, grant: &Grant, ctx: &Context) -> Effective {
    let ws = &ctx.workspace;
    let files = files::meet(&manifest.files, &grant.files, ws);
    let protected = files::protected(ctx.protected_paths(), &grant.files, &files, ws);
    Effective {
        programs: process::meet(&manifest.programs, &grant.programs, ctx.home.as_deref()),
        env: env::meet(&manifest.env, &grant.env),
        hidden: files::hidden(&ctx.protected),
        files,
        protected,
        home: ctx.home.clone(),
        network: effective_network(manifest, grant),
    }
}

/// The origins both sides allow: see [`network::meet`].
pub fn effective_network(manifest: &Manifest, grant: &Grant) -> Vec<OriginGrant> {
    network::meet(&manifest.network, &grant.network)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::manifest::{Access, PathSpec};

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
            programs: vec![],
            network: vec![],
            limits: Default::default(),
        }
    }

    fn ctx() -> Context {
        Context {
            workspace: PathBuf::from("/w/proj"),
            protected: vec![PathBuf::from("/home/u/.config/warden")],
            home: Some(PathBuf::from("/home/u")),
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
        let g = Grant::from_specs(&["program:cargo", "program:git:status|diff **"]).unwrap();
        assert_eq!(g.programs[0].program, "cargo");
        assert_eq!(g.programs[0].args, None);
        assert_eq!(
            g.programs[1].args.as_ref().unwrap().to_string(),
            "status|diff **"
        );
        for bad in [
            "net:example.com",
            "file:../x",
            "env:A B",
            "nonsense",
            "program:",
            "program:git:** x",
        ] {
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

    fn with_network(origins: &[&str]) -> Manifest {
        let mut m = manifest(&[], &[]);
        m.network = origins
            .iter()
            .map(|o| crate::manifest::NetworkRequest {
                origin: OriginGrant::parse(o).unwrap(),
                why: None,
            })
            .collect();
        m
    }

    #[test]
    fn network_grants_meet_the_requested_origins() {
        let m = with_network(&["https://*.example.com", "http://127.0.0.1:*"]);
        let cases: [(&[&str], &[&str]); 5] = [
            // Narrower than a request: granted as given.
            (
                &["net:https://docs.example.com"],
                &["https://docs.example.com:443"],
            ),
            (&["net:http://127.0.0.1:8080"], &["http://127.0.0.1:8080"]),
            // Broader than a request: narrowed to the request.
            (&["net:https://*:*"], &["https://*.example.com:443"]),
            // Outside every request: nothing.
            (&["net:https://example.org"], &[]),
            (&["net:https://example.com"], &[]),
        ];
        for (specs, want) in cases {
            let g = Grant::from_specs(specs).unwrap();
            let e = effective(&m, &g, &ctx());
            let got: Vec<String> = e.network.iter().map(|o| o.to_string()).collect();
            assert_eq!(got, want, "{specs:?}");
        }
        assert!(
            Grant::from_specs(&["net:https://example.org"])
                .unwrap()
                .check_within(&m)
                .unwrap_err()
                .to_string()
                .contains("does not request the origin `https://example.org:443` (it requests https://*.example.com:443, http://127.0.0.1:*)")
        );
        assert!(
            Grant::from_specs(&["net:https://docs.example.com", "net:https://*:*"])
                .unwrap()
                .check_within(&m)
                .is_ok()
        );
        assert!(Grant::from_specs(&["net:ftp://x"]).is_err());
        assert!(Grant::everything_requested(&m).network.is_empty());
    }

    /// Issue 17: `file:.:rread` was stored as the path `.:rread`, and
    /// `file:.:write` for a plugin that asks only to read printed "now
    /// granted: files write .". Unknown words and wider grants are errors.
    #[test]
    fn loose_file_grants_are_refused() {
        let err = Grant::from_specs(&["file:.:rread"])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid grant: \"file:.:rread\": unknown access `rread` (use `read` or `write`, e.g. file:src:read)"
        );
        let m = manifest(&[(".", Access::Read)], &[]);
        let wider = Grant::from_specs(&["file:.:write"]).unwrap();
        assert_eq!(
            wider.check_within(&m).unwrap_err().to_string(),
            "invalid grant: plugin `p` requests only read access to `.`, so a write grant is refused; grant `file:.:read`"
        );
        let narrower = Grant::from_specs(&["file:src:read", "file:a:b:read"]).unwrap();
        assert!(narrower.check_within(&m).is_ok());
        assert_eq!(narrower.files[1].path.to_string(), "a:b");
    }
}
