//! Secret keys generated into the data directory on first start (mode 0600).

use rand::RngCore;
use std::io::Write;
use std::path::Path;

/// Reads `path`, or creates it with 32 random bytes (hex) if it does not exist yet.
pub fn load_or_create_secret(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read_to_string(path) {
        Ok(s) => decode_hex(s.trim()).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is not a hex key", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = vec![0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut key);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            match options.open(path) {
                Ok(mut f) => {
                    f.write_all(encode_hex(&key).as_bytes())?;
                    f.sync_all()?;
                    Ok(key)
                }
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    load_or_create_secret(path)
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() < 32 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_then_reads_the_same_key() {
        let dir = std::env::temp_dir().join(format!("hd-key-{}", std::process::id()));
        let path = dir.join("jwt.key");
        let _ = std::fs::remove_file(&path);
        let a = load_or_create_secret(&path).expect("create");
        let b = load_or_create_secret(&path).expect("read");
        assert_eq!(a, b);
        assert_eq!(a.len(), 32);
        std::fs::write(&path, "zz").expect("write");
        assert!(load_or_create_secret(&path).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
