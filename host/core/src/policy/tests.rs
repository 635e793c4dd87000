use super::*;
use crate::grant::Grant;
use crate::manifest::Manifest;
use std::ffi::OsString;

const EXAMPLE: &str = include_str!("../../policies/example.cedar");
const ROLES: &str = "[users]\ncarol = [\"contractor\"]\ndave = [\"contractor\", \"lead\"]\n";

fn example() -> Policy {
    Policy::from_text(Path::new("/org/policy.cedar"), EXAMPLE, Some(ROLES)).unwrap()
}

fn subject(user: &str, plugin: &str, publisher: Option<&str>) -> Subject {
    Subject {
        user: user.into(),
        plugin: plugin.into(),
        publisher: publisher.map(String::from),
        version: "0.1.0".into(),
        signed_by: None,
    }
}

fn req(user: &str, publisher: Option<&str>, capability: Action) -> Request {
    Request {
        subject: subject(user, "p", publisher),
        action: capability,
        phase: Phase::Call,
        workspace: "/w/proj".into(),
    }
}

fn write(path: &str, inside_workspace: bool) -> Action {
    Action::FsWrite {
        path: path.into(),
        inside_workspace,
    }
}

fn net(origin: &str) -> Action {
    Action::NetConnect {
        origin: origin.into(),
    }
}

fn exec() -> Action {
    Action::Exec {
        program: "cargo".into(),
        path: "/usr/bin/cargo".into(),
        argv: vec!["test **".into()],
    }
}

#[test]
fn the_example_policy_allows_and_denies_as_documented() {
    let p = example();
    let w = Some("warden");
    let acme = Some("acme");
    let read = |path: &str| Action::FsRead {
        path: path.into(),
        inside_workspace: false,
    };
    // (user, publisher, capability, allowed, deciding rule)
    let table: Vec<(&str, Option<&str>, Action, bool, &str)> = vec![
        (
            "carol",
            w,
            net("https://docs.rs:443"),
            false,
            "contractors-no-network",
        ),
        (
            "dave",
            w,
            net("https://docs.rs:443"),
            false,
            "contractors-no-network",
        ),
        ("alice", w, net("https://docs.rs:443"), true, BASE_PERMIT),
        ("alice", w, write("/w/proj/src", true), true, BASE_PERMIT),
        (
            "alice",
            w,
            write("/etc/hosts", false),
            false,
            "no-writes-outside-workspace",
        ),
        ("alice", w, read("/etc/hosts"), true, BASE_PERMIT),
        (
            "alice",
            w,
            read("/home/alice/.ssh/id_rsa"),
            false,
            "no-ssh-keys",
        ),
        ("alice", w, read("/home/alice/.ssh"), false, "no-ssh-keys"),
        ("alice", w, read("/home/alice/.sshrc"), true, BASE_PERMIT),
        ("alice", acme, exec(), true, BASE_PERMIT),
        ("alice", w, exec(), false, "exec-only-acme"),
        ("alice", None, exec(), false, "exec-only-acme"),
        ("carol", w, Action::Install, true, BASE_PERMIT),
        (
            "carol",
            Some("someone"),
            Action::Install,
            false,
            "contractors-install-known-publishers",
        ),
        ("alice", Some("someone"), Action::Install, true, BASE_PERMIT),
        (
            "carol",
            w,
            Action::EnvRead {
                name: "HOME".into(),
            },
            true,
            BASE_PERMIT,
        ),
    ];
    for (user, publisher, cap, allowed, rule) in table {
        let what = format!("{user} {publisher:?} {cap:?}");
        let d = p.decide(&req(user, publisher, cap)).unwrap();
        assert_eq!(d.allowed, allowed, "{what}");
        assert_eq!(d.rules, vec![rule.to_string()], "{what}");
        assert_eq!(d.file, Path::new("/org/policy.cedar"));
    }
}

#[test]
fn a_forbid_wins_over_any_permit_and_names_every_rule_that_matched() {
    let text = r#"
        @id("allow-docs") permit (principal, action == Warden::Action::"net_connect", resource == Warden::Origin::"https://docs.rs:443");
        @id("no-net") forbid (principal, action == Warden::Action::"net_connect", resource);
        forbid (principal, action == Warden::Action::"net_connect", resource) when { context.host == "docs.rs" };
    "#;
    let p = Policy::from_text(Path::new("/p.cedar"), text, None).unwrap();
    let d = p
        .decide(&req("alice", None, net("https://docs.rs:443")))
        .unwrap();
    assert!(!d.allowed);
    // the unnamed rule is known by Cedar's id
    assert_eq!(d.rules, vec!["no-net".to_string(), "policy2".to_string()]);
    let err = p
        .check(&req("alice", None, net("https://docs.rs:443")))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "denied by organisation policy: plugin `p` may not net_connect `https://docs.rs:443` (rule `no-net`, `policy2` in /p.cedar); the organisation's policy sits above warden's grants, so no grant can allow it: ask whoever manages that file"
    );
}

#[test]
fn an_empty_policy_allows_everything_through_the_base_permit() {
    let p = Policy::from_text(Path::new("/p.cedar"), "// nothing yet\n", None).unwrap();
    assert!(p.is_active());
    for cap in [net("https://x.dev:443"), write("/etc/x", false), exec()] {
        let d = p.decide(&req("alice", None, cap)).unwrap();
        assert!(d.allowed);
        assert_eq!(d.rules, vec![BASE_PERMIT.to_string()]);
    }
    let none = Policy::none();
    assert!(!none.is_active());
    assert!(none.check_all(&[req("a", None, exec())]).is_ok());
}

#[test]
fn roles_come_from_the_roles_file_and_only_for_the_named_user() {
    let text = r#"
        @id("leads-only-write") forbid (principal, action == Warden::Action::"fs_write", resource)
        unless { context.user in Warden::Role::"lead" };
        @id("no-contractor-installs") forbid (principal in Warden::Role::"contractor", action == Warden::Action::"install", resource);
    "#;
    let p = Policy::from_text(Path::new("/p.cedar"), text, Some(ROLES)).unwrap();
    let w = || write("/w/proj/a", true);
    assert!(p.decide(&req("dave", None, w())).unwrap().allowed);
    assert!(!p.decide(&req("carol", None, w())).unwrap().allowed);
    assert!(!p.decide(&req("alice", None, w())).unwrap().allowed);
    // a user named like a role gets nothing from it
    assert!(!p.decide(&req("lead", None, w())).unwrap().allowed);
    assert!(
        !p.decide(&req("carol", None, Action::Install))
            .unwrap()
            .allowed
    );
    assert!(
        !p.decide(&req("dave", None, Action::Install))
            .unwrap()
            .allowed
    );
    assert!(
        p.decide(&req("alice", None, Action::Install))
            .unwrap()
            .allowed
    );
    // without a roles file nobody holds a role
    let p = Policy::from_text(Path::new("/p.cedar"), text, None).unwrap();
    assert!(!p.decide(&req("dave", None, w())).unwrap().allowed);
}

#[test]
fn a_broken_policy_is_refused_with_the_file_and_where_it_is_wrong() {
    let syntax = Policy::from_text(
        Path::new("/org/p.cedar"),
        "@id(\"x\")\nforbid (principal, action, resource) when { context.",
        None,
    )
    .unwrap_err();
    let msg = syntax.to_string();
    assert!(
        msg.starts_with(
            "organisation policy /org/p.cedar is unusable, so warden refuses what it governs: "
        ),
        "{msg}"
    );
    assert!(msg.contains("line 2"), "{msg}");

    let misspelt = Policy::from_text(
        Path::new("/org/p.cedar"),
        "@id(\"typo\") forbid (principal, action == Warden::Action::\"net-connect\", resource);",
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        misspelt.contains("does not validate against warden's schema: rule `typo`"),
        "{misspelt}"
    );
    assert!(misspelt.contains("net-connect"), "{misspelt}");

    let wrong_field = Policy::from_text(
        Path::new("/org/p.cedar"),
        "forbid (principal, action == Warden::Action::\"exec\", resource) when { context.inside_workspace };",
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(wrong_field.contains("inside_workspace"), "{wrong_field}");

    let template = Policy::from_text(
        Path::new("/org/p.cedar"),
        "forbid (principal == ?principal, action, resource);",
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(template.contains("templates"), "{template}");

    let roles = Policy::from_text(
        Path::new("/org/p.cedar"),
        "",
        Some("[users]\nalice = \"admin\"\n"),
    )
    .unwrap_err()
    .to_string();
    assert!(roles.contains("roles file"), "{roles}");

    let reserved = Policy::from_text(
        Path::new("/org/p.cedar"),
        "@id(\"x\") permit (principal, action, resource);",
        None,
    );
    // annotations are names, not ids: only Cedar's own ids could clash
    assert!(reserved.is_ok());
}

fn env_of(pairs: Vec<(&'static str, PathBuf)>) -> impl Fn(&str) -> Option<OsString> {
    move |k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.clone().into_os_string())
    }
}

#[test]
fn files_that_cannot_be_used_fail_closed() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.cedar");
    let p = Policy::from_env(env_of(vec![("WARDEN_POLICY", missing.clone())]));
    let err = p
        .decide(&req("alice", None, exec()))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(p.check_all(&[req("alice", None, exec())]).is_err());

    let big = dir.path().join("big.cedar");
    std::fs::write(&big, vec![b' '; MAX_POLICY_BYTES as usize + 1]).unwrap();
    let err = Policy::from_file(&big, &dir.path().join("none.toml"))
        .decide(&req("alice", None, exec()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("larger than the limit"), "{err}");

    let bad = dir.path().join("bad.cedar");
    std::fs::write(&bad, "forbid (principal, action, resource) when {").unwrap();
    let p = Policy::from_file(&bad, &dir.path().join("none.toml"));
    assert!(p.broken().is_some());
    assert!(p.decide(&req("alice", None, Action::Install)).is_err());

    // a roles file beside the policy is read; a broken one breaks the policy
    let good = dir.path().join("good.cedar");
    std::fs::write(&good, "").unwrap();
    std::fs::write(dir.path().join("roles.toml"), "users = 3").unwrap();
    let err = Policy::from_env(env_of(vec![("WARDEN_POLICY", good.clone())]))
        .decide(&req("alice", None, exec()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("roles.toml"), "{err}");
}

#[test]
fn the_override_file_and_its_roles_are_read_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.cedar");
    std::fs::write(&file, EXAMPLE).unwrap();
    let roles = dir.path().join("people.toml");
    std::fs::write(&roles, ROLES).unwrap();
    let p = Policy::from_env(env_of(vec![
        ("WARDEN_POLICY", file.clone()),
        ("WARDEN_ROLES", roles),
    ]));
    assert!(p.files().contains(&file.as_path()));
    let d = p
        .decide(&req("carol", None, net("https://docs.rs:443")))
        .unwrap();
    assert!(!d.allowed);
    assert_eq!(d.file, file);
    assert!(
        p.decide(&req("alice", None, net("https://docs.rs:443")))
            .unwrap()
            .allowed
    );
}

fn manifest(toml_text: &str) -> Manifest {
    Manifest::parse(toml_text, "test").unwrap()
}

#[test]
fn a_grant_asks_for_the_action_and_each_capability_it_gives() {
    let m = manifest(
        r#"
        name = "p"
        version = "1.0.0"
        description = "d"
        publisher = "warden"
        env = ["HOME"]
        [[files]]
        path = "."
        access = "write"
        [[files]]
        path = "/srv/data"
        access = "write"
        [[network]]
        origin = "https://*.docs.rs"
        "#,
    );
    let g = Grant::from_specs(&[
        "file:.:write",
        "file:/srv/data:write",
        "env:HOME",
        "net:https://a.docs.rs",
    ])
    .unwrap();
    let s = Subject::new("carol", &m);
    let reqs = for_grant(&s, Action::Grant, &m, &g);
    let caps: Vec<_> = reqs.iter().map(|r| r.action.clone()).collect();
    assert_eq!(
        caps,
        vec![
            Action::Grant,
            Action::FsRead {
                path: ".".into(),
                inside_workspace: true
            },
            write(".", true),
            Action::FsRead {
                path: "/srv/data".into(),
                inside_workspace: false
            },
            write("/srv/data", false),
            Action::EnvRead {
                name: "HOME".into()
            },
            net("https://a.docs.rs:443"),
        ]
    );
    assert!(
        reqs.iter()
            .all(|r| r.phase == Phase::Grant && r.workspace.is_empty())
    );
    let err = example().check_all(&reqs).unwrap_err().to_string();
    assert!(
        err.contains("may not fs_write `/srv/data` (rule `no-writes-outside-workspace`"),
        "{err}"
    );

    // at call time the same absolute path inside the workspace is inside
    let ctx = crate::grant::Context {
        workspace: PathBuf::from("/srv"),
        protected: vec![],
        home: None,
    };
    let eff = crate::grant::effective(
        &m,
        &Grant::from_specs(&["file:/srv/data:write"]).unwrap(),
        &ctx,
    );
    let reqs = for_call(&Subject::new("alice", &m), &eff, Path::new("/srv"));
    assert_eq!(reqs[0].action, Action::Install);
    assert!(reqs.contains(&Request {
        subject: Subject::new("alice", &m),
        action: write("/srv/data", true),
        phase: Phase::Call,
        workspace: "/srv".into(),
    }));
    assert!(example().check_all(&reqs).is_ok());
}

#[test]
fn capabilities_parse_from_the_command_line_spelling() {
    assert_eq!(
        Action::parse("net_connect", Some("https://docs.rs"), &[], "").unwrap(),
        net("https://docs.rs:443")
    );
    assert_eq!(
        Action::parse("fs_write", Some("/w/proj/a"), &[], "/w/proj").unwrap(),
        write("/w/proj/a", true)
    );
    assert_eq!(
        Action::parse("fs_write", Some("/w/proj-evil/a"), &[], "/w/proj").unwrap(),
        write("/w/proj-evil/a", false)
    );
    assert!(matches!(
        Action::parse("exec", None, &[], ""),
        Err(super::request::ActionError::NoResource { .. })
    ));
    assert!(matches!(
        Action::parse("launch", Some("x"), &[], ""),
        Err(super::request::ActionError::Unknown(a)) if a == "launch"
    ));
    assert!(matches!(
        Action::parse("net_connect", Some("ftp://x"), &[], ""),
        Err(super::request::ActionError::Origin(_))
    ));
}

#[test]
fn the_user_is_user_then_logname() {
    let v = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| OsString::from(v))
        }
    };
    assert_eq!(current_user(v(&[("USER", "a"), ("LOGNAME", "b")])), "a");
    assert_eq!(current_user(v(&[("USER", ""), ("LOGNAME", "b")])), "b");
    assert_eq!(current_user(v(&[])), "unknown");
}
