//! Reading the files warden is configured by (policy, roles, grants,
//! `config.toml`, remembered approvals, the audit key and anchor) without
//! ever hanging and within a size bound.
//!
//! A plain `File::open` of a FIFO blocks until a writer appears, and a
//! read of a character device may never end: a policy path that names
//! either would hang warden before it decides anything. So every such file
//! is opened with `O_NONBLOCK` (which makes opening a FIFO return at once),
//! checked with `fstat` on the opened descriptor to be a regular file (so a
//! swap between check and open changes nothing), and read to at most a
//! bound. Anything else is an error the caller reports, failing closed.

use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// Why a configuration file could not be used.
#[derive(Debug)]
pub enum ReadError {
    /// Opening or reading failed.
    Io(std::io::Error),
    /// It is not a regular file (a FIFO, a device, a socket, a directory).
    NotRegular(&'static str),
    /// It is larger than the bound.
    TooLarge(u64),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "cannot read it: {e}"),
            ReadError::NotRegular(kind) => write!(
                f,
                "it is {kind}, not a regular file (replace it with a regular file)"
            ),
            ReadError::TooLarge(limit) => {
                write!(f, "it is larger than the limit of {limit} bytes")
            }
        }
    }
}

impl std::error::Error for ReadError {}

impl From<ReadError> for std::io::Error {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io(e) => e,
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}

/// The regular file at `path`, opened for reading; `Ok(None)` if nothing
/// is there. Never blocks on a FIFO or device: those are refused.
pub fn open_regular(path: &Path) -> Result<Option<(std::fs::File, u64)>, ReadError> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY).bits() as i32)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReadError::Io(e)),
    };
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular(kind_of(&meta.file_type())));
    }
    Ok(Some((file, meta.len())))
}

/// At most the first `limit` bytes of the regular file at `path`, and
/// whether there was more; `Ok(None)` if nothing is there.
pub fn read_head(path: &Path, limit: u64) -> Result<Option<(Vec<u8>, bool)>, ReadError> {
    let Some((file, _)) = open_regular(path)? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    let more = bytes.len() as u64 > limit;
    bytes.truncate(limit as usize);
    Ok(Some((bytes, more)))
}

/// The bytes of the regular file at `path`, at most `limit` of them;
/// `Ok(None)` if nothing is there. Never blocks on a FIFO or device.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, ReadError> {
    let Some((file, len)) = open_regular(path)? else {
        return Ok(None);
    };
    if len > limit {
        return Err(ReadError::TooLarge(limit));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge(limit));
    }
    Ok(Some(bytes))
}

/// Like [`read_bounded`], as UTF-8 text; not UTF-8 is an `InvalidData` error.
pub fn read_text(path: &Path, limit: u64) -> std::io::Result<Option<String>> {
    match read_bounded(path, limit)? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text")
        }),
    }
}

fn kind_of(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("p");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        )
        .unwrap();
        let started = std::time::Instant::now();
        let e = read_bounded(&fifo, 10).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(
            e.to_string(),
            "it is a FIFO (named pipe), not a regular file (replace it with a regular file)"
        );
    }

    #[test]
    fn sizes_and_absence() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "12345").unwrap();
        assert_eq!(read_bounded(&f, 5).unwrap().unwrap(), b"12345");
        assert!(matches!(read_bounded(&f, 4), Err(ReadError::TooLarge(4))));
        assert!(read_bounded(&dir.path().join("none"), 4).unwrap().is_none());
        assert!(matches!(
            read_bounded(dir.path(), 4),
            Err(ReadError::NotRegular("a directory"))
        ));
        assert!(matches!(
            read_bounded(Path::new("/dev/zero"), 4),
            Err(ReadError::NotRegular("a character device"))
        ));
    }
}
