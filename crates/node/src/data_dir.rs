//! The data dir: its layout, its permissions, the lock that keeps one daemon per dir, and
//! crash-safe file writes.
//!
//! ```text
//! <data-dir>/            mode 0700
//!   accord.lock          held (flock) by the running daemon; holds its pid
//!   accord.sock          the control socket, mode 0600, only while a daemon runs
//!   identity.key         the key file, mode 0600
//!   config.toml          optional configuration
//!   db/                  the sled database
//! ```

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::NodeError;

/// The file names inside a data dir.
const LOCK_FILE: &str = "accord.lock";
const KEY_FILE: &str = "identity.key";
const CONFIG_FILE: &str = "config.toml";
const DB_DIR: &str = "db";

/// A data dir's paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Names a data dir; nothing is touched on disk.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    /// Creates the dir if needed, checks that it is safe, and makes it private (0700): the
    /// key file and the control socket inside it are only as safe as the dir that holds them.
    ///
    /// A dir owned by another user, or one that group or others may write to, is refused with
    /// [`NodeError::UnsafeDataDir`]: whoever can write to it could swap the key file or the
    /// database, so silently tightening it would hide that it may already have been tampered
    /// with. A dir that others may merely read or enter is tightened to 0700.
    pub fn prepare(&self) -> Result<(), NodeError> {
        let io_err = |source| NodeError::DataDir {
            path: self.root.clone(),
            source,
        };
        // Created private from the start, whatever the umask: a umask of 002 (common with
        // per-user groups) would otherwise make a new dir group-writable and then refused.
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .map_err(io_err)?;
        let meta = fs::metadata(&self.root).map_err(io_err)?;
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(NodeError::UnsafeDataDir {
                path: self.root.clone(),
                reason: format!(
                    "it is owned by uid {}, not by this user (uid {me})",
                    meta.uid()
                ),
                fix: format!("chown {me} {}", self.root.display()),
            });
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o022 != 0 {
            return Err(NodeError::UnsafeDataDir {
                path: self.root.clone(),
                reason: format!("its mode {mode:04o} lets other users write to it"),
                fix: format!("chmod 700 {}", self.root.display()),
            });
        }
        if mode != 0o700 {
            fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700)).map_err(io_err)?;
        }
        Ok(())
    }

    /// The data dir itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The key file.
    pub fn key_file(&self) -> PathBuf {
        self.root.join(KEY_FILE)
    }

    /// The config file.
    pub fn config_file(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    /// The control socket.
    pub fn socket(&self) -> PathBuf {
        self.root.join(accord_api::SOCKET_FILE_NAME)
    }

    /// The database directory.
    pub fn db(&self) -> PathBuf {
        self.root.join(DB_DIR)
    }

    /// Takes the per-dir lock, or explains who holds it.
    ///
    /// The lock is an advisory `flock` on `accord.lock`, released by the kernel when the holder
    /// exits however it exits, so a crash never leaves a stale lock behind.
    pub fn lock(&self) -> Result<DataDirLock, NodeError> {
        let path = self.root.join(LOCK_FILE);
        let io_err = |source| NodeError::DataDir {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                return Err(NodeError::AlreadyRunning {
                    data_dir: self.root.clone(),
                    pid: pid.trim().parse().ok(),
                });
            }
            Err(TryLockError::Error(source)) => return Err(io_err(source)),
        }
        file.set_len(0).map_err(io_err)?;
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        writeln!(file, "{}", std::process::id()).map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        Ok(DataDirLock { _file: file })
    }
}

/// Proof that this process holds a data dir's lock; dropping it releases the lock.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one, never a
/// torn one: write a temporary file (created with `mode`), fsync it, rename it over `path`,
/// then fsync the directory so that the rename itself is durable.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp_name = path
        .file_name()
        .map(|name| name.to_os_string())
        .unwrap_or_default();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    // A temporary file left by a crash would keep its old mode; start from nothing.
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap_or_else(|err| panic!("tempdir: {err}"))
    }

    #[test]
    fn prepare_makes_the_dir_private() {
        let tmp = tempdir();
        let dir = DataDir::new(tmp.path().join("a/b"));
        dir.prepare().unwrap_or_else(|err| panic!("{err}"));
        let mode = fs::metadata(dir.root()).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o700));
    }

    #[test]
    fn prepare_tightens_a_readable_dir_and_refuses_a_writable_one() {
        let tmp = tempdir();
        let dir = DataDir::new(tmp.path().join("d"));
        fs::create_dir(dir.root()).unwrap_or_else(|err| panic!("{err}"));
        let set = |mode| {
            fs::set_permissions(dir.root(), fs::Permissions::from_mode(mode))
                .unwrap_or_else(|err| panic!("{err}"));
        };
        set(0o755);
        dir.prepare().unwrap_or_else(|err| panic!("{err}"));
        let mode = fs::metadata(dir.root()).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o700));
        for loose in [0o770, 0o707, 0o777, 0o720] {
            set(loose);
            match dir.prepare() {
                Err(err @ NodeError::UnsafeDataDir { .. }) => {
                    assert!(err.to_string().contains("chmod 700"), "{err}");
                }
                other => panic!("mode {loose:o}: expected UnsafeDataDir, got {other:?}"),
            }
            // Refused means untouched: the user decides what to do about it.
            let mode = fs::metadata(dir.root()).map(|m| m.permissions().mode() & 0o777);
            assert_eq!(mode.ok(), Some(loose));
        }
    }

    #[test]
    fn a_second_lock_on_the_same_dir_is_refused_with_the_holder_pid() {
        let tmp = tempdir();
        let dir = DataDir::new(tmp.path());
        let first = dir.lock().unwrap_or_else(|err| panic!("{err}"));
        match dir.lock() {
            Err(NodeError::AlreadyRunning { pid, .. }) => {
                assert_eq!(pid, Some(std::process::id()));
            }
            other => panic!("expected AlreadyRunning, got {other:?}"),
        }
        drop(first);
        assert!(dir.lock().is_ok());
    }

    #[test]
    fn atomic_writes_replace_and_set_the_mode() {
        let tmp = tempdir();
        let path = tmp.path().join("f");
        write_atomically(&path, b"one", 0o600).unwrap_or_else(|err| panic!("{err}"));
        write_atomically(&path, b"two", 0o600).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(fs::read(&path).ok(), Some(b"two".to_vec()));
        let mode = fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
        let leftovers = fs::read_dir(tmp.path())
            .map(|d| d.count())
            .unwrap_or_default();
        assert_eq!(leftovers, 1);
    }
}
