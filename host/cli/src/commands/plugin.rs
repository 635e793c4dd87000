//! `warden plugin install | list | remove | audit | grant`.

use super::App;
use super::report;
use serde_json::json;
use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;
use warden_core::audit::{Decision, Kind, Record};
use warden_core::component::Package;
use warden_core::escape::escape;
use warden_core::grant::{self, Grant};
use warden_core::policy::{self as org, Action, Subject};
use warden_core::registry::{Scope, Source};

use super::source::{self, Wanted};

/// Largest lock file read.
pub const MAX_LOCK_BYTES: u64 = 16 * 1024 * 1024;

/// One plugin of a lock: the fields of `warden plugin list --json` that
/// say what to fetch and what it must be.
#[derive(serde::Deserialize)]
struct LockEntry {
    name: String,
    digest: String,
    source: Source,
    /// The publisher that signed it where the lock was made.
    #[serde(default)]
    signer: Option<String>,
}

/// A grant `warden plugin grant` would store, before it is stored.
struct Proposal {
    package: Package,
    grant: Grant,
    /// What applies where `grant` will, now.
    current: Grant,
    scope: Scope,
}

impl App {
    /// Fetch, check, show, confirm and store a plugin. `target` is a
    /// path, `oci://…`, or an `https://` URL pinned by `sha256`.
    pub async fn install(
        &self,
        target: &str,
        sha256: Option<&str>,
        bundle: Option<&Path>,
        specs: &[String],
        yes: bool,
    ) -> anyhow::Result<ExitCode> {
        let fetched = async {
            let wanted = Wanted::parse(target, sha256)?;
            let trust = self.trust()?;
            let fetched = source::fetch_with(&wanted, &trust, bundle).await?;
            if fetched.signers.len() > 1 {
                let names: Vec<String> = fetched.signers.iter().map(|n| escape(n)).collect();
                eprintln!("signatures by trusted publishers: {}", names.join(", "));
            }
            let package = Package::from_bytes(fetched.bytes, &wanted.display())?;
            anyhow::Ok((package, fetched.source, fetched.signer))
        }
        .await;
        let (package, source, signer) = match fetched {
            Ok(f) => f,
            Err(e) => {
                // A refusal from the network is a decision like any other.
                if !matches!(
                    e.downcast_ref::<warden_core::Error>(),
                    Some(warden_core::Error::InvalidInput { .. } | warden_core::Error::Io(_))
                ) {
                    self.record(Record {
                        kind: Kind::Install,
                        decision: Decision::Deny,
                        resource: Some(target.to_string()),
                        reason: Some(format!("{e:#}")),
                        ..Record::default()
                    })?;
                }
                return Err(e);
            }
        };
        self.install_package(package, source, signer, specs, yes)
            .await
    }

    /// The publisher keys warden trusts (see [`super::signing`]).
    pub(super) fn trust(&self) -> anyhow::Result<super::signing::Trust> {
        super::signing::Trust::load(&self.registry.dirs().config)
    }

    /// Install every installed plugin a lock (the output of `warden plugin
    /// list --json`) names, each from its recorded source at its pinned
    /// digest, so another machine gets the same bytes.
    pub async fn install_locked(
        &self,
        lock: &Path,
        specs: &[String],
        yes: bool,
    ) -> anyhow::Result<ExitCode> {
        let text = warden_core::configfile::read_text(lock, MAX_LOCK_BYTES)?
            .ok_or_else(|| anyhow::anyhow!("no lock file at {}", lock.display()))?;
        let entries: Vec<LockEntry> =
            serde_json::from_str(&text).map_err(|e| warden_core::Error::InvalidInput {
                tool: "warden plugin install --locked".into(),
                reason: format!(
                    "{} is not a lock (the output of `warden plugin list --json`): {e}",
                    lock.display()
                ),
            })?;
        for entry in entries {
            let (target, sha256) = match &entry.source {
                Source::Bundled => continue,
                Source::Oci {
                    reference,
                    manifest,
                } => {
                    let rest = reference.trim_start_matches("oci://");
                    let pinned = super::oci::OciRef::parse(rest)?.at(manifest);
                    (pinned.to_string(), None)
                }
                Source::Url { url } => (
                    url.clone(),
                    Some(entry.digest.trim_start_matches("sha256:").to_string()),
                ),
                Source::Installed { from } => (from.clone(), None),
            };
            let wanted = Wanted::parse(&target, sha256.as_deref())?;
            let trust = self.trust()?;
            let mut fetched = match source::fetch(&wanted, &trust).await {
                Ok(f) => f,
                Err(e) => {
                    self.record(Record {
                        kind: Kind::Install,
                        decision: Decision::Deny,
                        plugin: Some(entry.name.clone()),
                        resource: Some(target.clone()),
                        reason: Some(format!("{e:#}")),
                        ..Record::default()
                    })?;
                    return Err(e);
                }
            };
            // Signed by several: the lock's signer counts if it is one.
            if let Some(locked) = &entry.signer
                && fetched.signers.contains(locked)
            {
                fetched.signer = Some(locked.clone());
            }
            let package = Package::from_bytes(fetched.bytes, &target)?;
            let mismatch = if package.digest != entry.digest || package.manifest.name != entry.name
            {
                Some(format!(
                    "the lock pins `{}` at {}, but this is `{}` at {}",
                    entry.name,
                    entry.digest,
                    escape(&package.manifest.name),
                    package.digest
                ))
            } else if let Some(locked) = &entry.signer
                && fetched.signer.as_ref() != Some(locked)
            {
                // The lock names who signed it; here it must verify as that
                // publisher too, or the set is not the same.
                Some(format!(
                    "the lock says `{}` is signed by `{}`, but here it {}; {}",
                    entry.name,
                    escape(locked),
                    fetched
                        .signer
                        .as_deref()
                        .map(|s| format!("verifies as signed by `{}`", escape(s)))
                        .unwrap_or_else(|| format!(
                            "verifies as signed by no publisher you trust ({})",
                            fetched.unsigned.as_deref().unwrap_or("not signed")
                        )),
                    trust.how_to_trust()
                ))
            } else {
                None
            };
            if let Some(reason) = mismatch {
                let why = warden_core::Error::NotAComponent {
                    path: target.clone(),
                    reason,
                };
                self.record(Record {
                    kind: Kind::Install,
                    decision: Decision::Deny,
                    plugin: Some(entry.name.clone()),
                    resource: Some(target.clone()),
                    reason: Some(why.to_string()),
                    ..Record::default()
                })?;
                return Err(why.into());
            }
            // The lock's own source is recorded, so the next lock reads the same.
            let code = self
                .install_package(package, entry.source.clone(), fetched.signer, specs, yes)
                .await?;
            if code != ExitCode::SUCCESS {
                return Ok(code);
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    async fn install_package(
        &self,
        package: Package,
        source: Source,
        signer: Option<String>,
        specs: &[String],
        yes: bool,
    ) -> anyhow::Result<ExitCode> {
        let loaded = self.rt.load(&package)?;
        let tools = loaded.describe(&self.rt).await?;
        let m = &package.manifest;
        let from = source_text(&source);
        let grant = if specs.is_empty() {
            Grant::everything_requested(m)
        } else {
            let mut g = Grant::from_specs(specs)?;
            g.check_within(m)?;
            g.resolve_programs(std::env::var_os("PATH").as_deref())?;
            g
        };
        let subject = Subject::new(&self.user, m).signed(signer.clone());
        if let Err(e) = self
            .policy
            .check_all(&org::for_grant(&subject, Action::Install, m, &grant))
        {
            self.record_policy_refusal(Kind::Install, &m.name, &e)?;
            return Err(e.into());
        }
        if !self.json || !yes {
            eprintln!(
                "plugin {} {} by {}",
                escape(&m.name),
                escape(&m.version),
                m.publisher
                    .as_deref()
                    .map(escape)
                    .unwrap_or_else(|| "an unnamed publisher".into())
            );
            eprintln!("  {}", escape(&m.description));
            eprintln!("  digest {}", package.digest);
            eprintln!("  from   {}", escape(&from));
            eprintln!(
                "  signed {}",
                signer
                    .as_deref()
                    .map(|s| format!("by {} (a key you trust)", escape(s)))
                    .unwrap_or_else(|| "by no trusted publisher".into())
            );
            report::block("requests", &report::requested(m));
            report::block("risks", &report::risks(m, &loaded.imports));
            let tool_names: Vec<String> = tools
                .iter()
                .map(|t| format!("{}.{}", m.name, t.name))
                .collect();
            report::block("tools", &tool_names);
            report::block("will grant", &grant_lines(&grant));
        }
        let approved = yes
            || confirm(
                &format!("Install `{}` with these grants? [y/N] ", m.name),
                "add --yes to approve what the manifest requests (programs and network stay off unless named), or --grant SPEC ... --yes to grant only those",
            )?;
        // Record only an install that can happen (the registry refuses a
        // bundled name or an installed one, below).
        let installable = warden_core::bundled::get(&m.name).is_none()
            && matches!(
                self.registry.record(&m.name),
                Err(warden_core::Error::PluginNotFound { .. })
            );
        if installable || !approved {
            self.record(Record {
                kind: Kind::Install,
                decision: if approved {
                    Decision::Allow
                } else {
                    Decision::Deny
                },
                plugin: Some(m.name.clone()),
                resource: Some(from.clone()),
                rule: grant_lines(&grant),
                approved_by: Some(
                    match (yes, approved) {
                        (true, _) => "--yes on the command line",
                        (false, true) => "answered yes at the prompt",
                        (false, false) => "declined at the prompt",
                    }
                    .into(),
                ),
                detail: Some(
                    json!({"version": m.version, "digest": package.digest, "signed_by": signer}),
                ),
                ..Record::default()
            })?;
        }
        if !approved {
            eprintln!("not installed: nothing was granted");
            return Ok(ExitCode::from(3));
        }
        let record = self
            .registry
            .install(&package, source, tools, &grant, signer.clone())?;
        if self.json {
            self.print_json(&json!({"installed": record, "grant": grant}))?;
        } else {
            eprintln!("installed {} ({} tools)", record.name, record.tools.len());
        }
        Ok(ExitCode::SUCCESS)
    }

    /// List plugins.
    pub async fn list(&self) -> anyhow::Result<ExitCode> {
        let mut rows = Vec::new();
        for name in self.registry.names()? {
            let (package, source, loaded) = self.open(&name)?;
            let tools = self.registry.tools(&name, &self.rt, &loaded).await?;
            let grant = self.registry.grant(&name, &package, &source)?;
            let signer = self.registry.record(&name)?.and_then(|r| r.signer);
            let scoped: Vec<serde_json::Value> = self
                .registry
                .workspace_grants(&name)?
                .into_iter()
                .map(|(ws, g)| json!({"workspace": ws, "grant": g}))
                .collect();
            rows.push(json!({
                "name": name,
                "version": package.manifest.version,
                "digest": package.digest,
                "source": source,
                "signer": signer,
                "tools": tools.iter().map(|t| &t.name).collect::<Vec<_>>(),
                "grant": grant,
                "workspace_grants": scoped,
            }));
        }
        if self.json {
            self.print_json(&rows)?;
        } else {
            for r in &rows {
                let source = if r["source"] == json!("bundled") {
                    "bundled"
                } else {
                    "installed"
                };
                let tools: Vec<&str> = r["tools"]
                    .as_array()
                    .map(|t| t.iter().filter_map(|v| v.as_str()).collect())
                    .unwrap_or_default();
                outln!(
                    "{:<12} {:<8} {:<9} {}  tools: {}",
                    r["name"].as_str().unwrap_or_default(),
                    r["version"].as_str().unwrap_or_default(),
                    source,
                    &r["digest"]
                        .as_str()
                        .unwrap_or_default()
                        .chars()
                        .take(19)
                        .collect::<String>(),
                    tools.join(", ")
                );
                if let Some(signer) = r["signer"].as_str() {
                    outln!("{:<12} signed by {}", "", escape(signer));
                }
                for scoped in r["workspace_grants"].as_array().into_iter().flatten() {
                    let lines = serde_json::from_value::<Grant>(scoped["grant"].clone())
                        .map(|g| grant_lines(&g).join("; "))
                        .unwrap_or_default();
                    outln!(
                        "{:<12} in workspace {}: {}",
                        "",
                        escape(scoped["workspace"].as_str().unwrap_or_default()),
                        lines
                    );
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Remove a plugin.
    pub fn remove(&self, name: &str) -> anyhow::Result<ExitCode> {
        if let Ok(Some(installed)) = self.registry.record(name) {
            self.record(Record {
                kind: Kind::Remove,
                decision: Decision::Allow,
                plugin: Some(name.into()),
                approved_by: Some("`warden plugin remove` on the command line".into()),
                detail: Some(json!({"version": installed.version, "digest": installed.digest})),
                ..Record::default()
            })?;
        }
        self.registry.remove(name)?;
        if self.json {
            self.print_json(&json!({"removed": name}))?;
        } else {
            eprintln!("removed {name} and its grant");
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Replace a plugin's grant.
    pub fn set_grant(
        &self,
        name: &str,
        specs: &[String],
        none: bool,
        requested: bool,
        add: bool,
        workspace: Option<&Path>,
    ) -> anyhow::Result<ExitCode> {
        let proposal = self.proposed_grant(name, specs, none, requested, add, workspace)?;
        self.store_grant(name, &proposal, "`warden plugin grant` on the command line")
    }

    /// `/grants PLUGIN SPEC...` in a chat: what `warden plugin grant PLUGIN
    /// --add` would grant, checked the same way, shown, and stored only if
    /// the person agrees.
    pub fn grant_confirmed(&self, name: &str, specs: &[String], by: &str) -> anyhow::Result<bool> {
        let proposal = self.proposed_grant(name, specs, false, false, true, None)?;
        report::block(
            &format!("{name} would be granted (in {})", proposal.scope),
            &grant_lines(&proposal.grant),
        );
        if !confirm(
            &format!("Grant `{name}` this? [y/N] "),
            &format!("grant it with `warden plugin grant {name} --add --grant SPEC`"),
        )? {
            outln!("nothing was granted");
            return Ok(false);
        }
        self.store_grant(name, &proposal, by)?;
        Ok(true)
    }

    /// The grant `warden plugin grant` would store, checked against the
    /// manifest, the PATH and the organisation's policy, and where it
    /// would apply (`workspace`, or everywhere).
    fn proposed_grant(
        &self,
        name: &str,
        specs: &[String],
        none: bool,
        requested: bool,
        add: bool,
        workspace: Option<&Path>,
    ) -> anyhow::Result<Proposal> {
        let (package, source) = self.registry.package(name)?;
        let scope = match workspace {
            Some(w) => Scope::Workspace(self.context(w)?.workspace),
            None => Scope::Everywhere,
        };
        // What applies where the new grant will: `--add` in a workspace
        // starts from what applies there now.
        let current = match &scope {
            Scope::Everywhere => self.registry.grant(name, &package, &source)?,
            Scope::Workspace(ws) => self.registry.grant_in(name, &package, &source, ws)?.0,
        };
        let grant = if none {
            Grant::default()
        } else if requested {
            Grant::everything_requested(&package.manifest)
        } else if add {
            let mut grant = current.clone();
            let more = Grant::from_specs(specs)?;
            grant.files.extend(more.files);
            grant.env.extend(more.env);
            grant
                .programs
                .retain(|p| !more.programs.iter().any(|q| q.program == p.program));
            grant.programs.extend(more.programs);
            for origin in more.network {
                if !grant.network.contains(&origin) {
                    grant.network.push(origin);
                }
            }
            grant
        } else {
            Grant::from_specs(specs)?
        };
        let mut grant = grant;
        grant.check_within(&package.manifest)?;
        grant.resolve_programs(std::env::var_os("PATH").as_deref())?;
        let signer = self.registry.record(name)?.and_then(|r| r.signer);
        let subject = Subject::new(&self.user, &package.manifest).signed(signer);
        if let Err(e) = self.policy.check_all(&org::for_grant(
            &subject,
            Action::Grant,
            &package.manifest,
            &grant,
        )) {
            self.record_policy_refusal(Kind::Grant, name, &e)?;
            return Err(e.into());
        }
        Ok(Proposal {
            package,
            grant,
            current,
            scope,
        })
    }

    /// Record and store a proposed grant, approved `by` whom.
    fn store_grant(&self, name: &str, p: &Proposal, by: &str) -> anyhow::Result<ExitCode> {
        self.record(Record {
            kind: Kind::Grant,
            decision: Decision::Allow,
            plugin: Some(name.into()),
            rule: grant_lines(&p.grant),
            approved_by: Some(by.into()),
            detail: Some(json!({
                "before": grant_lines(&p.current),
                "digest": p.package.digest,
                "scope": p.scope,
            })),
            ..Record::default()
        })?;
        self.registry.set_grant_in(name, &p.grant, &p.scope)?;
        if self.json {
            self.print_json(&json!({"plugin": name, "grant": p.grant, "scope": p.scope}))?;
        } else {
            report::block(
                &format!("{name} is now granted (in {})", p.scope),
                &grant_lines(&p.grant),
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Everything a reviewer needs about one plugin.
    pub async fn audit(&self, target: &str, workspace: &Path) -> anyhow::Result<ExitCode> {
        let as_path = Path::new(target);
        let (package, source) = if super::names_a_file(target) {
            (super::component_at(as_path)?, None)
        } else {
            let (p, s) = self.registry.package(target)?;
            (p, Some(s))
        };
        let m = &package.manifest;
        // The import check is part of the report, not a reason to stop it.
        let component = self.rt.compile(&package)?;
        let imports = warden_core::imports::list(&component, self.rt.engine());
        let verdict = warden_core::imports::check(&imports, m);
        let tools = match self.rt.load(&package) {
            Ok(loaded) => match &source {
                Some(_) => self.registry.tools(&m.name, &self.rt, &loaded).await?,
                None => loaded.describe(&self.rt).await?,
            },
            Err(_) => Vec::new(),
        };
        let granted = match &source {
            Some(s) => {
                let ctx = self.context(workspace)?;
                let (g, scope) = self
                    .registry
                    .grant_in(&m.name, &package, s, &ctx.workspace)?;
                Some((g.clone(), grant::effective(m, &g, &ctx), scope))
            }
            None => None,
        };
        let risks = report::risks(m, &imports);
        let linked = report::linked(&imports, granted.as_ref().map(|(_, e, _)| e));
        if self.json {
            return self
                .print_json(&json!({
                    "name": m.name,
                    "version": m.version,
                    "publisher": m.publisher,
                    "description": m.description,
                    "digest": package.digest,
                    "size": package.bytes.len(),
                    "source": source,
                    "imports": imports,
                    "import_check": verdict.as_ref().map(|()| "ok".to_string()).unwrap_or_else(|e| e.to_string()),
                    "requested": m,
                    "granted": granted.as_ref().map(|(g, _, _)| g),
                    "grant_scope": granted.as_ref().map(|(_, _, s)| s),
                    "effective": granted.as_ref().map(|(_, e, _)| e),
                    "linked": linked,
                    "tools": tools,
                    "risks": risks,
                }))
                .map(|()| ExitCode::SUCCESS);
        }
        let source_text = match &source {
            Some(Source::Bundled) => "bundled with warden".to_string(),
            Some(s) => format!("installed from {}", escape(&source_text(s))),
            None => "not installed".into(),
        };
        outln!(
            "{} {} — {}",
            escape(&m.name),
            escape(&m.version),
            source_text
        );
        outln!("  {}", escape(&m.description));
        outln!(
            "  publisher {}",
            m.publisher
                .as_deref()
                .map(escape)
                .unwrap_or_else(|| "(none stated)".into())
        );
        outln!(
            "  digest    {} ({} bytes)",
            package.digest,
            package.bytes.len()
        );
        outln!("imports:");
        for i in &imports {
            outln!("  {:<40} {}", i.name, i.class());
        }
        match &verdict {
            Ok(()) => outln!("  import check: ok, every import is justified by the manifest"),
            Err(e) => outln!("  import check: FAILED: {e}"),
        }
        outln!("linked:");
        for line in &linked {
            outln!("  {line}");
        }
        outln!("requests:");
        for line in report::requested(m) {
            outln!("  {line}");
        }
        if let Some((_, effective, scope)) = &granted {
            let from = match scope {
                Scope::Everywhere => "the grant for every workspace".to_string(),
                Scope::Workspace(_) => "this workspace's own grant".to_string(),
            };
            outln!(
                "granted (effective in {}, from {from}):",
                workspace.display()
            );
            for line in report::effective(effective) {
                outln!("  {line}");
            }
            // The environment is the one capability with no access to
            // refuse (a guest reads it whole), so what is left out is said.
            for (var, spec) in warden_core::capability::env::ungranted(&m.env, &effective.env) {
                outln!(
                    "  not granted: env {var} (absent from its environment; to add it: --grant {spec})"
                );
            }
        }
        outln!("tools:");
        for t in &tools {
            outln!("  {}.{} — {}", m.name, t.name, escape(&t.description));
        }
        outln!("risk summary:");
        for r in &risks {
            outln!("  - {r}");
        }
        Ok(ExitCode::SUCCESS)
    }
}

impl App {
    /// Record that the organisation's policy refused an install or grant.
    pub(super) fn record_policy_refusal(
        &self,
        kind: Kind,
        plugin: &str,
        why: &warden_core::Error,
    ) -> anyhow::Result<()> {
        self.record(Record {
            kind,
            decision: Decision::Deny,
            plugin: Some(plugin.into()),
            reason: Some(why.to_string()),
            ..Record::default()
        })?;
        Ok(())
    }
}

/// Where a plugin came from, in one line.
pub(super) fn source_text(source: &Source) -> String {
    match source {
        Source::Bundled => "bundled with warden".into(),
        Source::Installed { from } => from.clone(),
        Source::Oci {
            reference,
            manifest,
        } => format!("{reference} (manifest {manifest})"),
        Source::Url { url } => url.clone(),
    }
}

pub(super) fn grant_lines(g: &Grant) -> Vec<String> {
    let mut lines: Vec<String> = g
        .files
        .iter()
        .map(|f| format!("files  {} {}", f.access, f.path))
        .collect();
    lines.extend(g.env.iter().map(|v| format!("env    {v}")));
    lines.extend(g.programs.iter().map(|p| {
        let narrowed = p
            .args
            .as_ref()
            .map(|a| format!(" with arguments `{a}`"))
            .unwrap_or_default();
        format!("run    {} ({}){narrowed}", p.program, p.path.display())
    }));
    lines.extend(g.network.iter().map(|o| format!("net    {o}")));
    if lines.is_empty() {
        lines.push("nothing".into());
    }
    lines
}

/// Ask on stderr, read one line from stdin. End of input means no. With
/// no terminal to ask on (a script, CI, a pipe), nothing is asked and
/// nothing waits: the refusal says which flags decide instead (`how`).
pub(super) fn confirm(question: &str, how: &str) -> anyhow::Result<bool> {
    use std::io::IsTerminal as _;
    if !std::io::stdin().is_terminal() {
        let asked = question.trim_end().trim_end_matches("[y/N]").trim_end();
        return Err(super::Usage {
            message: format!(
                "not asked \"{asked}\": standard input is not a terminal, so nobody can answer"
            ),
            hint: how.to_string(),
        }
        .into());
    }
    eprint!("{question}");
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}
