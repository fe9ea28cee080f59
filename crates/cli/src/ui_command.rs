//! `accord ui`: starts the daemon's local web app and opens it in the browser.

use std::path::Path;
use std::process::{ExitCode, Stdio};

use crate::client_commands::connect;
use crate::output::print_json;

/// `accord ui`'s options.
#[derive(Debug, clap::Args)]
pub(crate) struct UiArgs {
    /// Print the login URL without opening the browser
    #[arg(long)]
    no_open: bool,
    /// End every web app session and forget every unused login link
    #[arg(long, conflicts_with = "no_open")]
    revoke: bool,
}

/// Runs `accord ui`.
pub(crate) async fn run(data_dir: &Path, args: UiArgs, json: bool) -> anyhow::Result<ExitCode> {
    let mut client = connect(data_dir).await?;
    if args.revoke {
        let revoked = client.ui_revoke().await?;
        if json {
            print_json(&revoked)?;
        } else {
            println!(
                "Ended {} web app session(s) and forgot {} unused login link(s).",
                revoked.sessions, revoked.tokens
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let login = client.ui_open().await?;
    if json {
        print_json(&login)?;
    } else {
        println!("{}", login.url);
        eprintln!("This link logs in once, within 10 minutes; do not share it.");
    }
    if !args.no_open {
        open_browser(&login.url);
    }
    Ok(ExitCode::SUCCESS)
}

/// Hands the URL to the desktop's opener. Failing to is not an error: the URL is printed.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if let Err(err) = spawned {
        eprintln!("note: cannot run {opener} ({err}); open the URL above in your browser");
    }
}
