//! Writing a planned set of file changes all-or-nothing.
//!
//! Every step carries the file's original content (or its absence), taken
//! while planning. Before a step touches the disk its undo is recorded, so
//! if any later step fails the journal is replayed backwards and the
//! workspace is back as it was, including directories the patch created.

use std::path::PathBuf;

use warden_sdk::ToolError;

use crate::files;

/// One change to make on disk.
pub enum Step {
    /// Write `bytes` to `full`; `original` is what was there (`None`: nothing).
    Write {
        full: PathBuf,
        shown: String,
        bytes: Vec<u8>,
        original: Option<Vec<u8>>,
    },
    /// Remove the file at `full`, whose content was `original`.
    Remove {
        full: PathBuf,
        shown: String,
        original: Vec<u8>,
    },
}

enum Undo {
    Restore {
        full: PathBuf,
        shown: String,
        original: Vec<u8>,
    },
    RemoveFile {
        full: PathBuf,
        shown: String,
    },
    RemoveDir {
        full: PathBuf,
    },
}

/// Run `steps` in order; on the first failure undo the ones already done.
pub fn commit(steps: Vec<Step>) -> Result<(), ToolError> {
    let mut journal = Vec::new();
    for step in steps {
        if let Err((shown, err)) = run_step(step, &mut journal) {
            let unrestored = rollback(journal);
            let mut msg = format!("writing {shown} failed: {err}; ");
            if unrestored.is_empty() {
                msg.push_str(
                    "every change made before it was undone, so the workspace is unchanged",
                );
            } else {
                msg.push_str(&format!(
                    "the earlier changes were undone except for: {}",
                    unrestored.join(", ")
                ));
            }
            return Err(ToolError::failed(msg));
        }
    }
    Ok(())
}

fn run_step(step: Step, journal: &mut Vec<Undo>) -> Result<(), (String, std::io::Error)> {
    match step {
        Step::Write {
            full,
            shown,
            bytes,
            original,
        } => {
            let created = files::create_parents(&full).map_err(|e| (shown.clone(), e))?;
            journal.extend(created.into_iter().map(|full| Undo::RemoveDir { full }));
            // Recorded first: a write that fails halfway has still changed the file.
            journal.push(match original {
                Some(original) => Undo::Restore {
                    full: full.clone(),
                    shown: shown.clone(),
                    original,
                },
                None => Undo::RemoveFile {
                    full: full.clone(),
                    shown: shown.clone(),
                },
            });
            std::fs::write(&full, bytes).map_err(|e| (shown, e))
        }
        Step::Remove {
            full,
            shown,
            original,
        } => {
            std::fs::remove_file(&full).map_err(|e| (shown.clone(), e))?;
            journal.push(Undo::Restore {
                full,
                shown,
                original,
            });
            Ok(())
        }
    }
}

/// Undo in reverse order; returns the paths that could not be restored.
fn rollback(journal: Vec<Undo>) -> Vec<String> {
    let mut failed = Vec::new();
    for undo in journal.into_iter().rev() {
        match undo {
            Undo::Restore {
                full,
                shown,
                original,
            } => {
                let restored =
                    files::create_parents(&full).and_then(|_| std::fs::write(&full, original));
                if restored.is_err() {
                    failed.push(shown);
                }
            }
            Undo::RemoveFile { full, shown } => {
                // The failed write may never have created it.
                if files::exists(&full) && std::fs::remove_file(&full).is_err() {
                    failed.push(shown);
                }
            }
            // Only empty directories go; one that is not empty was not ours alone.
            Undo::RemoveDir { full } => {
                let _ = std::fs::remove_dir(&full);
            }
        }
    }
    failed
}
