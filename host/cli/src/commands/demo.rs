//! `warden demo`: the agent loop end to end on a small project with a
//! failing test, with no model to configure.
//!
//! The project is written to a fresh directory; warden's grants, sessions
//! and approvals for the demo live beside it, so the user's own are not
//! read or changed (compiled plugins are shared with the user's cache). The
//! model is the replay in [`warden_agent::replay`], announced as such; the
//! tools, grants, sandbox and files are real: `make` runs confined, the
//! file is really read and patched, and the tests really pass at the end.

use super::App;
use super::run::AgentArgs;
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use warden_agent::approval::Mode;
use warden_agent::replay::{MODEL, Replay};
use warden_core::capability::process::confine::{Sandbox, Unavailable};
use warden_core::dirs::Dirs;

/// The demo project: a shell "library" whose `add` subtracts, and its test.
const PROJECT: &[(&str, &str)] = &[
    (
        "AGENTS.md",
        include_str!("../../../../tests/fixtures/agent-calc/AGENTS.md"),
    ),
    (
        "Makefile",
        include_str!("../../../../tests/fixtures/agent-calc/Makefile"),
    ),
    (
        "calc.sh",
        include_str!("../../../../tests/fixtures/agent-calc/calc.sh"),
    ),
    (
        "test.sh",
        include_str!("../../../../tests/fixtures/agent-calc/test.sh"),
    ),
];

/// The task the demo gives the agent.
const TASK: &str = "make the failing test pass";

/// Run the demo in `dir` (a new temporary directory when `None`).
pub async fn demo(json: bool, dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    // The demo's whole point is a confined `make`; without the sandbox the
    // agent's test run would be refused, so say what is missing up front.
    if let Err(why) = std::env::current_exe()
        .map_err(|_| Unavailable::NoHelper("/proc/self/exe".into()))
        .and_then(Sandbox::detect)
    {
        eprintln!(
            "warden demo: refused: {why}\n\
             The demo runs the project's tests with `make`, and warden only runs programs confined by\n\
             bubblewrap and Landlock (never unconfined). Install bubblewrap (e.g. `apt install bubblewrap`)\n\
             on a kernel with Landlock, or run `bash .ci/setup`, then run `cargo run -- demo` again."
        );
        return Ok(ExitCode::from(2));
    }
    let temp;
    let kept = dir.is_some();
    let root = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d)
                .with_context(|| format!("cannot create {}", d.display()))?;
            anyhow::ensure!(
                std::fs::read_dir(&d)?.next().is_none(),
                "{} is not empty; give `warden demo --dir` a new or empty directory",
                d.display()
            );
            d.canonicalize()?
        }
        None => {
            temp = tempfile::Builder::new().prefix("warden-demo-").tempdir()?;
            temp.path().canonicalize()?
        }
    };
    let project = root.join("project");
    std::fs::create_dir_all(&project)?;
    for (name, text) in PROJECT {
        std::fs::write(project.join(name), text)?;
    }
    let user = Dirs::from_env(|k| std::env::var_os(k));
    let dirs = Dirs {
        config: root.join("config/warden"),
        data: root.join("data/warden"),
        cache: user
            .as_ref()
            .map_or_else(|| root.join("cache/warden"), |d| d.cache.clone()),
        state: root.join("state/warden"),
        home: user.and_then(|d| d.home),
    };
    std::fs::create_dir_all(&dirs.config)?;
    let replay = Replay::start()
        .await
        .context("cannot start the demo's replay model on 127.0.0.1")?;
    std::fs::write(
        dirs.config.join("config.toml"),
        format!(
            "default_profile = \"demo\"\n\n[profiles.demo]\nprovider = \"chat\"\nbase_url = \"{}\"\nmodel = \"{MODEL}\"\n",
            replay.base_url()
        ),
    )?;
    let app = App::with_dirs(json, dirs)?;
    eprintln!(
        "warden demo: a project with a failing test is in {}\n\
         The model is a built-in replay of one recorded fix (no LLM is involved; `warden run` with a\n\
         configured model does the same for real tasks). Tools, grants, sandbox and files are real.\n",
        project.display()
    );
    // The one program the demo needs, granted like a user would.
    if let Err(e) = app.set_grant(
        "exec",
        &["program:make".to_string()],
        false,
        false,
        true,
        None,
    ) {
        anyhow::bail!(
            "{e:#}\nthe demo runs the project's tests with `make`; install it (e.g. `apt install make`)"
        );
    }
    let before = read(&project.join("calc.sh"));
    let code = app
        .agent(
            TASK,
            AgentArgs {
                workspace: project.clone(),
                profile: Some("demo".into()),
                model: None,
                approval: Some(Mode::Auto),
                max_turns: 10,
                token_budget: None,
            },
            false,
            None,
        )
        .await?;
    let after = read(&project.join("calc.sh"));
    if !json {
        eprintln!("\ncalc.sh, before and after:");
        for change in similar::TextDiff::from_lines(&before, &after).iter_all_changes() {
            let sign = match change.tag() {
                similar::ChangeTag::Delete => "-",
                similar::ChangeTag::Insert => "+",
                similar::ChangeTag::Equal => " ",
            };
            eprint!("  {sign} {change}");
        }
        if kept {
            eprintln!(
                "\nThe project and the session are kept in {}.",
                root.display()
            );
        }
    }
    // The agent loop ends with 0 whenever the model stops of its own accord;
    // the demo succeeded only if the recording played to its end.
    match replay.ending() {
        Some(e) if e.fixed => Ok(code),
        ending => {
            let said = ending.map_or_else(
                || "the replay was never asked for a final step".to_string(),
                |e| e.said,
            );
            let keep = if kept {
                format!(
                    "`XDG_DATA_HOME={} warden log` shows the audit record of each call",
                    root.join("data").display()
                )
            } else {
                "run `warden demo --dir DIR` to keep the project and its audit log".to_string()
            };
            eprintln!(
                "\nwarden demo: failed: the recorded fix did not play to its end.\n\
                 The replay stopped with: {said}\n\
                 The tool results above say what went otherwise (a refusal names the grant or sandbox\n\
                 that refused); {keep}."
            );
            Ok(ExitCode::from(1))
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
