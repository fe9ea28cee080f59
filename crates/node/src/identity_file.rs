//! Loading and creating the node's identity in its key file.
//!
//! The format itself (and its encryption) belongs to `accord_identity::keyfile`; this module
//! only does the file I/O around it: bounded reads, and writes that are atomic and 0600.

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;

use accord_identity::Identity;
use accord_identity::keyfile::{self, KdfParams, Passphrase};

use crate::data_dir::{DataDir, write_atomically};
use crate::{NodeError, rng};

/// Creates a new identity and writes it, encrypted when a passphrase is given. Refuses to
/// overwrite an existing key file.
pub fn create_identity(
    dir: &DataDir,
    passphrase: Option<&Passphrase>,
) -> Result<Identity, NodeError> {
    let path = dir.key_file();
    if path.exists() {
        return Err(NodeError::IdentityExists { path });
    }
    let mut rng = rng::os_rng();
    let identity = Identity::generate(&mut rng);
    let bytes = keyfile::encode(
        &identity,
        passphrase.map(|pass| (pass, KdfParams::default())),
        &mut rng,
    )
    .map_err(|source| NodeError::KeyFile {
        path: path.clone(),
        source,
    })?;
    write_atomically(&path, &bytes, 0o600).map_err(|source| NodeError::DataDir { path, source })?;
    Ok(identity)
}

/// Opens the identity in the key file. A missing file is [`NodeError::NoIdentity`]; a file
/// that group or others may read or write is [`NodeError::UnsafeKeyFile`]; anything else
/// wrong with an existing file is [`NodeError::KeyFile`] — never a silently new identity.
pub fn load_identity(
    dir: &DataDir,
    passphrase: Option<&Passphrase>,
) -> Result<Identity, NodeError> {
    let path = dir.key_file();
    let io_err = |source| NodeError::DataDir {
        path: path.clone(),
        source,
    };
    let meta = match std::fs::metadata(&path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == ErrorKind::NotFound => {
            return Err(NodeError::NoIdentity { path });
        }
        Err(err) => return Err(io_err(err)),
    };
    // Like ssh with a private key: a key file other users may read or write is refused, not
    // used, because it may already be known to them (or replaced by them).
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(NodeError::UnsafeKeyFile { path, mode });
    }
    let len = meta.len();
    if len > keyfile::MAX_KEY_FILE_LEN as u64 {
        return Err(NodeError::KeyFile {
            path: path.clone(),
            source: keyfile::KeyFileError::TooLarge(usize::try_from(len).unwrap_or(usize::MAX)),
        });
    }
    let bytes = zeroize::Zeroizing::new(std::fs::read(&path).map_err(io_err)?);
    keyfile::decode(&bytes, passphrase).map_err(|source| NodeError::KeyFile { path, source })
}

/// Opens the identity, creating one first if the data dir has none.
pub fn load_or_create_identity(
    dir: &DataDir,
    passphrase: Option<&Passphrase>,
) -> Result<(Identity, bool), NodeError> {
    match load_identity(dir, passphrase) {
        Ok(identity) => Ok((identity, false)),
        Err(NodeError::NoIdentity { .. }) => Ok((create_identity(dir, passphrase)?, true)),
        Err(err) => Err(err),
    }
}
