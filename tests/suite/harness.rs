//! The real `warden` binary as a user runs it, with warden's own state in a
//! temporary home per test (compiled components are cached in one shared
//! place, so tests do not recompile them). The one harness the CLI,
//! audit and rollback suites share.

use super::common::component;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// warden's state for one test, in a temporary home.
pub struct Warden {
    /// The temporary home (also the working directory of [`Warden::run`]).
    pub home: tempfile::TempDir,
}

/// What one run of `warden` printed.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Standard output as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

impl From<Output> for Ran {
    fn from(out: Output) -> Self {
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Warden {
    pub fn new() -> Self {
        Warden {
            home: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// warden's data directory (audit log, journal, installed plugins).
    pub fn data(&self) -> PathBuf {
        self.home.path().join("data/warden")
    }

    /// The audit log.
    pub fn log_path(&self) -> PathBuf {
        self.data().join("audit.log")
    }

    /// `warden ARGS` in the home, with warden's directories in the test's
    /// home and stdin closed; the caller may change anything before
    /// spawning.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_in(self.home.path(), args, self.home.path())
    }

    fn command_in(&self, cwd: &Path, args: &[&str], home: &Path) -> Command {
        let h = self.home.path();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
        cmd.args(args)
            .current_dir(cwd)
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", h.join("config"))
            .env("XDG_DATA_HOME", h.join("data"))
            .env(
                "XDG_CACHE_HOME",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-cache"),
            )
            .env_remove("WARDEN_LOG")
            .stdin(Stdio::null());
        cmd
    }

    /// Run in the home.
    pub fn run(&self, args: &[&str]) -> Ran {
        self.run_in(self.home.path(), args, None)
    }

    /// Run in `cwd`, with `stdin` written to its standard input.
    pub fn run_in(&self, cwd: &Path, args: &[&str], stdin: Option<&[u8]>) -> Ran {
        self.spawn(cwd, args, stdin, self.home.path())
    }

    /// Run with `home` as `HOME`; warden's own state stays in the test's
    /// directories either way.
    pub fn spawn(&self, cwd: &Path, args: &[&str], stdin: Option<&[u8]>, home: &Path) -> Ran {
        let mut child = self
            .command_in(cwd, args, home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn warden");
        let mut pipe = child.stdin.take().expect("stdin");
        let input = stdin.map(<[u8]>::to_vec).unwrap_or_default();
        let writer = std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
        let out = child.wait_with_output().expect("wait");
        let _ = writer.join();
        out.into()
    }

    /// Run in the home on a real terminal (a pty made by util-linux
    /// `script`), typing `keys`. The terminal merges stdout and stderr, so
    /// both fields hold everything shown, with `\r\n` made `\n`.
    pub fn on_terminal(&self, args: &[&str], keys: &[u8]) -> Ran {
        let quoted: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_warden"))
            .chain(args.iter().copied())
            .map(|a| {
                assert!(!a.contains('\''), "cannot quote {a:?}");
                format!("'{a}'")
            })
            .collect();
        let base = self.command(&[]);
        let mut script = Command::new("script");
        script
            .args(["-qec", &quoted.join(" "), "/dev/null"])
            .current_dir(self.home.path())
            .envs(base.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .env_remove("WARDEN_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = script.spawn().expect("spawn script (util-linux)");
        let mut pipe = child.stdin.take().expect("stdin");
        let keys = keys.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = pipe.write_all(&keys);
        });
        let out = child.wait_with_output().expect("wait");
        let _ = writer.join();
        let shown = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: shown.clone(),
            stderr: shown,
        }
    }

    /// Run and require success.
    pub fn ok(&self, args: &[&str]) -> Ran {
        let r = self.run(args);
        assert_eq!(r.code, 0, "warden {args:?}: {}{}", r.stdout, r.stderr);
        r
    }

    /// Install a test guest with `grants`, approving without a prompt.
    pub fn install(&self, guest: &str, grants: &[&str]) {
        let path = component(guest);
        let mut args = vec!["plugin", "install", path.to_str().unwrap(), "--yes"];
        for g in grants {
            args.extend(["--grant", g]);
        }
        self.ok(&args);
    }

    /// Install the hostile guest with what it requests.
    pub fn install_hostile(&self) {
        self.install("hostile", &[]);
    }

    /// Every audit record, as `warden log --json` shows them.
    pub fn records(&self, filters: &[&str]) -> Vec<Value> {
        let mut args = vec!["log", "--json"];
        args.extend(filters);
        let v = self.ok(&args).json();
        assert_eq!(v["intact"], true, "{v}");
        v["records"].as_array().unwrap().clone()
    }
}
