//! `accord mailbox [use|drop <ID|ALIAS>]` (design §11, §14): which connections hold our mail
//! while we are offline, and what we hold for others.

use std::path::Path;
use std::process::ExitCode;

use accord_api::MailboxInfo;
use clap::Subcommand;

use crate::client_commands::connect;
use crate::output::print_json;

/// `accord mailbox use|drop`.
#[derive(Debug, Subcommand)]
pub(crate) enum MailboxAction {
    /// Make a connection one of your (at most two) mailboxes
    Use {
        /// The connection's Accord ID or alias
        peer: String,
    },
    /// Stop using a connection as a mailbox
    Drop {
        /// The connection's Accord ID or alias
        peer: String,
    },
}

/// `accord mailbox [use|drop <ID|ALIAS>]`.
pub(crate) async fn mailbox(
    data_dir: &Path,
    action: Option<MailboxAction>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut client = connect(data_dir).await?;
    let info = match action {
        None => client.mailbox().await?,
        Some(MailboxAction::Use { peer }) => client.mailbox_use(&peer).await?,
        Some(MailboxAction::Drop { peer }) => client.mailbox_drop(&peer).await?,
    };
    if json {
        print_json(&info)?;
    } else {
        print_human(&info);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_human(info: &MailboxInfo) {
    if info.mine.is_empty() {
        println!("No mailboxes: messages reach you only while you are online.");
    }
    for mailbox in &info.mine {
        let how = if mailbox.pinned {
            "chosen"
        } else {
            "automatic"
        };
        let last = mailbox.last_reached.as_deref().unwrap_or("never");
        println!(
            "mailbox {} ({how}): {}, last reached {last}",
            mailbox.id, mailbox.state
        );
    }
    let serving = &info.serving;
    println!(
        "holding {} message(s), {} bytes, for {} connection(s)",
        serving.messages, serving.bytes, serving.recipients
    );
}
