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

use crate::limits::LimitRequest;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

// Each capability's request lives with the rest of that capability; these
// are the names a manifest reader looks for.
pub use crate::capability::files::{Access, FileRequest, PathSpec};
pub use crate::capability::network::NetworkRequest;
pub use crate::capability::process::{ChildPath, ProgramRequest};

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

/// Most `[[programs]]` entries a manifest may request.
pub const MAX_PROGRAM_REQUESTS: usize = 32;
/// Most `[[network]]` entries a manifest may request.
pub const MAX_NETWORK_REQUESTS: usize = 32;

/// The fields every manifest gives, each with what to write. `description`
/// is required because it is what a person reads before granting the
/// plugin anything (the install prompt, `plugin audit`, registries).
const REQUIRED: [(&str, &str); 3] = [
    (
        "name",
        "the plugin's name, which prefixes its tools, e.g. name = \"notes\"",
    ),
    ("version", "e.g. version = \"0.1.0\""),
    (
        "description",
        "one line saying what the plugin is for, shown to whoever installs it, e.g. description = \"Read and list notes in the workspace.\"",
    ),
];

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

impl Manifest {
    /// Parse and validate manifest text. `origin` names where it came from in
    /// error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let bad = |problem: Problem| Error::Manifest {
            origin: origin.to_string(),
            problem,
        };
        if text.len() > MAX_MANIFEST_BYTES {
            return Err(bad(Problem::TooLarge(text.len())));
        }
        let depth = nesting_depth(text);
        if depth > MAX_MANIFEST_DEPTH {
            return Err(bad(Problem::TooDeep(depth)));
        }
        let manifest: Manifest = toml::from_str(text).map_err(|e| {
            // A required field left out is the first thing a new author
            // meets: say which, and what to write.
            let table = toml::from_str::<toml::Table>(text).ok();
            let missing = REQUIRED
                .iter()
                .find(|(field, _)| table.as_ref().is_some_and(|t| !t.contains_key(*field)));
            bad(match missing {
                Some(&(field, hint)) => Problem::Missing { field, hint },
                None => Problem::Toml(e.message().to_string()),
            })
        })?;
        manifest.validate().map_err(bad)?;
        Ok(manifest)
    }

    /// Parse manifest bytes (from a custom section).
    pub fn parse_bytes(bytes: &[u8], origin: &str) -> Result<Self> {
        let text = std::str::from_utf8(bytes).map_err(|e| Error::Manifest {
            origin: origin.to_string(),
            problem: Problem::NotUtf8(e),
        })?;
        Self::parse(text, origin)
    }

    fn validate(&self) -> std::result::Result<(), Problem> {
        check_name(&self.name)?;
        if self.version.is_empty()
            || self.version.len() > 64
            || !self
                .version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        {
            return Err(Problem::Version(self.version.clone()));
        }
        if self.description.len() > MAX_DESCRIPTION_BYTES {
            return Err(Problem::Description);
        }
        if let Some(p) = &self.publisher
            && (p.is_empty() || p.len() > 128)
        {
            return Err(Problem::Publisher);
        }
        let too_many = |what: &'static str, count: usize, max: usize| {
            if count > max {
                Err(Problem::TooMany { what, count, max })
            } else {
                Ok(())
            }
        };
        too_many("file", self.files.len(), MAX_FILE_REQUESTS)?;
        too_many("env", self.env.len(), MAX_ENV_REQUESTS)?;
        for var in &self.env {
            crate::capability::env::check_name(var)?;
        }
        too_many("program", self.programs.len(), MAX_PROGRAM_REQUESTS)?;
        for p in &self.programs {
            p.check()?;
        }
        too_many("network", self.network.len(), MAX_NETWORK_REQUESTS)?;
        if let Some(why) = self
            .files
            .iter()
            .filter_map(|f| f.why.as_ref())
            .chain(self.network.iter().filter_map(|n| n.why.as_ref()))
            .find(|w| w.len() > 512)
        {
            let mut start = 32.min(why.len());
            while !why.is_char_boundary(start) {
                start -= 1;
            }
            return Err(Problem::Why(why[..start].to_string()));
        }
        Ok(self.limits.validate()?)
    }
}

/// Plugin names: `[a-z][a-z0-9_-]{0,31}`, so they are safe as directory
/// names and tool prefixes.
pub fn check_name(name: &str) -> std::result::Result<(), NameError> {
    let ok = (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(NameError(name.to_string()))
    }
}

/// A plugin or tool name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("name {0:?} must be 1-32 characters of a-z, 0-9, `-`, `_`, starting with a letter")]
pub struct NameError(pub String);

/// What is wrong with a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Over [`MAX_MANIFEST_BYTES`].
    #[error("{0} bytes is over the limit of {MAX_MANIFEST_BYTES}")]
    TooLarge(usize),
    /// Over [`MAX_MANIFEST_DEPTH`].
    #[error("nesting depth {0} is over the limit of {MAX_MANIFEST_DEPTH}")]
    TooDeep(usize),
    /// The custom section is not text.
    #[error("not UTF-8: {0}")]
    NotUtf8(std::str::Utf8Error),
    /// A required field is not there.
    #[error("missing field `{field}`: add {hint}")]
    Missing {
        field: &'static str,
        hint: &'static str,
    },
    /// Not TOML, or not a manifest's fields; the parser's words.
    #[error("{0}")]
    Toml(String),
    /// The plugin's name.
    #[error(transparent)]
    Name(#[from] NameError),
    /// Not a version number.
    #[error("version {0:?} is not a version number")]
    Version(String),
    /// Over [`MAX_DESCRIPTION_BYTES`].
    #[error("description is over {MAX_DESCRIPTION_BYTES} bytes")]
    Description,
    /// Empty or over 128 bytes.
    #[error("publisher must be 1 to 128 bytes")]
    Publisher,
    /// More requests of one kind than allowed.
    #[error("{count} {what} requests is over the limit of {max}")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
    /// A `why` over 512 bytes; its start.
    #[error("`why` is over 512 bytes: {0:?}…")]
    Why(String),
    /// An environment variable name.
    #[error(transparent)]
    Env(#[from] crate::capability::env::NameError),
    /// A program request.
    #[error(transparent)]
    Program(#[from] crate::capability::process::ProgramProblem),
    /// A limit.
    #[error(transparent)]
    Limit(#[from] crate::limits::LimitError),
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
    use std::path::PathBuf;

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
        assert!(err("version = \"1\"\ndescription = \"\"").contains("missing field `name`: add"));
        // Issue 17: the field a new author forgets is named with what to
        // write; a manifest that is not TOML keeps the parser's words.
        let missing = err("name = \"x\"\nversion = \"1\"\n");
        assert!(
            missing.contains(
                "missing field `description`: add one line saying what the plugin is for"
            ) && missing.contains("description = \""),
            "{missing}"
        );
        let broken = Manifest::parse("name = \"x\"\nversion = ", "t").unwrap_err();
        assert!(
            matches!(
                broken,
                Error::Manifest {
                    problem: Problem::Toml(_),
                    ..
                }
            ),
            "{broken}"
        );
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
