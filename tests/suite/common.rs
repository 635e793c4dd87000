//! Shared fixtures: a workspace laid out for attacks, and the hostile guest
//! loaded once per test binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use warden_core::component::Package;
use warden_core::grant::{self, Context, Grant};
use warden_core::runtime::{CallOutput, Loaded, Prepared, Runtime};

/// Path of a guest or plugin component built by build.rs.
pub fn component(name: &str) -> PathBuf {
    warden_core::test_programs::path(name)
}

/// One runtime for the whole test binary, caching compiled components in
/// the target directory so each is compiled once.
pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("compiled");
        let helper = Path::new(env!("CARGO_BIN_EXE_warden")).to_path_buf();
        Runtime::new(Some(cache)).expect("engine").with_sandbox(
            warden_core::capability::process::confine::Sandbox::detect(helper),
        )
    })
}

/// A component loaded (compiled and import-checked) once.
pub fn loaded(name: &str) -> Loaded {
    static LOADED: OnceLock<std::sync::Mutex<Vec<(String, Loaded)>>> = OnceLock::new();
    let cell = LOADED.get_or_init(Default::default);
    let mut all = cell.lock().expect("lock");
    if let Some((_, l)) = all.iter().find(|(n, _)| n == name) {
        return l.clone();
    }
    let bytes = match warden_core::bundled::get(name) {
        Some(b) => b.to_vec(),
        None => std::fs::read(component(name)).expect("component built"),
    };
    let package = Package::from_bytes(bytes, name).expect("package");
    let l = runtime().load(&package).expect("load");
    all.push((name.to_string(), l.clone()));
    l
}

/// A temporary directory holding a workspace and things outside it:
///
/// ```text
/// root/
///   outside/secret                 "secret"
///   warden-config/grants/x.toml    stands in for warden's own config
///   ws/
///     a.txt                        "hi"
///     .git/config                  "cfg"
///     link_abs -> root/outside     absolute symlink out
///     link_rel -> ../outside       relative symlink out
///     gitlink  -> .git             symlink to a protected dir
///     loop_a -> loop_b, loop_b -> loop_a
/// ```
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub ws: PathBuf,
    pub outside: PathBuf,
    pub config: PathBuf,
}

impl Fixture {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().canonicalize().expect("canonical");
        let ws = root.join("ws");
        let outside = root.join("outside");
        let config = root.join("warden-config");
        std::fs::create_dir_all(ws.join(".git")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::create_dir_all(config.join("grants")).unwrap();
        std::fs::write(ws.join("a.txt"), "hi").unwrap();
        std::fs::write(ws.join(".git/config"), "cfg").unwrap();
        std::fs::write(outside.join("secret"), "secret").unwrap();
        std::fs::write(config.join("grants/x.toml"), "files = []").unwrap();
        std::os::unix::fs::symlink(&outside, ws.join("link_abs")).unwrap();
        std::os::unix::fs::symlink("../outside", ws.join("link_rel")).unwrap();
        std::os::unix::fs::symlink(".git", ws.join("gitlink")).unwrap();
        std::os::unix::fs::symlink("loop_b", ws.join("loop_a")).unwrap();
        std::os::unix::fs::symlink("loop_a", ws.join("loop_b")).unwrap();
        Fixture {
            tmp,
            ws,
            outside,
            config,
        }
    }

    pub fn context(&self) -> Context {
        Context {
            workspace: self.ws.clone(),
            protected: vec![self.config.clone()],
            home: None,
        }
    }

    /// Bind a loaded plugin to grants given as CLI specs.
    pub fn prepare(&self, plugin: &str, specs: &[&str]) -> Prepared {
        self.try_prepare(plugin, specs).expect("prepare")
    }

    pub fn try_prepare(&self, plugin: &str, specs: &[&str]) -> warden_core::Result<Prepared> {
        let l = loaded(plugin);
        let g = Grant::from_specs(specs)?;
        let e = grant::effective(&l.manifest, &g, &self.context());
        l.prepare(runtime(), e, &self.ws, |k| {
            (k == "WARDEN_TEST_VAR").then(|| "granted-value".to_string())
        })
    }

    /// As [`Fixture::prepare`], with the plugin's time limit raised to
    /// `timeout_ms`. For tests whose subject is another limit: under a
    /// loaded test run a debug host can take longer than the manifest's
    /// deadline to reach it, and the deadline would answer first.
    pub fn prepare_unhurried(&self, plugin: &str, specs: &[&str], timeout_ms: u64) -> Prepared {
        let mut l = loaded(plugin);
        l.manifest.limits.timeout_ms = Some(timeout_ms);
        let g = Grant::from_specs(specs).expect("grant");
        let e = grant::effective(&l.manifest, &g, &self.context());
        l.prepare(runtime(), e, &self.ws, |_| None)
            .expect("prepare")
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.ws.join(rel)).unwrap_or_else(|e| format!("<{e}>"))
    }
}

/// Call a tool with a JSON input built by `serde_json::json!`.
pub async fn call(
    p: &Prepared,
    tool: &str,
    input: serde_json::Value,
) -> warden_core::Result<CallOutput> {
    p.call(tool, &input.to_string()).await
}

/// The failure message of a call that must fail inside the tool.
pub async fn failure(p: &Prepared, tool: &str, input: serde_json::Value) -> (String, CallOutput) {
    let out = call(p, tool, input)
        .await
        .expect("the call itself completes");
    let msg = match &out.result {
        Err(warden_core::runtime::ToolFailure::Failed { message }) => message.clone(),
        other => panic!("expected a failure, got {other:?}"),
    };
    (msg, out)
}

/// After an attack, the same host still answers a benign call.
pub async fn assert_still_answers(p: &Prepared) {
    let out = call(p, "read", serde_json::json!({"path": "a.txt"}))
        .await
        .expect("benign call");
    assert_eq!(out.result.expect("benign read"), serde_json::json!("hi"));
}
