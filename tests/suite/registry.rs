//! Issue 12: plugins from registries. A real OCI registry (Debian's
//! `docker-registry`) on 127.0.0.1, `skopeo` on the other side of the
//! interop, and scripted hostile registries for what a real one never does.
//! Every hostile case asserts the refusal, its audit record, and that the
//! installed version still answers.

use super::common::{Fixture, component};
use super::netserver::{self, Server};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod keyless;
mod signing;

/// A `docker-registry` on a free loopback port, stopped on drop.
struct OciRegistry {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl OciRegistry {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .expect("config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry is installed (bash .ci/setup)");
        // Owned at once, so it is stopped on every path out of here.
        let registry = OciRegistry {
            child,
            port,
            _dir: dir,
        };
        // Bounded wait for it to listen.
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return registry;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("docker-registry did not start on port {port}");
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn oci(&self, repo_tag: &str) -> String {
        format!("oci://{}/{repo_tag}", self.host())
    }
}

impl Drop for OciRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `warden` binary with its own state.
struct Warden {
    home: tempfile::TempDir,
    /// `$WARDEN_POLICY`: the organisation's policy (its trust.toml beside it).
    policy: Option<PathBuf>,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} / {}", self.stdout, self.stderr))
    }
}

impl Warden {
    fn new() -> Self {
        Warden {
            home: tempfile::tempdir().expect("tempdir"),
            policy: None,
        }
    }

    /// Run with `stdin` typed in. Answers to a prompt need a terminal
    /// (warden asks nothing without one), so then warden runs on a pty
    /// made by util-linux `script`, which merges stdout and stderr: both
    /// fields hold everything shown.
    fn run_with(&self, args: &[&str], stdin: &[u8]) -> Run {
        self.run_env(args, stdin, &[])
    }

    /// [`Warden::run_with`] with extra environment variables.
    fn run_env(&self, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Run {
        let h = self.home.path();
        let warden = env!("CARGO_BIN_EXE_warden");
        let typed = !stdin.is_empty();
        let mut command = if typed {
            let quoted: Vec<String> = std::iter::once(warden)
                .chain(args.iter().copied())
                .map(|a| {
                    assert!(!a.contains('\''), "cannot quote {a:?}");
                    format!("'{a}'")
                })
                .collect();
            let mut c = Command::new("script");
            c.args(["-qec", &quoted.join(" "), "/dev/null"]);
            c
        } else {
            let mut c = Command::new(warden);
            c.args(args);
            c
        };
        command
            .env_remove("COSIGN_PASSWORD")
            .envs(env.iter().copied());
        match &self.policy {
            Some(p) => command.env("WARDEN_POLICY", p),
            None => command.env_remove("WARDEN_POLICY"),
        };
        let mut child = command
            .current_dir(h)
            .env("HOME", h)
            .env("XDG_CONFIG_HOME", h.join("config"))
            .env("XDG_DATA_HOME", h.join("data"))
            .env(
                "XDG_CACHE_HOME",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-cache"),
            )
            .env_remove("WARDEN_LOG")
            .env_remove("DOCKER_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn warden");
        let mut pipe = child.stdin.take().expect("stdin");
        let input = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
        let out = child.wait_with_output().expect("wait");
        let _ = writer.join();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = if typed {
            stdout.replace("\r\n", "\n")
        } else {
            String::from_utf8_lossy(&out.stderr).into_owned()
        };
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: if typed { stderr.clone() } else { stdout },
            stderr,
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, b"")
    }

    fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(r.code, 0, "warden {args:?}: {}\n{}", r.stderr, r.stdout);
        r
    }

    /// The installed plugin `name` as `warden plugin list --json` shows it.
    fn listed(&self, name: &str) -> Value {
        let list = self.ok(&["plugin", "list", "--json"]).json();
        list.as_array()
            .expect("array")
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// Audit records of `kind` for plugin or resource containing `about`.
    fn records(&self, kind: &str) -> Vec<Value> {
        let log = self.ok(&["log", "--json"]).json();
        log["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|e| e["record"].clone())
            .filter(|r| r["kind"] == kind)
            .collect()
    }

    /// The installed `hostile` still reads a file: the host answers.
    fn still_answers(&self) {
        let fx = Fixture::new();
        let r = self.run(&[
            "call",
            "hostile.read",
            "--workspace",
            fx.ws.to_str().expect("utf-8"),
            "--input",
            r#"{"path":"a.txt"}"#,
        ]);
        assert_eq!((r.code, r.stdout.trim()), (0, "hi"), "{}", r.stderr);
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

// --- Component variants: the same code with another manifest -------------

fn leb(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_leb(bytes: &[u8], at: &mut usize) -> usize {
    let (mut n, mut shift) = (0usize, 0);
    loop {
        let b = bytes[*at];
        *at += 1;
        n |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return n;
        }
        shift += 7;
    }
}

/// `bytes` with every `warden:manifest` custom section (in the component or
/// the core modules and components nested in it) replaced by `manifest`.
fn with_manifest(bytes: &[u8], manifest: &str) -> Vec<u8> {
    let component = bytes[4..8] == [0x0d, 0x00, 0x01, 0x00];
    let mut out = bytes[..8].to_vec();
    let mut at = 8;
    while at < bytes.len() {
        let id = bytes[at];
        at += 1;
        let size = read_leb(bytes, &mut at);
        let payload = &bytes[at..at + size];
        at += size;
        let replaced = if id == 0 {
            let mut p = 0;
            let len = read_leb(payload, &mut p);
            (&payload[p..p + len] == b"warden:manifest").then(|| {
                let mut new = Vec::new();
                leb(len, &mut new);
                new.extend_from_slice(b"warden:manifest");
                new.extend_from_slice(manifest.as_bytes());
                new
            })
        } else if component && (id == 1 || id == 4) {
            Some(with_manifest(payload, manifest))
        } else {
            None
        };
        let payload = replaced.as_deref().unwrap_or(payload);
        out.push(id);
        leb(payload.len(), &mut out);
        out.extend_from_slice(payload);
    }
    out
}

const HOSTILE_LIMITS: &str = "[limits]\nmemory_mib = 32\ntimeout_ms = 2000\noutput_kib = 64\nfile_size_mib = 4\nwrite_mib = 8\nfiles_created = 1000\n";

/// The hostile guest as version `version`, asking for `requests` (TOML).
fn hostile(version: &str, requests: &str) -> Vec<u8> {
    let base = std::fs::read(component("hostile")).expect("hostile built");
    let manifest = format!(
        "name = \"hostile\"\nversion = \"{version}\"\ndescription = \"Test guest: tries to escape its grants and exhaust the host.\"\nenv = [\"WARDEN_TEST_VAR\", \"WARDEN_OTHER_VAR\"]\n{requests}\n{HOSTILE_LIMITS}"
    );
    with_manifest(&base, &manifest)
}

const WHOLE_WORKSPACE: &str = "[[files]]\npath = \".\"\naccess = \"write\"\n";
const READ_ONLY: &str = "[[files]]\npath = \".\"\naccess = \"read\"\n";

/// Write `bytes` to a file in `dir` and return its path as a string.
fn file(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write component");
    path.to_str().expect("utf-8").to_string()
}

fn publish(w: &Warden, dir: &Path, bytes: &[u8], target: &str) -> String {
    let path = file(dir, &format!("c-{}.wasm", &sha256(bytes)[7..19]), bytes);
    let r = w.ok(&["plugin", "publish", &path, target]);
    r.stdout.trim().to_string()
}

// --- Tests ---------------------------------------------------------------

#[test]
fn issue12_publish_install_by_tag_and_digest_and_a_lock_reproduces_the_set() {
    let reg = OciRegistry::start();
    let w = Warden::new();
    let bytes = hostile("0.1.0", WHOLE_WORKSPACE);
    let pinned = publish(&w, w.home.path(), &bytes, &reg.oci("plugins/hostile:0.1.0"));
    assert!(
        pinned.starts_with(&reg.oci("plugins/hostile@sha256:")),
        "{pinned}"
    );

    let r = w.ok(&[
        "plugin",
        "install",
        &reg.oci("plugins/hostile:0.1.0"),
        "--yes",
    ]);
    assert!(r.stderr.contains("installed hostile"), "{}", r.stderr);
    let listed = w.listed("hostile");
    assert_eq!(listed["digest"], sha256(&bytes));
    assert_eq!(
        listed["source"]["oci"]["reference"],
        reg.oci("plugins/hostile:0.1.0")
    );
    let manifest = listed["source"]["oci"]["manifest"]
        .as_str()
        .expect("pinned");
    assert_eq!(pinned, reg.oci(&format!("plugins/hostile@{manifest}")));
    w.still_answers();
    let install = w.records("install");
    assert_eq!(install.last().expect("install record")["decision"], "allow");

    // By digest, on another machine.
    let other = Warden::new();
    other.ok(&["plugin", "install", &pinned, "--yes"]);
    assert_eq!(other.listed("hostile")["digest"], sha256(&bytes));

    // A lock is the list; installing it elsewhere gives the same bytes.
    let lock = w.home.path().join("warden.lock.json");
    std::fs::write(&lock, w.ok(&["plugin", "list", "--json"]).stdout).expect("lock");
    let third = Warden::new();
    third.ok(&[
        "plugin",
        "install",
        "--locked",
        lock.to_str().expect("utf-8"),
        "--yes",
    ]);
    let installed = std::fs::read(
        third
            .home
            .path()
            .join("data/warden/plugins/hostile/component.wasm"),
    )
    .expect("installed component");
    assert_eq!(installed, bytes, "bit for bit");
    assert_eq!(third.listed("hostile")["source"], listed["source"]);
    third.still_answers();
}

#[test]
fn issue12_a_moved_tag_does_not_move_a_lock_and_is_refused_as_an_update() {
    let reg = OciRegistry::start();
    let w = Warden::new();
    let tag = reg.oci("plugins/hostile:stable");
    let first = hostile("0.1.0", WHOLE_WORKSPACE);
    publish(&w, w.home.path(), &first, &tag);
    w.ok(&["plugin", "install", &tag, "--yes"]);
    let lock = w.home.path().join("lock.json");
    std::fs::write(&lock, w.ok(&["plugin", "list", "--json"]).stdout).expect("lock");

    // The publisher (or an attacker with push access) moves the tag to
    // other bytes under the same version.
    let moved = with_manifest(
        &first,
        "name = \"hostile\"\nversion = \"0.1.0\"\ndescription = \"moved\"\n[[files]]\npath = \"/\"\naccess = \"write\"\n",
    );
    publish(&w, w.home.path(), &moved, &tag);

    let other = Warden::new();
    other.ok(&[
        "plugin",
        "install",
        "--locked",
        lock.to_str().expect("utf-8"),
        "--yes",
    ]);
    assert_eq!(other.listed("hostile")["digest"], sha256(&first));

    let r = w.run(&["plugin", "update", "hostile", "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the same version 0.1.0 as the installed one"),
        "{}",
        r.stderr
    );
    let refused = w.records("update");
    assert_eq!(refused.last().expect("record")["decision"], "deny");
    assert_eq!(w.listed("hostile")["digest"], sha256(&first));
    w.still_answers();
}

#[test]
fn issue12_skopeo_reads_what_warden_publishes_and_warden_installs_what_skopeo_pushes() {
    let reg = OciRegistry::start();
    let w = Warden::new();
    let bytes = hostile("0.1.0", WHOLE_WORKSPACE);
    publish(&w, w.home.path(), &bytes, &reg.oci("plugins/hostile:0.1.0"));

    let raw = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/plugins/hostile:0.1.0", reg.host()))
        .output()
        .expect("skopeo is installed (bash .ci/setup)");
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    let manifest: Value = serde_json::from_slice(&raw.stdout).expect("manifest");
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(manifest["layers"][0]["digest"], sha256(&bytes));

    // Out through skopeo into an OCI layout: the layer is the component.
    let layout = w.home.path().join("layout");
    let copy = Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{}/plugins/hostile:0.1.0", reg.host()))
        .arg(format!("oci:{}:hostile", layout.display()))
        .output()
        .expect("skopeo");
    assert!(
        copy.status.success(),
        "{}",
        String::from_utf8_lossy(&copy.stderr)
    );
    let blob = layout.join("blobs/sha256").join(&sha256(&bytes)[7..]);
    assert_eq!(std::fs::read(blob).expect("layer blob"), bytes);

    // And back in under another name, pushed by skopeo.
    let copy = Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:hostile", layout.display()))
        .arg(format!("docker://{}/mirror/hostile:1", reg.host()))
        .output()
        .expect("skopeo");
    assert!(
        copy.status.success(),
        "{}",
        String::from_utf8_lossy(&copy.stderr)
    );
    w.ok(&["plugin", "install", &reg.oci("mirror/hostile:1"), "--yes"]);
    assert_eq!(w.listed("hostile")["digest"], sha256(&bytes));
    w.still_answers();
}

#[test]
fn issue12_a_url_must_be_pinned_and_match_its_pin() {
    let bytes = hostile("0.1.0", WHOLE_WORKSPACE);
    let served = bytes.clone();
    let server = Server::start(move |_, c| {
        let _ = write!(
            c,
            "HTTP/1.1 200 OK\r\ncontent-type: application/wasm\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            served.len()
        );
        let _ = c.write_all(&served);
    });
    let url = format!("{}/hostile.wasm", server.origin());
    let w = Warden::new();
    let r = w.run(&["plugin", "install", &url, "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("must be pinned: add --sha256"),
        "{}",
        r.stderr
    );

    let wrong = "0".repeat(64);
    let r = w.run(&["plugin", "install", &url, "--sha256", &wrong, "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "its SHA-256 is {}, not the sha256:{wrong}",
            sha256(&bytes)
        )),
        "{}",
        r.stderr
    );
    let refused = w.records("install");
    assert_eq!(refused.last().expect("record")["decision"], "deny");
    assert_eq!(w.listed("hostile"), Value::Null);

    w.ok(&[
        "plugin",
        "install",
        &url,
        "--sha256",
        &sha256(&bytes)[7..],
        "--yes",
    ]);
    assert_eq!(w.listed("hostile")["source"], json!({"url": {"url": url}}));
    w.still_answers();
}

/// A scripted registry serving `manifest` for every manifest request and
/// `blob` for every blob request.
fn hostile_registry(manifest: Vec<u8>, blob: Vec<u8>) -> Server {
    Server::start(move |head, c| {
        let path = netserver::target(head).to_string();
        let body: &[u8] = if path.contains("/manifests/") {
            &manifest
        } else if path.contains("/blobs/") {
            &blob
        } else {
            b"{}"
        };
        let kind = if path.contains("/manifests/") {
            "application/vnd.oci.image.manifest.v1+json"
        } else {
            "application/octet-stream"
        };
        let _ = write!(
            c,
            "HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let _ = c.write_all(body);
    })
}

fn wasm_manifest(layer: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "digest": sha256(b"{}"), "size": 2},
        "layers": [{"mediaType": "application/wasm", "digest": sha256(layer), "size": layer.len()}],
    }))
    .expect("json")
}

/// A warden with `hostile` 0.1.0 installed from a file.
fn installed() -> (Warden, PathBuf) {
    let w = Warden::new();
    let path = file(w.home.path(), "v1.wasm", &hostile("0.1.0", WHOLE_WORKSPACE));
    w.ok(&["plugin", "install", &path, "--yes"]);
    (w, PathBuf::from(path))
}

/// `update --to target` is refused with `needle`, recorded, and changes
/// nothing.
fn refused_update(w: &Warden, target: &str, needle: &str) {
    let before = w.listed("hostile")["digest"].clone();
    let r = w.run(&["plugin", "update", "hostile", "--to", target, "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(needle),
        "wanted {needle:?} in: {}",
        r.stderr
    );
    let last = w.records("update").last().cloned().expect("update record");
    assert_eq!(last["decision"], "deny", "{last}");
    assert!(
        last["reason"].as_str().unwrap_or_default().contains(needle),
        "{last}"
    );
    assert_eq!(w.listed("hostile")["digest"], before);
    w.still_answers();
}

#[test]
fn issue12_a_blob_that_fails_its_digest_is_refused() {
    let (w, _) = installed();
    let good = hostile("0.2.0", WHOLE_WORKSPACE);
    let mut evil = good.clone();
    let last = evil.len() - 1;
    evil[last] ^= 0xff;
    let server = hostile_registry(wasm_manifest(&good), evil);
    refused_update(
        &w,
        &format!("oci://{}/plugins/hostile:0.2.0", server.authority()),
        "failed its digest check",
    );
}

#[test]
fn issue12_an_oversized_manifest_or_blob_is_refused() {
    let (w, _) = installed();
    let huge = vec![b' '; 300 * 1024];
    let server = hostile_registry(huge, Vec::new());
    refused_update(
        &w,
        &format!("oci://{}/plugins/hostile:0.2.0", server.authority()),
        "its manifest is over the limit of 262144 bytes",
    );

    // A layer that claims more than a component may be.
    let mut manifest: Value = serde_json::from_slice(&wasm_manifest(b"x")).expect("json");
    manifest["layers"][0]["size"] = json!(65 * 1024 * 1024);
    let server = hostile_registry(serde_json::to_vec(&manifest).expect("json"), Vec::new());
    refused_update(
        &w,
        &format!("oci://{}/plugins/hostile:0.2.0", server.authority()),
        "over the limit of 67108864",
    );

    // A layer that sends more than its manifest states.
    let good = hostile("0.2.0", WHOLE_WORKSPACE);
    let mut more = good.clone();
    more.extend_from_slice(&[0; 4096]);
    let server = hostile_registry(wasm_manifest(&good), more);
    refused_update(
        &w,
        &format!("oci://{}/plugins/hostile:0.2.0", server.authority()),
        "sent more than the",
    );
}

#[test]
fn issue12_a_registry_redirecting_its_manifest_elsewhere_is_refused() {
    let (w, _) = installed();
    let elsewhere = hostile_registry(
        wasm_manifest(&hostile("0.2.0", WHOLE_WORKSPACE)),
        hostile("0.2.0", WHOLE_WORKSPACE),
    );
    let to = format!("{}/v2/plugins/hostile/manifests/0.2.0", elsewhere.origin());
    let server = Server::start(move |head, c| {
        if netserver::target(head).contains("/manifests/") {
            netserver::redirect(c, "302 Found", &to);
        } else {
            netserver::respond(c, "200 OK", "application/json", "{}");
        }
    });
    refused_update(
        &w,
        &format!("oci://{}/plugins/hostile:0.2.0", server.authority()),
        "the registry redirected the manifest request to http://127.0.0.1:",
    );
    assert!(
        elsewhere.heads().is_empty(),
        "the redirect target was never asked: {:?}",
        elsewhere.heads()
    );
}

/// Update through a real registry: publish `bytes` as 0.2.0 and run
/// `update` with `args`, answering the prompt with `answer`.
fn update_to(w: &Warden, reg: &OciRegistry, bytes: &[u8], args: &[&str], answer: &[u8]) -> Run {
    let tag = reg.oci(&format!("plugins/hostile:{}", &sha256(bytes)[7..15]));
    publish(w, w.home.path(), bytes, &tag);
    let mut all = vec!["plugin", "update", "hostile", "--to", &tag];
    all.extend_from_slice(args);
    w.run_with(&all, answer)
}

fn grant_of(w: &Warden) -> Value {
    w.listed("hostile")["grant"].clone()
}

#[test]
fn issue12_an_update_asking_for_a_wider_path_keeps_the_old_grant_until_approved() {
    let reg = OciRegistry::start();
    let w = Warden::new();
    let v1 = file(w.home.path(), "v1.wasm", &hostile("0.1.0", READ_ONLY));
    w.ok(&["plugin", "install", &v1, "--yes"]);
    let before = grant_of(&w);
    assert_eq!(before["files"], json!([{"path": ".", "access": "read"}]));

    let v2 = hostile("0.2.0", WHOLE_WORKSPACE);
    let r = update_to(&w, &reg, &v2, &["--yes"], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("widened  files"), "{}", r.stderr);
    assert_eq!(w.listed("hostile")["version"], "0.2.0");
    assert_eq!(grant_of(&w), before, "nothing new granted by --yes");
    let record = w.records("update").last().cloned().expect("record");
    assert_eq!(record["decision"], "allow");
    assert_eq!(record["detail"]["changes"][0]["how"], "widened");
    w.still_answers();

    // The write stays refused until granted.
    let fx = Fixture::new();
    let write = |w: &Warden| {
        w.run(&[
            "call",
            "hostile.write",
            "--workspace",
            fx.ws.to_str().expect("utf-8"),
            "--input",
            r#"{"path":"a.txt","content":"changed"}"#,
        ])
    };
    assert_eq!(write(&w).code, 3);
    assert_eq!(fx.read("a.txt"), "hi");
    w.ok(&["plugin", "grant", "hostile", "--grant", "file:.:write"]);
    assert_eq!(write(&w).code, 0);
}

#[test]
fn issue12_an_update_adding_a_program_leaves_it_off_and_rollback_restores_the_grant() {
    let reg = OciRegistry::start();
    let (w, _) = installed();
    w.ok(&["plugin", "grant", "hostile", "--grant", "file:.:read"]);
    let before = grant_of(&w);
    let v2 = hostile(
        "0.2.0",
        &format!("{WHOLE_WORKSPACE}[[programs]]\nprogram = \"git\"\nargs = [\"status\"]\n"),
    );
    let r = update_to(&w, &reg, &v2, &["--yes"], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("new      programs  git"), "{}", r.stderr);
    assert!(r.stderr.contains("stays off until granted"), "{}", r.stderr);
    assert_eq!(grant_of(&w), before);
    assert_eq!(w.listed("hostile")["version"], "0.2.0");

    // Granting it is a separate, explicit step; rollback undoes both.
    w.ok(&[
        "plugin",
        "grant",
        "hostile",
        "--add",
        "--grant",
        "program:git",
    ]);
    assert_eq!(grant_of(&w)["programs"][0]["program"], "git");
    let r = w.ok(&["plugin", "rollback", "hostile"]);
    assert!(r.stderr.contains("back at 0.1.0"), "{}", r.stderr);
    assert_eq!(w.listed("hostile")["version"], "0.1.0");
    assert_eq!(grant_of(&w), before);
    let record = w.records("update").last().cloned().expect("record");
    assert_eq!(record["operation"], "rollback");
    w.still_answers();
}

#[test]
fn issue12_an_update_that_only_changes_a_tool_description_needs_a_person() {
    let reg = OciRegistry::start();
    let (w, _) = installed();
    let mut v2 = hostile("0.2.0", WHOLE_WORKSPACE);
    let at = v2
        .windows(12)
        .position(|w| w == b"Read a file.")
        .expect("the description is in the binary");
    assert!(
        v2[at + 1..].windows(12).all(|w| w != b"Read a file."),
        "one occurrence"
    );
    v2[at..at + 12].copy_from_slice(b"Leak a file.");

    let r = update_to(&w, &reg, &v2, &["--yes"], b"");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(r#"description "Read a file." → "Leak a file.""#),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("must be approved by a person"),
        "{}",
        r.stderr
    );
    let record = w.records("update").last().cloned().expect("record");
    assert_eq!(record["decision"], "deny");
    assert_eq!(w.listed("hostile")["version"], "0.1.0");
    w.still_answers();

    // A person reads the change and accepts it at the prompt.
    let r = update_to(&w, &reg, &v2, &[], b"y\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let tools = w.ok(&["tools", "--json"]).json();
    assert!(tools.to_string().contains("Leak a file."), "{tools}");
}

#[test]
fn issue12_an_update_adding_wasi_http_is_shown_and_its_network_stays_off() {
    let reg = OciRegistry::start();
    let (w, _) = installed();
    // netprobe's code under hostile's name: it imports wasi:http.
    let base = std::fs::read(component("netprobe")).expect("netprobe built");
    let v2 = with_manifest(
        &base,
        "name = \"hostile\"\nversion = \"0.2.0\"\ndescription = \"now with network\"\n[[network]]\norigin = \"http://*:*\"\n",
    );
    let r = update_to(&w, &reg, &v2, &["--yes"], b"");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("new      imports   wasi:http/"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("new      network   http://*:*"),
        "{}",
        r.stderr
    );
    assert_eq!(
        w.records("update").last().expect("record")["decision"],
        "deny"
    );
    w.still_answers();

    // Approved at the prompt, the network request is still not granted.
    let r = update_to(&w, &reg, &v2, &[], b"y\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(grant_of(&w)["network"], Value::Null);
    w.ok(&["plugin", "rollback", "hostile"]);
    w.still_answers();
}

#[test]
fn issue12_a_lower_version_is_refused_without_allow_downgrade() {
    let (w, _) = installed();
    let dir = w.home.path();
    let v2 = file(dir, "v2.wasm", &hostile("0.2.0", WHOLE_WORKSPACE));
    w.ok(&["plugin", "update", "hostile", "--to", &v2, "--yes"]);
    let old = file(dir, "old.wasm", &hostile("0.1.5", WHOLE_WORKSPACE));
    let r = w.run(&["plugin", "update", "hostile", "--to", &old, "--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("is version 0.1.5, older than the installed 0.2.0"),
        "{}",
        r.stderr
    );
    assert_eq!(
        w.records("update").last().expect("record")["decision"],
        "deny"
    );
    assert_eq!(w.listed("hostile")["version"], "0.2.0");
    w.still_answers();
    w.ok(&[
        "plugin",
        "update",
        "hostile",
        "--to",
        &old,
        "--yes",
        "--allow-downgrade",
    ]);
    assert_eq!(w.listed("hostile")["version"], "0.1.5");
}

#[test]
fn issue12_plugin_diff_compares_any_two_components() {
    let w = Warden::new();
    let dir = w.home.path();
    let a = file(dir, "a.wasm", &hostile("0.1.0", READ_ONLY));
    let b = file(
        dir,
        "b.wasm",
        &hostile(
            "0.2.0",
            "[[files]]\npath = \".\"\naccess = \"write\"\n[[network]]\norigin = \"https://example.com\"\n",
        ),
    );
    let r = w.ok(&["plugin", "diff", &a, &b, "--json"]);
    assert_eq!(
        r.json()["changes"],
        json!([
            {"how": "widened", "what": "files", "item": ".", "detail": "read → write"},
            {"how": "added", "what": "network", "item": "https://example.com:443"},
        ])
    );
    let r = w.ok(&["plugin", "diff", &a, &a]);
    assert!(r.stdout.contains("no change"), "{}", r.stdout);
}
