//! The Connect half of the CLI: invites, connections and attestations.

use std::path::Path;
use std::process::ExitCode;

use accord_api::{InviteDirection, InviteInfo, InviteSummary};

use crate::client_commands::connect;
use crate::output::print_json;
use crate::terminal_text::{multi_line, single_line};

/// Who `accord connect` invites, with what note, and through whose introduction.
pub(crate) struct Invitee<'a> {
    pub(crate) peer: &'a str,
    pub(crate) note: &'a str,
    pub(crate) via: Option<&'a str>,
}

/// `accord connect <ID> [--note TEXT] [--addr MA] [--via INTRODUCER]`.
pub(crate) async fn invite(
    data_dir: &Path,
    invitee: Invitee<'_>,
    addr: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut client = connect(data_dir).await?;
    if let Some(addr) = addr {
        client.dial(addr).await?;
    }
    let summary = client
        .connect_peer_via(invitee.peer, invitee.note, invitee.via)
        .await?;
    print_summary(&summary, json, "Invite sent")?;
    Ok(ExitCode::SUCCESS)
}

/// `accord accept|decline|withdraw <INVITE_ID|ID>`.
pub(crate) async fn act(
    data_dir: &Path,
    action: InviteAction,
    target: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut client = connect(data_dir).await?;
    let (summary, verb) = match action {
        InviteAction::Accept => (client.accept(target).await?, "Accepted"),
        InviteAction::Decline => (client.decline(target).await?, "Declined"),
        InviteAction::Withdraw => (client.withdraw(target).await?, "Withdrew"),
    };
    print_summary(&summary, json, verb)?;
    Ok(ExitCode::SUCCESS)
}

/// `accord decline --all-from-strangers`.
pub(crate) async fn decline_strangers(data_dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let mut client = connect(data_dir).await?;
    let declined = client.decline_strangers().await?;
    if json {
        print_json(&declined)?;
    } else {
        println!("Declined {} pending invites", declined.declined);
    }
    Ok(ExitCode::SUCCESS)
}

/// What to do with an invite.
#[derive(Debug, Clone, Copy)]
pub(crate) enum InviteAction {
    Accept,
    Decline,
    Withdraw,
}

fn print_summary(summary: &InviteSummary, json: bool, verb: &str) -> anyhow::Result<()> {
    if json {
        return print_json(summary);
    }
    println!(
        "{verb}: invite {} ({})",
        single_line(&summary.invite_id),
        single_line(&summary.peer)
    );
    println!(
        "State: {}; expires {}",
        single_line(&summary.state),
        single_line(&summary.expires_at)
    );
    Ok(())
}

/// `accord invites [--incoming|--outgoing]`.
pub(crate) async fn list(
    data_dir: &Path,
    direction: Option<InviteDirection>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let invites = connect(data_dir).await?.invites(direction).await?;
    if json {
        print_json(&invites)?;
    } else if invites.is_empty() {
        println!("No invites.");
    } else {
        for invite in &invites {
            print_invite(invite);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_invite(invite: &InviteInfo) {
    let arrow = match invite.direction {
        InviteDirection::Incoming => "from",
        InviteDirection::Outgoing => "to",
    };
    let name = invite.name.as_deref().unwrap_or("");
    println!(
        "{} {arrow} {} {} [{}] created {}, expires {}",
        single_line(&invite.invite_id),
        single_line(&invite.peer),
        single_line(name),
        single_line(&invite.state),
        single_line(&invite.created_at),
        single_line(&invite.expires_at)
    );
    if let Some(headline) = invite.headline.as_deref().filter(|h| !h.is_empty()) {
        println!("    {}", single_line(headline));
    }
    if !invite.note.is_empty() {
        println!("    \"{}\"", single_line(&invite.note));
    }
    if let Some(introducer) = &invite.introduced_by {
        println!("    introduced by {}", single_line(introducer));
    }
    if !invite.mutual.is_empty() {
        let mutual: Vec<String> = invite.mutual.iter().map(|id| single_line(id)).collect();
        println!("    mutual connections: {}", mutual.join(", "));
    }
}

/// `accord block|unblock <ID>`.
pub(crate) async fn block(
    data_dir: &Path,
    peer: &str,
    block: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut client = connect(data_dir).await?;
    let info = if block {
        client.block(peer).await?
    } else {
        client.unblock(peer).await?
    };
    if json {
        print_json(&info)?;
    } else if info.blocked {
        println!(
            "Blocked {}: everything from it is dropped.",
            single_line(&info.peer)
        );
    } else {
        println!("{} is not blocked.", single_line(&info.peer));
    }
    Ok(ExitCode::SUCCESS)
}

/// `accord disconnect <ID>`.
pub(crate) async fn disconnect(
    data_dir: &Path,
    peer: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let info = connect(data_dir).await?.disconnect(peer).await?;
    if json {
        print_json(&info)?;
    } else {
        println!(
            "Disconnected from {}; attestation {} revoked.",
            single_line(&info.peer),
            single_line(&info.attestation_id)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `accord connections`.
pub(crate) async fn connections(data_dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let connections = connect(data_dir).await?.connections().await?;
    if json {
        print_json(&connections)?;
    } else if connections.is_empty() {
        println!("No connections yet. Invite someone with: accord connect <ID>");
    } else {
        for connection in &connections {
            let name = connection
                .name
                .as_deref()
                .or(connection.alias.as_deref())
                .unwrap_or("");
            println!(
                "{} {} since {} (attestation {})",
                single_line(&connection.peer),
                single_line(name),
                single_line(&connection.since),
                single_line(&connection.attestation_id)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `accord attestation <ID>`: the portable text on stdout.
pub(crate) async fn attestation(
    data_dir: &Path,
    peer: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let attestation = connect(data_dir).await?.attestation(peer).await?;
    if json {
        print_json(&attestation)?;
    } else {
        // The text is lowercase hex between BEGIN and END lines, which the sanitiser leaves
        // exactly as it is; it goes through it all the same, like every human output.
        print!("{}", multi_line(&attestation.text));
    }
    Ok(ExitCode::SUCCESS)
}
