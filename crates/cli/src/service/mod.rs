//! `accord service install|uninstall|status`: keep a node running on a laptop through the
//! platform's per-user service manager (a systemd user unit on Linux, a launchd agent on
//! macOS), never a system-wide service: the daemon runs as the user who installed it, with
//! that user's data dir and keys.
//!
//! The definitions themselves are built in [`definition`]; this module finds where they go,
//! writes them and asks the service manager to (un)load them.

mod definition;
mod manager;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use serde::Serialize;

use crate::output::print_json;
use definition::{ServiceManager, ServiceSpec};

/// What `accord service` does.
#[derive(Debug, Subcommand)]
pub(crate) enum ServiceAction {
    /// Write the per-user service that runs this data dir's daemon at login, and start it
    Install {
        /// Only write the service file; do not enable or start it
        #[arg(long)]
        no_start: bool,
        /// The key file's passphrase is in this file (for an encrypted key file)
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Stop the service, disable it and remove its file
    Uninstall,
    /// Whether the service is installed and running
    Status,
}

/// What `accord service status --json` prints (and `install`/`uninstall` with `--json`).
#[derive(Debug, Serialize)]
struct ServiceReport {
    /// The service's name (`accord`, or `accord-<8 hex>` for a data dir not the default).
    name: String,
    /// `systemd` or `launchd`.
    manager: &'static str,
    /// Where the service file is (or would be).
    file: PathBuf,
    /// Whether the service file exists.
    installed: bool,
    /// What the service manager says of it (`active`, `inactive`, `failed`, `loaded`, …),
    /// or null when it could not be asked.
    state: Option<String>,
    /// Whether a daemon answers on this data dir's control socket.
    daemon_running: bool,
}

/// Runs `accord service <action>` for `data_dir`.
pub(crate) async fn run(
    action: ServiceAction,
    data_dir: &Path,
    default_data_dir: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let manager = ServiceManager::of_this_platform();
    let data_dir = absolute(data_dir)?;
    let mut spec = ServiceSpec {
        binary: std::env::current_exe().context("cannot find the path of this accord binary")?,
        data_dir,
        passphrase_file: None,
        default_data_dir,
    };
    match action {
        ServiceAction::Install {
            no_start,
            passphrase_file,
        } => {
            spec.passphrase_file = passphrase_file.as_deref().map(absolute).transpose()?;
            install(manager, &spec, no_start, json).await
        }
        ServiceAction::Uninstall => uninstall(manager, &spec, json).await,
        ServiceAction::Status => {
            let report = report(manager, &spec).await?;
            print_report(&report, json)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn install(
    manager: ServiceManager,
    spec: &ServiceSpec,
    no_start: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if !no_start && daemon_running(&spec.data_dir).await {
        anyhow::bail!(
            "a daemon is already running for {}; stop it first (`accord stop`) so that the \
             service's daemon can take the data dir, or pass --no-start",
            spec.data_dir.display()
        );
    }
    std::fs::create_dir_all(&spec.data_dir)
        .with_context(|| format!("cannot create {}", spec.data_dir.display()))?;
    let file = manager::file_of(manager, spec)?;
    let text = match manager {
        ServiceManager::SystemdUser => definition::systemd_unit(spec)?,
        ServiceManager::Launchd => definition::launchd_plist(spec)?,
    };
    manager::write_atomically(&file, &text)?;
    if !no_start {
        manager::load(manager, spec, &file).with_context(|| {
            format!(
                "the service file is written ({}), but the service manager did not start it",
                file.display()
            )
        })?;
    }
    let report = report(manager, spec).await?;
    if json {
        print_json(&report)?;
    } else if no_start {
        println!("Wrote {} (not started).", report.file.display());
    } else {
        println!(
            "Installed {}: the daemon for {} now runs at login and restarts after a failure.",
            report.file.display(),
            spec.data_dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn uninstall(
    manager: ServiceManager,
    spec: &ServiceSpec,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let file = manager::file_of(manager, spec)?;
    if !file.exists() {
        anyhow::bail!(
            "no service is installed for {} (looked for {})",
            spec.data_dir.display(),
            file.display()
        );
    }
    // A service manager that cannot be reached (no user instance, as in a container) has
    // nothing loaded to stop; the file is removed all the same, and the reason is shown.
    if let Err(err) = manager::unload(manager, spec) {
        eprintln!("warning: {err:#}");
    }
    std::fs::remove_file(&file).with_context(|| format!("cannot remove {}", file.display()))?;
    manager::reload_definitions(manager);
    let report = report(manager, spec).await?;
    if json {
        print_json(&report)?;
    } else {
        println!("Removed {}.", report.file.display());
    }
    Ok(ExitCode::SUCCESS)
}

async fn report(manager: ServiceManager, spec: &ServiceSpec) -> anyhow::Result<ServiceReport> {
    let file = manager::file_of(manager, spec)?;
    Ok(ServiceReport {
        name: spec.name(),
        manager: match manager {
            ServiceManager::SystemdUser => "systemd",
            ServiceManager::Launchd => "launchd",
        },
        installed: file.exists(),
        state: manager::state(manager, spec),
        daemon_running: daemon_running(&spec.data_dir).await,
        file,
    })
}

fn print_report(report: &ServiceReport, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(report);
    }
    println!("Service:  {} ({})", report.name, report.manager);
    println!(
        "File:     {}{}",
        report.file.display(),
        if report.installed {
            ""
        } else {
            " (not installed)"
        }
    );
    println!(
        "State:    {}",
        report
            .state
            .as_deref()
            .unwrap_or("unknown (service manager not reachable)")
    );
    println!(
        "Daemon:   {}",
        if report.daemon_running {
            "running"
        } else {
            "not running"
        }
    );
    Ok(())
}

/// Whether a daemon answers on `data_dir`'s control socket.
async fn daemon_running(data_dir: &Path) -> bool {
    match crate::client_commands::connect(data_dir).await {
        Ok(mut client) => client.status().await.is_ok(),
        Err(_) => false,
    }
}

/// `path` made absolute against the current directory (without resolving links, so that a
/// data dir reached through a symlink keeps the name the user gave it).
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot make {} absolute", path.display()))
}
