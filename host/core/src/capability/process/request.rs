//! The process capability's request, grant and their meeting: a manifest's
//! `[[programs]]` entry is a [`ProgramRequest`], a user's
//! `program:NAME[:PATTERN]` a [`ProgramGrant`] (resolved to one file when
//! granted), and [`meet`] gives the [`EffectivePrograms`](EffectiveProgram)
//! a call may run.

use super::argv::{ArgvPattern, PatternError};
use crate::capability::files::{PathError, PathSpec};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What is wrong with a manifest's program request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramProblem {
    /// Neither a bare name nor a clean absolute path.
    #[error("program {0:?} must be a bare name or an absolute path without `..`")]
    Name(String),
    /// A program warden never runs for a plugin.
    #[error("program `{program}` cannot be granted: {why}")]
    Refused { program: String, why: &'static str },
    /// An environment key it may not pass.
    #[error("program `{program}`: env {key}")]
    Env {
        program: String,
        key: super::argv::EnvKeyError,
    },
    /// Too many denied flags or extra paths.
    #[error("program `{0}`: too many entries")]
    TooManyEntries(String),
}

/// Why a `program:` grant spec was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramSpecError {
    /// `program:` or `program::PATTERN`.
    #[error("name the program, e.g. program:cargo")]
    NoName,
    /// The pattern after the name.
    #[error(transparent)]
    Pattern(#[from] PatternError),
}

/// Why a program's extra path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChildPathError {
    /// Not a clean path at all.
    #[error(transparent)]
    Path(#[from] PathError),
    /// `~/` with nothing, or something odd, after it.
    #[error("{0:?} must name a path under the home directory")]
    NotUnderHome(String),
    /// Relative, or `/` itself.
    #[error("{0:?} must be an absolute path (other than /) or start with ~/")]
    NotAbsolute(String),
}

/// One requested program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramRequest {
    /// A bare name (looked up on `PATH` once, when the user grants it) or an
    /// absolute path.
    pub program: String,
    /// The argv pattern every call must match (see [`crate::capability::process::argv`]).
    pub args: ArgvPattern,
    /// Flags refused on top of warden's built-in list for the program.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
    /// Environment keys the plugin may pass to the program.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Paths only the program (not the plugin) may read, e.g. a toolchain:
    /// absolute, or `~/…` under the user's home.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reads: Vec<ChildPath>,
    /// Paths only the program may write, e.g. a package cache.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<ChildPath>,
    /// Why, in the plugin author's words (shown escaped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

impl ProgramRequest {
    /// The program's file name, which selects warden's built-in rules.
    pub fn basename(&self) -> &str {
        self.program.rsplit('/').next().unwrap_or(&self.program)
    }
}

/// A path given to a child process only: absolute or `~/` relative.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ChildPath {
    /// Under the user's home directory.
    Home(PathBuf),
    /// An absolute path.
    Absolute(PathBuf),
}

impl ChildPath {
    /// Resolve with the user's home directory; `None` when a home-relative
    /// path has no home to resolve against.
    pub fn resolve(&self, home: Option<&Path>) -> Option<PathBuf> {
        match self {
            ChildPath::Home(rel) => home.map(|h| h.join(rel)),
            ChildPath::Absolute(p) => Some(p.clone()),
        }
    }
}

impl TryFrom<String> for ChildPath {
    type Error = ChildPathError;

    fn try_from(raw: String) -> std::result::Result<Self, ChildPathError> {
        if let Some(rel) = raw.strip_prefix("~/") {
            return match PathSpec::try_from(rel.to_string())? {
                PathSpec::Workspace(rel) if !rel.as_os_str().is_empty() => Ok(ChildPath::Home(rel)),
                _ => Err(ChildPathError::NotUnderHome(raw)),
            };
        }
        match PathSpec::try_from(raw.clone())? {
            PathSpec::Absolute(p) if p != Path::new("/") => Ok(ChildPath::Absolute(p)),
            _ => Err(ChildPathError::NotAbsolute(raw)),
        }
    }
}

impl From<ChildPath> for String {
    fn from(p: ChildPath) -> String {
        match p {
            ChildPath::Home(rel) => format!("~/{}", rel.display()),
            ChildPath::Absolute(abs) => abs.display().to_string(),
        }
    }
}

impl ProgramRequest {
    /// Check a manifest's program request; the reason is for the manifest's
    /// error.
    pub fn check(&self) -> std::result::Result<(), ProgramProblem> {
        let p = self;
        let name = &p.program;
        let bare = !name.contains('/')
            && (1..=64).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
            && !name.starts_with('.');
        let absolute = matches!(PathSpec::try_from(name.clone()), Ok(PathSpec::Absolute(_)));
        if !bare && !absolute {
            return Err(ProgramProblem::Name(name.clone()));
        }
        if let Some(why) = super::argv::program_refusal(p.basename()) {
            return Err(ProgramProblem::Refused {
                program: name.clone(),
                why,
            });
        }
        for key in &p.env {
            super::argv::check_env_key(key).map_err(|key| ProgramProblem::Env {
                program: name.clone(),
                key,
            })?;
        }
        if p.deny.len() > 64 || p.reads.len() + p.writes.len() > 64 {
            return Err(ProgramProblem::TooManyEntries(name.clone()));
        }
        Ok(())
    }
}

/// One granted program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramGrant {
    /// The program as the manifest names it.
    pub program: String,
    /// Where it was found when granted; empty until resolved. Calls run
    /// exactly this file: a later `PATH` change or a binary dropped in the
    /// workspace changes nothing.
    #[serde(default)]
    pub path: PathBuf,
    /// An optional narrower argv pattern; calls must match both this and the
    /// manifest's pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<ArgvPattern>,
}

impl ProgramGrant {
    /// Parse what follows `program:` in a grant spec: `NAME` or
    /// `NAME:PATTERN` (e.g. `cargo:test|check **`). The path is resolved
    /// later, by [`resolve`].
    pub fn parse_spec(rest: &str) -> std::result::Result<Self, ProgramSpecError> {
        let (program, args) = match rest.split_once(':') {
            Some((p, pattern)) => (p, Some(ArgvPattern::parse_spec(pattern)?)),
            None => (rest, None),
        };
        if program.is_empty() {
            return Err(ProgramSpecError::NoName);
        }
        Ok(ProgramGrant {
            program: program.to_string(),
            path: PathBuf::new(),
            args,
        })
    }
}

/// One effective program grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectiveProgram {
    /// The name calls use.
    pub name: String,
    /// The file that runs.
    pub path: PathBuf,
    /// Patterns every call must match: the manifest's, and the grant's if any.
    pub patterns: Vec<ArgvPattern>,
    /// Extra flags the manifest refuses.
    pub deny: Vec<String>,
    /// Environment keys the plugin may pass.
    pub env: Vec<String>,
    /// Extra paths visible to the program only, read-only.
    pub reads: Vec<PathBuf>,
    /// Extra paths visible to the program only, writable.
    pub writes: Vec<PathBuf>,
}

/// The programs both sides allow: each granted, resolved program the
/// manifest requests, bound by the manifest's pattern and the grant's.
pub fn meet(
    requests: &[ProgramRequest],
    grants: &[ProgramGrant],
    home: Option<&Path>,
) -> Vec<EffectiveProgram> {
    grants
        .iter()
        .filter(|g| !g.path.as_os_str().is_empty())
        .filter_map(|g| {
            let req = requests.iter().find(|r| r.program == g.program)?;
            let mut patterns = vec![req.args.clone()];
            patterns.extend(g.args.clone());
            Some(EffectiveProgram {
                name: g.program.clone(),
                path: g.path.clone(),
                patterns,
                deny: req.deny.clone(),
                env: req.env.clone(),
                reads: req.reads.iter().filter_map(|p| p.resolve(home)).collect(),
                writes: req.writes.iter().filter_map(|p| p.resolve(home)).collect(),
            })
        })
        .collect()
}

/// Refuse a program grant for a program the manifest does not request.
pub fn check_within(
    grants: &[ProgramGrant],
    requests: &[ProgramRequest],
    plugin: &str,
) -> Result<()> {
    match grants
        .iter()
        .find(|g| !requests.iter().any(|r| r.program == g.program))
    {
        Some(g) => Err(Error::Grant {
            reason: format!(
                "plugin `{plugin}` does not request the program `{}`",
                g.program
            ),
        }),
        None => Ok(()),
    }
}

/// Resolve every program that has no path yet: an absolute name is
/// taken as is, a bare name is looked up in `path_var` (the user's
/// `PATH`, now, while they are granting it). Symlinks are resolved so the
/// grant names the real file.
pub fn resolve(programs: &mut [ProgramGrant], path_var: Option<&std::ffi::OsStr>) -> Result<()> {
    for p in programs
        .iter_mut()
        .filter(|p| p.path.as_os_str().is_empty())
    {
        let found = if p.program.starts_with('/') {
            Some(PathBuf::from(&p.program))
        } else {
            path_var.and_then(|paths| {
                std::env::split_paths(paths)
                    .filter(|dir| dir.is_absolute())
                    .map(|dir| dir.join(&p.program))
                    .find(|candidate| is_executable(candidate))
            })
        };
        let found = found.filter(|f| is_executable(f)).ok_or_else(|| Error::Grant {
            reason: format!(
                "program `{}` was not found on PATH (or is not executable); grant it by absolute path: program:/path/to/{}",
                p.program, p.program
            ),
        })?;
        // The directory is resolved, the file name kept: tools such as
        // rustup's proxies decide what to be by the name they run as.
        let dir = found.parent().unwrap_or(Path::new("/"));
        let dir = dir
            .canonicalize()
            .map_err(|e| Error::io("cannot resolve", dir, e))?;
        p.path = match found.file_name() {
            Some(name) => dir.join(name),
            None => found.clone(),
        };
    }
    Ok(())
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
