//! Who decides that a tool call runs. Grants bound what any call can do;
//! approval decides, within them, which calls run without a person:
//!
//! - `read-only`: only plugins that can do nothing but read run;
//! - `ask`: reads run; anything that may write or run a program is shown to
//!   the person (the exact argv, a diff of the edit) and runs only if they
//!   agree; "always" remembers that exact request for this project;
//! - `auto`: everything runs, inside the grants.
//!
//! Decisions take only the call itself as input: nothing the model read or
//! wrote can change the mode, a grant or the remembered approvals. What runs
//! is the exact input that was shown.

use super::tools::{Class, Tool};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use warden_core::escape::escape;

/// Most remembered approvals per project.
pub const MAX_REMEMBERED: usize = 1000;
/// Largest remembered-approvals file read (1000 approvals of a few hundred
/// bytes each fit many times over).
pub const MAX_REMEMBERED_BYTES: u64 = 4 * 1024 * 1024;
/// Largest file shown in an edit preview diff.
pub const MAX_PREVIEW_FILE_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Ask,
    Auto,
    ReadOnly,
}

impl Mode {
    /// The name as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Ask => "ask",
            Mode::Auto => "auto",
            Mode::ReadOnly => "read-only",
        }
    }
}

/// A person's answer to a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    Always,
    No,
}

/// Asks a person (the terminal, in `warden run`).
pub trait Asker {
    fn ask(&mut self, prompt: &str) -> Answer;
    /// Whether the prompt may use ANSI colors.
    fn color(&self) -> bool {
        false
    }
}

/// The decision on one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run it; `by` says why (`read`, `auto`, `user`, `remembered`).
    Run { by: &'static str },
    /// Do not; the reason goes to the model and the event stream.
    Deny { reason: String },
}

/// Approvals remembered for one project (the workspace), stored in warden's
/// config directory, which no plugin may write.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Remembered {
    workspace: PathBuf,
    /// `plugin.tool` and the exact input, canonical JSON.
    allow: Vec<(String, String)>,
}

pub struct Approvals {
    mode: Mode,
    path: Option<PathBuf>,
    remembered: Remembered,
}

impl Approvals {
    /// Approvals in `mode` for `workspace`, remembered in `dir` (or nowhere).
    pub fn new(mode: Mode, dir: Option<&Path>, workspace: &Path) -> Result<Self, String> {
        let path = dir.map(|d| d.join(format!("{}.json", project_key(workspace))));
        let remembered = match &path {
            Some(p) => match warden_core::configfile::read_bounded(p, MAX_REMEMBERED_BYTES) {
                Ok(Some(bytes)) => serde_json::from_slice::<Remembered>(&bytes)
                    .map_err(|e| format!("{}: invalid remembered approvals: {e}", p.display()))?,
                Ok(None) => Remembered::default(),
                Err(e) => return Err(format!("cannot read {}: {e}", p.display())),
            },
            None => Remembered::default(),
        };
        // A file for another project (a hash collision, or copied) is ignored.
        let remembered = if remembered.workspace == workspace {
            remembered
        } else {
            Remembered {
                workspace: workspace.to_path_buf(),
                allow: vec![],
            }
        };
        Ok(Approvals {
            mode,
            path,
            remembered,
        })
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Change the mode, as the person asked (`/approval` in a chat); the
    /// remembered approvals stay.
    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
    }

    /// Decide on `tool` with `input` (a JSON object), asking `asker` when
    /// the mode says to.
    pub fn decide(
        &mut self,
        tool: &Tool,
        input: &Value,
        workspace: &Path,
        asker: Option<&mut dyn Asker>,
    ) -> Decision {
        if tool.class == Class::Read {
            return Decision::Run { by: "read" };
        }
        match self.mode {
            Mode::Auto => Decision::Run { by: "auto" },
            Mode::ReadOnly => Decision::Deny {
                reason: format!(
                    "{} may {} and warden runs in read-only mode; the user can rerun with --approval ask or auto",
                    tool.qualified,
                    match tool.class {
                        Class::Write => "write files",
                        Class::Network => "send network requests",
                        _ => "run programs",
                    }
                ),
            },
            Mode::Ask => {
                let key = (tool.qualified.clone(), input.to_string());
                if self.remembered.allow.contains(&key) {
                    return Decision::Run { by: "remembered" };
                }
                let Some(asker) = asker else {
                    return Decision::Deny {
                        reason: format!(
                            "{} needs approval and no one can be asked here; the user can rerun with --approval auto",
                            tool.qualified
                        ),
                    };
                };
                let prompt = preview(tool, input, workspace, asker.color());
                match asker.ask(&prompt) {
                    Answer::Yes => Decision::Run { by: "user" },
                    Answer::Always => {
                        if let Err(e) = self.remember(key) {
                            tracing::warn!("cannot remember the approval: {e}");
                        }
                        Decision::Run { by: "user" }
                    }
                    Answer::No => Decision::Deny {
                        reason: format!("the user declined {}", tool.qualified),
                    },
                }
            }
        }
    }

    fn remember(&mut self, key: (String, String)) -> Result<(), String> {
        if self.remembered.allow.len() >= MAX_REMEMBERED {
            return Err(format!(
                "at most {MAX_REMEMBERED} approvals are remembered per project"
            ));
        }
        self.remembered.allow.push(key);
        let Some(path) = &self.path else {
            return Ok(());
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(&self.remembered).map_err(|e| e.to_string())?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// A file name for a workspace's remembered approvals.
fn project_key(workspace: &Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(workspace.as_os_str().as_encoded_bytes());
    hex::encode(&digest[..16])
}

/// What a person sees before approving: the exact command, or the edit as
/// a diff, or the input. Everything from the model is escaped.
pub fn preview(tool: &Tool, input: &Value, workspace: &Path, color: bool) -> String {
    let mut out = format!("{} wants to run {}", tool.plugin, tool.qualified);
    let body = match (tool.plugin.as_str(), tool.tool.as_str()) {
        ("exec", "run") => input["cmd"].as_array().map(|argv| {
            let mut s = format!(
                "\n  $ {}",
                argv.iter()
                    .map(|a| quote(a.as_str().unwrap_or("?")))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            if let Some(cwd) = input["cwd"].as_str() {
                s.push_str(&format!("\n  in {}", escape(cwd)));
            }
            if let Some(env) = input["env"].as_object() {
                for (k, v) in env {
                    s.push_str(&format!(
                        "\n  with {}={}",
                        escape(k),
                        quote(v.as_str().unwrap_or("?"))
                    ));
                }
            }
            s
        }),
        ("fetch", "get") => input["url"]
            .as_str()
            .map(|u| format!("\n  GET {}", escape(u))),
        ("edit", "write") => edit_diff(workspace, input, color, |_| {
            input["content"].as_str().map(str::to_string)
        }),
        ("edit", "replace") => edit_diff(workspace, input, color, |old| {
            let (from, to) = (input["old"].as_str()?, input["new"].as_str()?);
            old.map(|o| o.replace(from, to))
        }),
        ("edit", "apply_patch") => input["patch"].as_str().map(|p| {
            let mut s = String::new();
            for line in p.lines() {
                s.push('\n');
                s.push_str(&paint(&escape(line), line_color(line), color));
            }
            s
        }),
        _ => None,
    };
    let body = body.unwrap_or_else(|| {
        let pretty = serde_json::to_string_pretty(input).unwrap_or_default();
        pretty
            .lines()
            .map(|l| format!("\n  {}", escape(l)))
            .collect()
    });
    out.push_str(&body);
    out
}

/// A unified diff of `input.path` before and after `apply`.
fn edit_diff(
    workspace: &Path,
    input: &Value,
    color: bool,
    apply: impl Fn(Option<&str>) -> Option<String>,
) -> Option<String> {
    let path = input["path"].as_str()?;
    let old = read_in(workspace, path);
    let new = apply(old.as_deref())?;
    let old_text = old.unwrap_or_default();
    let diff = similar::TextDiff::from_lines(&old_text, &new);
    let mut s = format!("\n  edit {}", escape(path));
    let unified = diff
        .unified_diff()
        .context_radius(3)
        .header("before", "after")
        .to_string();
    for line in unified.lines() {
        s.push('\n');
        s.push_str(&paint(&escape(line), line_color(line), color));
    }
    Some(s)
}

/// Read a workspace file for a preview, through a directory handle so a
/// path or symlink cannot reach outside the workspace.
fn read_in(workspace: &Path, path: &str) -> Option<String> {
    let dir = cap_std::fs::Dir::open_ambient_dir(workspace, cap_std::ambient_authority()).ok()?;
    let meta = dir.metadata(path).ok()?;
    if meta.len() > MAX_PREVIEW_FILE_BYTES {
        return None;
    }
    dir.read_to_string(path).ok()
}

fn line_color(line: &str) -> Option<&'static str> {
    if line.starts_with("+++") || line.starts_with("---") || line.starts_with("***") {
        Some("1")
    } else if line.starts_with('+') {
        Some("32")
    } else if line.starts_with('-') {
        Some("31")
    } else if line.starts_with("@@") {
        Some("36")
    } else {
        None
    }
}

fn paint(text: &str, code: Option<&str>, color: bool) -> String {
    match code {
        Some(c) if color => format!("\x1b[{c}m{text}\x1b[0m"),
        _ => text.to_string(),
    }
}

/// An argument as one shell word, with control characters escaped.
fn quote(arg: &str) -> String {
    warden_text::argv::word(&escape(arg))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Answers from a script and records what it was shown.
    struct Scripted {
        answers: Vec<Answer>,
        shown: Vec<String>,
    }

    impl Asker for Scripted {
        fn ask(&mut self, prompt: &str) -> Answer {
            self.shown.push(prompt.to_string());
            self.answers.remove(0)
        }
    }

    fn exec() -> Tool {
        Tool::new("exec", "run", Class::Process, 0)
    }

    #[test]
    fn modes_decide_by_what_the_plugin_can_do() {
        let ws = Path::new("/w");
        let read = Tool::new("fs", "read", Class::Read, 0);
        let input = json!({"cmd": ["make", "test"]});
        for mode in [Mode::Ask, Mode::Auto, Mode::ReadOnly] {
            let mut a = Approvals::new(mode, None, ws).unwrap();
            assert_eq!(
                a.decide(&read, &json!({}), ws, None),
                Decision::Run { by: "read" }
            );
        }
        let mut a = Approvals::new(Mode::Auto, None, ws).unwrap();
        assert_eq!(
            a.decide(&exec(), &input, ws, None),
            Decision::Run { by: "auto" }
        );
        let mut a = Approvals::new(Mode::ReadOnly, None, ws).unwrap();
        assert!(
            matches!(a.decide(&exec(), &input, ws, None), Decision::Deny { reason } if reason.contains("read-only mode"))
        );
        let mut a = Approvals::new(Mode::Ask, None, ws).unwrap();
        assert!(
            matches!(a.decide(&exec(), &input, ws, None), Decision::Deny { reason } if reason.contains("no one can be asked"))
        );
    }

    #[test]
    fn network_requests_are_not_reads() {
        let ws = Path::new("/w");
        let fetch = Tool::new("fetch", "get", Class::Network, 0);
        let input = json!({"url": "https://docs.rs/?q=\u{1b}[2J"});
        let mut a = Approvals::new(Mode::ReadOnly, None, ws).unwrap();
        assert!(
            matches!(a.decide(&fetch, &input, ws, None), Decision::Deny { reason } if reason.contains("may send network requests"))
        );
        let mut asker = Scripted {
            answers: vec![Answer::Yes],
            shown: vec![],
        };
        let mut a = Approvals::new(Mode::Ask, None, ws).unwrap();
        assert_eq!(
            a.decide(&fetch, &input, ws, Some(&mut asker)),
            Decision::Run { by: "user" }
        );
        assert!(
            asker.shown[0].contains("GET https://docs.rs/?q=\\u{1b}[2J"),
            "{}",
            asker.shown[0]
        );
    }

    #[test]
    fn always_remembers_the_exact_request_for_this_project_only() {
        let tmp = tempfile::tempdir().unwrap();
        let (ws, other) = (Path::new("/w/proj"), Path::new("/w/other"));
        let make = json!({"cmd": ["make", "test"]});
        let mut asker = Scripted {
            answers: vec![Answer::No, Answer::Always, Answer::Yes],
            shown: vec![],
        };
        let mut a = Approvals::new(Mode::Ask, Some(tmp.path()), ws).unwrap();
        assert!(
            matches!(a.decide(&exec(), &make, ws, Some(&mut asker)), Decision::Deny { reason } if reason == "the user declined exec.run")
        );
        assert_eq!(
            a.decide(&exec(), &make, ws, Some(&mut asker)),
            Decision::Run { by: "user" }
        );
        assert_eq!(
            a.decide(&exec(), &make, ws, Some(&mut asker)),
            Decision::Run { by: "remembered" }
        );
        // Another argv is another request.
        let other_argv = json!({"cmd": ["make", "install"]});
        assert_eq!(
            a.decide(&exec(), &other_argv, ws, Some(&mut asker)),
            Decision::Run { by: "user" }
        );
        assert_eq!(asker.shown.len(), 3);
        // Remembered on disk for this project, not for another.
        let mut again = Approvals::new(Mode::Ask, Some(tmp.path()), ws).unwrap();
        assert_eq!(
            again.decide(&exec(), &make, ws, None),
            Decision::Run { by: "remembered" }
        );
        let mut elsewhere = Approvals::new(Mode::Ask, Some(tmp.path()), other).unwrap();
        assert!(matches!(
            elsewhere.decide(&exec(), &make, other, None),
            Decision::Deny { .. }
        ));
    }

    #[test]
    fn the_prompt_shows_the_exact_argv_escaped_and_edits_as_a_diff() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = &tmp.path().join("ws");
        std::fs::create_dir(ws).unwrap();
        let argv = json!({"cmd": ["make", "x y", "\u{1b}[2Jclear", "a'b"], "env": {"CI": "1"}});
        let text = preview(&exec(), &argv, ws, false);
        assert_eq!(
            text,
            "exec wants to run exec.run\n  $ make 'x y' '\\u{1b}[2Jclear' 'a'\\''b'\n  with CI=1"
        );
        std::fs::write(ws.join("calc.sh"), "a\nold\nc\n").unwrap();
        let edit = Tool::new("edit", "replace", Class::Write, 0);
        let input = json!({"path": "calc.sh", "old": "old", "new": "new\u{202e}"});
        let plain = preview(&edit, &input, ws, false);
        assert!(plain.contains("\n-old\n+new\\u{202e}\n"), "{plain}");
        let colored = preview(&edit, &input, ws, true);
        assert!(colored.contains("\x1b[31m-old\x1b[0m"), "{colored}");
        assert!(
            colored.contains("\x1b[32m+new\\u{202e}\x1b[0m"),
            "{colored}"
        );
        // A path out of the workspace is not read for the preview.
        std::fs::write(tmp.path().join("outside"), "TOPSECRET\n").unwrap();
        let write = Tool::new("edit", "write", Class::Write, 0);
        let shown = preview(
            &write,
            &json!({"path": "../outside", "content": "x\n"}),
            ws,
            false,
        );
        assert!(
            shown.contains("+x") && !shown.contains("TOPSECRET"),
            "{shown}"
        );
    }
}
