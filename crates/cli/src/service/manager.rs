//! The service managers themselves: where their per-user definitions live, and the commands
//! (`systemctl --user`, `launchctl`) that load, unload and query them.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use super::definition::{ServiceManager, ServiceSpec, launchd_label};

/// Where `manager` keeps the definition of `spec`'s service: systemd's user unit directory
/// (`$XDG_CONFIG_HOME/systemd/user`, else `~/.config/systemd/user`) or `~/Library/LaunchAgents`.
pub(super) fn file_of(manager: ServiceManager, spec: &ServiceSpec) -> anyhow::Result<PathBuf> {
    let dirs = directories::BaseDirs::new()
        .context("cannot find the home directory, where a per-user service is defined")?;
    Ok(match manager {
        ServiceManager::SystemdUser => dirs
            .config_dir()
            .join("systemd/user")
            .join(format!("{}.service", spec.name())),
        ServiceManager::Launchd => dirs
            .home_dir()
            .join("Library/LaunchAgents")
            .join(format!("{}.plist", launchd_label(spec))),
    })
}

/// Writes `text` to `file` through a temporary file and a rename, so that a crash never
/// leaves the service manager a half-written definition.
pub(super) fn write_atomically(file: &Path, text: &str) -> anyhow::Result<()> {
    let dir = file
        .parent()
        .with_context(|| format!("{} has no parent directory", file.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let temporary = file.with_extension("tmp");
    let mut out = std::fs::File::create(&temporary)
        .with_context(|| format!("cannot create {}", temporary.display()))?;
    out.write_all(text.as_bytes())
        .and_then(|()| out.sync_all())
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, file)
        .with_context(|| format!("cannot move {} into place", file.display()))
}

/// Enables and starts the service whose definition is `file`.
pub(super) fn load(manager: ServiceManager, spec: &ServiceSpec, file: &Path) -> anyhow::Result<()> {
    match manager {
        ServiceManager::SystemdUser => {
            systemctl(&["daemon-reload"])?;
            systemctl(&["enable", "--now", &unit_name(spec)])
        }
        ServiceManager::Launchd => {
            let file = file.to_string_lossy();
            launchctl(&["bootstrap", &gui_domain()?, &file])
        }
    }
}

/// Stops and disables `spec`'s service.
pub(super) fn unload(manager: ServiceManager, spec: &ServiceSpec) -> anyhow::Result<()> {
    match manager {
        ServiceManager::SystemdUser => systemctl(&["disable", "--now", &unit_name(spec)]),
        ServiceManager::Launchd => {
            let target = format!("{}/{}", gui_domain()?, launchd_label(spec));
            launchctl(&["bootout", &target])
        }
    }
}

/// Tells systemd that a unit file went away (launchd needs nothing). A failure is not an
/// error of the uninstall: with no user instance there is nothing to tell.
pub(super) fn reload_definitions(manager: ServiceManager) {
    if manager == ServiceManager::SystemdUser {
        let _ = systemctl(&["daemon-reload"]);
    }
}

/// What the service manager says of the service, or `None` when it cannot be asked.
pub(super) fn state(manager: ServiceManager, spec: &ServiceSpec) -> Option<String> {
    match manager {
        ServiceManager::SystemdUser => {
            // `is-active` prints the state and exits non-zero for every state but active, so
            // its output, not its status, is the answer; no output means no user instance.
            let out = Command::new("systemctl")
                .args(["--user", "is-active", &unit_name(spec)])
                .output()
                .ok()?;
            let state = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            (!state.is_empty()).then_some(state)
        }
        ServiceManager::Launchd => {
            let target = format!("{}/{}", gui_domain().ok()?, launchd_label(spec));
            let out = Command::new("launchctl")
                .args(["print", &target])
                .output()
                .ok()?;
            Some(
                if out.status.success() {
                    "loaded"
                } else {
                    "not loaded"
                }
                .to_owned(),
            )
        }
    }
}

fn unit_name(spec: &ServiceSpec) -> String {
    format!("{}.service", spec.name())
}

/// Runs `systemctl --user <args>`, with its error output as the error.
fn systemctl(args: &[&str]) -> anyhow::Result<()> {
    run("systemctl", &[&["--user"], args].concat())
        .context("is a systemd user instance running? (`systemctl --user status`)")
}

fn launchctl(args: &[&str]) -> anyhow::Result<()> {
    run("launchctl", args)
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    if out.status.success() {
        return Ok(());
    }
    anyhow::bail!(
        "`{program} {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

/// launchd's domain of the current user's graphical session, `gui/<uid>`.
fn gui_domain() -> anyhow::Result<String> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .context("cannot run `id -u`")?;
    let uid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    anyhow::ensure!(
        out.status.success() && !uid.is_empty() && uid.bytes().all(|b| b.is_ascii_digit()),
        "`id -u` did not print a user id"
    );
    Ok(format!("gui/{uid}"))
}
