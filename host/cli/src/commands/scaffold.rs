//! `warden plugin new`: a plugin project that builds, installs and passes
//! its own test out of the box, in Rust, Python or JavaScript, with one tool
//! per requested capability.
//!
//! The templates are the files under `scaffold/`, embedded in the binary.
//! Warden's WIT (and, for Rust, the SDK) is embedded from where warden
//! itself is built from, so a project always carries the contract of the
//! warden that made it and builds without warden's sources.

use super::Usage;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The language of the project.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust with warden-sdk, built by cargo for wasm32-wasip2.
    Rust,
}

/// A capability the plugin requests; each brings one tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Capability {
    /// `read`: read a workspace-relative file.
    Files,
    /// `echo`: run the granted program `echo`.
    Programs,
    /// `get`: GET a URL from a granted origin.
    Network,
}

/// The warden plugin contract, as this binary was built with it.
const PLUGIN_WIT: &str = include_str!("../../../../wit/plugin.wit");

mod common {
    pub const TEST_SH: &str = include_str!("scaffold/common/test.sh");
    pub const MANIFEST: &str = include_str!("scaffold/common/manifest.toml");
    pub const GITIGNORE: &str = include_str!("scaffold/common/gitignore");
}

mod rust {
    pub const CARGO_TOML: &str = include_str!("scaffold/rust/Cargo.toml");
    pub const SDK_CARGO_TOML: &str = include_str!("scaffold/rust/sdk-Cargo.toml");
    pub const SDK_LIB: &str = include_str!("../../../../sdk/src/lib.rs");
    pub const SDK_PATHS: &str = include_str!("../../../../sdk/src/paths.rs");
    pub const LIB: &str = include_str!("scaffold/rust/lib.rs");
    pub const README: &str = include_str!("scaffold/rust/README.md");
    pub const SERVE: &str = include_str!("scaffold/rust/serve.rs");
}

/// What one capability adds to every language's project.
struct Part {
    /// The tool it brings.
    tool: &'static str,
    /// The tool's description, as the model reads it.
    description: &'static str,
    /// Its manifest section.
    manifest: &'static str,
    /// The grant test.sh installs with (shell words).
    grant: &'static str,
    /// The same grant as README shows it.
    grant_shown: &'static str,
    /// test.sh lines run before install.
    setup: &'static str,
    /// test.sh lines that call the tool and check its answer.
    check: &'static str,
    /// The Rust source of the tool.
    rust: &'static str,
}

impl Capability {
    fn part(self) -> Part {
        match self {
            Capability::Files => Part {
                tool: "read",
                description: "Read a text file of the workspace (a workspace-relative path), at most 64 KiB.",
                manifest: include_str!("scaffold/common/files.toml"),
                grant: "--grant file:.:read",
                grant_shown: "--grant file:.:read",
                setup: include_str!("scaffold/common/files.setup.sh"),
                check: include_str!("scaffold/common/files.check.sh"),
                rust: include_str!("scaffold/rust/files.rs"),
            },
            Capability::Programs => Part {
                tool: "echo",
                description: "Run `echo` with the given text and return what it printed.",
                manifest: include_str!("scaffold/common/programs.toml"),
                grant: "--grant program:echo",
                grant_shown: "--grant program:echo",
                setup: "",
                check: include_str!("scaffold/common/programs.check.sh"),
                rust: include_str!("scaffold/rust/programs.rs"),
            },
            Capability::Network => Part {
                tool: "get",
                description: "GET an http:// or https:// URL from a granted origin and return its status and body (at most 64 KiB).",
                manifest: include_str!("scaffold/common/network.toml"),
                grant: "--grant \"net:http://127.0.0.1:$port\"",
                grant_shown: "--grant net:http://127.0.0.1:PORT",
                setup: include_str!("scaffold/common/network.setup.sh"),
                check: include_str!("scaffold/common/network.check.sh"),
                rust: include_str!("scaffold/rust/network.rs"),
            },
        }
    }
}

/// What `warden plugin new` was asked for.
pub struct NewArgs<'a> {
    pub name: &'a str,
    pub lang: Lang,
    pub capabilities: &'a [Capability],
    pub dir: Option<&'a Path>,
}

/// One file of the project: where, what, and whether it is a script.
struct File {
    path: &'static str,
    text: String,
    executable: bool,
}

/// Write the project, or refuse (writing nothing) when the name is not a
/// plugin name or the directory is in use.
pub fn plugin_new(json: bool, args: &NewArgs<'_>) -> anyhow::Result<ExitCode> {
    warden_core::manifest::check_name(args.name).map_err(|e| Usage {
        message: format!("cannot make a plugin: {e}"),
        hint: "pick a name such as `notes` or `my-tool`".into(),
    })?;
    let mut caps = args.capabilities.to_vec();
    caps.sort();
    caps.dedup();
    if caps.is_empty() {
        caps.push(Capability::Files);
    }
    let dir = args
        .dir
        .map_or_else(|| PathBuf::from(args.name), Path::to_path_buf);
    refuse_used(&dir)?;
    let files = match args.lang {
        Lang::Rust => rust_project(args.name, &caps),
    };
    for file in &files {
        let path = dir.join(file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, &file.text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        if file.executable {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| anyhow::anyhow!("cannot make {} executable: {e}", path.display()))?;
        }
    }
    let lang = format!("{:?}", args.lang).to_lowercase();
    let caps_shown: Vec<String> = caps
        .iter()
        .map(|c| format!("{c:?}").to_lowercase())
        .collect();
    if json {
        outln!(
            "{}",
            json!({
                "created": dir,
                "name": args.name,
                "lang": lang,
                "capabilities": caps_shown,
                "files": files.iter().map(|f| f.path).collect::<Vec<_>>(),
            })
        );
    } else {
        eprintln!(
            "created the {lang} plugin {} in {} (capabilities: {}):",
            args.name,
            dir.display(),
            caps_shown.join(", ")
        );
        for f in &files {
            eprintln!("  {}", f.path);
        }
        eprintln!(
            "test it (build, install into a scratch warden home, call each tool):\n  cd {} && ./test.sh",
            dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A directory that exists and holds anything, or a file in its place, is
/// not overwritten.
fn refuse_used(dir: &Path) -> anyhow::Result<()> {
    let used = |why: String| Usage {
        message: format!("refused to create the plugin in {}: {why}", dir.display()),
        hint: "name a new or empty directory with --dir".into(),
    };
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(used("it is not empty".into()).into());
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) if dir.exists() => {
            Err(used("it exists and is not a readable directory".into()).into())
        }
        Err(e) => Err(used(e.to_string()).into()),
    }
}

/// `{{key}}` in `template` replaced by each value.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_string(), |text, (key, value)| {
            text.replace(&format!("{{{{{key}}}}}"), value)
        })
}

/// A path as one shell word.
fn shell_word(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// The manifest: the name, then each capability's section.
fn manifest(name: &str, caps: &[Capability]) -> String {
    let mut text = fill(common::MANIFEST, &[("name", name)]);
    for c in caps {
        text.push_str(c.part().manifest);
    }
    text
}

/// test.sh: build with `build` (which sets `$wasm`), start what the tools
/// need (the test server: built by `serve[0]`, run by `serve[1]`), install
/// with their grants, call each.
fn test_script(name: &str, caps: &[Capability], build: &str, serve: [&str; 2]) -> String {
    let parts: Vec<Part> = caps.iter().map(|c| c.part()).collect();
    let warden = std::env::current_exe()
        .map(|p| shell_word(&p))
        .unwrap_or_else(|_| "''".into());
    let grants: Vec<&str> = parts.iter().map(|p| p.grant).collect();
    let setup: String = parts.iter().map(|p| p.setup).collect();
    let checks: String = parts.iter().map(|p| p.check).collect();
    let text = fill(
        common::TEST_SH,
        &[
            ("build", build.trim_end()),
            ("setup", setup.trim_end()),
            ("checks", checks.trim_end()),
            ("grants", &grants.join(" ")),
        ],
    );
    let text = fill(
        &text,
        &[
            ("serve_build", serve[0]),
            ("serve", serve[1]),
            ("warden", &warden),
            ("name", name),
        ],
    );
    // A script's last line ends like any other.
    format!("{}\n", text.trim_end())
}

/// README's list of tools and the grants test.sh gives.
fn tool_list(name: &str, caps: &[Capability]) -> (String, String) {
    let parts: Vec<Part> = caps.iter().map(|c| c.part()).collect();
    let list = parts
        .iter()
        .map(|p| format!("- `{name}.{}`: {}\n", p.tool, p.description))
        .collect::<String>();
    let grants = parts
        .iter()
        .map(|p| p.grant_shown)
        .collect::<Vec<_>>()
        .join(" ");
    (list.trim_end().to_string(), grants)
}

fn rust_project(name: &str, caps: &[Capability]) -> Vec<File> {
    let lib = name.replace('-', "_");
    let version = env!("CARGO_PKG_VERSION");
    let sections: String = caps.iter().map(|c| c.part().rust).collect();
    let tools: String = caps
        .iter()
        .map(|c| {
            let p = c.part();
            format!("    {}: {} => {:?},\n", p.tool, p.tool, p.description)
        })
        .collect();
    let deps = if caps.contains(&Capability::Network) {
        "# Raw bindings to wasi:http 0.2.12, for the `get` tool.\nwasip2 = \"=2.0.1\"\n"
    } else {
        ""
    };
    let build = format!(
        "cargo build --release --target wasm32-wasip2\nwasm=\"${{CARGO_TARGET_DIR:-target}}/wasm32-wasip2/release/{lib}.wasm\""
    );
    let serve = [
        "rustc --edition 2021 -O -o \"$scratch/serve\" tests/serve.rs",
        "\"$scratch/serve\"",
    ];
    let (tool_list, grants) = tool_list(name, caps);
    let values = [
        ("name", name),
        ("lib", lib.as_str()),
        ("version", version),
        ("deps", deps),
        ("sections", sections.as_str()),
        ("tools", tools.as_str()),
        ("tool_list", tool_list.as_str()),
        ("grants", grants.as_str()),
    ];
    let mut files = vec![
        File {
            path: "Cargo.toml",
            text: fill(rust::CARGO_TOML, &values),
            executable: false,
        },
        File {
            path: "warden.toml",
            text: manifest(name, caps),
            executable: false,
        },
        File {
            path: "src/lib.rs",
            text: fill(rust::LIB, &values),
            executable: false,
        },
        File {
            path: "README.md",
            text: fill(rust::README, &values),
            executable: false,
        },
        File {
            path: "test.sh",
            text: test_script(name, caps, &build, serve),
            executable: true,
        },
        File {
            path: ".gitignore",
            text: common::GITIGNORE.to_string(),
            executable: false,
        },
        File {
            path: "warden-sdk/Cargo.toml",
            text: fill(rust::SDK_CARGO_TOML, &values),
            executable: false,
        },
        File {
            path: "warden-sdk/src/lib.rs",
            text: rust::SDK_LIB.to_string(),
            executable: false,
        },
        File {
            path: "warden-sdk/src/paths.rs",
            text: rust::SDK_PATHS.to_string(),
            executable: false,
        },
        File {
            path: "wit/plugin.wit",
            text: PLUGIN_WIT.to_string(),
            executable: false,
        },
    ];
    if caps.contains(&Capability::Network) {
        files.push(File {
            path: "tests/serve.rs",
            text: rust::SERVE.to_string(),
            executable: false,
        });
    }
    files
}
