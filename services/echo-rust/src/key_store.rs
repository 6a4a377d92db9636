//! The service's signing key on disk: `<state-dir>/signing.key`, 32 raw bytes, mode 0600.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::ffi::{cleanse, is_valid_secret_key, random_bytes, CompressedPublicKey, SecretKey};
use crate::protocol::to_hex;

pub const SIGNING_KEY_FILE_NAME: &str = "signing.key";

const O_NOFOLLOW: i32 = 0o400_000; // Linux value (fcntl.h)

fn describe(what: &str, path: &Path, error: &io::Error) -> String {
    format!("{what} {}: {error}", path.display())
}

fn ensure_state_dir(state_dir: &Path) -> Result<(), String> {
    match DirBuilder::new().mode(0o700).create(state_dir) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(describe("cannot create state directory", state_dir, &error)),
    }
    let metadata = fs::metadata(state_dir)
        .map_err(|error| describe("cannot access state directory", state_dir, &error))?;
    if !metadata.is_dir() {
        return Err(format!(
            "state directory {} is not a directory",
            state_dir.display()
        ));
    }
    Ok(())
}

fn read_key(mut file: File, path: &Path) -> Result<SecretKey, String> {
    let metadata = file
        .metadata()
        .map_err(|error| describe("cannot stat", path, &error))?;
    if !metadata.is_file() {
        return Err(format!(
            "signing key {} is not a regular file",
            path.display()
        ));
    }
    if metadata.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "signing key {0} is accessible by group or others; run: chmod 600 {0}",
            path.display()
        ));
    }
    // Read one byte more than a key so that an oversized file is detected.
    let mut buffer = [0u8; 33];
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(got) => filled += got,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(describe("cannot read", path, &error)),
        }
    }
    let mut key = [0u8; 32];
    if filled != key.len() {
        let size = if filled > key.len() {
            "more".to_string()
        } else {
            filled.to_string()
        };
        return Err(format!(
            "signing key {} must hold exactly 32 bytes, not {size}",
            path.display()
        ));
    }
    key.copy_from_slice(&buffer[..32]);
    cleanse(&mut buffer);
    if !is_valid_secret_key(&key) {
        return Err(format!(
            "signing key {} is not a valid secp256k1 private key",
            path.display()
        ));
    }
    Ok(key)
}

fn generate_key() -> Result<SecretKey, String> {
    let mut key = [0u8; 32];
    loop {
        random_bytes(&mut key).map_err(|error| error.to_string())?;
        if is_valid_secret_key(&key) {
            return Ok(key);
        }
    }
}

/// Load the key from `state_dir` (created with mode 0700 if missing), or generate it and create
/// the file with O_EXCL and mode 0600. Refuses a key file that is not a regular file, is readable
/// or writable by group/others, has the wrong size or holds an invalid key.
pub fn load_or_create_signing_key(state_dir: &Path) -> Result<SecretKey, String> {
    ensure_state_dir(state_dir)?;
    let path = state_dir.join(SIGNING_KEY_FILE_NAME);
    for _ in 0..2 {
        match OpenOptions::new()
            .read(true)
            .custom_flags(O_NOFOLLOW)
            .open(&path)
        {
            Ok(file) => return read_key(file, &path),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(describe("cannot open", &path, &error)),
        }
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(O_NOFOLLOW)
            .open(&path);
        let mut file = match created {
            Ok(file) => file,
            // Another process created it first: read theirs.
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(describe("cannot create", &path, &error)),
        };
        let key = generate_key()?;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(|error| describe("cannot chmod", &path, &error))?;
        file.write_all(&key)
            .map_err(|error| describe("cannot write", &path, &error))?;
        file.sync_all()
            .map_err(|error| describe("cannot sync", &path, &error))?;
        return Ok(key);
    }
    Err(format!(
        "signing key {} appeared and vanished while starting",
        path.display()
    ))
}

/// Write the compressed public key as lowercase hex + "\n" to `path` (via a temporary + rename).
pub fn write_public_key_file(path: &Path, public_key: &CompressedPublicKey) -> Result<(), String> {
    let mut temporary = path.as_os_str().to_os_string();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let text = format!("{}\n", to_hex(public_key));
    fs::write(&temporary, text).map_err(|error| describe("cannot create", &temporary, &error))?;
    fs::set_permissions(&temporary, fs::Permissions::from_mode(0o644))
        .map_err(|error| describe("cannot chmod", &temporary, &error))?;
    if let Err(error) = fs::rename(&temporary, path) {
        let _ = fs::remove_file(&temporary);
        return Err(describe("cannot write", path, &error));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::Signer;
    use std::os::unix::fs::MetadataExt;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let mut random = [0u8; 8];
            random_bytes(&mut random).unwrap();
            let path = std::env::temp_dir().join(format!("echo-rust-{name}-{}", to_hex(&random)));
            fs::create_dir(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn write_key_file(path: &Path, data: &[u8], mode: u32) {
        let _ = fs::remove_file(path);
        fs::write(path, data).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn creates_and_reuses_the_key() {
        let root = TempDir::new("create");
        let state_dir = root.0.join("state");
        let first = load_or_create_signing_key(&state_dir).unwrap();
        let key_path = state_dir.join(SIGNING_KEY_FILE_NAME);
        let metadata = fs::metadata(&key_path).unwrap();
        assert_eq!(metadata.mode() & 0o7777, 0o600);
        assert_eq!(metadata.len(), 32);
        assert_eq!(fs::metadata(&state_dir).unwrap().mode() & 0o777, 0o700);
        assert_eq!(fs::read(&key_path).unwrap(), first.to_vec());
        assert!(is_valid_secret_key(&first));
        assert_eq!(load_or_create_signing_key(&state_dir).unwrap(), first);
        assert_ne!(
            load_or_create_signing_key(&root.0.join("other")).unwrap(),
            first
        );
    }

    #[test]
    fn refuses_bad_key_files() {
        let root = TempDir::new("bad");
        let key_path = root.0.join(SIGNING_KEY_FILE_NAME);
        for (data, mode) in [
            (vec![1u8; 31], 0o600),
            (vec![1u8; 33], 0o600),
            (vec![0u8; 32], 0o600),
            (vec![0xffu8; 32], 0o600),
            (vec![1u8; 32], 0o640),
        ] {
            write_key_file(&key_path, &data, mode);
            assert!(
                load_or_create_signing_key(&root.0).is_err(),
                "{} bytes, {mode:o}",
                data.len()
            );
        }
        write_key_file(&key_path, &[1u8; 32], 0o600);
        assert_eq!(load_or_create_signing_key(&root.0).unwrap(), [1u8; 32]);

        let not_a_dir = root.0.join("file");
        fs::write(&not_a_dir, b"x").unwrap();
        assert!(load_or_create_signing_key(&not_a_dir).is_err());
    }

    #[test]
    fn writes_the_public_key_file() {
        let root = TempDir::new("pub");
        let mut key = [0u8; 32];
        key[31] = 1; // the generator G
        let signer = Signer::new(&key).unwrap();
        let path = root.0.join("echo.pub");
        write_public_key_file(&path, signer.public_key()).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798\n"
        );
        assert!(
            write_public_key_file(&root.0.join("missing/echo.pub"), signer.public_key()).is_err()
        );
    }
}
