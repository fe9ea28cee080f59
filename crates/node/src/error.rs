//! Errors of the node daemon.

use std::path::PathBuf;

/// What can stop the node from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The data dir (or a file in it) could not be created, read or written.
    #[error("cannot use {}: {source}", path.display())]
    DataDir {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The data dir is not safe to keep secrets in: another user owns it, or other users may
    /// write to it (and so replace the key file, the database or the control socket).
    #[error(
        "refusing to use the data dir {}: {reason}; fix it with: {fix}",
        path.display()
    )]
    UnsafeDataDir {
        /// The data dir.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
        /// The command that fixes it.
        fix: String,
    },
    /// The key file may be read or written by other users, so the identity (and the store key
    /// derived from it) cannot be trusted to be private. Like ssh, the daemon refuses it.
    #[error(
        "refusing to load the key file {}: its mode {mode:04o} lets other users read or write it; \
         fix it with: chmod 600 {}",
        path.display(),
        path.display()
    )]
    UnsafeKeyFile {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Another daemon holds the data dir's lock.
    #[error(
        "another Accord node is already running for {}{}",
        data_dir.display(),
        pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    AlreadyRunning {
        /// The data dir.
        data_dir: PathBuf,
        /// The pid recorded by the holder, when readable.
        pid: Option<u32>,
    },
    /// The key file exists but cannot be opened: corrupt, truncated, tampered, or the
    /// passphrase is wrong or missing.
    #[error("cannot open the key file {}: {source}", path.display())]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: accord_identity::keyfile::KeyFileError,
    },
    /// `accord init` found an identity already in place; it never overwrites one.
    #[error("an identity already exists at {}; refusing to overwrite it", path.display())]
    IdentityExists {
        /// The key file.
        path: PathBuf,
    },
    /// No identity exists and the caller asked not to create one.
    #[error("no identity at {}; create one with: accord init", path.display())]
    NoIdentity {
        /// The key file.
        path: PathBuf,
    },
    /// The config file is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    /// The testing hook `ACCORD_CLOCK_OFFSET_SECS` is set to something that is not a whole
    /// number of seconds: refused at start-up rather than ignored, so that a test (or a user
    /// reproducing a clock bug) never runs on a clock it did not ask for.
    #[error(transparent)]
    ClockOffset(#[from] crate::ClockOffsetError),
    /// The database could not be opened or used.
    #[error(transparent)]
    Store(#[from] accord_store::StoreError),
    /// The network could not start.
    #[error(transparent)]
    Net(#[from] accord_net::NetError),
    /// The control socket could not be set up.
    #[error("cannot serve the control API on {}: {source}", path.display())]
    ControlSocket {
        /// The socket path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A command-line override (listen or bootstrap address) does not parse.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidOption {
        /// Which option.
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
}
