//! `warden plugin pack`: a component from any toolchain, with its manifest
//! embedded and its imports checked against it.

use super::App;
use anyhow::Context as _;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use warden_core::component::{self, MAX_COMPONENT_BYTES};
use warden_core::manifest::MAX_MANIFEST_BYTES;

impl App {
    /// Embed `manifest` in `component` and write the result to `output`
    /// (by default `NAME.wasm` beside the component, NAME from the
    /// manifest). Refused, writing nothing, when the manifest does not parse
    /// or the component imports what the manifest does not justify.
    pub fn pack(
        &self,
        component_path: &Path,
        manifest_path: &Path,
        output: Option<&Path>,
    ) -> anyhow::Result<ExitCode> {
        let bytes =
            warden_core::configfile::read_bounded(component_path, MAX_COMPONENT_BYTES as u64)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| format!("cannot read {}", component_path.display()))?
                .ok_or_else(|| missing(component_path))?;
        let text = warden_core::configfile::read_text(manifest_path, MAX_MANIFEST_BYTES as u64)
            .with_context(|| format!("cannot read {}", manifest_path.display()))?
            .ok_or_else(|| missing(manifest_path))?;
        let package = component::pack(
            bytes,
            &text,
            &manifest_path.display().to_string(),
            &component_path.display().to_string(),
        )?;
        // The same check as every install and load: an import the manifest
        // does not justify is refused now, not by the first user.
        let loaded = self.rt.load(&package)?;
        let name = &package.manifest.name;
        let output: PathBuf = match output {
            Some(o) => o.to_path_buf(),
            None => component_path
                .parent()
                .unwrap_or(Path::new("."))
                .join(format!("{name}.wasm")),
        };
        anyhow::ensure!(
            output != component_path,
            "{} is the component being packed; name another file with --output",
            output.display()
        );
        std::fs::write(&output, &package.bytes)
            .with_context(|| format!("cannot write {}", output.display()))?;
        if self.json {
            self.print_json(&json!({
                "packed": output,
                "name": name,
                "digest": package.digest,
                "imports": loaded.imports,
            }))?;
        } else {
            eprintln!(
                "packed {name} {} into {} ({})",
                package.manifest.version,
                output.display(),
                package.digest
            );
            for i in &loaded.imports {
                eprintln!("  {:<40} {}", i.name, i.class());
            }
            eprintln!(
                "install it with: warden plugin install {}",
                output.display()
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// A named input that is not there: bad usage (exit 2), not an I/O fault.
fn missing(path: &Path) -> anyhow::Error {
    anyhow::Error::new(warden_core::Error::InvalidInput {
        tool: "plugin pack".into(),
        reason: format!("{} does not exist", path.display()),
    })
}
