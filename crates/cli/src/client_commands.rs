//! Client commands: each connects to the daemon's control socket and prints the answer.

use std::path::Path;
use std::process::ExitCode;

use accord_api::{Client, Event, SOCKET_FILE_NAME};

use crate::output::{print_json, qr_code};
use crate::terminal_text::single_line;

pub(crate) async fn connect(data_dir: &Path) -> anyhow::Result<Client> {
    Ok(Client::connect(data_dir.join(SOCKET_FILE_NAME)).await?)
}

/// `accord id`.
pub(crate) async fn id(data_dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let info = connect(data_dir).await?.id().await?;
    if json {
        print_json(&info)?;
    } else {
        println!("ID:          {}", info.id);
        println!("Fingerprint: {}", info.fingerprint);
        println!("Addresses:");
        for addr in &info.addrs {
            println!("  {}", single_line(addr));
        }
        if let Some(qr) = qr_code(&info.id) {
            println!("\n{qr}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `accord status`.
pub(crate) async fn status(data_dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let status = connect(data_dir).await?.status().await?;
    if json {
        print_json(&status)?;
    } else {
        println!("ID:                     {}", status.id);
        println!("Peers connected:        {}", status.peers);
        println!("Connections:            {}", status.connections);
        println!("Invites received:       {}", status.pending_incoming);
        println!("Invites sent:           {}", status.pending_outgoing);
        println!("Messages in outbox:     {}", status.outbox);
        println!("Invites left this week: {}", status.invites_left_this_week);
        if let Some(at) = &status.invites_next_slot_at {
            println!("Next invite slot:       {}", single_line(at));
        }
        println!("Reachability:           {:?}", status.reachability);
        if status.relay_server {
            println!("Relay server:           on");
        }
        for relay in &status.relays {
            let state = match (&relay.reserved, relay.connected) {
                (Some(addr), _) => format!("reserved, reachable at {}", single_line(addr)),
                (None, true) => "connected, no reservation".to_owned(),
                (None, false) => "not connected".to_owned(),
            };
            println!("Relay {}: {state}", relay.peer);
        }
        for queued in &status.queued {
            println!(
                "Queued for {}: {}",
                single_line(&queued.peer),
                single_line(&queued.reason)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `accord peers`.
pub(crate) async fn peers(data_dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let peers = connect(data_dir).await?.peers().await?;
    if json {
        print_json(&peers)?;
    } else if peers.is_empty() {
        println!("No peers connected.");
    } else {
        for peer in &peers {
            println!("{} ({:?})", peer.id, peer.via);
            for addr in &peer.addrs {
                println!("  {}", single_line(addr));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `accord lookup <ID>`.
pub(crate) async fn lookup(data_dir: &Path, peer: &str, json: bool) -> anyhow::Result<ExitCode> {
    let found = connect(data_dir).await?.lookup(peer).await?;
    if json {
        print_json(&found)?;
    } else {
        println!("{} ({:?}):", found.id, found.source);
        for addr in &found.addrs {
            println!("  {}", single_line(addr));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `accord dial <MULTIADDR>`.
pub(crate) async fn dial(data_dir: &Path, addr: &str, json: bool) -> anyhow::Result<ExitCode> {
    let peer = connect(data_dir).await?.dial(addr).await?;
    if json {
        print_json(&peer)?;
    } else {
        println!("Connected to {}", peer.id);
    }
    Ok(ExitCode::SUCCESS)
}

/// `accord stats`.
pub(crate) async fn stats(data_dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let stats = connect(data_dir).await?.stats().await?;
    if json {
        print_json(&stats)?;
    } else {
        println!(
            "Gossip rejected before forwarding: {}",
            stats.gossip_rejected
        );
        println!(
            "Gossip ignored:                    {}",
            stats.gossip_ignored
        );
        println!(
            "Network events dropped:            {}",
            stats.events_dropped
        );
        println!(
            "Shard store:                       {} frames, {} bytes",
            stats.shard_store_frames, stats.shard_store_bytes
        );
        println!(
            "Shard level:                       {} (network of about {} nodes)",
            stats.shard_level, stats.network_estimate
        );
        if stats.dropped.is_empty() {
            println!("Inbound frames dropped:            0");
        }
        for (reason, count) in &stats.dropped {
            println!("Dropped ({reason}): {count}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `accord stop`.
pub(crate) async fn stop(data_dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let info = connect(data_dir).await?.shutdown().await?;
    if json {
        print_json(&info)?;
    } else {
        println!("The node is shutting down.");
    }
    Ok(ExitCode::SUCCESS)
}

/// `accord watch`: one line per event until the daemon stops or the user interrupts.
pub(crate) async fn watch(data_dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let mut events = connect(data_dir).await?.subscribe().await?;
    while let Some(event) = events.next().await? {
        if json {
            print_json(&event)?;
        } else {
            // One line per event: a multi-line body shows its newlines as placeholders.
            println!("{}", single_line(&describe(&event)));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(event: &Event) -> String {
    match event {
        Event::Listening { addr } => format!("listening on {addr}"),
        Event::PeerConnected { peer, addr } => format!("peer {peer} connected via {addr}"),
        Event::PeerDisconnected { peer } => format!("peer {peer} disconnected"),
        Event::InviteReceived {
            invite_id,
            peer,
            note,
            name,
        } => {
            let from = match name {
                Some(name) => format!("{name} ({peer})"),
                None => peer.clone(),
            };
            format!("invite {invite_id} received from {from}: \"{note}\"")
        }
        Event::InviteAccepted {
            invite_id,
            peer,
            attestation_id,
        } => {
            format!(
                "invite {invite_id} accepted: connected to {peer} (attestation {attestation_id})"
            )
        }
        Event::InviteConfirmed {
            invite_id,
            peer,
            attestation_id,
        } => format!(
            "invite {invite_id} confirmed by {peer}: connected (attestation {attestation_id})"
        ),
        Event::InviteRefused {
            invite_id,
            peer,
            reason,
            ..
        } => format!(
            "invite {invite_id} from {peer}: our acceptance was refused ({reason}); not connected"
        ),
        Event::InviteWithdrawn { invite_id, peer } => {
            format!("invite {invite_id} from {peer} was withdrawn")
        }
        Event::ConnectionRevoked {
            peer,
            attestation_id,
        } => {
            format!("connection with {peer} revoked (attestation {attestation_id})")
        }
        Event::MessageReceived {
            peer,
            message_id,
            body,
            name,
            ..
        } => {
            let from = match name {
                Some(name) => format!("{name} ({peer})"),
                None => peer.clone(),
            };
            format!("message {message_id} from {from}: {body}")
        }
        Event::MessageDelivered { peer, message_id } => {
            format!("message {message_id} delivered to {peer}")
        }
        Event::MessageStored { peer, message_id } => {
            format!("message {message_id} held by a mailbox of {peer}")
        }
        Event::MessageRead { peer, message_id } => format!("message {message_id} read by {peer}"),
        Event::ProfileUpdated { .. }
        | Event::IntroductionReceived { .. }
        | Event::SharedListUpdated { .. } => describe_people(event),
        Event::Lagged { missed } => format!("(missed {missed} events)"),
    }
}

/// The people events, one line each.
fn describe_people(event: &Event) -> String {
    let named = |peer: &str, name: Option<&str>| match name {
        Some(name) => format!("{name} ({peer})"),
        None => peer.to_owned(),
    };
    match event {
        Event::ProfileUpdated {
            peer,
            name,
            headline,
            version,
            ..
        } => format!("profile of {peer} is now \"{name}\" \"{headline}\" (version {version})"),
        Event::IntroductionReceived {
            introducer,
            introducer_name,
            peer,
            name,
            note,
        } => format!(
            "{} introduced you to {}: \"{note}\"",
            named(introducer, introducer_name.as_deref()),
            named(peer, name.as_deref())
        ),
        Event::SharedListUpdated { peer, entries, .. } => {
            format!("{peer} now shares {entries} connections")
        }
        // `describe` hands only the people events here.
        other => format!("{other:?}"),
    }
}
