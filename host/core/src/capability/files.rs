//! The file capability: directories (read-only or writable) and single
//! files a plugin may use, served by wasmtime's WASI filesystem behind
//! warden's [`guard`].
//!
//! Its whole story, in order: a manifest's `[[files]]` entry is a
//! [`FileRequest`]; a user's `file:PATH[:read|write]` is a [`FileGrant`];
//! [`meet`] gives the [`EffectivePath`]s (the lesser access where both
//! overlap), and [`protected`] and [`hidden`] what stays read-only or
//! invisible whatever is granted; [`add_to_linker`] links `wasi:filesystem`
//! through the [`guard`], which holds the call's state, makes every
//! decision and records each refusal as a [`crate::capability::Denial`].

pub mod guard;

use crate::{Error, Result};
use guard::{GuardedFs, GuardedView};
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};
use wasmtime::component::Linker;

/// Why a path in a manifest or grant was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// `""`.
    #[error("a path may not be empty (use \".\" for the workspace)")]
    Empty,
    /// A NUL byte, which no OS path can hold.
    #[error("path {0:?} contains a NUL byte")]
    Nul(String),
    /// `~`, which warden does not expand for plugins.
    #[error("path {0:?}: `~` is not expanded; write the absolute path")]
    Tilde(String),
    /// `..`, which could name something outside what it seems to.
    #[error("path {0:?} contains `..`; name the directory itself")]
    Parent(String),
    /// A drive prefix.
    #[error("path {0:?} has a drive prefix")]
    Prefix(String),
}

/// Why a `file:` grant spec was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileSpecError {
    /// The path part.
    #[error(transparent)]
    Path(#[from] PathError),
    /// A word after the last `:` that is not an access.
    #[error("unknown access `{0}` (use `read` or `write`, e.g. file:src:read)")]
    UnknownAccess(String),
}

/// One requested path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRequest {
    /// Where: `.` or a relative path inside the workspace, or an absolute path.
    pub path: PathSpec,
    /// How.
    pub access: Access,
    /// Why, in the plugin author's words (shown escaped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
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

impl FileGrant {
    /// Parse what follows `file:` in a grant spec: `PATH` (read),
    /// `PATH:read` or `PATH:write`.
    pub fn parse_spec(rest: &str) -> std::result::Result<Self, FileSpecError> {
        let (path, access) = match rest.rsplit_once(':') {
            Some((p, "read")) => (p, Access::Read),
            Some((p, "write")) => (p, Access::Write),
            // A word after the last `:` is an access, never part of the
            // path: a typo must not grant a path nobody meant.
            Some((_, word))
                if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphabetic()) =>
            {
                return Err(FileSpecError::UnknownAccess(word.to_string()));
            }
            _ => (rest, Access::Read),
        };
        Ok(FileGrant {
            path: PathSpec::try_from(path.to_string())?,
            access,
        })
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

/// How a path may be used. `Write` implies `Read`: the ordering makes the
/// meeting of two accesses their minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Read contents and metadata.
    Read,
    /// Everything `Read` allows, plus create, change, rename and delete.
    Write,
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::Write => "write",
        })
    }
}

/// A path as written in a manifest or grant, validated when parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum PathSpec {
    /// Relative to the workspace root (`.` is the root itself); never has
    /// `..`, so it cannot name anything outside the workspace.
    Workspace(PathBuf),
    /// An absolute host path, normalised, without `..`.
    Absolute(PathBuf),
}

impl PathSpec {
    /// Resolve against a workspace root.
    pub fn resolve(&self, workspace: &Path) -> PathBuf {
        match self {
            PathSpec::Workspace(rel) if rel.as_os_str().is_empty() => workspace.to_path_buf(),
            PathSpec::Workspace(rel) => workspace.join(rel),
            PathSpec::Absolute(abs) => abs.clone(),
        }
    }
}

impl TryFrom<String> for PathSpec {
    type Error = PathError;

    fn try_from(raw: String) -> std::result::Result<Self, PathError> {
        if raw.is_empty() {
            return Err(PathError::Empty);
        }
        if raw.contains('\0') {
            return Err(PathError::Nul(raw));
        }
        if raw.starts_with('~') {
            return Err(PathError::Tilde(raw));
        }
        let path = Path::new(&raw);
        let mut clean = PathBuf::new();
        for part in path.components() {
            match part {
                Component::RootDir => clean.push("/"),
                Component::CurDir => {}
                Component::Normal(p) => clean.push(p),
                Component::ParentDir => return Err(PathError::Parent(raw)),
                Component::Prefix(_) => return Err(PathError::Prefix(raw)),
            }
        }
        Ok(if path.is_absolute() {
            PathSpec::Absolute(clean)
        } else {
            PathSpec::Workspace(clean)
        })
    }
}

impl From<PathSpec> for String {
    fn from(spec: PathSpec) -> String {
        spec.to_string()
    }
}

impl std::fmt::Display for PathSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathSpec::Workspace(rel) if rel.as_os_str().is_empty() => f.write_str("."),
            PathSpec::Workspace(rel) => write!(f, "{}", rel.display()),
            PathSpec::Absolute(abs) => write!(f, "{}", abs.display()),
        }
    }
}

/// The paths both sides allow, each with the lesser access of the two; a
/// path granted through several overlaps keeps the widest of them.
pub fn meet(
    requests: &[FileRequest],
    grants: &[FileGrant],
    workspace: &Path,
) -> Vec<EffectivePath> {
    let mut files: Vec<EffectivePath> = Vec::new();
    for req in requests {
        let rp = req.path.resolve(workspace);
        for g in grants {
            let gp = g.path.resolve(workspace);
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
    files
}

/// Which of `candidates` stay read-only inside writable grants. A protected
/// path stays read-only unless the user's grant names it (or a path inside
/// it) for writing: a broad `.` grant never lifts it, even when the
/// manifest asked for `.git`.
pub fn protected(
    candidates: Vec<PathBuf>,
    grants: &[FileGrant],
    effective: &[EffectivePath],
    workspace: &Path,
) -> Vec<PathBuf> {
    let named: Vec<PathBuf> = grants
        .iter()
        .filter(|g| g.access == Access::Write)
        .map(|g| g.path.resolve(workspace))
        .collect();
    candidates
        .into_iter()
        .filter(|p| {
            let lifted = named.iter().any(|n| n.starts_with(p))
                && effective
                    .iter()
                    .any(|e| e.access == Access::Write && e.host.starts_with(p));
            !lifted
        })
        .collect()
}

/// warden's own directories are invisible, not merely read-only: its audit
/// key and grants are there. Both spellings count, since either may reach
/// the workspace through a symlink.
pub fn hidden(own: &[PathBuf]) -> Vec<PathBuf> {
    let mut hidden: Vec<PathBuf> = Vec::new();
    for p in own {
        for q in [p.clone(), guard::real_or_planned(p)] {
            if !hidden.contains(&q) {
                hidden.push(q);
            }
        }
    }
    hidden
}

/// Refuse file grants that give what `requests` never asked for, or write
/// where only read was asked, so a typo does not silently grant nothing.
pub fn check_within(grants: &[FileGrant], requests: &[FileRequest], plugin: &str) -> Result<()> {
    let overlaps = |r: &FileRequest, g: &FileGrant| {
        let (rp, gp) = (
            r.path.resolve(Path::new("/ws")),
            g.path.resolve(Path::new("/ws")),
        );
        gp.starts_with(&rp) || rp.starts_with(&gp)
    };
    for g in grants {
        if !requests.iter().any(|r| overlaps(r, g)) {
            return Err(Error::Grant {
                reason: format!("plugin `{plugin}` does not request access to `{}`", g.path),
            });
        }
        // Write where only read was requested would be cut back to read
        // without a word; say so instead.
        let writable = requests
            .iter()
            .any(|r| r.access == Access::Write && overlaps(r, g));
        if g.access == Access::Write && !writable {
            return Err(Error::Grant {
                reason: format!(
                    "plugin `{plugin}` requests only read access to `{}`, so a write grant is refused; grant `file:{}:read`",
                    g.path, g.path
                ),
            });
        }
    }
    Ok(())
}

/// Link `wasi:filesystem` (types and preopens) through the guard; `view`
/// finds the guard and wasmtime's filesystem context in the store.
pub fn add_to_linker<T: Send + 'static>(
    l: &mut Linker<T>,
    view: fn(&mut T) -> GuardedView<'_>,
) -> wasmtime::Result<()> {
    use wasmtime_wasi::p2::bindings::filesystem::{preopens, types};
    types::add_to_linker::<T, GuardedFs>(l, view)?;
    preopens::add_to_linker::<T, GuardedFs>(l, view)
}
