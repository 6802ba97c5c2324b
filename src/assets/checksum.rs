//! sha256 digests of files and bytes, as lowercase hex (the form manifests and pip use).
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Hex sha256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Hex sha256 of a file's contents, read in chunks.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file.read(&mut buffer).map_err(|e| Error::io(path, e))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Fails with [`Error::Checksum`] unless `actual` equals `expected` (case-insensitive).
pub fn expect_sha256(path: &Path, expected: &str, actual: &str, fix: String) -> Result<()> {
    if expected.eq_ignore_ascii_case(actual) {
        return Ok(());
    }
    Err(Error::Checksum {
        path: path.to_path_buf(),
        expected: expected.to_string(),
        actual: actual.to_string(),
        fix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn digest_of_bytes_matches_the_fips_test_vector() {
        assert_eq!(sha256_hex(b"abc"), ABC_SHA256);
    }

    #[test]
    fn digest_of_file_matches_digest_of_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.txt");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(sha256_file(&path).unwrap(), ABC_SHA256);
    }

    #[test]
    fn mismatch_is_a_checksum_error_with_the_fix() {
        let err = expect_sha256(Path::new("x.whl"), "aa", "bb", "delete x.whl".into()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Checksum { .. }));
        assert!(
            msg.contains("x.whl") && msg.contains("delete x.whl"),
            "{msg}"
        );
        assert!(expect_sha256(Path::new("x"), "AB", "ab", String::new()).is_ok());
    }
}
