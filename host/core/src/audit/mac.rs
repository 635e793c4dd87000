//! HMAC-SHA256 (RFC 2104) over `sha2`, and the key that lives beside, not
//! inside, the log.
//!
//! Written here rather than pulled in as a crate: it is twenty lines over a
//! hash warden already depends on, and the RFC 4231 vectors below pin it.

use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

const BLOCK: usize = 64;

/// A MAC key: 32 random bytes.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    /// Read the key at `path`, or create it (mode 0600) from the kernel's
    /// random source when there is none yet.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        // Bounded and non-blocking: a FIFO at the key's path fails at once.
        match crate::configfile::read_text(path, 4096)
            .and_then(|t| t.ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound)))
        {
            Ok(text) => Self::parse(&text).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "not 64 hex digits; it was damaged (records already written cannot be verified without the original key)",
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
                // Written aside, then linked into place: a concurrent first
                // use either wins the link or reads the winner's whole key.
                // Named by the new key itself: unique across processes and threads.
                let tmp = path.with_extension(format!("tmp.{}", hex::encode(&bytes[..8])));
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&tmp)?;
                file.write_all(hex::encode(bytes).as_bytes())?;
                file.sync_all()?;
                let linked = std::fs::hard_link(&tmp, path);
                let _ = std::fs::remove_file(&tmp);
                match linked {
                    Ok(()) => Ok(Key(bytes)),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load_or_create(path),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let bytes = hex::decode(text.trim()).ok()?;
        Some(Key(bytes.try_into().ok()?))
    }

    /// HMAC-SHA256 of `message`, as lowercase hex.
    pub fn mac(&self, message: &[u8]) -> String {
        hex::encode(hmac(&self.0, message))
    }
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// Compare MACs without stopping at the first differing byte.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{Key, hmac};

    #[test]
    fn rfc_4231_vectors() {
        // Test case 1.
        assert_eq!(
            hex::encode(hmac(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 2: a key shorter than the block.
        assert_eq!(
            hex::encode(hmac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex::encode(hmac(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn key_is_created_once_private_and_reloaded() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let a = Key::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = Key::load_or_create(&path).unwrap();
        assert_eq!(a.mac(b"x"), b.mac(b"x"));
        std::fs::write(&path, "not hex").unwrap();
        let err = Key::load_or_create(&path).unwrap_err();
        assert!(err.to_string().contains("not 64 hex digits"), "{err}");
    }
}
