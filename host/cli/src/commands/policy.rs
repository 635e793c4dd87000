//! `warden policy check | explain`: validate the organisation's policy,
//! run example requests against it, and say which rule decides a request.

use super::App;
use anyhow::Context as _;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use warden_core::escape::escape;
use warden_core::grant::Grant;
use warden_core::policy::{
    Action, BASE_PERMIT, Decision, MANAGED_POLICY, Phase, Policy, Request, Subject,
};

/// One request, as `warden policy explain` takes it on the command line.
#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// install, grant, fs_read, fs_write, exec, net_connect or env_read.
    #[arg(long)]
    action: String,
    /// What the action is on: a path, a program, an origin
    /// (`https://docs.rs`) or a variable; none for install and grant.
    #[arg(long)]
    resource: Option<String>,
    /// The plugin (its publisher and version are looked up if it is
    /// installed or bundled).
    #[arg(long, default_value = "plugin")]
    plugin: String,
    /// The plugin's publisher (default: from its manifest).
    #[arg(long)]
    publisher: Option<String>,
    /// The trusted publisher that signed the plugin (`context.signed_by`;
    /// default: the installed plugin's signer).
    #[arg(long, value_name = "PUBLISHER")]
    signed_by: Option<String>,
    /// The user (default: $USER).
    #[arg(long)]
    user: Option<String>,
    /// An argv pattern every run must match, for exec (repeatable).
    #[arg(long = "argv", value_name = "PATTERN")]
    argv: Vec<String>,
    /// The workspace the request is made in (default: none, as when
    /// granting: relative paths are inside it, absolute ones outside).
    #[arg(long)]
    workspace: Option<String>,
    /// grant (install / plugin grant) or call.
    #[arg(long, default_value = "call")]
    phase: String,
    /// Ask this policy file instead of the policies in force.
    #[arg(long)]
    policy: Option<PathBuf>,
}

/// A file of example requests for `warden policy check --examples`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Examples {
    /// Roles assumed by the examples (user → roles), instead of the roles file's.
    #[serde(default)]
    roles: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default, rename = "example")]
    examples: Vec<Example>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Example {
    #[serde(default)]
    name: Option<String>,
    expect: Expect,
    user: String,
    #[serde(default = "default_plugin")]
    plugin: String,
    #[serde(default)]
    publisher: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    signed_by: Option<String>,
    action: String,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    argv: Vec<String>,
    #[serde(default)]
    workspace: Option<String>,
    #[serde(default)]
    phase: Option<String>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Expect {
    Allow,
    Deny,
}

fn default_plugin() -> String {
    "plugin".into()
}

/// The largest examples file read.
const MAX_EXAMPLES_BYTES: u64 = 1024 * 1024;

fn phase(s: &str) -> anyhow::Result<Phase> {
    match s {
        "grant" => Ok(Phase::Grant),
        "call" => Ok(Phase::Call),
        other => anyhow::bail!("unknown phase `{other}` (use grant or call)"),
    }
}

/// Build a request, resolving a bare program name on `PATH` as a grant would.
fn request(
    subject: Subject,
    action: &str,
    resource: Option<&str>,
    argv: &[String],
    workspace: &str,
    when: Phase,
) -> anyhow::Result<Request> {
    let mut capability = Action::parse(action, resource, argv, workspace)?;
    if let Action::Exec { program, path, .. } = &mut capability
        && path.is_empty()
    {
        let mut g = Grant::from_specs(&[format!("program:{program}")])?;
        if g.resolve_programs(std::env::var_os("PATH").as_deref())
            .is_ok()
        {
            *path = g
                .programs
                .first()
                .map(|p| p.path.display().to_string())
                .unwrap_or_default();
        }
    }
    Ok(Request {
        subject,
        action: capability,
        phase: when,
        workspace: workspace.to_string(),
    })
}

fn verdict(d: &Decision) -> &'static str {
    if d.allowed { "allow" } else { "deny" }
}

/// Which rules decided, in words.
fn decided_by(d: &Decision) -> String {
    if d.rules.is_empty() {
        return "no rule permits it (default deny)".into();
    }
    if d.allowed && d.rules == [BASE_PERMIT] {
        return format!("{BASE_PERMIT}: no rule forbids it");
    }
    let rules: Vec<String> = d.rules.iter().map(|r| format!("`{}`", escape(r))).collect();
    format!("{} in {}", rules.join(", "), d.file.display())
}

impl App {
    /// `warden policy check [FILE] [--roles FILE] [--examples FILE]`.
    pub fn policy_check(
        &self,
        file: Option<&Path>,
        roles: Option<&Path>,
        examples: Option<&Path>,
    ) -> anyhow::Result<ExitCode> {
        let mut policy = match file {
            Some(f) => {
                let roles = roles
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| f.with_file_name("roles.toml"));
                Policy::from_file(f, &roles)
            }
            None => Policy::from_env(|k| std::env::var_os(k)),
        };
        if let Some(e) = policy.broken() {
            return Err(e.into());
        }
        let files: Vec<String> = policy
            .files()
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        if files.is_empty() && examples.is_none() {
            if self.json {
                self.print_json(&json!({"policy": null, "ok": true}))?;
            } else {
                outln!(
                    "no organisation policy is in force ({MANAGED_POLICY} does not exist and WARDEN_POLICY is not set)"
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        let mut results = Vec::new();
        if let Some(path) = examples {
            let text = read_examples(path)?;
            let ex: Examples = toml::from_str(&text)
                .map_err(|e| anyhow::anyhow!("examples {}: {}", path.display(), e.message()))?;
            if let Some(r) = &ex.roles {
                policy = policy.with_roles(r);
            }
            for (i, e) in ex.examples.iter().enumerate() {
                let name = e
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("example {}", i + 1));
                let subject = Subject {
                    user: e.user.clone(),
                    plugin: e.plugin.clone(),
                    publisher: e.publisher.clone(),
                    version: e.version.clone().unwrap_or_else(|| "0.0.0".into()),
                    signed_by: e.signed_by.clone(),
                };
                let req = request(
                    subject,
                    &e.action,
                    e.resource.as_deref(),
                    &e.argv,
                    e.workspace.as_deref().unwrap_or(""),
                    phase(e.phase.as_deref().unwrap_or("call"))?,
                )
                .with_context(|| format!("{} in {}", name, path.display()))?;
                let d = policy.decide(&req)?;
                let want = e.expect == Expect::Allow;
                results.push((name, want, d));
            }
        }
        let failed = results
            .iter()
            .filter(|(_, want, d)| *want != d.allowed)
            .count();
        if self.json {
            self.print_json(&json!({
                "policy": files,
                "rules": policy.rule_count(),
                "ok": failed == 0,
                "examples": results.iter().map(|(name, want, d)| json!({
                    "name": name,
                    "expect": if *want { "allow" } else { "deny" },
                    "decision": verdict(d),
                    "rules": d.rules,
                    "ok": *want == d.allowed,
                })).collect::<Vec<_>>(),
            }))?;
        } else {
            outln!(
                "policy {}: valid ({} rules, plus warden's base permit)",
                files.join(" and "),
                policy.rule_count()
            );
            for (name, want, d) in &results {
                let mark = if *want == d.allowed { "ok  " } else { "FAIL" };
                let expected = if *want { "allow" } else { "deny" };
                outln!(
                    "  {mark} {}: expected {expected}, got {} ({})",
                    escape(name),
                    verdict(d),
                    decided_by(d)
                );
            }
            if !results.is_empty() {
                outln!(
                    "examples: {} passed, {failed} failed",
                    results.len() - failed
                );
            }
        }
        Ok(if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }

    /// `warden policy explain --action A [--resource R] ...`.
    pub fn policy_explain(&self, args: &ExplainArgs) -> anyhow::Result<ExitCode> {
        let policy = match &args.policy {
            Some(f) => Policy::from_file(f, &f.with_file_name("roles.toml")),
            None => Policy::from_env(|k| std::env::var_os(k)),
        };
        let known = self.registry.package(&args.plugin).ok().map(|(p, _)| p);
        let subject = Subject {
            user: args.user.clone().unwrap_or_else(|| self.user.clone()),
            plugin: args.plugin.clone(),
            publisher: args
                .publisher
                .clone()
                .or_else(|| known.as_ref().and_then(|p| p.manifest.publisher.clone())),
            version: known
                .as_ref()
                .map(|p| p.manifest.version.clone())
                .unwrap_or_else(|| "0.0.0".into()),
            signed_by: args.signed_by.clone().or_else(|| {
                self.registry
                    .record(&args.plugin)
                    .ok()
                    .flatten()
                    .and_then(|r| r.signer)
            }),
        };
        let req = request(
            subject,
            &args.action,
            args.resource.as_deref(),
            &args.argv,
            args.workspace.as_deref().unwrap_or(""),
            phase(&args.phase)?,
        )?;
        let resource = req.action.resource_id(&req.subject);
        let who = format!(
            "user `{}`, plugin `{}` (publisher {})",
            escape(&req.subject.user),
            escape(&req.subject.plugin),
            req.subject
                .publisher
                .as_deref()
                .map(escape)
                .unwrap_or_else(|| "none".into())
        );
        if !policy.is_active() {
            if self.json {
                self.print_json(&json!({"decision": "allow", "rules": [], "policy": null}))?;
            } else {
                outln!(
                    "allow: {who}: {} `{}`\n  no organisation policy is in force ({MANAGED_POLICY} does not exist and WARDEN_POLICY is not set)",
                    req.action.id(),
                    escape(&resource)
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        let d = policy.decide(&req)?;
        if self.json {
            self.print_json(&json!({
                "decision": verdict(&d),
                "rules": d.rules,
                "file": d.file,
                "errors": d.errors,
            }))?;
        } else {
            outln!(
                "{}: {who}: {} `{}`\n  decided by {}",
                verdict(&d),
                req.action.id(),
                escape(&resource),
                decided_by(&d)
            );
            for e in &d.errors {
                outln!(
                    "  rule failed to evaluate (counted as forbid): {}",
                    escape(e)
                );
            }
        }
        Ok(if d.allowed {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(3)
        })
    }
}

fn read_examples(path: &Path) -> anyhow::Result<String> {
    warden_core::configfile::read_text(path, MAX_EXAMPLES_BYTES)
        .with_context(|| format!("cannot read examples {}", path.display()))?
        .with_context(|| format!("cannot read examples {}: it does not exist", path.display()))
}
