//! P2: only granted programs, with granted arguments, confined by the OS.
//! Real components ask the real host to run real processes under bubblewrap
//! and Landlock. These tests fail (not skip) where confinement is missing.

use super::common::{Fixture, assert_still_answers, call, loaded, runtime};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use warden_core::capability::CapabilityKind;
use warden_core::grant::{self, Grant, ProgramGrant};
use warden_core::runtime::{Prepared, ToolFailure};

/// Prepare the hostile guest with file specs and programs granted at the
/// given paths (as `warden plugin grant` would have resolved them).
fn prepare(fx: &Fixture, files: &[&str], programs: &[(&str, &str)]) -> Prepared {
    let l = loaded("spawner");
    let mut g = Grant::from_specs(files).unwrap();
    for (name, path) in programs {
        g.programs.push(ProgramGrant {
            program: name.to_string(),
            path: PathBuf::from(path).canonicalize().unwrap(),
            args: None,
        });
    }
    let e = grant::effective(&l.manifest, &g, &fx.context());
    l.prepare(runtime(), e, &fx.ws, |_| None).unwrap()
}

fn sh(fx: &Fixture) -> Prepared {
    prepare(
        fx,
        &["file:.:write"],
        &[("sh", "/bin/sh"), ("bash", "/bin/bash")],
    )
}

async fn run(p: &Prepared, input: Value) -> Value {
    let out = call(p, "run", input).await.expect("the call completes");
    match out.result {
        Ok(v) => v,
        Err(e) => panic!("run failed: {e:?} (denials {:?})", out.denials),
    }
}

/// The refusal text and the denial record of a run that must be refused.
async fn refused(p: &Prepared, input: Value) -> (String, warden_core::capability::Denial) {
    let out = call(p, "run", input).await.expect("the call completes");
    let reason = match out.result {
        Err(ToolFailure::Denied {
            reason, capability, ..
        }) => {
            assert_eq!(capability, "process");
            reason
        }
        other => panic!("expected a denial, got {other:?}"),
    };
    let denial = out
        .denials
        .into_iter()
        .find(|d| d.capability == CapabilityKind::Process)
        .expect("recorded");
    (reason, denial)
}

fn no_process_matching(marker: &str) -> bool {
    let out = std::process::Command::new("pgrep")
        .args(["-f", marker])
        .output()
        .unwrap();
    out.stdout.is_empty()
}

#[test]
fn this_machine_can_confine_children() {
    let helper = PathBuf::from(env!("CARGO_BIN_EXE_warden"));
    if let Err(why) = warden_core::capability::process::confine::Sandbox::detect(helper) {
        panic!("process grants cannot be tested here: {why}");
    }
}

#[tokio::test]
async fn a_granted_program_runs_in_the_workspace() {
    let fx = Fixture::new();
    let p = sh(&fx);
    let out = run(
        &p,
        json!({"program": "sh", "args": ["-c", "echo hi; pwd; cat a.txt"]}),
    )
    .await;
    assert_eq!(out["exit_code"], 0, "{out}");
    assert_eq!(out["stdout"], format!("hi\n{}\nhi", fx.ws.display()));
    let out = run(&p, json!({"program": "sh", "args": ["-c", "exit 3"]})).await;
    assert_eq!(out["exit_code"], 3);
    let out = run(
        &p,
        json!({"program": "sh", "args": ["-c", "cat"], "stdin": "piped in"}),
    )
    .await;
    assert_eq!(out["stdout"], "piped in");
}

#[tokio::test]
async fn programs_not_granted_do_not_run() {
    let fx = Fixture::new();
    let p = sh(&fx);
    let (reason, d) = refused(&p, json!({"program": "cat", "args": ["a.txt"]})).await;
    assert_eq!(
        reason,
        "cat a.txt: the program `cat` is not granted to plugin `spawner`"
    );
    assert_eq!(d.allow.as_deref(), Some("program:cat"));
    let (reason, _) = refused(&p, json!({"program": "/bin/cat", "args": ["a.txt"]})).await;
    assert!(
        reason.contains("the program `/bin/cat` is not granted"),
        "{reason}"
    );
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn arguments_must_match_the_granted_pattern() {
    let fx = Fixture::new();
    let l = loaded("spawner");
    let mut g = Grant::from_specs(&["file:.:write", "program:git:status|diff **"]).unwrap();
    g.programs[0].path = PathBuf::from("/usr/bin/git");
    let e = grant::effective(&l.manifest, &g, &fx.context());
    let p = l.prepare(runtime(), e, &fx.ws, |_| None).unwrap();
    let (reason, _) = refused(&p, json!({"program": "git", "args": ["push", "origin"]})).await;
    assert!(
        reason.starts_with(
            "git push origin: the arguments do not match the granted pattern `status|diff **`"
        ),
        "{reason}"
    );
    let out = run(&p, json!({"program": "git", "args": ["status"]})).await;
    assert!(
        out["stderr"]
            .as_str()
            .unwrap()
            .contains("not a git repository"),
        "{out}"
    );
}

#[tokio::test]
async fn dangerous_flags_are_refused_in_every_spelling() {
    let fx = Fixture::new();
    // A stand-in `rg` outside the workspace: the rules follow the name.
    let bin = tempfile::tempdir().unwrap();
    let rg = bin.path().join("rg");
    std::fs::write(&rg, "#!/bin/sh\necho ran\n").unwrap();
    std::fs::set_permissions(&rg, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let p = prepare(
        &fx,
        &["file:.:write"],
        &[
            ("find", "/usr/bin/find"),
            ("git", "/usr/bin/git"),
            ("rg", rg.to_str().unwrap()),
        ],
    );
    let cases: &[(&str, &[&str])] = &[
        ("find", &[".", "-exec", "sh", "-c", "id", ";"]),
        ("find", &[".", "-execdir", "id", ";"]),
        ("find", &[".", "-delete"]),
        ("rg", &["--pre=sh", "x"]),
        ("rg", &["--pre", "sh", "x"]),
        ("rg", &["--pr", "sh", "x"]),
        ("rg", &["-z", "x"]),
        ("git", &["-c", "core.pager=sh", "log"]),
        ("git", &["-ccore.pager=sh", "log"]),
        ("git", &["--exec-path=/tmp", "status"]),
        ("git", &["diff", "--ext-diff"]),
        ("git", &["--git-dir", "/etc", "status"]),
    ];
    for (program, args) in cases {
        let (reason, d) = refused(&p, json!({"program": program, "args": args})).await;
        assert!(
            reason.contains("is refused for"),
            "{program} {args:?}: {reason}"
        );
        assert_eq!(d.allow, None);
    }
    let out = run(&p, json!({"program": "rg", "args": ["x"]})).await;
    assert_eq!(out["stdout"], "ran\n");
}

#[tokio::test]
async fn a_binary_the_plugin_could_write_is_refused() {
    let fx = Fixture::new();
    let tool = fx.ws.join("tool");
    std::fs::write(&tool, "#!/bin/sh\necho replaced\n").unwrap();
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let p = prepare(&fx, &["file:.:write"], &[("cat", tool.to_str().unwrap())]);
    let (reason, _) = refused(&p, json!({"program": "cat", "args": []})).await;
    assert!(
        reason.contains("which the plugin can write; a program there could be replaced"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_planted_binary_or_path_change_changes_nothing() {
    let fx = Fixture::new();
    // A `git` dropped in the workspace and a hostile PATH do not matter:
    // the grant names /usr/bin/git.
    let fake = fx.ws.join("git");
    std::fs::write(&fake, "#!/bin/sh\necho fake\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let p = prepare(&fx, &["file:.:write"], &[("git", "/usr/bin/git")]);
    let out = run(&p, json!({"program": "git", "args": ["--version"]})).await;
    assert!(
        out["stdout"].as_str().unwrap().starts_with("git version"),
        "{out}"
    );
    let (reason, _) = refused(&p, json!({"program": "git", "args": ["--version"], "env": [["PATH", fx.ws.display().to_string()]]})).await;
    assert!(reason.contains("env `PATH`"), "{reason}");
}

#[tokio::test]
async fn the_environment_starts_empty_and_dangerous_keys_are_refused() {
    let fx = Fixture::new();
    let p = sh(&fx);
    let out = run(
        &p,
        json!({"program": "sh", "args": ["-c", "env | sort"], "env": [["FOO", "1"]]}),
    )
    .await;
    let env = out["stdout"].as_str().unwrap();
    let keys: Vec<&str> = env
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    for k in &keys {
        assert!(
            [
                "FOO", "HOME", "LANG", "PAGER", "PATH", "PWD", "TERM", "SHLVL", "_", "OLDPWD"
            ]
            .contains(k),
            "unexpected {k} in {env}"
        );
    }
    assert!(env.contains("FOO=1"));
    for (key, want) in [
        ("LD_PRELOAD", "env `LD_PRELOAD`"),
        ("BASH_ENV", "env `BASH_ENV`"),
        ("GIT_CONFIG_COUNT", "env `GIT_CONFIG_COUNT`"),
        ("BAZ", "env `BAZ` is not granted for `sh`"),
    ] {
        let (reason, _) = refused(
            &p,
            json!({"program": "sh", "args": ["-c", "true"], "env": [[key, "/tmp/evil.so"]]}),
        )
        .await;
        assert!(reason.contains(want), "{key}: {reason}");
    }
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn the_working_directory_must_lie_inside_the_grants() {
    let fx = Fixture::new();
    std::fs::create_dir(fx.ws.join("sub")).unwrap();
    let p = sh(&fx);
    let out = run(
        &p,
        json!({"program": "sh", "args": ["-c", "pwd"], "cwd": "sub"}),
    )
    .await;
    assert_eq!(out["stdout"], format!("{}\n", fx.ws.join("sub").display()));
    for (cwd, want) in [
        ("/etc", "lies outside the plugin's file grants"),
        ("../outside", "contains `..`"),
        ("link_abs", "lies outside the plugin's file grants"),
    ] {
        let (reason, _) = refused(
            &p,
            json!({"program": "sh", "args": ["-c", "pwd"], "cwd": cwd}),
        )
        .await;
        assert!(reason.contains(want), "{cwd}: {reason}");
    }
}

#[tokio::test]
async fn the_child_cannot_write_outside_its_grants_or_into_protected_paths() {
    let fx = Fixture::new();
    let p = sh(&fx);
    let outside = fx.outside.join("pwned");
    let script = format!(
        "echo x > {o}; echo x > {ws}/.git/config; echo x > {ws}/.git/new; cat {cfg}/grants/x.toml; cat {secret}; echo done > {ws}/ok",
        o = outside.display(),
        ws = fx.ws.display(),
        cfg = fx.config.display(),
        secret = fx.outside.join("secret").display(),
    );
    let out = run(&p, json!({"program": "sh", "args": ["-c", script]})).await;
    let stderr = out["stderr"].as_str().unwrap();
    assert!(!outside.exists(), "wrote outside: {stderr}");
    assert_eq!(fx.read(".git/config"), "cfg");
    assert!(!fx.ws.join(".git/new").exists());
    assert!(!out["stdout"].as_str().unwrap().contains("secret"), "{out}");
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    assert_eq!(fx.read("ok"), "done\n");
}

#[tokio::test]
async fn the_child_has_no_network() {
    let fx = Fixture::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let p = sh(&fx);
    let out = run(&p, json!({"program": "bash", "args": ["-c", format!("echo hi > /dev/tcp/127.0.0.1/{port} && echo connected")]})).await;
    assert_ne!(out["exit_code"], 0, "{out}");
    assert!(!out["stdout"].as_str().unwrap().contains("connected"));
    assert!(
        listener.accept().is_err(),
        "the child reached the host's loopback"
    );
}

#[tokio::test]
async fn a_fork_bomb_is_contained() {
    let fx = Fixture::new();
    let p = sh(&fx);
    let out = call(&p, "run", json!({"program": "bash", "args": ["-c", "bomb_7431() { bomb_7431 | bomb_7431 & }; bomb_7431; sleep 5"], "timeout_ms": 1500})).await.unwrap();
    // Contained either by the process limit or the deadline; never the host.
    if let Ok(v) = &out.result {
        assert!(v["timed_out"] == true || v["exit_code"] != 0, "{v}");
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(no_process_matching("bomb_7431"));
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn background_and_setsid_children_die_with_the_command() {
    let fx = Fixture::new();
    let p = sh(&fx);
    let out = run(
        &p,
        json!({"program": "sh", "args": ["-c", "sleep 4321 & setsid sleep 4322 & echo started"]}),
    )
    .await;
    assert_eq!(out["stdout"], "started\n");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(no_process_matching("sleep 4321") && no_process_matching("sleep 4322"));
    let out = run(&p, json!({"program": "sh", "args": ["-c", "setsid sleep 4323 & sleep 4324"], "timeout_ms": 300})).await;
    assert_eq!(out["timed_out"], true, "{out}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(no_process_matching("sleep 4323") && no_process_matching("sleep 4324"));
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn an_output_flood_is_capped_and_stopped() {
    let fx = Fixture::new();
    let p = sh(&fx);
    let out = run(
        &p,
        json!({"program": "sh", "args": ["-c", "while :; do echo flood; done"], "timeout_ms": 500}),
    )
    .await;
    assert_eq!(out["timed_out"], true);
    assert_eq!(out["stdout_truncated"], true);
    assert_eq!(out["stdout_len"], 64 * 1024);
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn a_planted_git_config_cannot_run_commands() {
    let fx = Fixture::new();
    std::fs::remove_dir_all(fx.ws.join(".git")).unwrap();
    let init = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(&fx.ws)
        .status()
        .unwrap();
    assert!(init.success());
    let marker = fx.outside.join("fsmonitor-ran");
    let mut config = std::fs::read_to_string(fx.ws.join(".git/config")).unwrap();
    config.push_str(&format!(
        "[core]\n\tfsmonitor = \"touch {m}\"\n\tpager = \"touch {m}\"\n\thooksPath = {hooks}\n",
        m = marker.display(),
        hooks = fx.outside.display()
    ));
    std::fs::write(fx.ws.join(".git/config"), config).unwrap();
    let p = prepare(&fx, &["file:.:write"], &[("git", "/usr/bin/git")]);
    let out = run(&p, json!({"program": "git", "args": ["status", "--short"]})).await;
    assert_eq!(out["exit_code"], 0, "{out}");
    let out = run(&p, json!({"program": "git", "args": ["log"]})).await;
    assert!(out["exit_code"].is_number(), "{out}");
    assert!(!marker.exists(), "a command from .git/config ran");
}

#[tokio::test]
async fn without_confinement_nothing_runs() {
    let fx = Fixture::new();
    let rt = warden_core::runtime::Runtime::new(None)
        .unwrap()
        .with_sandbox(Err(
            warden_core::capability::process::confine::Unavailable::NoBubblewrap,
        ));
    let bytes = std::fs::read(super::common::component("spawner")).unwrap();
    let l = rt
        .load(&warden_core::component::Package::from_bytes(bytes, "spawner").unwrap())
        .unwrap();
    let mut g = Grant::from_specs(&["file:.:write"]).unwrap();
    g.programs.push(ProgramGrant {
        program: "sh".into(),
        path: Path::new("/bin/sh").canonicalize().unwrap(),
        args: None,
    });
    let e = grant::effective(&l.manifest, &g, &fx.context());
    let p = l.prepare(&rt, e, &fx.ws, |_| None).unwrap();
    let (reason, _) = refused(&p, json!({"program": "sh", "args": ["-c", "touch ran"]})).await;
    assert_eq!(
        reason,
        "sh -c touch ran: bubblewrap (bwrap) is not installed; install it (e.g. `apt install bubblewrap`)"
    );
    assert!(!fx.ws.join("ran").exists());
}

/// Prepare the spawner with `sh` and a `file:.:write` grant, warden's own
/// directories at `warden_dirs` (relative to the workspace, existing or not).
fn sh_with_warden_dirs(fx: &Fixture, warden_dirs: &[&str]) -> Prepared {
    let l = loaded("spawner");
    let mut g = Grant::from_specs(&["file:.:write"]).unwrap();
    g.programs.push(ProgramGrant {
        program: "sh".into(),
        path: PathBuf::from("/bin/sh").canonicalize().unwrap(),
        args: None,
    });
    let mut ctx = fx.context();
    ctx.protected
        .extend(warden_dirs.iter().map(|d| fx.ws.join(d)));
    let e = grant::effective(&l.manifest, &g, &ctx);
    l.prepare(runtime(), e, &fx.ws, |_| None).unwrap()
}

/// A run whose child wrote something warden refused to apply: the refusal
/// text, and the `files` denials naming each refused path.
async fn changes_refused(
    p: &Prepared,
    script: &str,
) -> (String, Vec<warden_core::capability::Denial>) {
    let out = call(p, "run", json!({"program": "sh", "args": ["-c", script]}))
        .await
        .expect("the call completes");
    let reason = match out.result {
        Err(ToolFailure::Denied {
            reason, capability, ..
        }) => {
            assert_eq!(capability, "process");
            reason
        }
        other => panic!("expected the changes to be refused, got {other:?}"),
    };
    let denials: Vec<_> = out
        .denials
        .into_iter()
        .filter(|d| d.capability == warden_core::capability::CapabilityKind::Files)
        .collect();
    assert!(!denials.is_empty(), "no files denial for: {reason}");
    (reason, denials)
}

/// A benign child still runs and its write lands.
async fn benign_child_still_writes(fx: &Fixture, p: &Prepared) {
    let out = run(
        p,
        json!({"program": "sh", "args": ["-c", "echo fine > benign-after.txt"]}),
    )
    .await;
    assert_eq!(out["exit_code"], 0, "{out}");
    assert_eq!(fx.read("benign-after.txt"), "fine\n");
    assert_still_answers(p).await;
}

#[tokio::test]
async fn child_cannot_create_dot_git() {
    let fx = Fixture::new();
    std::fs::remove_dir_all(fx.ws.join(".git")).unwrap();
    let p = sh(&fx);
    let marker = fx.outside.join("fsmonitor-ran");
    let script = format!(
        "mkdir .git && printf '[core]\\n\\tfsmonitor = \"touch {}\"\\n' > .git/config && echo kept > other.txt",
        marker.display()
    );
    let (reason, denials) = changes_refused(&p, &script).await;
    let git = fx.ws.join(".git");
    assert!(
        reason.contains(&format!("{} is protected", git.display())),
        "{reason}"
    );
    assert_eq!(denials[0].resource, git.display().to_string());
    assert_eq!(denials[0].operation, "write");
    assert_eq!(denials[0].allow.as_deref(), Some("file:.git:write"));
    assert!(!git.exists(), "a child created .git");
    // The rest of the child's changes are applied.
    assert_eq!(fx.read("other.txt"), "kept\n");
    benign_child_still_writes(&fx, &p).await;
    assert!(!marker.exists());
}

#[tokio::test]
async fn child_cannot_write_nested_git_config() {
    let fx = Fixture::new();
    let nested = fx.ws.join("vendor/lib/.git");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::write(nested.join("config"), "nested-cfg").unwrap();
    let p = sh(&fx);
    // Append, replace, create beside it, and delete the whole nested repo.
    for script in [
        "printf '[core]\\n\\tfsmonitor = x\\n' >> vendor/lib/.git/config",
        "echo new > vendor/lib/.git/config",
        "mkdir -p vendor/lib/.git/hooks && echo x > vendor/lib/.git/hooks/pre-commit",
        "mkdir -p deep/er/.git && echo x > deep/er/.git/config",
        "rm -rf vendor",
        "rm -rf vendor/lib && mkdir -p vendor/lib && echo y > vendor/lib/file",
    ] {
        let (reason, denials) = changes_refused(&p, script).await;
        assert!(reason.contains(".git is protected"), "{script}: {reason}");
        assert!(
            denials
                .iter()
                .all(|d| d.reason.contains(".git is protected")),
            "{script}: {denials:?}"
        );
        assert_eq!(
            std::fs::read_to_string(nested.join("config")).unwrap(),
            "nested-cfg",
            "{script}"
        );
        assert!(!nested.join("hooks").exists(), "{script}");
        assert!(!fx.ws.join("deep/er/.git").exists(), "{script}");
    }
    benign_child_still_writes(&fx, &p).await;
}

#[tokio::test]
async fn child_cannot_write_warden_state_that_does_not_exist_yet() {
    let fx = Fixture::new();
    let p = sh_with_warden_dirs(&fx, &[".local/state/warden", ".config/warden"]);
    let state = fx.ws.join(".local/state/warden");
    let (reason, denials) = changes_refused(
        &p,
        "mkdir -p .local/state/warden/sessions && echo forged > .local/state/warden/sessions/s1 && mkdir -p .config && ln -s ../.local/state/warden .config/warden",
    )
    .await;
    assert!(reason.contains("is warden's own directory"), "{reason}");
    assert!(
        denials
            .iter()
            .any(|d| d.resource == state.display().to_string() && d.allow.is_none()),
        "{denials:?}"
    );
    assert!(!state.exists(), "a child created warden's state directory");
    assert!(
        std::fs::symlink_metadata(fx.ws.join(".config/warden")).is_err(),
        "a child planted warden's config directory"
    );
    benign_child_still_writes(&fx, &p).await;
}

#[tokio::test]
async fn child_cannot_see_warden_dirs() {
    let fx = Fixture::new();
    let data = fx.ws.join("share/warden");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("audit.key"), "AUDIT-KEY-7731").unwrap();
    // A link inside the workspace to warden's directory leads to the same
    // emptiness: the directory is hidden where it really is.
    std::os::unix::fs::symlink("share/warden", fx.ws.join("alias")).unwrap();
    let p = sh_with_warden_dirs(&fx, &["share/warden"]);
    let out = run(
        &p,
        json!({"program": "sh", "args": ["-c", "cat share/warden/audit.key alias/audit.key; ls -A share/warden; echo x > share/warden/new; grep -r AUDIT-KEY . ; echo end"]}),
    )
    .await;
    let stdout = out["stdout"].as_str().unwrap();
    let stderr = out["stderr"].as_str().unwrap();
    assert!(
        !stdout.contains("AUDIT-KEY") && !stderr.contains("AUDIT-KEY"),
        "{out}"
    );
    assert_eq!(stdout, "end\n", "{out}");
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    assert!(!data.join("new").exists());
    assert_eq!(
        std::fs::read_to_string(data.join("audit.key")).unwrap(),
        "AUDIT-KEY-7731"
    );
    benign_child_still_writes(&fx, &p).await;
}

#[tokio::test]
async fn child_write_quota_is_enforced() {
    let fx = Fixture::new();
    let p = sh(&fx);
    // Sparse files count at their size: 5 x 1000 MiB is over the 4 GiB a
    // call's programs may add, without writing a byte to disk.
    let (reason, denials) = changes_refused(
        &p,
        "for i in 1 2 3 4 5; do truncate -s 1000M big$i; done; echo small > small.txt",
    )
    .await;
    let limit = warden_core::capability::process::overlay::CHILD_WRITE_BYTES;
    assert!(
        reason.contains(&format!(
            "over the per-call limit for programs of {limit} bytes"
        )),
        "{reason}"
    );
    assert_eq!(denials.len(), 1, "{denials:?}");
    assert_eq!(denials[0].resource, fx.ws.display().to_string());
    // Nothing at all was applied.
    assert!(!fx.ws.join("big1").exists() && !fx.ws.join("small.txt").exists());
    benign_child_still_writes(&fx, &p).await;
}

#[tokio::test]
async fn child_cannot_leave_escaping_links_or_special_files() {
    let fx = Fixture::new();
    let p = sh(&fx);
    for (script, name, why) in [
        ("ln -s /etc/passwd out", "out", "absolute path"),
        (
            "ln -s ../outside/secret out",
            "out",
            "leaves the writable grants",
        ),
        ("mkdir d && ln -s ../.git d/g", "d/g", ".git is protected"),
        ("mkfifo fifo", "fifo", "FIFO"),
    ] {
        let (reason, denials) = changes_refused(&p, script).await;
        assert!(reason.contains(why), "{script}: {reason}");
        assert_eq!(denials[0].resource, fx.ws.join(name).display().to_string());
        assert!(
            std::fs::symlink_metadata(fx.ws.join(name)).is_err(),
            "{script}"
        );
    }
    benign_child_still_writes(&fx, &p).await;
}

#[tokio::test]
async fn a_childs_changes_land_as_it_made_them() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.ws.join("dir/sub")).unwrap();
    std::fs::write(fx.ws.join("dir/sub/old"), "old").unwrap();
    std::fs::write(fx.ws.join("gone.txt"), "x").unwrap();
    std::fs::write(fx.ws.join("b.txt"), "hi").unwrap();
    let p = sh(&fx);
    let out = run(
        &p,
        json!({"program": "sh", "args": ["-c", "rm gone.txt; echo more >> b.txt; rm -r dir && mkdir -p dir/new && echo n > dir/new/f; ln -s a.txt link; chmod 700 dir; mkdir -p staging/x; rmdir staging/x"]}),
    )
    .await;
    assert_eq!(out["exit_code"], 0, "{out}");
    assert!(!fx.ws.join("gone.txt").exists());
    assert_eq!(fx.read("b.txt"), "himore\n");
    assert!(
        !fx.ws.join("dir/sub").exists(),
        "the opaque directory kept old entries"
    );
    assert_eq!(fx.read("dir/new/f"), "n\n");
    assert_eq!(
        std::fs::read_link(fx.ws.join("link")).unwrap(),
        Path::new("a.txt")
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(fx.ws.join("dir"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    assert!(fx.ws.join("staging").is_dir() && !fx.ws.join("staging/x").exists());
    assert_still_answers(&p).await;
}

/// A workspace with a Makefile whose one recipe is benign, and `make`.
fn make_fixture() -> (Fixture, Prepared) {
    let fx = Fixture::new();
    std::fs::write(fx.ws.join("Makefile"), "all:\n\techo built > out.txt\n").unwrap();
    let p = prepare(&fx, &["file:.:write"], &[("make", "/usr/bin/make")]);
    (fx, p)
}

async fn benign_make_still_builds(fx: &Fixture, p: &Prepared) {
    let out = run(p, json!({"program": "make", "args": ["all"]})).await;
    assert_eq!(out["exit_code"], 0, "{out}");
    assert_eq!(fx.read("out.txt"), "built\n");
    assert_still_answers(p).await;
}

#[tokio::test]
async fn make_assignment_argument_is_refused() {
    let (fx, p) = make_fixture();
    let pwned = fx.outside.join("pwned");
    let payload = format!("$(shell touch {})", pwned.display());
    for args in [
        vec![format!("MAKEFLAGS=--eval=x:=${payload}")],
        vec!["all".into(), format!("X:={payload}")],
        vec!["all".into(), format!("SHELL+={payload}")],
        vec!["override".into(), format!("CC={payload}")],
        vec!["--".into(), format!("V!=touch {}", pwned.display())],
        vec![format!("--eval=all: ; touch {}", pwned.display())],
        vec!["-kE".into(), format!("all: ; touch {}", pwned.display())],
    ] {
        let (reason, d) = refused(&p, json!({"program": "make", "args": args})).await;
        assert!(reason.contains("is refused for make"), "{args:?}: {reason}");
        assert_eq!(d.allow, None);
        assert!(!pwned.exists(), "{args:?} ran code");
    }
    assert!(!fx.ws.join("out.txt").exists());
    benign_make_still_builds(&fx, &p).await;
}

#[tokio::test]
async fn make_makefile_from_stdin_is_refused() {
    let (fx, p) = make_fixture();
    let pwned = fx.ws.join("pwned");
    let stdin = "all:\n\ttouch pwned\n";
    for (args, with_stdin, why) in [
        (vec!["-f", "/dev/stdin"], true, "is refused for make"),
        (vec!["all"], true, "stdin is refused for make"),
        (vec!["-f", "-"], false, "a file the program reads code from"),
        (
            vec!["-f/dev/stdin"],
            false,
            "a file the program reads code from",
        ),
        (
            vec!["--file=/proc/self/fd/0"],
            false,
            "a file the program reads code from",
        ),
        (
            vec!["-f", "../../../../../../dev/stdin"],
            false,
            "a file the program reads code from",
        ),
        (
            vec!["-C", "/proc/self/cwd"],
            false,
            "a file the program reads code from",
        ),
    ] {
        let mut input = json!({"program": "make", "args": args});
        if with_stdin {
            input["stdin"] = json!(stdin);
        }
        let (reason, _) = refused(&p, input).await;
        assert!(reason.contains(why), "{args:?}: {reason}");
        assert!(!pwned.exists(), "{args:?} ran the plugin's makefile");
    }
    benign_make_still_builds(&fx, &p).await;
}

#[tokio::test]
async fn make_cannot_read_a_makefile_the_plugin_could_write() {
    // The workspace is read-only for the plugin, `out/` is writable: make
    // would run the project's Makefile, never one the plugin wrote.
    let fx = Fixture::new();
    std::fs::write(fx.ws.join("Makefile"), "all:\n\techo project\n").unwrap();
    std::fs::create_dir(fx.ws.join("out")).unwrap();
    std::fs::write(fx.ws.join("out/evil.mk"), "all:\n\techo planted\n").unwrap();
    let p = prepare(
        &fx,
        &["file:.:read", "file:out:write"],
        &[("make", "/usr/bin/make")],
    );
    for args in [["-f", "out/evil.mk"], ["-C", "out"], ["-I", "out"]] {
        let (reason, _) = refused(&p, json!({"program": "make", "args": args})).await;
        assert!(
            reason.contains("where the plugin or its programs can write"),
            "{args:?}: {reason}"
        );
    }
    let out = run(&p, json!({"program": "make", "args": ["-s"]})).await;
    assert_eq!(out["stdout"], "project\n", "{out}");
}

#[tokio::test]
async fn cargo_toolchain_selector_is_refused() {
    let fx = Fixture::new();
    // A planted "toolchain" whose cargo would run anything.
    let bin = fx.ws.join("tc/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let pwned = fx.outside.join("pwned");
    for tool in ["cargo", "rustc"] {
        std::fs::write(
            bin.join(tool),
            format!("#!/bin/sh\ntouch {}\n", pwned.display()),
        )
        .unwrap();
        std::fs::set_permissions(
            bin.join(tool),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    }
    let cargo = which("cargo");
    let p = prepare(
        &fx,
        &["file:.:write"],
        &[("cargo", cargo.to_str().unwrap())],
    );
    let tc = fx.ws.join("tc");
    for args in [
        vec![format!("+{}", tc.display()), "--version".into()],
        vec!["+tc".into(), "build".into()],
        vec!["+nightly".into(), "build".into()],
    ] {
        let (reason, _) = refused(&p, json!({"program": "cargo", "args": args})).await;
        assert!(
            reason.contains("picks the toolchain that runs"),
            "{args:?}: {reason}"
        );
    }
    // The same planted toolchain named by a toolchain file.
    for (name, text) in [
        (
            "rust-toolchain.toml",
            format!("[toolchain]\npath = \"{}\"\n", tc.display()),
        ),
        ("rust-toolchain", format!("{}\n", tc.display())),
    ] {
        std::fs::write(fx.ws.join(name), text).unwrap();
        let (reason, _) = refused(&p, json!({"program": "cargo", "args": ["--version"]})).await;
        assert!(
            reason.contains("names a toolchain by path"),
            "{name}: {reason}"
        );
        std::fs::remove_file(fx.ws.join(name)).unwrap();
    }
    assert!(!pwned.exists(), "the planted toolchain ran");
    // A channel in a toolchain file is fine, and cargo runs.
    std::fs::write(
        fx.ws.join("rust-toolchain.toml"),
        "[toolchain]\nchannel = \"stable\"\n",
    )
    .unwrap();
    let out = call(
        &p,
        "run",
        json!({"program": "cargo", "args": ["--version"]}),
    )
    .await
    .unwrap();
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert!(!pwned.exists());
    assert_still_answers(&p).await;
}

/// Where a program is installed, as `warden plugin grant` would find it.
fn which(program: &str) -> PathBuf {
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Through `warden call`: the refused change of a child is an audited
/// denial, the call exits as denied, and what was applied is undone by
/// `warden undo` like any other change of the turn.
#[test]
fn a_childs_refused_change_is_audited_and_its_applied_ones_undone() {
    let w = super::harness::Warden::new();
    w.install("spawner", &["file:.:write", "program:sh"]);
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().canonicalize().unwrap();
    std::fs::write(ws.join("a.txt"), "hi").unwrap();
    let input = json!({"program": "sh", "args": ["-c", "mkdir .git && echo x > .git/config; echo kept > kept.txt; echo more >> a.txt"]});
    let r = w.run(&[
        "call",
        "spawner.run",
        "--workspace",
        ws.to_str().unwrap(),
        "--input",
        &input.to_string(),
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains(".git is protected"), "{}", r.stderr);
    assert!(!ws.join(".git").exists());
    assert_eq!(
        std::fs::read_to_string(ws.join("kept.txt")).unwrap(),
        "kept\n"
    );
    let records = w.records(&["--plugin", "spawner"]);
    let denial = records
        .iter()
        .find(|e| e["record"]["kind"] == "denial")
        .expect("the refusal is in the audit log");
    assert_eq!(denial["record"]["capability"], "files");
    assert_eq!(
        denial["record"]["resource"],
        ws.join(".git").display().to_string()
    );
    w.ok(&["undo", "--workspace", ws.to_str().unwrap()]);
    assert!(!ws.join("kept.txt").exists());
    assert_eq!(std::fs::read_to_string(ws.join("a.txt")).unwrap(), "hi");
    assert!(!ws.join(".git").exists());
}
