//! Installed and bundled plugins on disk.
//!
//! Layout (see [`crate::dirs::Dirs`]):
//! - `$DATA/plugins/<name>/component.wasm` and `plugin.json` (digest, tools);
//! - `$CONFIG/grants/<name>.toml`: what the user granted, kept apart from
//!   what the plugin requested;
//! - `$CONFIG/grants/workspaces/<key>/<name>.toml`: a grant that applies in
//!   one workspace only, in place of the one above (`key` is derived from
//!   the workspace's real path, which `workspace` beside it names);
//! - `$CACHE/tools/<digest>.json`: tool descriptions of bundled plugins;
//! - `$DATA/plugins/<name>/previous/`: the version an update replaced, with
//!   its record, its grant and its grants in single workspaces, for
//!   `warden plugin rollback`.
//!
//! A bundled plugin with no grant file runs with the grant of exactly what
//! its manifest requests (all inside the workspace); `warden plugin grant`
//! narrows it like any other.

use crate::bundled;
use crate::component::Package;
use crate::dirs::Dirs;
use crate::grant::Grant;
use crate::manifest::check_name;
use crate::runtime::{Loaded, Runtime, ToolSpec};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub mod diff;

/// Largest grant file read: a grant is written by people or `warden plugin
/// grant`, and a huge one is damage or an attack on the parser.
pub const MAX_GRANT_BYTES: u64 = 1024 * 1024;
/// Largest `plugin.json` or cached tool list read (it holds every tool's
/// schema, each bounded by the runtime).
pub const MAX_RECORD_BYTES: u64 = 16 * 1024 * 1024;
/// Bytes of a workspace path's SHA-256 that name its grant directory.
const WORKSPACE_KEY_BYTES: usize = 16;
/// Longest workspace path recorded beside its grants.
const MAX_WORKSPACE_NAME_BYTES: u64 = 64 * 1024;
/// Most workspaces whose grants `warden plugin list` shows per plugin.
pub const MAX_WORKSPACE_GRANTS: usize = 1000;

/// The file in `previous/` that keeps the replaced version's grants in
/// single workspaces.
const WORKSPACE_GRANTS_FILE: &str = "workspace-grants.json";

/// A grant in one workspace, as `previous/` keeps it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeptGrant {
    workspace: PathBuf,
    grant: Grant,
}

/// Where a grant applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// In every workspace that has no grant of its own.
    Everywhere,
    /// Only in this workspace (its real path).
    Workspace(PathBuf),
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Everywhere => f.write_str("every workspace"),
            Scope::Workspace(w) => write!(f, "workspace {}", w.display()),
        }
    }
}

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Shipped inside warden.
    Bundled,
    /// Installed from a file.
    Installed {
        /// The path it was installed from.
        from: String,
    },
    /// Pulled from an OCI registry.
    Oci {
        /// `oci://HOST/REPOSITORY:TAG` (or `@sha256:…`) as the user named it.
        reference: String,
        /// Digest of the manifest that was pulled: what a lock pins.
        manifest: String,
    },
    /// Downloaded from a URL, pinned by the component's digest.
    Url {
        /// The URL.
        url: String,
    },
}

/// What warden records about an installed plugin.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// Component digest.
    pub digest: String,
    /// Where it came from.
    pub source: Source,
    /// Its tools, described once at install: the descriptions and schemas
    /// approved with this digest.
    pub tools: Vec<ToolSpec>,
    /// Who signed it, when a trusted signature was verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
}

/// The plugin store.
#[derive(Debug, Clone)]
pub struct Registry {
    dirs: Dirs,
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).map_err(|e| Error::io("cannot write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("cannot write", path, e))
}

impl Registry {
    /// A store in `dirs`.
    pub fn new(dirs: Dirs) -> Self {
        Registry { dirs }
    }

    /// The directories in use.
    pub fn dirs(&self) -> &Dirs {
        &self.dirs
    }

    fn plugin_dir(&self, name: &str) -> PathBuf {
        self.dirs.data.join("plugins").join(name)
    }

    fn grant_path(&self, name: &str) -> PathBuf {
        self.dirs.config.join("grants").join(format!("{name}.toml"))
    }

    /// Where the grants that apply only in `workspace` (a real path) are.
    fn workspace_dir(&self, workspace: &Path) -> PathBuf {
        use sha2::Digest;
        let key = sha2::Sha256::digest(workspace.as_os_str().as_encoded_bytes());
        self.dirs
            .config
            .join("grants")
            .join("workspaces")
            .join(hex::encode(&key[..WORKSPACE_KEY_BYTES]))
    }

    fn workspace_grant_path(&self, name: &str, workspace: &Path) -> PathBuf {
        self.workspace_dir(workspace).join(format!("{name}.toml"))
    }

    /// The files that decide what plugin `name` may do in `workspace`: its
    /// grants (everywhere and in that workspace), its install record and
    /// its component. A long-lived session re-opens the plugin when one of
    /// them changes.
    pub fn watched(&self, name: &str, workspace: &Path) -> Result<Vec<PathBuf>> {
        self.check_name(name)?;
        let dir = self.plugin_dir(name);
        Ok(vec![
            self.grant_path(name),
            self.workspace_grant_path(name, workspace),
            dir.join("plugin.json"),
            dir.join("component.wasm"),
        ])
    }

    fn check_name(&self, name: &str) -> Result<()> {
        check_name(name).map_err(|_| self.not_found(name))
    }

    /// No plugin is called `name`: the error names the closest one that is.
    pub fn not_found(&self, name: &str) -> Error {
        let names = self.names().unwrap_or_default();
        Error::PluginNotFound {
            name: name.to_string(),
            suggestion: crate::suggest::Suggestion::closest(name, names.iter().map(String::as_str)),
        }
    }

    /// Names of every plugin: bundled first, then installed, sorted.
    pub fn names(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = bundled::BUNDLED
            .iter()
            .map(|b| b.name.to_string())
            .collect();
        let dir = self.dirs.data.join("plugins");
        let mut installed = Vec::new();
        match std::fs::read_dir(&dir) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry.map_err(|e| Error::io("cannot list", &dir, e))?;
                    if let Some(name) = entry.file_name().to_str()
                        && check_name(name).is_ok()
                        && entry.path().join("plugin.json").exists()
                    {
                        installed.push(name.to_string());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot list", dir, e)),
        }
        installed.sort();
        names.extend(installed);
        Ok(names)
    }

    /// The record of an installed plugin, or `None` for a bundled one.
    pub fn record(&self, name: &str) -> Result<Option<Record>> {
        self.check_name(name)?;
        if bundled::get(name).is_some() {
            return Ok(None);
        }
        let path = self.plugin_dir(name).join("plugin.json");
        let text = match crate::configfile::read_text(&path, MAX_RECORD_BYTES) {
            Ok(Some(t)) => t,
            Ok(None) => {
                return Err(self.not_found(name));
            }
            Err(e) => return Err(Error::io("cannot read", path, e)),
        };
        let record: Record = serde_json::from_str(&text).map_err(|e| Error::Damaged {
            path: path.clone(),
            reason: e.to_string(),
            hint: format!(
                "; reinstall with `warden plugin remove {name}` and `warden plugin install`"
            ),
        })?;
        Ok(Some(record))
    }

    /// The component of a plugin, checked against its recorded digest.
    pub fn package(&self, name: &str) -> Result<(Package, Source)> {
        self.check_name(name)?;
        if let Some(b) = bundled::find(name) {
            return Ok((Package::bundled(b)?, Source::Bundled));
        }
        let record = self.record(name)?.ok_or_else(|| self.not_found(name))?;
        let path = self.plugin_dir(name).join("component.wasm");
        let package = Package::from_file(&path)?;
        if package.digest != record.digest {
            return Err(Error::Tampered {
                path,
                when: "installed",
                found: package.digest.to_string(),
                recorded: record.digest,
                refused: "run it",
            });
        }
        Ok((package, record.source))
    }

    /// The user's grant for a plugin. A bundled plugin without a grant file
    /// gets what it requests; an installed one without a grant gets nothing.
    pub fn grant(&self, name: &str, package: &Package, source: &Source) -> Result<Grant> {
        let path = self.grant_path(name);
        // A FIFO or device at the grant's path fails closed at once.
        match crate::configfile::read_text(&path, MAX_GRANT_BYTES) {
            Ok(Some(text)) => Grant::parse(&text),
            Ok(None) => Ok(match source {
                Source::Bundled => Grant::everything_requested(&package.manifest),
                _ => Grant::default(),
            }),
            Err(e) => Err(Error::io("cannot read", path, e)),
        }
    }

    /// The grant that applies to plugin `name` in `workspace` (a real
    /// path), and where it comes from: the workspace's own grant if it has
    /// one, else the plugin's grant everywhere.
    pub fn grant_in(
        &self,
        name: &str,
        package: &Package,
        source: &Source,
        workspace: &Path,
    ) -> Result<(Grant, Scope)> {
        self.check_name(name)?;
        let path = self.workspace_grant_path(name, workspace);
        match crate::configfile::read_text(&path, MAX_GRANT_BYTES) {
            Ok(Some(text)) => Ok((
                Grant::parse(&text)?,
                Scope::Workspace(workspace.to_path_buf()),
            )),
            Ok(None) => Ok((self.grant(name, package, source)?, Scope::Everywhere)),
            Err(e) => Err(Error::io("cannot read", path, e)),
        }
    }

    /// Every workspace with a grant of its own for plugin `name`, and that
    /// grant (at most [`MAX_WORKSPACE_GRANTS`]).
    pub fn workspace_grants(&self, name: &str) -> Result<Vec<(PathBuf, Grant)>> {
        self.check_name(name)?;
        let root = self.dirs.config.join("grants").join("workspaces");
        let entries = match std::fs::read_dir(&root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("cannot list", root, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let dir = entry
                .map_err(|e| Error::io("cannot list", &root, e))?
                .path();
            let grant_path = dir.join(format!("{name}.toml"));
            let Ok(Some(text)) = crate::configfile::read_text(&grant_path, MAX_GRANT_BYTES) else {
                continue;
            };
            let workspace = match crate::configfile::read_text(
                &dir.join("workspace"),
                MAX_WORKSPACE_NAME_BYTES,
            ) {
                Ok(Some(w)) => PathBuf::from(w.trim_end_matches('\n')),
                _ => continue,
            };
            out.push((workspace, Grant::parse(&text)?));
            if out.len() >= MAX_WORKSPACE_GRANTS {
                break;
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Store the user's grant for a plugin, everywhere or in one workspace.
    pub fn set_grant_in(&self, name: &str, grant: &Grant, scope: &Scope) -> Result<()> {
        match scope {
            Scope::Everywhere => self.set_grant(name, grant),
            Scope::Workspace(ws) => {
                self.check_name(name)?;
                let text = toml::to_string(grant).map_err(|e| Error::Grant {
                    reason: e.to_string(),
                })?;
                let dir = self.workspace_dir(ws);
                write_atomic(
                    &dir.join("workspace"),
                    format!("{}\n", ws.display()).as_bytes(),
                )?;
                let header = format!(
                    "# What the user granted plugin `{name}` in {} only. Edit with `warden plugin grant --workspace`.\n",
                    ws.display()
                );
                write_atomic(
                    &self.workspace_grant_path(name, ws),
                    format!("{header}{text}").as_bytes(),
                )
            }
        }
    }

    /// Drop the grant of plugin `name` that applies only in `workspace`, so
    /// the grant everywhere applies there again.
    pub fn clear_workspace_grant(&self, name: &str, workspace: &Path) -> Result<()> {
        self.check_name(name)?;
        let path = self.workspace_grant_path(name, workspace);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io("cannot remove", path, e))
            }
            _ => Ok(()),
        }
    }

    /// Store the user's grant for a plugin.
    pub fn set_grant(&self, name: &str, grant: &Grant) -> Result<()> {
        self.check_name(name)?;
        let text = toml::to_string(grant).map_err(|e| Error::Grant {
            reason: e.to_string(),
        })?;
        let header =
            format!("# What the user granted plugin `{name}`. Edit with `warden plugin grant`.\n");
        write_atomic(&self.grant_path(name), format!("{header}{text}").as_bytes())
    }

    /// Install a checked package with its tools and grant.
    pub fn install(
        &self,
        package: &Package,
        source: Source,
        tools: Vec<ToolSpec>,
        grant: &Grant,
        signer: Option<String>,
    ) -> Result<Record> {
        let name = &package.manifest.name;
        if bundled::get(name).is_some() {
            return Err(Error::Bundled {
                name: name.to_string(),
                refused: "and cannot be installed over (the name belongs to a bundled plugin)"
                    .into(),
            });
        }
        if self.plugin_dir(name).join("plugin.json").exists() {
            return Err(Error::AlreadyInstalled {
                name: name.to_string(),
            });
        }
        let record = Record {
            name: name.clone(),
            version: package.manifest.version.clone(),
            digest: package.digest.clone(),
            source,
            tools,
            signer,
        };
        self.write_version(&record, &package.bytes, grant)?;
        Ok(record)
    }

    fn write_version(&self, record: &Record, bytes: &[u8], grant: &Grant) -> Result<()> {
        let dir = self.plugin_dir(&record.name);
        write_atomic(&dir.join("component.wasm"), bytes)?;
        self.set_grant(&record.name, grant)?;
        let json = serde_json::to_vec_pretty(record).map_err(|e| Error::Conflict(e.to_string()))?;
        // Written last: a plugin counts as installed only once this exists,
        // and until then a replaced component fails its digest check.
        write_atomic(&dir.join("plugin.json"), &json)
    }

    /// The files of the installed version of `name`: its record, component
    /// and grant text (empty when it has no grant file).
    fn current_files(&self, name: &str) -> Result<(Record, Vec<u8>, String)> {
        let record = self.record(name)?.ok_or_else(|| Error::Bundled {
            name: name.to_string(),
            refused: "and has no previous version kept".into(),
        })?;
        let (package, _) = self.package(name)?;
        let grant = match crate::configfile::read_text(&self.grant_path(name), MAX_GRANT_BYTES) {
            Ok(t) => t.unwrap_or_default(),
            Err(e) => return Err(Error::io("cannot read", self.grant_path(name), e)),
        };
        Ok((record, package.bytes.into_owned(), grant))
    }

    fn previous_dir(&self, name: &str) -> PathBuf {
        self.plugin_dir(name).join("previous")
    }

    /// Keep the installed version of `name` as its previous one, with its
    /// grant everywhere and its grants in single workspaces.
    fn keep_previous(&self, name: &str) -> Result<()> {
        let (record, bytes, grant) = self.current_files(name)?;
        let dir = self.previous_dir(name);
        let json =
            serde_json::to_vec_pretty(&record).map_err(|e| Error::Conflict(e.to_string()))?;
        let scoped: Vec<KeptGrant> = self
            .workspace_grants(name)?
            .into_iter()
            .map(|(workspace, grant)| KeptGrant { workspace, grant })
            .collect();
        let scoped =
            serde_json::to_vec_pretty(&scoped).map_err(|e| Error::Conflict(e.to_string()))?;
        write_atomic(&dir.join("component.wasm"), &bytes)?;
        write_atomic(&dir.join("grant.toml"), grant.as_bytes())?;
        write_atomic(&dir.join(WORKSPACE_GRANTS_FILE), &scoped)?;
        write_atomic(&dir.join("plugin.json"), &json)
    }

    /// Replace every grant of `name` that applies in one workspace by
    /// `grants`.
    fn replace_workspace_grants(&self, name: &str, grants: &[(PathBuf, Grant)]) -> Result<()> {
        for (ws, _) in self.workspace_grants(name)? {
            if !grants.iter().any(|(w, _)| *w == ws) {
                self.clear_workspace_grant(name, &ws)?;
            }
        }
        for (ws, grant) in grants {
            self.set_grant_in(name, grant, &Scope::Workspace(ws.clone()))?;
        }
        Ok(())
    }

    /// The version an update replaced, if any.
    pub fn previous(&self, name: &str) -> Result<Option<Record>> {
        self.check_name(name)?;
        let path = self.previous_dir(name).join("plugin.json");
        match crate::configfile::read_text(&path, MAX_RECORD_BYTES) {
            Ok(Some(text)) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| Error::Damaged {
                    path: path.clone(),
                    reason: e.to_string(),
                    hint: String::new(),
                }),
            Ok(None) => Ok(None),
            Err(e) => Err(Error::io("cannot read", path, e)),
        }
    }

    /// Replace an installed plugin by another version of it, keeping the
    /// one it replaces (with its grant) for [`Registry::rollback`].
    ///
    /// `workspace_grants` replace the plugin's grants in single workspaces
    /// (a workspace not named loses its own grant).
    pub fn update(
        &self,
        package: &Package,
        source: Source,
        tools: Vec<ToolSpec>,
        grant: &Grant,
        workspace_grants: &[(PathBuf, Grant)],
        signer: Option<String>,
    ) -> Result<Record> {
        let name = &package.manifest.name;
        self.keep_previous(name)?;
        let record = Record {
            name: name.clone(),
            version: package.manifest.version.clone(),
            digest: package.digest.clone(),
            source,
            tools,
            signer,
        };
        self.write_version(&record, &package.bytes, grant)?;
        self.replace_workspace_grants(name, workspace_grants)?;
        Ok(record)
    }

    /// The grants in single workspaces that the previous version of `name`
    /// had (none when it was kept before they were).
    fn previous_workspace_grants(&self, name: &str) -> Result<Vec<(PathBuf, Grant)>> {
        let path = self.previous_dir(name).join(WORKSPACE_GRANTS_FILE);
        let kept: Vec<KeptGrant> = match crate::configfile::read_text(&path, MAX_RECORD_BYTES) {
            Ok(Some(text)) => serde_json::from_str(&text).map_err(|e| Error::Damaged {
                path: path.clone(),
                reason: e.to_string(),
                hint: String::new(),
            })?,
            Ok(None) => Vec::new(),
            Err(e) => return Err(Error::io("cannot read", path, e)),
        };
        Ok(kept.into_iter().map(|k| (k.workspace, k.grant)).collect())
    }

    /// Swap the installed version of `name` with its previous one, grant
    /// and all; rolling back twice returns to where it was.
    pub fn rollback(&self, name: &str) -> Result<Record> {
        let previous = self
            .previous(name)?
            .ok_or_else(|| Error::NoPreviousVersion {
                name: name.to_string(),
            })?;
        let dir = self.previous_dir(name);
        let bytes = crate::configfile::read_bounded(
            &dir.join("component.wasm"),
            crate::component::MAX_COMPONENT_BYTES as u64,
        )
        .map_err(|e| Error::io("cannot read", dir.join("component.wasm"), e.into()))?
        .unwrap_or_default();
        let found = crate::component::digest(&bytes);
        if found != previous.digest {
            return Err(Error::Tampered {
                path: dir.join("component.wasm"),
                when: "kept as the previous version",
                found: found.to_string(),
                recorded: previous.digest.clone(),
                refused: "restore it",
            });
        }
        let grant_text = crate::configfile::read_text(&dir.join("grant.toml"), MAX_GRANT_BYTES)
            .map_err(|e| Error::io("cannot read", dir.join("grant.toml"), e))?
            .unwrap_or_default();
        let grant = Grant::parse(&grant_text)?;
        let scoped = self.previous_workspace_grants(name)?;
        self.keep_previous(name)?;
        self.write_version(&previous, &bytes, &grant)?;
        self.replace_workspace_grants(name, &scoped)?;
        Ok(previous)
    }

    /// Remove an installed plugin and its grant.
    pub fn remove(&self, name: &str) -> Result<()> {
        self.check_name(name)?;
        if bundled::get(name).is_some() {
            return Err(Error::Bundled {
                name: name.to_string(),
                refused: format!(
                    "and cannot be removed; to take its access away run `warden plugin grant {name} --none`"
                ),
            });
        }
        let dir = self.plugin_dir(name);
        if !dir.join("plugin.json").exists() {
            return Err(self.not_found(name));
        }
        std::fs::remove_file(dir.join("plugin.json"))
            .map_err(|e| Error::io("cannot remove", &dir, e))?;
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io("cannot remove", &dir, e))?;
        for (ws, _) in self.workspace_grants(name)? {
            self.clear_workspace_grant(name, &ws)?;
        }
        match std::fs::remove_file(self.grant_path(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io("cannot remove", self.grant_path(name), e))
            }
            _ => Ok(()),
        }
    }

    /// The tools of a loaded plugin: recorded at install, or described once
    /// and cached by digest for bundled plugins.
    pub async fn tools(&self, name: &str, rt: &Runtime, loaded: &Loaded) -> Result<Vec<ToolSpec>> {
        if let Some(record) = self.record(name)? {
            return Ok(record.tools);
        }
        let hex = loaded.digest.trim_start_matches("sha256:");
        let path = self.dirs.cache.join("tools").join(format!("{hex}.json"));
        if let Ok(Some(text)) = crate::configfile::read_text(&path, MAX_RECORD_BYTES)
            && let Ok(tools) = serde_json::from_str(&text)
        {
            return Ok(tools);
        }
        let tools = loaded.describe(rt).await?;
        if let Ok(json) = serde_json::to_vec(&tools)
            && let Err(e) = write_atomic(&path, &json)
        {
            tracing::warn!("cannot cache tool descriptions: {e}");
        }
        Ok(tools)
    }
}
