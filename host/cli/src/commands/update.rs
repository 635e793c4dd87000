//! `warden plugin update | rollback | diff | publish`: a new version shows
//! what it asks for beyond the installed one, keeps today's grant for what
//! did not change, and runs nothing new until a person approves it.

use super::App;
use super::report;
use super::source::{self, Wanted};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;
use warden_core::audit::{Decision, Kind, Record};
use warden_core::component::Package;
use warden_core::escape::escape;
use warden_core::grant::Grant;
use warden_core::policy::{self as org, Action, Subject};
use warden_core::registry::Source;
use warden_core::registry::diff::{self, Change, Side};
use warden_core::runtime::ToolSpec;

/// What `warden plugin update` was told.
pub struct UpdateArgs<'a> {
    pub name: &'a str,
    pub to: Option<&'a str>,
    pub sha256: Option<&'a str>,
    pub specs: &'a [String],
    pub yes: bool,
    pub allow_downgrade: bool,
    /// A new signer the user accepts in place of the installed one's.
    pub accept_signer: Option<&'a str>,
}

/// One version, checked and described.
struct Version {
    package: Package,
    imports: Vec<String>,
    tools: Vec<ToolSpec>,
}

impl Version {
    fn side(&self) -> Side<'_> {
        Side {
            manifest: &self.package.manifest,
            imports: &self.imports,
            tools: &self.tools,
        }
    }
}

/// Where an installed plugin is updated from when no `--to` is given: the
/// tag it was installed by (the pinned digest would find nothing newer).
fn default_ref(source: &Source, name: &str) -> anyhow::Result<String> {
    match source {
        Source::Oci { reference, .. } => Ok(reference.clone()),
        Source::Url { url } => Ok(url.clone()),
        Source::Installed { from } => Ok(from.clone()),
        Source::Bundled => Err(warden_core::Error::Bundled {
            name: name.to_string(),
            refused: "and is updated with warden itself".into(),
        }
        .into()),
    }
}

fn version_order(old: &str, new: &str) -> Option<std::cmp::Ordering> {
    let (o, n) = (
        semver::Version::parse(old).ok()?,
        semver::Version::parse(new).ok()?,
    );
    Some(n.cmp(&o))
}

impl App {
    async fn version(&self, package: Package) -> anyhow::Result<Version> {
        let loaded = self.rt.load(&package)?;
        let tools = loaded.describe(&self.rt).await?;
        let imports = loaded.imports.iter().map(|i| i.name.clone()).collect();
        Ok(Version {
            package,
            imports,
            tools,
        })
    }

    async fn installed_version(&self, name: &str) -> anyhow::Result<(Version, Source, Grant)> {
        let (package, source) = self.registry.package(name)?;
        let grant = self.registry.grant(name, &package, &source)?;
        let loaded = self.rt.load(&package)?;
        // The pinned descriptions, as approved at install.
        let tools = self.registry.tools(name, &self.rt, &loaded).await?;
        let imports = loaded.imports.iter().map(|i| i.name.clone()).collect();
        Ok((
            Version {
                package,
                imports,
                tools,
            },
            source,
            grant,
        ))
    }

    fn refuse_update(&self, name: &str, resource: &str, why: anyhow::Error) -> anyhow::Error {
        let recorded = self.record(Record {
            kind: Kind::Update,
            decision: Decision::Deny,
            plugin: Some(name.into()),
            resource: Some(resource.into()),
            reason: Some(format!("{why:#}")),
            ..Record::default()
        });
        match recorded {
            Ok(_) => why,
            Err(e) => e,
        }
    }

    /// Fetch, verify, diff and (once approved) install a new version.
    pub async fn update(&self, args: &UpdateArgs<'_>) -> anyhow::Result<ExitCode> {
        let name = args.name;
        let (old, old_source, old_grant) = self.installed_version(name).await?;
        let target = match args.to {
            Some(t) => t.to_string(),
            None => default_ref(&old_source, name)?,
        };
        // A URL was pinned by its digest at install; without a new one the
        // same bytes are expected.
        let pinned;
        let sha256 = match (args.sha256, &old_source) {
            (Some(s), _) => Some(s),
            (None, Source::Url { .. }) if args.to.is_none() => {
                pinned = old.package.digest.trim_start_matches("sha256:").to_string();
                Some(pinned.as_str())
            }
            _ => None,
        };
        let old_signer = self.registry.record(name)?.and_then(|r| r.signer);
        let fetched = async {
            let wanted = Wanted::parse(&target, sha256)?;
            let trust = self.trust()?;
            let mut fetched = source::fetch(&wanted, &trust).await?;
            // Signed by several trusted publishers: the update keeps the
            // installed one's (or the one accepted) if it is among them.
            if let Some(keep) = [old_signer.as_deref(), args.accept_signer]
                .into_iter()
                .flatten()
                .find(|s| fetched.signers.iter().any(|n| n == s))
            {
                fetched.signer = Some(keep.to_string());
            }
            // Publisher continuity: a signed plugin is replaced only by one
            // signed by the same publisher, or by another one the user names.
            if let Some(old) = &old_signer
                && fetched.signer.as_ref() != Some(old)
                && (fetched.signer.is_none() || fetched.signer.as_deref() != args.accept_signer)
            {
                let how = match &fetched.signer {
                    Some(new) => format!(
                        "this one by `{n}`; a plugin keeps its publisher: if you trust `{n}` to publish `{name}`, run `warden plugin update {name} --accept-signer {n}`",
                        n = escape(new)
                    ),
                    None => format!(
                        "this one by no publisher you trust ({}); a plugin keeps its publisher: trust the key that signed it in {}, or remove `{name}` and install it again",
                        fetched.unsigned.as_deref().unwrap_or("not signed"),
                        trust.user_file.display()
                    ),
                };
                return Err(warden_core::Error::NotAComponent {
                    path: wanted.display(),
                    reason: format!("the installed version is signed by `{}`, {how}", escape(old)),
                }
                .into());
            }
            let package = Package::from_bytes(fetched.bytes, &wanted.display())?;
            anyhow::Ok((package, fetched.source, fetched.signer))
        }
        .await;
        let (package, new_source, new_signer) = match fetched {
            Ok(f) => f,
            Err(e) => return Err(self.refuse_update(name, &target, e)),
        };
        if package.manifest.name != name {
            let e = warden_core::Error::WrongPlugin {
                target: target.to_string(),
                found: escape(&package.manifest.name),
                name: name.to_string(),
            };
            return Err(self.refuse_update(name, &target, e.into()));
        }
        if package.digest == old.package.digest {
            if self.json {
                self.print_json(&json!({"plugin": name, "up_to_date": package.digest}))?;
            } else {
                eprintln!("{name} is up to date ({})", package.digest);
            }
            return Ok(ExitCode::SUCCESS);
        }
        let new = match self.version(package).await {
            Ok(v) => v,
            Err(e) => return Err(self.refuse_update(name, &target, e)),
        };
        let (old_v, new_v) = (&old.package.manifest.version, &new.package.manifest.version);
        let order = version_order(old_v, new_v)
            .or_else(|| (old_v == new_v).then_some(std::cmp::Ordering::Equal));
        let not_newer = match order {
            Some(std::cmp::Ordering::Less) => Some(format!(
                "{target} is version {}, older than the installed {}; a downgrade can bring back fixed flaws, so it is refused (add --allow-downgrade to install it anyway)",
                escape(new_v),
                escape(old_v)
            )),
            // Different bytes under the same version: a moved tag or a
            // replaced release, which a pinned install must not follow.
            Some(std::cmp::Ordering::Equal) => Some(format!(
                "{target} is the same version {} as the installed one but other bytes ({} instead of {}): its tag was moved or its release replaced, so it is refused (add --allow-downgrade to install it anyway)",
                escape(new_v),
                new.package.digest,
                old.package.digest
            )),
            _ => None,
        };
        if let Some(why) = not_newer
            && !args.allow_downgrade
        {
            let e = warden_core::Error::NotNewer { reason: why };
            return Err(self.refuse_update(name, &target, e.into()));
        }
        let changes = diff::diff(&old.side(), &new.side());
        let (mut grant, dropped) =
            diff::carry(&old_grant, &old.package.manifest, &new.package.manifest);
        // A grant that applies in one workspace is cut the same way; what
        // `--grant` approves goes to the grant everywhere only.
        let mut scoped = Vec::new();
        let mut scoped_dropped = Vec::new();
        for (ws, g) in self.registry.workspace_grants(name)? {
            let (kept, lost) = diff::carry(&g, &old.package.manifest, &new.package.manifest);
            scoped_dropped.extend(
                lost.into_iter()
                    .map(|l| format!("{l} (in workspace {})", escape(&ws.display().to_string()))),
            );
            scoped.push((ws, kept));
        }
        let approved_now = if args.specs.is_empty() {
            Grant::default()
        } else {
            let mut more = Grant::from_specs(args.specs)?;
            more.check_within(&new.package.manifest)?;
            more.resolve_programs(std::env::var_os("PATH").as_deref())?;
            more
        };
        merge(&mut grant, approved_now.clone());
        let subject = Subject::new(&self.user, &new.package.manifest).signed(new_signer.clone());
        if let Err(e) = self.policy.check_all(&org::for_grant(
            &subject,
            Action::Install,
            &new.package.manifest,
            &grant,
        )) {
            self.record_policy_refusal(Kind::Update, name, &e)?;
            return Err(e.into());
        }
        let review: Vec<&Change> = changes.iter().filter(|c| c.needs_review()).collect();
        let lines = |cs: &[Change]| cs.iter().map(ToString::to_string).collect::<Vec<_>>();
        if !self.json || !args.yes {
            eprintln!(
                "update {name} {} → {} ({} → {})",
                escape(old_v),
                escape(new_v),
                old.package.digest,
                new.package.digest
            );
            report::block(
                "changes",
                &if changes.is_empty() {
                    vec!["none".into()]
                } else {
                    lines(&changes)
                },
            );
            if !dropped.is_empty() || !scoped_dropped.is_empty() {
                let all: Vec<String> = dropped.iter().chain(&scoped_dropped).cloned().collect();
                report::block("grants dropped", &all);
            }
            report::block("will grant", &super::plugin::grant_lines(&grant));
            for (ws, g) in &scoped {
                report::block(
                    &format!("will grant in {}", escape(&ws.display().to_string())),
                    &super::plugin::grant_lines(g),
                );
            }
            let new_requests: Vec<String> = changes
                .iter()
                .filter(|c| {
                    !c.needs_review()
                        && matches!(
                            c.how,
                            diff::How::Added | diff::How::Widened | diff::How::Changed
                        )
                        && c.what != "imports"
                })
                .map(|c| {
                    format!(
                        "{} {} (grant it with --grant to use it)",
                        c.what,
                        escape(&c.item)
                    )
                })
                .collect();
            if !new_requests.is_empty() {
                report::block("stays off until granted", &new_requests);
            }
        }
        let (approved, by) = if !review.is_empty() && args.yes {
            (
                false,
                "--yes approves no change to what the plugin tells the model or to its limits",
            )
        } else if args.yes {
            (true, "--yes on the command line")
        } else if super::plugin::confirm(
            &format!("Update `{name}` with these grants? [y/N] "),
            "add --yes to update without granting anything new, and --grant SPEC for what it should also get",
        )? {
            (true, "answered yes at the prompt")
        } else {
            (false, "declined at the prompt")
        };
        self.record(Record {
            kind: Kind::Update,
            decision: if approved {
                Decision::Allow
            } else {
                Decision::Deny
            },
            plugin: Some(name.into()),
            resource: Some(target.clone()),
            rule: super::plugin::grant_lines(&grant),
            approved_by: Some(by.into()),
            detail: Some(json!({
                "from": {"version": old_v, "digest": old.package.digest},
                "to": {"version": new_v, "digest": new.package.digest},
                "changes": changes,
                "dropped": dropped,
                "workspace_grants": scoped.iter().map(|(ws, g)| json!({"workspace": ws, "grant": super::plugin::grant_lines(g)})).collect::<Vec<_>>(),
                "workspace_dropped": scoped_dropped,
                "signed_by": {"from": old_signer, "to": new_signer},
            })),
            ..Record::default()
        })?;
        if !approved {
            if !review.is_empty() && args.yes {
                let what: Vec<String> = review.iter().map(|c| c.to_string()).collect();
                eprintln!(
                    "not updated: {} must be approved by a person: {}\n  review it and run `warden plugin update {name}` without --yes to approve at the prompt",
                    if review.len() == 1 {
                        "this change"
                    } else {
                        "these changes"
                    },
                    what.join("; ")
                );
            } else {
                eprintln!("not updated: {name} stays at {old_v}");
            }
            return Ok(ExitCode::from(3));
        }
        let record = self.registry.update(
            &new.package,
            new_source,
            new.tools,
            &grant,
            &scoped,
            new_signer,
        )?;
        if self.json {
            self.print_json(&json!({"updated": record, "grant": grant, "changes": changes}))?;
        } else {
            eprintln!(
                "updated {name} to {} (the previous version is kept: `warden plugin rollback {name}`)",
                escape(&record.version)
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Put the previous version back, with the grant it had.
    pub fn rollback_plugin(&self, name: &str) -> anyhow::Result<ExitCode> {
        let Some(previous) = self.registry.previous(name)? else {
            return Err(warden_core::Error::NoPreviousVersion {
                name: name.to_string(),
            }
            .into());
        };
        let current = self.registry.record(name)?;
        self.record(Record {
            kind: Kind::Update,
            decision: Decision::Allow,
            plugin: Some(name.into()),
            operation: Some("rollback".into()),
            approved_by: Some("`warden plugin rollback` on the command line".into()),
            detail: Some(json!({
                "from": current.as_ref().map(|r| json!({"version": r.version, "digest": r.digest})),
                "to": {"version": previous.version, "digest": previous.digest},
            })),
            ..Record::default()
        })?;
        let record = self.registry.rollback(name)?;
        if self.json {
            self.print_json(&json!({"rolled_back": record}))?;
        } else {
            eprintln!(
                "{name} is back at {} ({}) with the grant it had",
                escape(&record.version),
                record.digest
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    /// The capability diff between two components (installed names or files).
    pub async fn plugin_diff(&self, a: &str, b: &str) -> anyhow::Result<ExitCode> {
        let side = async |target: &str| -> anyhow::Result<Version> {
            if super::names_a_file(target) {
                self.version(super::component_at(Path::new(target))?).await
            } else {
                Ok(self.installed_version(target).await?.0)
            }
        };
        let (old, new) = (side(a).await?, side(b).await?);
        let changes = diff::diff(&old.side(), &new.side());
        if self.json {
            self.print_json(&json!({
                "from": {"name": old.package.manifest.name, "version": old.package.manifest.version, "digest": old.package.digest},
                "to": {"name": new.package.manifest.name, "version": new.package.manifest.version, "digest": new.package.digest},
                "changes": changes,
            }))?;
        } else {
            outln!(
                "{} {} → {} {}",
                escape(&old.package.manifest.name),
                escape(&old.package.manifest.version),
                escape(&new.package.manifest.name),
                escape(&new.package.manifest.version)
            );
            if changes.is_empty() {
                outln!("  no change in what it asks for or what its tools say");
            }
            for c in &changes {
                outln!("  {c}");
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Push a component to a registry in the Wasm artifact layout.
    pub async fn publish(
        &self,
        component: &Path,
        target: &str,
        key: Option<&Path>,
    ) -> anyhow::Result<ExitCode> {
        let package = super::component_at(component)?;
        // What is published must be what warden would install.
        self.rt.load(&package)?;
        let Some(rest) = target.strip_prefix("oci://") else {
            return Err(warden_core::Error::InvalidInput {
                tool: "warden plugin publish".into(),
                reason: format!("`{target}`: publish to oci://HOST[:PORT]/REPOSITORY:TAG"),
            }
            .into());
        };
        let what = super::oci::OciRef::parse(rest)?;
        let m = &package.manifest;
        let mut annotations = std::collections::BTreeMap::new();
        annotations.insert("org.opencontainers.image.title".to_string(), m.name.clone());
        annotations.insert(
            "org.opencontainers.image.version".to_string(),
            m.version.clone(),
        );
        annotations.insert(
            "org.opencontainers.image.description".to_string(),
            m.description.clone(),
        );
        let key = key.map(super::signing::load_key).transpose()?;
        let registry = super::oci::Registry::new(&what)?;
        let digest = registry.push(&what, &package.bytes, annotations).await?;
        if let Some(key) = &key {
            super::signing::sign(&registry, &what, &digest, key).await?;
        }
        let pinned = what.at(&digest);
        if self.json {
            self.print_json(&json!({
                "published": what.to_string(),
                "manifest": digest,
                "component": package.digest,
                "pinned": pinned.to_string(),
            }))?;
        } else {
            eprintln!(
                "published {} {} to {what}",
                escape(&m.name),
                escape(&m.version)
            );
            outln!("{pinned}");
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Add `more` to `grant`, as `warden plugin grant --add` does.
pub fn merge(grant: &mut Grant, more: Grant) {
    for f in more.files {
        if !grant.files.contains(&f) {
            grant.files.push(f);
        }
    }
    for v in more.env {
        if !grant.env.contains(&v) {
            grant.env.push(v);
        }
    }
    grant
        .programs
        .retain(|p| !more.programs.iter().any(|q| q.program == p.program));
    grant.programs.extend(more.programs);
    for o in more.network {
        if !grant.network.contains(&o) {
            grant.network.push(o);
        }
    }
}
