//! `warden journal gc` and `warden journal verify`: the undo journal's
//! store, shared by every workspace (see [`warden_core::journal::gc`]).

use super::App;
use super::log::EXIT_TAMPERED;
use serde_json::json;
use std::process::ExitCode;
use warden_core::journal::gc;

impl App {
    fn journal_root(&self) -> std::path::PathBuf {
        self.registry.dirs().data.join("journal")
    }

    /// Collect what no turn needs, under a cap of `max_mib`.
    pub fn journal_gc(&self, max_mib: u64) -> anyhow::Result<ExitCode> {
        let root = self.journal_root();
        let cap = max_mib.saturating_mul(1024 * 1024);
        let r = gc::collect(&root, cap, std::time::SystemTime::now())?;
        if self.json {
            self.print_json(&json!({
                "removed": r.removed, "removed_bytes": r.removed_bytes,
                "kept": r.kept, "kept_bytes": r.kept_bytes,
                "forgotten": r.forgotten, "path": root,
            }))?;
        } else {
            outln!(
                "journal {}: removed {} stored contents ({:.1} MiB), kept {} ({:.1} MiB)",
                root.display(),
                r.removed,
                r.removed_bytes as f64 / 1048576.0,
                r.kept,
                r.kept_bytes as f64 / 1048576.0
            );
            if !r.forgotten.is_empty() {
                outln!(
                    "forgot {} turn(s) to fit {max_mib} MiB; they can no longer be undone:",
                    r.forgotten.len()
                );
                for t in &r.forgotten {
                    outln!("  {}", warden_core::escape::escape(t));
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Check every stored content a turn needs.
    pub fn journal_verify(&self) -> anyhow::Result<ExitCode> {
        let root = self.journal_root();
        let bad = gc::verify(&root)?;
        if self.json {
            self.print_json(&json!({
                "intact": bad.is_empty(),
                "damaged": bad.iter().map(|b| json!({"turn": b.turn, "path": b.path, "object": b.object, "why": b.why})).collect::<Vec<_>>(),
                "path": root,
            }))?;
        } else if bad.is_empty() {
            outln!(
                "journal {} is intact: every stored content a turn needs is there and whole",
                root.display()
            );
        } else {
            outln!(
                "journal {} is NOT intact: {} stored content(s) missing or damaged",
                root.display(),
                bad.len()
            );
            for b in &bad {
                outln!("  {}", warden_core::escape::escape(&b.to_string()));
            }
        }
        Ok(if bad.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_TAMPERED)
        })
    }
}
