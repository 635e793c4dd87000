//! Every limit a call runs under, in one place: each default and maximum,
//! the limits a manifest may ask for, their one validation, and the limits
//! a call gets once defaults are filled in. A plugin's limits come from its
//! manifest only; a grant never raises them.

use crate::capability::process::confine::ChildLimits;
use crate::manifest::Manifest;
use serde::{Deserialize, Serialize};

/// Memory limit when the manifest names none.
pub const DEFAULT_MEMORY_MIB: u32 = 64;
/// Largest memory limit a plugin may ask for.
pub const MAX_MEMORY_MIB: u32 = 1024;
/// Wall-time limit per call when the manifest names none.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Largest wall-time limit a plugin may ask for.
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;
/// Process count limit of a child's tree when the manifest names none.
pub const DEFAULT_PROCESSES: u32 = 256;
/// Largest process count a plugin may ask for.
pub const MAX_PROCESSES: u32 = 4096;
/// Address space per child process when the manifest names none.
pub const DEFAULT_PROCESS_MEMORY_MIB: u32 = 8192;
/// Largest address space per child a plugin may ask for.
pub const MAX_PROCESS_MEMORY_MIB: u32 = 65536;
/// Largest file a child may write when the manifest names none.
pub const DEFAULT_FILE_SIZE_MIB: u32 = 1024;
/// Largest file-size limit a plugin may ask for.
pub const MAX_FILE_SIZE_MIB: u32 = 65536;
/// Default of the bytes one call's plugin may write through its own file
/// handles, in MiB (`limits.write_mib`).
pub const DEFAULT_WRITE_MIB: u32 = 1024;
/// Most `limits.write_mib` may ask for.
pub const MAX_WRITE_MIB: u32 = 65536;
/// Default of the files, directories and links one call's plugin may
/// create (`limits.files_created`).
pub const DEFAULT_FILES_CREATED: u32 = 10_000;
/// Most `limits.files_created` may ask for.
pub const MAX_FILES_CREATED: u32 = 1_000_000;
/// Output kept per child stream when the manifest names none.
pub const DEFAULT_PROCESS_OUTPUT_KIB: u32 = 1024;
/// Largest per-stream output a plugin may ask for.
pub const MAX_PROCESS_OUTPUT_KIB: u32 = 16 * 1024;
/// Output limit per call when the manifest names none.
pub const DEFAULT_OUTPUT_KIB: u32 = 1024;
/// Largest output limit a plugin may ask for.
pub const MAX_OUTPUT_KIB: u32 = 16 * 1024;

/// Limits a plugin asks for; absent values take the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitRequest {
    /// Linear memory per instance, in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u32>,
    /// Wall time per call, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Size of a call's result, in KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_kib: Option<u32>,
    /// Processes a child's tree may hold at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes: Option<u32>,
    /// Address space of each child process, in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_memory_mib: Option<u32>,
    /// Largest file the plugin or a child may write, in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size_mib: Option<u32>,
    /// Bytes the plugin may write through its own file handles per call,
    /// in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_mib: Option<u32>,
    /// Files, directories and links the plugin may create per call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_created: Option<u32>,
    /// Bytes kept of each of a child's stdout and stderr, in KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_output_kib: Option<u32>,
}

impl LimitRequest {
    /// Every value asked for is positive and at most its maximum.
    pub fn validate(&self) -> std::result::Result<(), LimitError> {
        let mib = |v: Option<u32>| v.map(u64::from);
        bounded("limits.memory_mib", mib(self.memory_mib), MAX_MEMORY_MIB)?;
        bounded("limits.timeout_ms", self.timeout_ms, MAX_TIMEOUT_MS)?;
        bounded("limits.output_kib", mib(self.output_kib), MAX_OUTPUT_KIB)?;
        bounded("limits.processes", mib(self.processes), MAX_PROCESSES)?;
        bounded(
            "limits.process_memory_mib",
            mib(self.process_memory_mib),
            MAX_PROCESS_MEMORY_MIB,
        )?;
        bounded(
            "limits.file_size_mib",
            mib(self.file_size_mib),
            MAX_FILE_SIZE_MIB,
        )?;
        bounded("limits.write_mib", mib(self.write_mib), MAX_WRITE_MIB)?;
        bounded(
            "limits.files_created",
            mib(self.files_created),
            MAX_FILES_CREATED,
        )?;
        bounded(
            "limits.process_output_kib",
            mib(self.process_output_kib),
            MAX_PROCESS_OUTPUT_KIB,
        )
    }
}

fn bounded(
    field: &'static str,
    value: Option<u64>,
    max: impl Into<u64>,
) -> std::result::Result<(), LimitError> {
    let max = max.into();
    match value {
        Some(0) => Err(LimitError::Zero(field)),
        Some(value) if value > max => Err(LimitError::OverMaximum { field, value, max }),
        _ => Ok(()),
    }
}

/// A limit a manifest asks for that warden does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// `0`, which would make every call fail.
    #[error("{0} must be positive")]
    Zero(&'static str),
    /// Over the maximum warden allows for the field.
    #[error("{field} = {value} is over the maximum of {max}")]
    OverMaximum {
        field: &'static str,
        value: u64,
        max: u64,
    },
}

/// Per-call limits after defaults and maxima.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Linear memory, MiB.
    pub memory_mib: u32,
    /// Wall time, ms.
    pub timeout_ms: u64,
    /// Result size, bytes.
    pub output_bytes: usize,
    /// Processes in a child's tree.
    pub processes: u32,
    /// Address space of each child, MiB.
    pub process_memory_mib: u32,
    /// Largest file the plugin or a child may write, MiB.
    pub file_size_mib: u32,
    /// Bytes kept of each child output stream.
    pub process_output_bytes: usize,
    /// Bytes the plugin may write through its own file handles per call.
    pub write_bytes: u64,
    /// Files, directories and links the plugin may create per call.
    pub files_created: u32,
}

impl Limits {
    /// The limits a manifest asks for, with defaults filled in.
    pub fn of(manifest: &Manifest) -> Self {
        let l = &manifest.limits;
        Limits {
            memory_mib: l.memory_mib.unwrap_or(DEFAULT_MEMORY_MIB),
            timeout_ms: l.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
            output_bytes: l.output_kib.unwrap_or(DEFAULT_OUTPUT_KIB) as usize * 1024,
            processes: l.processes.unwrap_or(DEFAULT_PROCESSES),
            process_memory_mib: l.process_memory_mib.unwrap_or(DEFAULT_PROCESS_MEMORY_MIB),
            file_size_mib: l.file_size_mib.unwrap_or(DEFAULT_FILE_SIZE_MIB),
            process_output_bytes: l.process_output_kib.unwrap_or(DEFAULT_PROCESS_OUTPUT_KIB)
                as usize
                * 1024,
            write_bytes: u64::from(l.write_mib.unwrap_or(DEFAULT_WRITE_MIB)) << 20,
            files_created: l.files_created.unwrap_or(DEFAULT_FILES_CREATED),
        }
    }

    pub(crate) fn writes(&self) -> crate::capability::files::guard::WriteLimits {
        crate::capability::files::guard::WriteLimits {
            call_bytes: self.write_bytes,
            call_files: self.files_created.into(),
            file_bytes: u64::from(self.file_size_mib) << 20,
        }
    }

    pub(crate) fn child(&self) -> ChildLimits {
        const MIB: u64 = 1024 * 1024;
        ChildLimits {
            processes: self.processes.into(),
            address_space: u64::from(self.process_memory_mib) * MIB,
            file_size: u64::from(self.file_size_mib) * MIB,
            quota: crate::capability::process::overlay::Quota::default(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Issue 11: four declared maxima were never checked, so a manifest
    /// could ask for `process_output_kib = 4294967295`.
    #[test]
    fn every_limit_is_checked_against_its_maximum() {
        type Set = fn(&mut LimitRequest, u64);
        let cases: [(&str, u64, Set); 9] = [
            ("memory_mib", MAX_MEMORY_MIB.into(), |l, v| {
                l.memory_mib = Some(v as u32)
            }),
            ("timeout_ms", MAX_TIMEOUT_MS, |l, v| l.timeout_ms = Some(v)),
            ("output_kib", MAX_OUTPUT_KIB.into(), |l, v| {
                l.output_kib = Some(v as u32)
            }),
            ("processes", MAX_PROCESSES.into(), |l, v| {
                l.processes = Some(v as u32)
            }),
            (
                "process_memory_mib",
                MAX_PROCESS_MEMORY_MIB.into(),
                |l, v| l.process_memory_mib = Some(v as u32),
            ),
            ("file_size_mib", MAX_FILE_SIZE_MIB.into(), |l, v| {
                l.file_size_mib = Some(v as u32)
            }),
            ("write_mib", MAX_WRITE_MIB.into(), |l, v| {
                l.write_mib = Some(v as u32)
            }),
            ("files_created", MAX_FILES_CREATED.into(), |l, v| {
                l.files_created = Some(v as u32)
            }),
            (
                "process_output_kib",
                MAX_PROCESS_OUTPUT_KIB.into(),
                |l, v| l.process_output_kib = Some(v as u32),
            ),
        ];
        for (field, max, set) in cases {
            let mut l = LimitRequest::default();
            set(&mut l, max);
            assert_eq!(l.validate(), Ok(()), "{field} at its maximum");
            set(&mut l, max + 1);
            assert_eq!(
                l.validate().map_err(|e| e.to_string()),
                Err(format!(
                    "limits.{field} = {} is over the maximum of {max}",
                    max + 1
                ))
            );
            set(&mut l, 0);
            assert_eq!(
                l.validate().map_err(|e| e.to_string()),
                Err(format!("limits.{field} must be positive"))
            );
        }
        let huge = LimitRequest {
            process_output_kib: Some(u32::MAX),
            ..LimitRequest::default()
        };
        assert!(huge.validate().is_err());
    }
}
