//! A small tmpfs mounted by a test, for what only a real filesystem can show: a full disk.
//!
//! Mounting needs root (CAP_SYS_ADMIN); [`Tmpfs::mount`] says why it cannot, so that the test
//! (which is `#[ignore]`d for that reason) fails with the reason through
//! [`crate::capability::require`] when it is run where it cannot work.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for one test; unmounted when dropped, however the test ends.
pub struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it) on `path`, private to the
    /// owner (mode 0700, as a data dir must be), or says why it cannot.
    pub fn mount(path: &Path, size: &str) -> Result<Tmpfs, String> {
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| e.to_string())?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("not root: mounting a tmpfs needs CAP_SYS_ADMIN".to_owned());
        }
        std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(Tmpfs {
            path: path.to_owned(),
        })
    }

    /// Fills the filesystem with a file named `filler` at its root, writing until the kernel
    /// answers ENOSPC, and returns its path: removing it frees the space again.
    pub fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap_or_else(|e| panic!("filler: {e}"));
        for chunk in [1 << 20, 4096, 1] {
            let block = vec![0xa5u8; chunk];
            loop {
                match file.write_all(&block) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(ENOSPC) => break,
                    Err(e) => panic!("filling the disk failed otherwise: {e}"),
                }
            }
        }
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(&self.path).status();
        if !unmounted.is_ok_and(|s| s.success()) {
            // Something still holds it (a daemon being killed): detach it now, freed when
            // the last user goes.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

/// `ENOSPC` on Linux.
const ENOSPC: i32 = 28;
