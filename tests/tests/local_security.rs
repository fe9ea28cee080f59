//! Local security: the data dir and key file permissions the daemon insists on, and the
//! control socket refusing every user but its owner.
//!
//! Threats covered: another local user who can write to the data dir (and so swap the key
//! file, the database or the socket) — the daemon refuses to start; a key file other users
//! can read — refused like ssh refuses one; another local user on the control socket —
//! unreachable with the default permissions, and refused by the daemon's own uid check
//! (SO_PEERCRED) even when the permissions are loosened; a data dir another user owns —
//! refused. The tests that act as another user need root and `setpriv`: they are
//! `#[ignore]`d, `.ci/run` runs them with `--ignored` as root, and run without root they fail
//! with the reason.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use accord_tests::capability::{require, unless_missing};
use accord_tests::{Daemon, TestDir, accord_bin, run, stderr, wait_until};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .map(|meta| meta.permissions().mode() & 0o777)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|err| panic!("chmod {}: {err}", path.display()));
}

/// Runs the daemon on `data` expecting it to refuse to start; returns its stderr.
fn refused_start(data: &Path) -> String {
    let output = run(
        data,
        &["daemon", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    stderr(&output)
}

#[test]
fn a_data_dir_others_can_write_is_refused_and_one_they_can_read_is_tightened() {
    let dir = TestDir::new();
    let data = dir.path("a");
    let init = run(&data, &["init"]);
    assert!(init.status.success(), "{}", stderr(&init));
    for loose in [0o770, 0o775, 0o707, 0o777] {
        chmod(&data, loose);
        let err = refused_start(&data);
        assert!(err.contains("refusing to use the data dir"), "{err}");
        assert!(
            err.contains(&format!("chmod 700 {}", data.display())),
            "{err}"
        );
        // Refused, not repaired behind the user's back: the mode is as it was.
        assert_eq!(mode(&data), loose);
    }
    // Readable by others but not writable: tightened, and the daemon starts.
    chmod(&data, 0o755);
    let daemon = Daemon::start(&data, &[]);
    assert_eq!(mode(&data), 0o700);
    assert!(daemon.stop().success());
}

#[test]
fn a_key_file_others_can_read_or_write_is_refused() {
    let dir = TestDir::new();
    let data = dir.path("a");
    let init = run(&data, &["init"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let key = data.join("identity.key");
    assert_eq!(mode(&key), 0o600, "accord init creates the key file 0600");
    for loose in [0o644, 0o640, 0o604, 0o660] {
        chmod(&key, loose);
        let err = refused_start(&data);
        assert!(err.contains("refusing to load the key file"), "{err}");
        assert!(
            err.contains(&format!("chmod 600 {}", key.display())),
            "{err}"
        );
        assert_eq!(mode(&key), loose);
    }
    chmod(&key, 0o400);
    let daemon = Daemon::start(&data, &[]);
    assert!(daemon.stop().success());
}

#[test]
#[ignore = "needs root and setpriv to act as uid 65534; .ci/run runs it with --ignored as root"]
fn a_data_dir_another_user_owns_is_refused() {
    require(SWITCH_USERS, unless_missing(cannot_switch_users()));
    let dir = TestDir::new();
    let data = dir.path("a");
    let init = run(&data, &["init"]);
    assert!(init.status.success(), "{}", stderr(&init));
    std::os::unix::fs::chown(&data, Some(NOBODY), Some(NOBODY))
        .unwrap_or_else(|err| panic!("chown: {err}"));
    let err = refused_start(&data);
    assert!(
        err.contains(&format!("it is owned by uid {NOBODY}, not by this user")),
        "{err}"
    );
    assert!(err.contains("chown"), "{err}");
}

/// The unprivileged user the tests act as.
const NOBODY: u32 = 65534;
/// What the tests that act as [`NOBODY`] need.
const SWITCH_USERS: &str = "root and setpriv (to act as uid 65534)";

/// Why the socket test cannot run here, if it cannot.
fn cannot_switch_users() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root: acting as another user needs root".to_owned());
    }
    let probe = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "id",
            "-u",
        ])
        .output();
    match probe {
        Ok(out) if String::from_utf8_lossy(&out.stdout).trim() == NOBODY.to_string() => None,
        Ok(out) => Some(format!(
            "setpriv cannot switch to uid {NOBODY}: {}",
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(err) => Some(format!("`setpriv` is not available ({err})")),
    }
}

/// Runs `accord --data-dir <data> id` as uid/gid 65534, from a copy of the binary that user
/// can execute.
fn id_as_nobody(bin: &Path, data: &Path) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin)
        .arg("--data-dir")
        .arg(data)
        .arg("id")
        .env_remove("ACCORD_DATA_DIR")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("setpriv: {err}"))
}

#[test]
#[ignore = "needs root and setpriv to act as uid 65534; .ci/run runs it with --ignored as root"]
fn another_user_cannot_use_the_control_socket() {
    require(SWITCH_USERS, unless_missing(cannot_switch_users()));
    let dir = TestDir::new();
    let root = dir.path("");
    // The test dir itself must be enterable by the other user, or nothing below is tested.
    chmod(&root, 0o711);
    let bin = dir.path("accord-bin");
    std::fs::copy(accord_bin(), &bin).unwrap_or_else(|err| panic!("copy the binary: {err}"));
    chmod(&bin, 0o755);
    let data = dir.path("a");
    let daemon = Daemon::start(&data, &[]);

    // (a) The default permissions (dir 0700, socket 0600) keep the other user out.
    let output = id_as_nobody(&bin, &data);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.to_lowercase().contains("permission denied"), "{err}");

    // (b) With the permissions deliberately loosened, the daemon's own uid check refuses
    // the connection, with a clear error on the client and a log line on the daemon.
    chmod(&data, 0o711);
    chmod(&data.join("accord.sock"), 0o666);
    let output = id_as_nobody(&bin, &data);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("serves only the user that runs it") && err.contains("uid 65534"),
        "{err}"
    );
    wait_until(
        "the daemon to log the refusal",
        accord_tests::ARRIVAL,
        || {
            daemon
                .log()
                .contains("refused a control connection from another user")
                .then_some(())
        },
    );
    // The owner is still served.
    assert!(daemon.run(&["id"]).status.success());
}
