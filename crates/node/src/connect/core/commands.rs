//! User commands about peers and connections — `block`, `unblock`, `disconnect`,
//! `connections`, `attestation`, `stats`, `decline --all-from-strangers` — and the
//! conversions every command shares.

use std::str::FromStr;

use accord_api::{
    AttestationText, BlockInfo, ConnectionInfo, DeclinedInfo, ErrorCode, InviteDirection,
    InviteInfo, RemoteError, format_rfc3339_ms as rfc3339,
};
use accord_handshake::{Attestation, InviteEvent, InviteState, Payload, Revocation};
use accord_identity::AccordId;
use accord_store::{Connection, IncomingInvite, InviteId, OutgoingInvite};

use super::super::command::{ConnectCommand, ConnectReply};
use super::super::delivery::DeliveryKey;
use super::super::transition::{advance, revoke};
use super::ConnectCore;
use super::io::{ConnectOutput, Delivery, Now, ReplyToken, StoreOp};
use super::plan::{Fail, Noted, Plan, Step, Then};
use crate::hex::encode as hex;
use crate::remote_error::{internal, refused};

pub(super) const DAY_MS: u64 = 24 * 3600 * 1000;

/// The first republish comes this long after a send (see `delivery.rs`).
pub(super) use super::super::delivery::FIRST_REPUBLISH_DELAY_MS;

impl ConnectCore {
    /// A user command: the clock mark is raised, then the command decides.
    pub(super) fn on_command(
        &mut self,
        token: ReplyToken,
        command: ConnectCommand,
        now: Now,
    ) -> Plan {
        let reading = self.mark_reading(now);
        self.memory.note_clock(reading);
        let mut plan = Plan::new(Fail::Reply(token));
        plan.push(Step::Store(
            StoreOp::NoteClock(reading),
            Then::Tolerate("store_write_failed"),
        ));
        let now = now.unix_ms;
        let decided = match command {
            ConnectCommand::Connect {
                peer,
                note,
                presentation,
            } => self.connect(token, (&peer, &note, *presentation), now),
            ConnectCommand::Invites { direction } => Ok(self.list_invites(token, direction, now)),
            ConnectCommand::Accept { target } => self.accept(token, &target, now),
            ConnectCommand::Decline { target } => self.decline(token, &target, now),
            ConnectCommand::DeclineStrangers => Ok(self.decline_strangers(token, now)),
            ConnectCommand::Withdraw { target } => self.withdraw(token, &target, now),
            ConnectCommand::Block { peer, block } => self.block(token, &peer, block, now),
            ConnectCommand::Disconnect { peer } => self.disconnect(token, &peer, now),
            ConnectCommand::Connections => Ok(vec![reply(
                token,
                Ok(ConnectReply::Connections(self.connection_list())),
            )]),
            ConnectCommand::Attestation { peer } => self
                .attestation(&peer)
                .map(|text| vec![reply(token, Ok(ConnectReply::Attestation(text)))]),
            ConnectCommand::Stats => Ok(vec![reply(token, Ok(ConnectReply::Stats(self.stats())))]),
            ConnectCommand::Alias { peer, name } => self.alias(token, &peer, &name),
            ConnectCommand::ShardStore => {
                let size = ConnectReply::ShardStore {
                    bytes: u64::try_from(self.shard_store.bytes()).unwrap_or(u64::MAX),
                    frames: u64::try_from(self.shard_store.frames()).unwrap_or(u64::MAX),
                    level: self.network_size.level(),
                    // A float estimate of at most 2⁶⁴ nodes; the cast saturates.
                    network_estimate: self.network_size.estimate(now).round() as u64,
                };
                Ok(vec![reply(token, Ok(size))])
            }
        };
        match decided {
            Ok(steps) => plan.extend(steps),
            Err(err) => plan.push(reply(token, Err(err))),
        }
        plan
    }

    /// `accord block` / `accord unblock`. Blocking also declines, silently, every pending
    /// invite from that ID; unblocking ends the decline cool-down early.
    fn block(
        &mut self,
        token: ReplyToken,
        peer: &str,
        block: bool,
        now: u64,
    ) -> Result<Vec<Step>, RemoteError> {
        let peer = parse_id(peer)?;
        let mut steps = Vec::new();
        if block {
            steps.push(Step::Store(
                StoreOp::Block { peer, at_ms: now },
                Then::Note(Noted::Blocked(peer, true, now)),
            ));
            // The Message actor forgets the envelopes it holds ready for this peer and asks
            // the store, which now holds them back.
            steps.push(Step::Out(ConnectOutput::ChannelChanged(peer)));
            for id in self.memory.live.all_pending_incoming_from(&peer) {
                steps.extend(self.declined(&id, now));
            }
        } else {
            steps.push(Step::Store(
                StoreOp::Unblock { peer, at_ms: now },
                Then::Note(Noted::Blocked(peer, false, now)),
            ));
            // The Message actor held back what it queued for this peer; as after a channel
            // set-up, it sends it now.
            steps.push(Step::Out(ConnectOutput::ChannelChanged(peer)));
        }
        let info = BlockInfo {
            peer: peer.to_string(),
            blocked: block,
        };
        steps.push(reply(token, Ok(ConnectReply::Block(info))));
        Ok(steps)
    }

    /// The write that declines the pending incoming invite `id` at `now`, if it is pending.
    pub(super) fn declined(&self, id: &InviteId, now: u64) -> Option<Step> {
        let mut record = self.memory.incoming(id)?.clone();
        // Only pending invites move; the others stay as they are.
        advance(&mut record.state, InviteEvent::Decline).ok()?;
        record.closed_at_ms = Some(now);
        Some(Step::Store(
            StoreOp::PutIncoming(record.clone()),
            Then::Note(Noted::Incoming(record)),
        ))
    }

    /// `accord decline --all-from-strangers`: declines every pending incoming invite whose
    /// inviter is not a connection, as `decline` does one, and says how many.
    ///
    /// Every pending invite is from a stranger today, since an invite from a connection is
    /// dropped on arrival; the check stays so that a connection made since (a crossed invite
    /// that was accepted the other way) keeps its invite.
    fn decline_strangers(&mut self, token: ReplyToken, now: u64) -> Vec<Step> {
        let mut steps = Vec::new();
        for pending in self.memory.live.pending_incoming() {
            if self.memory.live.is_connected(&pending.inviter) {
                continue;
            }
            steps.extend(self.declined(&pending.invite_id, now));
        }
        let declined = u64::try_from(steps.len()).unwrap_or(u64::MAX);
        tracing::info!(declined, "declining every pending invite from strangers");
        steps.push(reply(
            token,
            Ok(ConnectReply::Declined(DeclinedInfo { declined })),
        ));
        steps
    }

    /// `accord disconnect`: a signed revocation, sent to the other side and kept.
    fn disconnect(
        &mut self,
        token: ReplyToken,
        peer: &str,
        now: u64,
    ) -> Result<Vec<Step>, RemoteError> {
        let peer = parse_id(peer)?;
        let mut connection = self.active_connection(&peer)?.clone();
        let attestation = Attestation::decode(&connection.attestation).map_err(internal)?;
        let revocation = Revocation::create(&self.identity, &attestation, now).map_err(internal)?;
        revoke(&mut connection, now).map_err(|err| refused(err.to_string()))?;
        connection.revocation = Some(revocation.encode());
        connection.next_publish_at_ms = Some(now + FIRST_REPUBLISH_DELAY_MS);
        connection.publish_count = 0;
        let event = accord_api::Event::ConnectionRevoked {
            peer: peer.to_string(),
            attestation_id: hex(&connection.attestation_id),
        };
        let delivery = Delivery {
            to: peer,
            payload: Payload::Revocation(revocation),
            expires_at_ms: now + 30 * DAY_MS,
            key: DeliveryKey::Revocation(Box::new(peer)),
        };
        let info = connection_info(&connection);
        // The channel's keys go with the connection, in the same transaction: nothing more
        // can be read or written, and no crash can leave the session behind.
        Ok(vec![
            Step::Store(
                StoreOp::RevokeConnection(connection.clone()),
                Then::Note(Noted::Connection(connection)),
            ),
            Step::Out(ConnectOutput::ChannelChanged(peer)),
            Step::Out(ConnectOutput::Emit(event)),
            Step::Out(ConnectOutput::Deliver(delivery)),
            reply(token, Ok(ConnectReply::Connection(info))),
        ])
    }

    /// Our unrevoked connection with `peer`.
    pub(super) fn active_connection(&self, peer: &AccordId) -> Result<&Connection, RemoteError> {
        match self.memory.connection(peer) {
            Some(connection) if connection.revoked_at_ms.is_none() => Ok(connection),
            Some(_) => Err(refused(format!("the connection with {peer} was revoked"))),
            None => Err(refused(format!(
                "{peer} is not a connection; send an invite with: accord connect {peer}"
            ))),
        }
    }

    /// `accord connections`: the unrevoked ones, in the store's order (by ID bytes).
    fn connection_list(&self) -> Vec<ConnectionInfo> {
        let mut connections: Vec<&Connection> = self
            .memory
            .connections()
            .filter(|c| c.revoked_at_ms.is_none())
            .collect();
        connections.sort_by_key(|c| c.peer.to_bytes());
        connections.into_iter().map(connection_info).collect()
    }

    /// `accord attestation`.
    fn attestation(&self, peer: &str) -> Result<AttestationText, RemoteError> {
        let peer = parse_id(peer)?;
        let connection = self.active_connection(&peer)?;
        let attestation = Attestation::decode(&connection.attestation).map_err(internal)?;
        Ok(AttestationText {
            peer: peer.to_string(),
            attestation_id: hex(&connection.attestation_id),
            text: attestation.to_text(),
        })
    }
}

/// The step that answers a command.
pub(super) fn reply(token: ReplyToken, result: Result<ConnectReply, RemoteError>) -> Step {
    Step::Out(ConnectOutput::Reply { token, result })
}

pub(super) fn parse_id(text: &str) -> Result<AccordId, RemoteError> {
    AccordId::from_str(text.trim()).map_err(|err| {
        RemoteError::new(
            ErrorCode::InvalidParams,
            format!("{text:?} is not an Accord ID: {err}"),
        )
    })
}

/// An invite id is 32 hex digits.
pub(super) fn parse_invite_id(text: &str) -> Option<InviteId> {
    crate::hex::decode::<16>(text)
}

/// Why a command that needs a pending invite refused: there is none (`None`), or it is in
/// another state. `direction` is "from" (incoming) or "to" (outgoing).
pub(super) fn not_pending(
    target: &str,
    found: Option<(InviteId, InviteState)>,
    direction: &str,
) -> RemoteError {
    match found {
        None => refused(format!("no invite {direction} {target}")),
        Some((id, state)) => refused(format!("invite {} is {state}, not pending", hex(&id))),
    }
}

pub(super) fn connection_info(connection: &Connection) -> ConnectionInfo {
    ConnectionInfo {
        peer: connection.peer.to_string(),
        alias: connection.alias.clone(),
        attestation_id: hex(&connection.attestation_id),
        since: rfc3339(connection.since_ms),
        revoked_at: connection.revoked_at_ms.map(rfc3339),
        // Filled in at the control edge (`people::names`).
        name: None,
        state: connection_state(connection).to_owned(),
    }
}

/// What `accord connections` says of a connection: `awaiting_confirmation` while we accepted
/// and the inviter has not settled it yet, `connected` once it has (or when we are the
/// inviter), `revoked` after a revocation.
pub(super) fn connection_state(connection: &Connection) -> &'static str {
    if connection.revoked_at_ms.is_some() {
        "revoked"
    } else if connection.awaiting_confirmation {
        "awaiting_confirmation"
    } else {
        "connected"
    }
}

/// The connection record for a fresh attestation: the invitee's (`awaiting_confirmation`)
/// waits for the inviter's settlement before anything is sent on it; the inviter's is
/// complete as soon as it is stored.
pub(super) fn new_connection(
    peer: AccordId,
    attestation: &Attestation,
    now: u64,
    awaiting_confirmation: bool,
) -> Connection {
    Connection {
        peer,
        attestation: attestation.encode(),
        attestation_id: attestation.id().to_bytes(),
        since_ms: now,
        alias: None,
        revoked_at_ms: None,
        revocation: None,
        next_publish_at_ms: None,
        publish_count: 0,
        awaiting_confirmation,
    }
}

/// `accord invites`: every invite, newest first (received or created).
pub(super) fn invite_list(
    direction: Option<InviteDirection>,
    incoming: Vec<IncomingInvite>,
    outgoing: Vec<OutgoingInvite>,
) -> Vec<InviteInfo> {
    let mut list = Vec::new();
    if direction != Some(InviteDirection::Outgoing) {
        for invite in incoming {
            let info = invite_info(
                InviteDirection::Incoming,
                InviteFields {
                    invite_id: &invite.invite_id,
                    peer: &invite.peer,
                    note: &invite.note,
                    state: invite.state.to_string(),
                    created_at_ms: invite.created_at_ms,
                    expires_at_ms: invite.expires_at_ms,
                },
            );
            list.push((invite.received_at_ms, info));
        }
    }
    if direction != Some(InviteDirection::Incoming) {
        for invite in outgoing {
            let info = invite_info(
                InviteDirection::Outgoing,
                InviteFields {
                    invite_id: &invite.invite_id,
                    peer: &invite.peer,
                    note: &invite.note,
                    state: invite.state.to_string(),
                    created_at_ms: invite.created_at_ms,
                    expires_at_ms: invite.expires_at_ms,
                },
            );
            list.push((invite.created_at_ms, info));
        }
    }
    list.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    list.into_iter().map(|(_, info)| info).collect()
}

/// What an incoming and an outgoing invite record have in common for `accord invites`.
struct InviteFields<'a> {
    invite_id: &'a InviteId,
    peer: &'a AccordId,
    note: &'a str,
    state: String,
    created_at_ms: u64,
    expires_at_ms: u64,
}

/// One entry of `accord invites`.
fn invite_info(direction: InviteDirection, fields: InviteFields<'_>) -> InviteInfo {
    InviteInfo {
        invite_id: hex(fields.invite_id),
        direction,
        peer: fields.peer.to_string(),
        note: fields.note.to_owned(),
        state: fields.state,
        created_at: rfc3339(fields.created_at_ms),
        expires_at: rfc3339(fields.expires_at_ms),
        // Filled in at the control edge (`people::names`).
        name: None,
        headline: None,
        mutual: Vec::new(),
        introduced_by: None,
    }
}
