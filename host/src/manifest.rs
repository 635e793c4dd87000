//! The capability manifest: what a plugin asks for.
//!
//! A manifest is TOML. It travels inside the component as the custom section
//! [`SECTION`] (so the component's digest covers it) and sits beside the
//! plugin's source as `warden.toml`. It is parsed once, with size and depth
//! limits, into typed data; unknown fields are errors.
//!
//! ```toml
//! name = "edit"
//! version = "0.1.0"
//! description = "Write and patch files in the workspace."
//! publisher = "warden"          # optional
//! env = ["RUST_LOG"]            # optional: environment variables it may read
//!
//! [[files]]
//! path = "."                    # "." is the workspace; relative paths are inside it
//! access = "write"              # "read" or "write"; write implies read
//! why = "apply the model's edits"
//!
//! [[network]]                   # optional: origins it may reach over HTTP(S)
//! origin = "https://*.rust-lang.org"   # scheme://host[:port]; see netpolicy::OriginGrant
//! why = "read the Rust documentation"
//!
//! [limits]                      # optional; defaults below, maxima enforced
//! memory_mib = 64
//! timeout_ms = 30000
//! output_kib = 1024
//! ```

use crate::argv::ArgvPattern;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

/// Name of the component custom section holding the manifest.
pub const SECTION: &str = "warden:manifest";
/// Largest manifest accepted, in bytes.
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024;
/// Deepest nesting of TOML tables and arrays accepted.
pub const MAX_MANIFEST_DEPTH: usize = 8;
/// Most `[[files]]` entries a manifest may request.
pub const MAX_FILE_REQUESTS: usize = 64;
/// Most environment variables a manifest may request.
pub const MAX_ENV_REQUESTS: usize = 64;
/// Longest description accepted, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 1024;

/// Memory limit when the manifest names none.
pub const DEFAULT_MEMORY_MIB: u32 = 64;
/// Largest memory limit a plugin may ask for.
pub const MAX_MEMORY_MIB: u32 = 1024;
/// Wall-time limit per call when the manifest names none.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Largest wall-time limit a plugin may ask for.
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;
/// Process count limit of a child's tree when the manifest names none.
pub const DEFAULT_PROCESSES: u32 = 256;
/// Largest process count a plugin may ask for.
pub const MAX_PROCESSES: u32 = 4096;
/// Address space per child process when the manifest names none.
pub const DEFAULT_PROCESS_MEMORY_MIB: u32 = 8192;
/// Largest address space per child a plugin may ask for.
pub const MAX_PROCESS_MEMORY_MIB: u32 = 65536;
/// Largest file a child may write when the manifest names none.
pub const DEFAULT_FILE_SIZE_MIB: u32 = 1024;
/// Largest file-size limit a plugin may ask for.
pub const MAX_FILE_SIZE_MIB: u32 = 65536;
/// Default of the bytes one call's plugin may write through its own file
/// handles, in MiB (`limits.write_mib`).
pub const DEFAULT_WRITE_MIB: u32 = 1024;
/// Most `limits.write_mib` may ask for.
pub const MAX_WRITE_MIB: u32 = 65536;
/// Default of the files, directories and links one call's plugin may
/// create (`limits.files_created`).
pub const DEFAULT_FILES_CREATED: u32 = 10_000;
/// Most `limits.files_created` may ask for.
pub const MAX_FILES_CREATED: u32 = 1_000_000;
/// Output kept per child stream when the manifest names none.
pub const DEFAULT_PROCESS_OUTPUT_KIB: u32 = 1024;
/// Largest per-stream output a plugin may ask for.
pub const MAX_PROCESS_OUTPUT_KIB: u32 = 16 * 1024;
/// Most `[[programs]]` entries a manifest may request.
pub const MAX_PROGRAM_REQUESTS: usize = 32;
/// Most `[[network]]` entries a manifest may request.
pub const MAX_NETWORK_REQUESTS: usize = 32;

/// Output limit per call when the manifest names none.
pub const DEFAULT_OUTPUT_KIB: u32 = 1024;
/// Largest output limit a plugin may ask for.
pub const MAX_OUTPUT_KIB: u32 = 16 * 1024;

/// What a plugin requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Plugin name; tools are shown as `name.tool`.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// What the plugin is for.
    pub description: String,
    /// Who published it, if stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    /// Environment variables it may read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Files and directories it may access.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileRequest>,
    /// Programs it may run on the host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub programs: Vec<ProgramRequest>,
    /// Origins it may reach over HTTP(S), through `wasi:http` only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network: Vec<NetworkRequest>,
    /// Per-call limits it asks for.
    #[serde(default)]
    pub limits: LimitRequest,
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

/// One requested origin pattern. What the user grants must fall within one
/// of these (or be narrowed to them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkRequest {
    /// `scheme://host[:port]`, e.g. `https://*.example.com`, `http://*:*`.
    pub origin: crate::netpolicy::OriginGrant,
    /// Why, in the plugin author's words (shown escaped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// One requested program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramRequest {
    /// A bare name (looked up on `PATH` once, when the user grants it) or an
    /// absolute path.
    pub program: String,
    /// The argv pattern every call must match (see [`crate::argv`]).
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
    type Error = String;

    fn try_from(raw: String) -> std::result::Result<Self, String> {
        if let Some(rel) = raw.strip_prefix("~/") {
            return match PathSpec::try_from(rel.to_string())? {
                PathSpec::Workspace(rel) if !rel.as_os_str().is_empty() => Ok(ChildPath::Home(rel)),
                _ => Err(format!("{raw:?} must name a path under the home directory")),
            };
        }
        match PathSpec::try_from(raw.clone())? {
            PathSpec::Absolute(p) if p != Path::new("/") => Ok(ChildPath::Absolute(p)),
            _ => Err(format!(
                "{raw:?} must be an absolute path (other than /) or start with ~/"
            )),
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
    type Error = String;

    fn try_from(raw: String) -> std::result::Result<Self, String> {
        if raw.is_empty() {
            return Err("a path may not be empty (use \".\" for the workspace)".into());
        }
        if raw.contains('\0') {
            return Err(format!("path {raw:?} contains a NUL byte"));
        }
        if raw.starts_with('~') {
            return Err(format!(
                "path {raw:?}: `~` is not expanded; write the absolute path"
            ));
        }
        let path = Path::new(&raw);
        let mut clean = PathBuf::new();
        for part in path.components() {
            match part {
                Component::RootDir => clean.push("/"),
                Component::CurDir => {}
                Component::Normal(p) => clean.push(p),
                Component::ParentDir => {
                    return Err(format!(
                        "path {raw:?} contains `..`; name the directory itself"
                    ));
                }
                Component::Prefix(_) => return Err(format!("path {raw:?} has a drive prefix")),
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

/// Limits a plugin asks for; absent values take the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitRequest {
    /// Linear memory per instance, in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u32>,
    /// Wall time per call, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Size of a call's result, in KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_kib: Option<u32>,
    /// Processes a child's tree may hold at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes: Option<u32>,
    /// Address space of each child process, in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_memory_mib: Option<u32>,
    /// Largest file the plugin or a child may write, in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size_mib: Option<u32>,
    /// Bytes the plugin may write through its own file handles per call,
    /// in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_mib: Option<u32>,
    /// Files, directories and links the plugin may create per call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_created: Option<u32>,
    /// Bytes kept of each of a child's stdout and stderr, in KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_output_kib: Option<u32>,
}

impl Manifest {
    /// Parse and validate manifest text. `origin` names where it came from in
    /// error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let bad = |reason: String| Error::Manifest {
            origin: origin.to_string(),
            reason,
        };
        if text.len() > MAX_MANIFEST_BYTES {
            return Err(bad(format!(
                "{} bytes is over the limit of {MAX_MANIFEST_BYTES}",
                text.len()
            )));
        }
        let depth = nesting_depth(text);
        if depth > MAX_MANIFEST_DEPTH {
            return Err(bad(format!(
                "nesting depth {depth} is over the limit of {MAX_MANIFEST_DEPTH}"
            )));
        }
        let manifest: Manifest = toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
        manifest.validate().map_err(bad)?;
        Ok(manifest)
    }

    /// Parse manifest bytes (from a custom section).
    pub fn parse_bytes(bytes: &[u8], origin: &str) -> Result<Self> {
        let text = std::str::from_utf8(bytes).map_err(|e| Error::Manifest {
            origin: origin.to_string(),
            reason: format!("not UTF-8: {e}"),
        })?;
        Self::parse(text, origin)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        check_name(&self.name)?;
        if self.version.is_empty()
            || self.version.len() > 64
            || !self
                .version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        {
            return Err(format!(
                "version {:?} is not a version number",
                self.version
            ));
        }
        if self.description.len() > MAX_DESCRIPTION_BYTES {
            return Err(format!("description is over {MAX_DESCRIPTION_BYTES} bytes"));
        }
        if let Some(p) = &self.publisher
            && (p.is_empty() || p.len() > 128)
        {
            return Err("publisher must be 1 to 128 bytes".into());
        }
        if self.files.len() > MAX_FILE_REQUESTS {
            return Err(format!(
                "{} file requests is over the limit of {MAX_FILE_REQUESTS}",
                self.files.len()
            ));
        }
        if self.env.len() > MAX_ENV_REQUESTS {
            return Err(format!(
                "{} env requests is over the limit of {MAX_ENV_REQUESTS}",
                self.env.len()
            ));
        }
        for var in &self.env {
            check_env_name(var)?;
        }
        if self.programs.len() > MAX_PROGRAM_REQUESTS {
            return Err(format!(
                "{} program requests is over the limit of {MAX_PROGRAM_REQUESTS}",
                self.programs.len()
            ));
        }
        for p in &self.programs {
            check_program(p)?;
        }
        if self.network.len() > MAX_NETWORK_REQUESTS {
            return Err(format!(
                "{} network requests is over the limit of {MAX_NETWORK_REQUESTS}",
                self.network.len()
            ));
        }
        if let Some(why) = self
            .files
            .iter()
            .filter_map(|f| f.why.as_ref())
            .chain(self.network.iter().filter_map(|n| n.why.as_ref()))
            .find(|w| w.len() > 512)
        {
            return Err(format!(
                "`why` is over 512 bytes: {:?}…",
                &why[..32.min(why.len())]
            ));
        }
        let l = &self.limits;
        bounded(
            "limits.memory_mib",
            l.memory_mib.map(u64::from),
            MAX_MEMORY_MIB.into(),
        )?;
        bounded("limits.timeout_ms", l.timeout_ms, MAX_TIMEOUT_MS)?;
        bounded(
            "limits.output_kib",
            l.output_kib.map(u64::from),
            MAX_OUTPUT_KIB.into(),
        )?;
        bounded(
            "limits.file_size_mib",
            l.file_size_mib.map(u64::from),
            MAX_FILE_SIZE_MIB.into(),
        )?;
        bounded(
            "limits.write_mib",
            l.write_mib.map(u64::from),
            MAX_WRITE_MIB.into(),
        )?;
        bounded(
            "limits.files_created",
            l.files_created.map(u64::from),
            MAX_FILES_CREATED.into(),
        )?;
        Ok(())
    }
}

fn check_program(p: &ProgramRequest) -> std::result::Result<(), String> {
    let name = &p.program;
    let bare = !name.contains('/')
        && (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
        && !name.starts_with('.');
    let absolute = matches!(PathSpec::try_from(name.clone()), Ok(PathSpec::Absolute(_)));
    if !bare && !absolute {
        return Err(format!(
            "program {name:?} must be a bare name or an absolute path without `..`"
        ));
    }
    if let Some(why) = crate::argv::program_refusal(p.basename()) {
        return Err(format!("program `{name}` cannot be granted: {why}"));
    }
    for key in &p.env {
        crate::argv::check_env_key(key).map_err(|e| format!("program `{name}`: env {e}"))?;
    }
    if p.deny.len() > 64 || p.reads.len() + p.writes.len() > 64 {
        return Err(format!("program `{name}`: too many entries"));
    }
    Ok(())
}

/// Plugin names: `[a-z][a-z0-9_-]{0,31}`, so they are safe as directory
/// names and tool prefixes.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "name {name:?} must be 1-32 characters of a-z, 0-9, `-`, `_`, starting with a letter"
        ))
    }
}

/// Environment variable names: `[A-Za-z_][A-Za-z0-9_]*`, at most 128 bytes.
pub fn check_env_name(var: &str) -> std::result::Result<(), String> {
    let ok = (1..=128).contains(&var.len())
        && !var.starts_with(|c: char| c.is_ascii_digit())
        && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("{var:?} is not an environment variable name"))
    }
}

fn bounded(field: &str, value: Option<u64>, max: u64) -> std::result::Result<(), String> {
    match value {
        Some(0) => Err(format!("{field} must be positive")),
        Some(v) if v > max => Err(format!("{field} = {v} is over the maximum of {max}")),
        _ => Ok(()),
    }
}

/// Deepest bracket nesting outside strings and comments. The TOML parser
/// recurses on nesting, so this runs first and keeps a hostile manifest from
/// exhausting the stack. It over-counts rather than under-counts.
fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut chars = text.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                if c == '\\' && q == '"' {
                    chars.next();
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '#' => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                '[' | '{' => {
                    depth += 1;
                    max = max.max(depth);
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
    }
    max
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "edit"
version = "0.1.0"
description = "Edit files"
env = ["RUST_LOG"]

[[files]]
path = "."
access = "write"
why = "apply edits"

[[files]]
path = "/usr/share/dict/words"
access = "read"

[limits]
memory_mib = 32
"#;

    #[test]
    fn parses_a_good_manifest() {
        let m = Manifest::parse(GOOD, "test").unwrap();
        assert_eq!(m.name, "edit");
        assert_eq!(m.files[0].path, PathSpec::Workspace(PathBuf::new()));
        assert_eq!(m.files[0].access, Access::Write);
        assert_eq!(
            m.files[1].path,
            PathSpec::Absolute(PathBuf::from("/usr/share/dict/words"))
        );
        assert_eq!(m.limits.memory_mib, Some(32));
        assert_eq!(m.env, ["RUST_LOG"]);
    }

    #[test]
    fn write_implies_read() {
        assert!(Access::Write > Access::Read);
        assert_eq!(Access::Write.min(Access::Read), Access::Read);
    }

    fn err(text: &str) -> String {
        Manifest::parse(text, "t").unwrap_err().to_string()
    }

    const HEAD: &str = "name = \"x\"\nversion = \"1\"\ndescription = \"d\"\n";

    #[test]
    fn refuses_bad_manifests() {
        let table: &[(&str, &str)] = &[
            ("bogus = 1\n", "unknown field `bogus`"),
            (
                "[[files]]\npath = \"../up\"\naccess = \"read\"\n",
                "contains `..`",
            ),
            (
                "[[files]]\npath = \"a/../../b\"\naccess = \"read\"\n",
                "contains `..`",
            ),
            (
                "[[files]]\npath = \"~/x\"\naccess = \"read\"\n",
                "`~` is not expanded",
            ),
            (
                "[[files]]\npath = \"\"\naccess = \"read\"\n",
                "may not be empty",
            ),
            (
                "[[files]]\npath = \".\"\naccess = \"execute\"\n",
                "unknown variant `execute`",
            ),
            (
                "[[files]]\npath = \".\"\naccess = \"read\"\nmode = 1\n",
                "unknown field `mode`",
            ),
            (
                "env = [\"LD PRELOAD\"]\n",
                "not an environment variable name",
            ),
            (
                "[limits]\nmemory_mib = 100000\n",
                "over the maximum of 1024",
            ),
            ("[limits]\ntimeout_ms = 0\n", "must be positive"),
            ("[limits]\nthreads = 4\n", "unknown field `threads`"),
            (
                "[[programs]]\nprogram = \"../bin/x\"\nargs = []\n",
                "must be a bare name or an absolute path",
            ),
            (
                "[[programs]]\nprogram = \"xargs\"\nargs = [\"**\"]\n",
                "program `xargs` cannot be granted",
            ),
            (
                "[[programs]]\nprogram = \"cargo\"\nargs = [\"**\", \"x\"]\n",
                "must be the last token",
            ),
            (
                "[[programs]]\nprogram = \"cargo\"\nargs = []\nenv = [\"LD_PRELOAD\"]\n",
                "program `cargo`: env",
            ),
            (
                "[[programs]]\nprogram = \"cargo\"\nargs = []\nreads = [\"relative\"]\n",
                "must be an absolute path",
            ),
            (
                "[[programs]]\nprogram = \"cargo\"\nargs = []\nshell = true\n",
                "unknown field `shell`",
            ),
        ];
        for (body, want) in table {
            let got = err(&format!("{HEAD}{body}"));
            assert!(got.contains(want), "{body:?}: {got}");
        }
        assert!(
            err("name = \"Bad Name\"\nversion = \"1\"\ndescription = \"\"")
                .contains("must be 1-32")
        );
        assert!(err("version = \"1\"\ndescription = \"\"").contains("missing field `name`"));
    }

    #[test]
    fn refuses_bombs() {
        let deep = format!("{HEAD}x = {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
        assert!(err(&deep).contains("nesting depth 10000"));
        let big = format!("{HEAD}# {}\n", "a".repeat(MAX_MANIFEST_BYTES));
        assert!(err(&big).contains("over the limit of 65536"));
        let many: String = (0..=MAX_FILE_REQUESTS)
            .map(|i| format!("[[files]]\npath = \"d{i}\"\naccess = \"read\"\n"))
            .collect();
        assert!(err(&format!("{HEAD}{many}")).contains("65 file requests"));
    }

    #[test]
    fn brackets_in_strings_do_not_count() {
        assert_eq!(nesting_depth("a = \"[[[[\"\nb = ['[']\n# [[[[\n"), 1);
    }

    #[test]
    fn round_trips_through_toml() {
        let m = Manifest::parse(GOOD, "t").unwrap();
        let again = Manifest::parse(&toml::to_string(&m).unwrap(), "t").unwrap();
        assert_eq!(m, again);
    }
}
