//! The `apply_patch` tool: plan every change of a patch in memory, then
//! commit them together. The format is described in [`crate::patch`].

use std::collections::HashSet;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_sdk::ToolError;

use crate::commit::{self, Step};
use crate::files;
use crate::patch::{self, Op};
use warden_sdk::paths::RelPath;

/// Largest patch accepted.
pub const MAX_PATCH_BYTES: usize = 1024 * 1024;
/// Most file sections in one patch.
pub const MAX_PATCH_FILES: usize = 100;
/// Most bytes of old and new file content held in memory while planning;
/// each file is also capped by `files::MAX_EDIT_FILE_BYTES`. With the
/// patch itself and the line tables below this stays well inside the
/// plugin's default 64 MiB of memory.
pub const MAX_PATCH_WORKING_BYTES: usize = 24 * 1024 * 1024;
/// Most lines in a file that a patch updates: applying hunks indexes every
/// line, and a file of millions of empty lines would need far more memory
/// than its size suggests.
pub const MAX_PATCH_FILE_LINES: usize = 200_000;

/// Apply a multi-file patch.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyPatchInput {
    /// The patch, from `*** Begin Patch` to `*** End Patch`.
    pub patch: String,
}

#[derive(Debug, Serialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Added,
    Updated,
    Deleted,
    Moved,
}

#[derive(Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub struct FileChange {
    /// The file's path after the patch.
    pub path: String,
    /// For a move, where the file was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub action: Action,
    pub lines_added: usize,
    pub lines_removed: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ApplyPatchOutput {
    pub files: Vec<FileChange>,
}

pub fn run(root: &Path, input: ApplyPatchInput) -> Result<ApplyPatchOutput, ToolError> {
    if input.patch.len() > MAX_PATCH_BYTES {
        return Err(ToolError::invalid(format!(
            "the patch is larger than {} KiB; split it into several",
            MAX_PATCH_BYTES / 1024
        )));
    }
    let ops = patch::parse(&input.patch).map_err(|e| ToolError::invalid(e.to_string()))?;
    if ops.is_empty() {
        return Err(ToolError::invalid("the patch changes no files"));
    }
    if ops.len() > MAX_PATCH_FILES {
        return Err(ToolError::invalid(format!(
            "the patch has {} file sections; at most {MAX_PATCH_FILES} are allowed",
            ops.len()
        )));
    }
    let mut plan = Plan {
        root,
        steps: Vec::new(),
        files: Vec::new(),
        touched: HashSet::new(),
        working_bytes: 0,
    };
    for op in &ops {
        plan.add(op).map_err(|e| nothing_changed(op, e))?;
    }
    commit::commit(plan.steps)?;
    Ok(ApplyPatchOutput { files: plan.files })
}

struct Plan<'a> {
    root: &'a Path,
    steps: Vec<Step>,
    files: Vec<FileChange>,
    touched: HashSet<String>,
    working_bytes: usize,
}

impl Plan<'_> {
    fn add(&mut self, op: &Op) -> Result<(), ToolError> {
        match op {
            Op::Add { path, content } => {
                let (rel, shown) = self.claim(path)?;
                let full = rel.under(self.root);
                if files::exists(&full) {
                    return Err(ToolError::failed(
                        "the file already exists; use `*** Update File:` to change it",
                    ));
                }
                self.charge(content.len())?;
                self.steps.push(Step::Write {
                    full,
                    shown: shown.clone(),
                    bytes: content.clone().into_bytes(),
                    original: None,
                });
                self.record(shown, None, Action::Added, content.lines().count(), 0);
            }
            Op::Delete { path } => {
                let (rel, shown) = self.claim(path)?;
                let full = rel.under(self.root);
                let original = files::read_bytes(&full, &shown)?;
                self.charge(original.len())?;
                let removed = count_lines(&original);
                self.steps.push(Step::Remove {
                    full,
                    shown: shown.clone(),
                    original,
                });
                self.record(shown, None, Action::Deleted, 0, removed);
            }
            Op::Update {
                path,
                move_to,
                hunks,
            } => {
                let (rel, shown) = self.claim(path)?;
                let full = rel.under(self.root);
                let text = files::read_text(&full, &shown)?;
                if count_lines(text.as_bytes()) > MAX_PATCH_FILE_LINES {
                    return Err(ToolError::failed(format!(
                        "the file has more than {MAX_PATCH_FILE_LINES} lines; use `replace` to edit it"
                    )));
                }
                let applied =
                    patch::apply(&text, hunks).map_err(|e| ToolError::failed(e.to_string()))?;
                self.charge(text.len() + applied.text.len())?;
                let original = text.into_bytes();
                let bytes = applied.text.into_bytes();
                match move_to {
                    None => {
                        self.steps.push(Step::Write {
                            full,
                            shown: shown.clone(),
                            bytes,
                            original: Some(original),
                        });
                        self.record(shown, None, Action::Updated, applied.added, applied.removed);
                    }
                    Some(dest) => {
                        let (dest_rel, dest_shown) = self.claim(dest)?;
                        let dest_full = dest_rel.under(self.root);
                        if files::exists(&dest_full) {
                            return Err(ToolError::failed(format!(
                                "cannot move to {dest_shown}: it already exists"
                            )));
                        }
                        self.steps.push(Step::Write {
                            full: dest_full,
                            shown: dest_shown.clone(),
                            bytes,
                            original: None,
                        });
                        self.steps.push(Step::Remove {
                            full,
                            shown: shown.clone(),
                            original,
                        });
                        self.record(
                            dest_shown,
                            Some(shown),
                            Action::Moved,
                            applied.added,
                            applied.removed,
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// Validate a path and make sure no other section uses it: the result
    /// of touching one file twice would depend on section order.
    fn claim(&mut self, path: &str) -> Result<(RelPath, String), ToolError> {
        let rel = RelPath::parse(path)?;
        if rel.is_root() {
            return Err(ToolError::invalid(
                "the path names the workspace root, not a file",
            ));
        }
        let shown = rel.display();
        if !self.touched.insert(shown.clone()) {
            return Err(ToolError::invalid(format!(
                "{shown} appears in more than one section; combine its changes into one"
            )));
        }
        Ok((rel, shown))
    }

    fn charge(&mut self, bytes: usize) -> Result<(), ToolError> {
        self.working_bytes += bytes;
        if self.working_bytes > MAX_PATCH_WORKING_BYTES {
            return Err(ToolError::failed(format!(
                "the files this patch touches add up to more than {} MiB; split it into several",
                MAX_PATCH_WORKING_BYTES / (1024 * 1024)
            )));
        }
        Ok(())
    }

    fn record(
        &mut self,
        path: String,
        from: Option<String>,
        action: Action,
        added: usize,
        removed: usize,
    ) {
        self.files.push(FileChange {
            path,
            from,
            action,
            lines_added: added,
            lines_removed: removed,
        });
    }
}

fn count_lines(data: &[u8]) -> usize {
    let newlines = data.iter().filter(|&&b| b == b'\n').count();
    newlines + usize::from(data.last().is_some_and(|&b| b != b'\n'))
}

/// Prefix an error with the section it came from and say that the
/// workspace was left alone.
fn nothing_changed(op: &Op, err: ToolError) -> ToolError {
    let section = match op {
        Op::Add { path, .. } => format!("Add File {path}"),
        Op::Delete { path } => format!("Delete File {path}"),
        Op::Update { path, .. } => format!("Update File {path}"),
    };
    let wrap = |m: String| format!("{section}: {m}; nothing was changed");
    match err {
        ToolError::InvalidInput(m) => ToolError::InvalidInput(wrap(m)),
        ToolError::NotFound(m) => ToolError::NotFound(wrap(m)),
        ToolError::Failed(m) => ToolError::Failed(wrap(m)),
        denied @ ToolError::Denied { .. } => denied,
    }
}

#[cfg(test)]
mod tests;
