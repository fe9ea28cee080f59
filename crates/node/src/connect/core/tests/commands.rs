//! Commands: the quota, the re-invite rules, replies after durable writes, kept peers before
//! replies, and the answers that need a record read back.

use accord_api::{ErrorCode, InviteDirection};
use accord_handshake::{InviteState, Payload};

use super::super::io::{ConnectOutput, StoreOp};
use super::*;

fn refusal(result: Result<ConnectReply, RemoteError>) -> String {
    let err = result.expect_err("the command was refused");
    assert_eq!(err.code, ErrorCode::Refused.code(), "{err:?}");
    err.message
}

fn connect(
    h: &mut Harness,
    peer: &AccordId,
) -> (Result<ConnectReply, RemoteError>, Vec<ConnectOutput>) {
    h.command(ConnectCommand::Connect {
        peer: peer.to_string(),
        note: String::new(),
        presentation: Box::default(),
    })
}

#[test]
fn the_weekly_quota_refuses_the_invite_beyond_the_limit() {
    let mut config = config();
    config.invites.weekly_limit = 2;
    let mut h = Harness::with(config);
    h.invite(&identity(2).id());
    h.invite(&identity(3).id());
    let (result, outputs) = connect(&mut h, &identity(4).id());
    assert!(refusal(result).contains("weekly invite limit of 2"));
    assert!(writes(&outputs).is_empty() && deliveries(&outputs).is_empty());
    // A week later the window has moved on.
    h.now = NOW + 7 * DAY + 1;
    h.invite(&identity(4).id());
}

#[test]
fn invites_to_ourselves_twice_or_to_a_connection_are_refused() {
    let mut h = Harness::new();
    let me = h.me_id();
    assert!(refusal(connect(&mut h, &me).0).contains("yourself"));
    let peer = identity(2).id();
    h.invite(&peer);
    assert!(refusal(connect(&mut h, &peer).0).contains("already pending"));
    let (result, _) = h.command(ConnectCommand::Connect {
        peer: "not an id".into(),
        note: String::new(),
        presentation: Box::default(),
    });
    assert_eq!(result.unwrap_err().code, ErrorCode::InvalidParams.code());
}

#[test]
fn a_withdrawal_is_sent_and_starts_the_reinvite_cool_down() {
    let mut h = Harness::new();
    let peer = identity(2).id();
    h.invite(&peer);
    let (result, outputs) = h.command(ConnectCommand::Withdraw {
        target: peer.to_string(),
    });
    result.unwrap();
    let [StoreOp::PutOutgoing(record)] = writes(&outputs).as_slice() else {
        panic!("the withdrawn invite expected: {outputs:?}");
    };
    assert_eq!(record.state, InviteState::Withdrawn);
    assert!(record.one_time_secret.is_none());
    assert!(matches!(
        deliveries(&outputs).as_slice(),
        [d] if matches!(d.payload, Payload::Withdrawal(_))
    ));
    assert!(refusal(connect(&mut h, &peer).0).contains("cool-down"));
    let days = u64::from(config().invites.reinvite_cooldown_days);
    h.now = NOW + days * DAY + 1;
    h.invite(&peer);
}

#[test]
fn the_reply_comes_after_its_write_and_a_failed_write_leaves_nothing_behind() {
    let mut h = Harness::new();
    let peer = identity(2).id();
    h.store.failing = true;
    let (result, outputs) = connect(&mut h, &peer);
    assert_eq!(result.unwrap_err().code, ErrorCode::Internal.code());
    assert!(deliveries(&outputs).is_empty(), "sent before it was stored");
    h.store.failing = false;
    let (result, outputs) = connect(&mut h, &peer);
    result.unwrap();
    let written = position(&outputs, |o| {
        matches!(o, ConnectOutput::Store(StoreOp::RecordSentInvite { .. }))
    });
    let replied = position(&outputs, |o| matches!(o, ConnectOutput::Reply { .. }));
    assert!(written < replied);
    // The clock mark is noted before anything else.
    assert!(matches!(
        stores(&outputs).first(),
        Some(StoreOp::NoteClock(_))
    ));
}

#[test]
fn inviting_someone_who_invited_us_accepts_theirs_and_keeps_them_before_replying() {
    let mut h = Harness::new();
    let them = identity(2);
    let (_, frame) = invite_frame(&them, h.me_id(), NOW);
    h.direct(&frame, &them);
    let (result, outputs) = connect(&mut h, &them.id());
    let Ok(ConnectReply::Invite(summary)) = result else {
        panic!("an invite summary expected");
    };
    assert_eq!(summary.state, "accepted");
    assert!(matches!(
        writes(&outputs).as_slice(),
        [StoreOp::AcceptIncoming { .. }]
    ));
    let kept = position(&outputs, |o| matches!(o, ConnectOutput::KeepPeers(_)));
    let replied = position(&outputs, |o| matches!(o, ConnectOutput::Reply { .. }));
    assert!(
        kept < replied,
        "the reply came before the network learnt the peer"
    );
    assert!(matches!(
        deliveries(&outputs).as_slice(),
        [d] if matches!(d.payload, Payload::Acceptance(_))
    ));
    assert!(refusal(connect(&mut h, &them.id()).0).contains("already a connection"));
}

#[test]
fn a_closed_invite_is_read_back_to_say_what_it_is() {
    let mut h = Harness::new();
    let them = identity(2);
    let (invite, frame) = invite_frame(&them, h.me_id(), NOW);
    h.direct(&frame, &them);
    let target = crate::hex::encode(&invite.invite_id);
    h.command(ConnectCommand::Decline {
        target: target.clone(),
    })
    .0
    .unwrap();
    let (result, outputs) = h.command(ConnectCommand::Accept {
        target: target.clone(),
    });
    assert!(refusal(result).contains("declined, not pending"));
    assert!(
        stores(&outputs)
            .iter()
            .any(|op| matches!(op, StoreOp::ReadIncoming(_)))
    );
    let (result, _) = h.command(ConnectCommand::Accept {
        target: identity(3).id().to_string(),
    });
    assert!(refusal(result).contains("no invite from"));
}

#[test]
fn declining_every_stranger_declines_each_pending_invite() {
    let mut h = Harness::new();
    for n in [2, 3] {
        let (_, frame) = invite_frame(&identity(n), h.me_id(), NOW);
        h.direct(&frame, &identity(n));
    }
    let (result, outputs) = h.command(ConnectCommand::DeclineStrangers);
    let Ok(ConnectReply::Declined(info)) = result else {
        panic!("a count expected");
    };
    assert_eq!(info.declined, 2);
    assert_eq!(writes(&outputs).len(), 2);
}

#[test]
fn listing_invites_expires_what_is_due_first() {
    let mut h = Harness::new();
    let them = identity(2);
    let (invite, frame) = invite_frame(&them, h.me_id(), NOW);
    h.direct(&frame, &them);
    h.now = invite.expires_at_ms;
    let (result, outputs) = h.command(ConnectCommand::Invites {
        direction: Some(InviteDirection::Incoming),
    });
    let Ok(ConnectReply::Invites(list)) = result else {
        panic!("a list expected");
    };
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].state, "expired");
    let expired = position(&outputs, |o| {
        matches!(o, ConnectOutput::Store(StoreOp::PutIncoming(_)))
    });
    let read = position(&outputs, |o| {
        matches!(o, ConnectOutput::Store(StoreOp::ReadInvites))
    });
    assert!(expired < read);
}

#[test]
fn disconnecting_revokes_sends_and_republishes_the_revocation() {
    let mut h = Harness::new();
    let them = identity(2);
    let (_, frame) = invite_frame(&them, h.me_id(), NOW);
    h.direct(&frame, &them);
    connect(&mut h, &them.id()).0.unwrap();
    let (result, outputs) = h.command(ConnectCommand::Disconnect {
        peer: them.id().to_string(),
    });
    let Ok(ConnectReply::Connection(info)) = result else {
        panic!("the connection expected");
    };
    assert!(info.revoked_at.is_some());
    assert!(matches!(
        deliveries(&outputs).as_slice(),
        [d] if matches!(d.payload, Payload::Revocation(_))
    ));
    let (result, _) = h.command(ConnectCommand::Connections);
    assert_eq!(result.unwrap(), ConnectReply::Connections(Vec::new()));
    // Revoked connections have no attestation to show.
    let (result, _) = h.command(ConnectCommand::Attestation {
        peer: them.id().to_string(),
    });
    assert!(refusal(result).contains("revoked"));
}

#[test]
fn stats_list_each_reason_once_something_was_dropped() {
    let mut h = Harness::new();
    assert_eq!(
        h.command(ConnectCommand::Stats).0.unwrap(),
        ConnectReply::Stats(Default::default())
    );
    h.direct(&[0; 8], &identity(2));
    let Ok(ConnectReply::Stats(counts)) = h.command(ConnectCommand::Stats).0 else {
        panic!("counts expected");
    };
    assert_eq!(counts.get("malformed"), Some(&1));
}

#[test]
fn an_alias_is_checked_kept_in_memory_and_written_and_resolves_afterwards() {
    let mut h = Harness::new();
    let them = identity(2);
    let (_, frame) = invite_frame(&them, h.me_id(), NOW);
    h.direct(&frame, &them);
    connect(&mut h, &them.id()).0.unwrap();
    for name in [
        "bob\u{202E}gpj.exe",
        "",
        "tab\there",
        &identity(3).id().to_string(),
    ] {
        let (result, outputs) = h.command(ConnectCommand::Alias {
            peer: them.id().to_string(),
            name: name.to_owned(),
        });
        let text = format!("{result:?}");
        assert!(
            result.is_err() && text.contains("invalid alias"),
            "{name:?}: {text}"
        );
        assert!(writes(&outputs).is_empty());
    }
    let (result, outputs) = h.command(ConnectCommand::Alias {
        peer: them.id().to_string(),
        name: " bob ".to_owned(),
    });
    let Ok(ConnectReply::Alias(info)) = result else {
        panic!("the alias expected");
    };
    assert_eq!(info.alias, "bob");
    assert!(matches!(
        writes(&outputs).as_slice(),
        [StoreOp::PutConnection(c)] if c.alias.as_deref() == Some("bob")
    ));
    // `connections` is answered from memory: it shows the new name at once.
    let Ok(ConnectReply::Connections(list)) = h.command(ConnectCommand::Connections).0 else {
        panic!("connections expected");
    };
    assert_eq!(list[0].alias.as_deref(), Some("bob"));
    // The alias names the connection from now on.
    let (result, _) = h.command(ConnectCommand::Alias {
        peer: "bob".to_owned(),
        name: "robert".to_owned(),
    });
    assert!(matches!(result, Ok(ConnectReply::Alias(info)) if info.alias == "robert"));
}

#[test]
fn an_invite_presents_the_card_it_is_given_and_refuses_someone_elses() {
    let mut h = Harness::new();
    let me = identity(1);
    assert_eq!(h.me_id(), me.id(), "the harness is identity 1");
    let card = accord_handshake::ProfileCard::create(&me, 3, "Ada", "Engineer", None).unwrap();
    let peer = identity(2).id();
    let (result, outputs) = h.command(ConnectCommand::Connect {
        peer: peer.to_string(),
        note: "hi".into(),
        presentation: Box::new(accord_handshake::Presentation {
            card: Some(card.clone()),
            introduction: None,
        }),
    });
    result.unwrap();
    let sent = deliveries(&outputs);
    let Payload::Invite(invite) = &sent[0].payload else {
        panic!("an invite is delivered");
    };
    assert_eq!(invite.presentation.card.as_ref(), Some(&card));
    invite.verify_signatures().unwrap();

    // A card that is not ours is refused before anything is written or sent.
    let stranger = accord_handshake::ProfileCard::create(&identity(3), 1, "Eve", "", None).unwrap();
    let (result, outputs) = h.command(ConnectCommand::Connect {
        peer: identity(4).id().to_string(),
        note: String::new(),
        presentation: Box::new(accord_handshake::Presentation {
            card: Some(stranger),
            introduction: None,
        }),
    });
    assert_eq!(result.unwrap_err().code, ErrorCode::InvalidParams.code());
    assert!(writes(&outputs).is_empty() && deliveries(&outputs).is_empty());
}
