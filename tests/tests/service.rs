//! `accord service install|uninstall|status`: the per-user service that keeps a node running
//! on a laptop.
//!
//! Every test points HOME and XDG_CONFIG_HOME at its own directory, so no test ever writes to
//! or removes from the real user's service directory. The daemons it starts listen on
//! 127.0.0.1 with mDNS off, through the data dir's config.toml, which the service's daemon
//! reads as any daemon does.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use accord_tests::capability::{require, unless_missing};
use accord_tests::{TestDir, accord, signal, wait_until};
use serde_json::Value;

const LOOPBACK_CONFIG: &str = "[network]\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\nmdns = false\n";

/// A home directory of the test's own, and the data dir of the node the service runs.
struct ServiceHome {
    home: PathBuf,
    data_dir: PathBuf,
}

impl ServiceHome {
    fn new(dir: &TestDir) -> ServiceHome {
        let home = dir.path("home");
        let data_dir = dir.path("node");
        std::fs::create_dir_all(&data_dir).unwrap_or_else(|err| panic!("{err}"));
        std::fs::write(data_dir.join("config.toml"), LOOPBACK_CONFIG)
            .unwrap_or_else(|err| panic!("{err}"));
        ServiceHome { home, data_dir }
    }

    fn command(&self, args: &[&str]) -> Command {
        self.command_for(&self.data_dir, args)
    }

    fn command_for(&self, data_dir: &Path, args: &[&str]) -> Command {
        let mut command = accord(data_dir, args);
        command
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"));
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .unwrap_or_else(|err| panic!("{err}"))
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let output = self.run(&all);
        assert!(
            output.status.success(),
            "accord {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|err| panic!("{err}"))
    }

    fn unit_dir(&self) -> PathBuf {
        self.home.join(".config/systemd/user")
    }
}

/// The words of a systemd `ExecStart=` line whose every word is double-quoted, unescaped.
fn exec_start_words(unit: &str) -> Vec<String> {
    let line = unit
        .lines()
        .find_map(|line| line.strip_prefix("ExecStart="))
        .unwrap_or_else(|| panic!("no ExecStart in\n{unit}"));
    let mut words = Vec::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' => {}
            '"' => {
                let mut word = String::new();
                loop {
                    match chars.next() {
                        Some('"') | None => break,
                        Some('\\') => word.extend(chars.next()),
                        Some('%') | Some('$') => {
                            // `%%` and `$$` stand for one character.
                            word.extend(chars.next());
                        }
                        Some(c) => word.push(c),
                    }
                }
                words.push(word);
            }
            other => panic!("unquoted word starting with {other:?} in {line}"),
        }
    }
    words
}

fn daemon_answers(data_dir: &Path) -> Option<Value> {
    let output = accord(data_dir, &["--json", "status"]).output().ok()?;
    if !output.status.success() {
        return None;
    }
    serde_json::from_slice(&output.stdout).ok()
}

/// Kills the daemon a test started from the unit's command line, if it still runs.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn install_writes_a_user_unit_whose_command_runs_this_data_dirs_daemon() {
    let dir = TestDir::new();
    let service = ServiceHome::new(&dir);

    let installed = service.json(&["service", "install", "--no-start"]);
    let file = PathBuf::from(
        installed["file"]
            .as_str()
            .unwrap_or_else(|| panic!("missing field")),
    );
    assert_eq!(installed["installed"], true);
    assert_eq!(installed["manager"], "systemd");
    assert_eq!(installed["daemon_running"], false);
    assert_eq!(file.parent(), Some(service.unit_dir().as_path()));
    assert_eq!(
        file.file_name().and_then(|name| name.to_str()),
        Some(
            format!(
                "{}.service",
                installed["name"]
                    .as_str()
                    .unwrap_or_else(|| panic!("missing field"))
            )
            .as_str()
        )
    );

    let unit = std::fs::read_to_string(&file).unwrap_or_else(|err| panic!("{err}"));
    assert!(unit.contains("\nRestart=on-failure\n"), "{unit}");
    assert!(unit.contains("\nWantedBy=default.target\n"), "{unit}");
    assert!(
        !unit.contains("User="),
        "a user service never names a user: {unit}"
    );
    let words = exec_start_words(&unit);
    assert_eq!(
        words[1..],
        [
            "--data-dir".to_owned(),
            service.data_dir.display().to_string(),
            "daemon".to_owned()
        ]
    );
    assert_eq!(PathBuf::from(&words[0]), accord_tests::accord_bin());

    // The unit's command line, run as systemd would run it (no arguments added, HOME of the
    // user), brings up the daemon of this data dir, which `service status` then sees.
    let child = Command::new(&words[0])
        .args(&words[1..])
        .env("HOME", &service.home)
        .env_remove("ACCORD_DATA_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("{err}"));
    let _daemon = KillOnDrop(child);
    wait_until(
        "the unit's daemon to answer",
        Duration::from_secs(30),
        || daemon_answers(&service.data_dir),
    );
    let status = service.json(&["service", "status"]);
    assert_eq!(status["installed"], true);
    assert_eq!(status["daemon_running"], true);

    // Installing and starting while a daemon already holds the data dir is refused: the
    // service's daemon could never take the lock.
    let refused = service.run(&["service", "install"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("already running"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let removed = service.json(&["service", "uninstall"]);
    assert_eq!(removed["installed"], false);
    assert!(!file.exists());
    let again = service.run(&["service", "uninstall"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("no service is installed"));
}

#[test]
fn each_data_dir_gets_its_own_service_and_paths_are_written_literally() {
    let dir = TestDir::new();
    let service = ServiceHome::new(&dir);
    let odd = dir.path("node with \"quotes\" 100% $HOME");
    std::fs::create_dir_all(&odd).unwrap_or_else(|err| panic!("{err}"));

    let first = service.json(&["service", "install", "--no-start"]);
    let second = service
        .command_for(&odd, &["--json", "service", "install", "--no-start"])
        .output()
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(second.status.success(), "{second:?}");
    let second: Value =
        serde_json::from_slice(&second.stdout).unwrap_or_else(|err| panic!("{err}"));
    assert_ne!(first["name"], second["name"]);
    assert_ne!(first["file"], second["file"]);

    let unit = std::fs::read_to_string(
        second["file"]
            .as_str()
            .unwrap_or_else(|| panic!("missing field")),
    )
    .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(exec_start_words(&unit)[2], odd.display().to_string());
}

/// Whether `systemctl --user` reaches a running user instance.
fn systemd_user_instance() -> Result<(), String> {
    let output = Command::new("systemctl")
        .args(["--user", "is-system-running"])
        .output()
        .map_err(|err| format!("cannot run systemctl: {err}"))?;
    let state = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    unless_missing(match state.as_str() {
        "running" | "degraded" => None,
        _ => Some(format!(
            "`systemctl --user is-system-running` says {state:?}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    })
}

/// The main PID systemd reports for the user unit `name`, once it has one.
fn main_pid(name: &str) -> Option<u32> {
    let output = Command::new("systemctl")
        .args(["--user", "show", "--property=MainPID", "--value"])
        .arg(format!("{name}.service"))
        .output()
        .ok()?;
    let pid: u32 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .ok()?;
    (pid != 0).then_some(pid)
}

#[test]
#[ignore = "needs a systemd user instance (`systemctl --user`), which containers lack"]
fn the_installed_service_runs_the_daemon_and_restarts_it_after_a_crash() {
    require("a systemd user instance", systemd_user_instance());
    let dir = TestDir::new();
    let service = ServiceHome::new(&dir);
    // The user instance reads units from the real home's config dir, so this test installs
    // there; the unit is named after the data dir's hash, so it never replaces the user's own.
    let installed = accord(&service.data_dir, &["--json", "service", "install"])
        .output()
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(installed.status.success(), "{installed:?}");
    let installed: Value =
        serde_json::from_slice(&installed.stdout).unwrap_or_else(|err| panic!("{err}"));
    let name = installed["name"]
        .as_str()
        .unwrap_or_else(|| panic!("missing field"))
        .to_owned();

    wait_until("the service's daemon", Duration::from_secs(30), || {
        daemon_answers(&service.data_dir)
    });
    let first = wait_until("systemd's main PID", Duration::from_secs(10), || {
        main_pid(&name)
    });
    signal(first, "KILL");
    wait_until("the daemon to come back", Duration::from_secs(30), || {
        main_pid(&name)
            .filter(|pid| *pid != first)
            .and_then(|_| daemon_answers(&service.data_dir))
    });

    let removed = accord(&service.data_dir, &["service", "uninstall"])
        .output()
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(removed.status.success(), "{removed:?}");
    wait_until("the daemon to stop", Duration::from_secs(30), || {
        daemon_answers(&service.data_dir).is_none().then_some(())
    });
}
