//! User commands: what `accord connect`, `invites`, `accept`, `decline`, `withdraw`, `block`,
//! `unblock`, `disconnect`, `connections` and `attestation` do.

use std::str::FromStr;

use accord_api::{
    AttestationText, BlockInfo, ConnectionInfo, ErrorCode, InviteDirection, InviteInfo,
    InviteSummary, RemoteError, format_rfc3339_ms as rfc3339,
};
use accord_channel::Session;
use accord_handshake::{
    Acceptance, Attestation, Invite, InviteEvent, InviteState, Note, Payload, QuotaError,
    QuotaPolicy, Revocation, TransitionError, Withdrawal, check_cooldown,
};
use accord_identity::AccordId;
use accord_store::{Connection, IncomingInvite, InviteId, OutgoingInvite};

use crate::message::wire::Content;

use super::actor::ConnectActor;
use super::delivery::{DeliveryKey, FIRST_REPUBLISH_DELAY_MS};
use super::transition::{advance, revoke};
pub(crate) use crate::remote_error::{internal, refused};
use crate::{clock, rng};

const DAY_MS: u64 = 24 * 3600 * 1000;

/// The most invites that may wait for an answer at once.
pub(crate) const MAX_OUTSTANDING: u32 = 200;

/// A change the state machine refused. The commands check the state first and explain it in
/// their own words, so this is the backstop, not the usual message.
fn transition_refused(err: TransitionError) -> RemoteError {
    refused(err.to_string())
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

pub(crate) use crate::hex::encode as hex;

fn outgoing_summary(invite: &OutgoingInvite) -> InviteSummary {
    InviteSummary {
        invite_id: hex(&invite.invite_id),
        peer: invite.peer.to_string(),
        state: invite.state.to_string(),
        expires_at: rfc3339(invite.expires_at_ms),
    }
}

fn incoming_summary(invite: &IncomingInvite) -> InviteSummary {
    InviteSummary {
        invite_id: hex(&invite.invite_id),
        peer: invite.peer.to_string(),
        state: invite.state.to_string(),
        expires_at: rfc3339(invite.expires_at_ms),
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
    }
}

impl ConnectActor {
    /// `accord connect`.
    pub(super) async fn connect(
        &mut self,
        peer: &str,
        note: &str,
        via: Option<&str>,
    ) -> Result<InviteSummary, RemoteError> {
        let peer = parse_id(peer)?;
        let now = clock::now_ms();
        self.check_can_invite(&peer, now).await?;
        // If they invited us already, inviting them back means yes: accept theirs.
        if let Some(id) = self.live.pending_incoming_from(&peer, now)
            && let Some(theirs) = self.store.incoming(&id).await.map_err(internal)?
        {
            return self.accept_incoming(theirs, now).await;
        }
        self.check_quota(now).await?;
        let note = Note::new(note, self.config.invites.note_max_chars).map_err(|err| {
            RemoteError::new(ErrorCode::InvalidParams, format!("invalid note: {err}"))
        })?;
        let presentation = self.presentation(peer, via).await?;
        let ttl = u64::from(self.config.invites.expiry_days) * DAY_MS;
        let (invite, secret) = Invite::create(
            &self.identity,
            peer,
            note.clone(),
            now,
            ttl,
            &mut rng::os_rng(),
        )
        .map_err(|err| refused(err.to_string()))?;
        let invite = crate::people::own::present(invite, &self.identity, presentation)?;
        let record = OutgoingInvite {
            invite_id: invite.invite_id,
            peer,
            invite: invite.encode(),
            one_time_secret: Some(secret.to_bytes()),
            state: InviteState::Pending,
            note: note.as_str().to_owned(),
            created_at_ms: invite.created_at_ms,
            expires_at_ms: invite.expires_at_ms,
            closed_at_ms: None,
            next_publish_at_ms: Some(now + FIRST_REPUBLISH_DELAY_MS),
            publish_count: 0,
        };
        let high_water = self.store.clock_high_water_ms().await.map_err(internal)?;
        self.store
            .record_sent_invite(&record, self.mark_reading(now).max(high_water))
            .await
            .map_err(internal)?;
        self.live.note_outgoing(&record);
        tracing::info!(%peer, invite = %hex(&record.invite_id), "invite sent");
        let key = DeliveryKey::Invite(record.invite_id);
        self.deliver(peer, &Payload::Invite(invite), record.expires_at_ms, key)
            .await;
        Ok(outgoing_summary(&record))
    }

    /// What our invite to `peer` presents (see [`crate::people::own::presentation`]).
    async fn presentation(
        &self,
        peer: AccordId,
        via: Option<&str>,
    ) -> Result<accord_handshake::Presentation, RemoteError> {
        let me = self.me;
        let via = via.map(str::to_owned);
        self.store
            .run(move |s| Ok(crate::people::own::presentation(s, me, &peer, via.as_deref())))
            .await
            .map_err(internal)?
    }

    /// Refuses invites to ourselves, to blocked IDs, to connections, a second pending invite,
    /// and re-invites during the cool-down.
    async fn check_can_invite(&mut self, peer: &AccordId, now: u64) -> Result<(), RemoteError> {
        if *peer == self.me {
            return Err(refused("you cannot invite yourself"));
        }
        if self.store.is_blocked(peer).await.map_err(internal)? {
            return Err(refused(format!(
                "{peer} is blocked; unblock it first with: accord unblock {peer}"
            )));
        }
        if let Some(connection) = self.store.connection(peer).await.map_err(internal)?
            && connection.revoked_at_ms.is_none()
        {
            return Err(refused(format!("{peer} is already a connection")));
        }
        if let Some(pending) = self.live.pending_outgoing_to(peer, now) {
            let id = hex(&pending);
            return Err(refused(format!(
                "an invite to {peer} is already pending (invite {id}); withdraw it with: accord withdraw {id}"
            )));
        }
        if let Some(closed_at) = self.live.last_closing(peer) {
            let high_water = self.store.clock_high_water_ms().await.map_err(internal)?;
            let days = self.config.invites.reinvite_cooldown_days;
            check_cooldown(closed_at, days, now, high_water).map_err(|err| {
                let until = match err {
                    QuotaError::CoolDown { until_ms } => rfc3339(until_ms),
                    other => other.to_string(),
                };
                refused(format!(
                    "you cannot invite {peer} again until {until} (re-invite cool-down of {days} days)"
                ))
            })?;
        }
        Ok(())
    }

    async fn check_quota(&self, now: u64) -> Result<(), RemoteError> {
        let high_water = self.store.clock_high_water_ms().await.map_err(internal)?;
        let policy = self.quota_policy();
        // Only the rolling window counts, so only the window is read.
        let since = now.max(high_water).saturating_sub(policy.window_ms);
        let sent_at = self.store.quota_sent_at(since).await.map_err(internal)?;
        let outstanding = self.live.outstanding(now);
        policy
            .check(&sent_at, outstanding, now, high_water)
            .map_err(|err| match err {
                QuotaError::WeeklyLimit {
                    limit,
                    next_slot_at_ms,
                } => refused(format!(
                    "weekly invite limit of {limit} reached; the next slot frees at {}",
                    rfc3339(next_slot_at_ms)
                )),
                QuotaError::TooManyOutstanding { max } => refused(format!(
                    "{max} invites are already waiting for an answer; withdraw some first"
                )),
                QuotaError::CoolDown { until_ms } => {
                    refused(format!("re-invite cool-down until {}", rfc3339(until_ms)))
                }
            })
    }

    pub(super) fn quota_policy(&self) -> QuotaPolicy {
        QuotaPolicy {
            weekly_limit: self.config.invites.weekly_limit,
            max_outstanding: MAX_OUTSTANDING,
            ..QuotaPolicy::default()
        }
    }

    /// `accord invites`.
    pub(super) async fn list_invites(
        &mut self,
        direction: Option<InviteDirection>,
    ) -> Result<Vec<InviteInfo>, RemoteError> {
        self.expire_due(clock::now_ms()).await;
        let mut list = Vec::new();
        if direction != Some(InviteDirection::Outgoing) {
            for invite in self.store.incoming_invites().await.map_err(internal)? {
                // A pending invite past its expiry but beyond this tick's batch still shows
                // as what it is.
                list.push((
                    invite.received_at_ms,
                    InviteInfo {
                        invite_id: hex(&invite.invite_id),
                        direction: InviteDirection::Incoming,
                        peer: invite.peer.to_string(),
                        note: invite.note.clone(),
                        state: invite.state.to_string(),
                        created_at: rfc3339(invite.created_at_ms),
                        expires_at: rfc3339(invite.expires_at_ms),
                        // Filled in at the control edge (`people::names`).
                        name: None,
                        headline: None,
                        mutual: Vec::new(),
                        introduced_by: None,
                    },
                ));
            }
        }
        if direction != Some(InviteDirection::Incoming) {
            for invite in self.store.outgoing_invites().await.map_err(internal)? {
                list.push((
                    invite.created_at_ms,
                    InviteInfo {
                        invite_id: hex(&invite.invite_id),
                        direction: InviteDirection::Outgoing,
                        peer: invite.peer.to_string(),
                        note: invite.note.clone(),
                        state: invite.state.to_string(),
                        created_at: rfc3339(invite.created_at_ms),
                        expires_at: rfc3339(invite.expires_at_ms),
                        // Filled in at the control edge (`people::names`).
                        name: None,
                        headline: None,
                        mutual: Vec::new(),
                        introduced_by: None,
                    },
                ));
            }
        }
        list.sort_by_key(|entry| std::cmp::Reverse(entry.0));
        Ok(list.into_iter().map(|(_, info)| info).collect())
    }

    /// Finds the pending incoming invite named by an invite id or the inviter's ID.
    async fn pending_incoming(&self, target: &str) -> Result<IncomingInvite, RemoteError> {
        let id = match parse_invite_id(target) {
            Some(id) => Some(id),
            None => self.live.pending_incoming_from(&parse_id(target)?, 0),
        };
        let found = match id {
            Some(id) => self.store.incoming(&id).await.map_err(internal)?,
            None => None,
        };
        let invite = found.ok_or_else(|| refused(format!("no invite from {target}")))?;
        if invite.state != InviteState::Pending {
            return Err(refused(format!(
                "invite {} is {}, not pending",
                hex(&invite.invite_id),
                invite.state
            )));
        }
        Ok(invite)
    }

    /// `accord accept`.
    pub(super) async fn accept(&mut self, target: &str) -> Result<InviteSummary, RemoteError> {
        let now = clock::now_ms();
        let invite = self.pending_incoming(target).await?;
        self.accept_incoming(invite, now).await
    }

    /// Accepts one pending incoming invite: signs the statement, makes the acceptance, saves
    /// the connection and sends the acceptance.
    pub(super) async fn accept_incoming(
        &mut self,
        mut record: IncomingInvite,
        now: u64,
    ) -> Result<InviteSummary, RemoteError> {
        if record.expires_at_ms <= now {
            advance(&mut record.state, InviteEvent::Expire).map_err(transition_refused)?;
            record.closed_at_ms = Some(now);
            self.store.put_incoming(&record).await.map_err(internal)?;
            self.live.note_incoming(&record);
            return Err(refused(format!(
                "invite {} has expired",
                hex(&record.invite_id)
            )));
        }
        let invite = Invite::decode(&record.invite).map_err(internal)?;
        let mut rng = rng::os_rng();
        let (mut acceptance, ephemeral) =
            Acceptance::create(&self.identity, &invite, Vec::new(), &mut rng).map_err(internal)?;
        let attestation = acceptance.verify(&invite).map_err(internal)?;
        // The invitee speaks first: its channel starts now, and its first ratchet message
        // rides in the acceptance so that the inviter's channel is complete on arrival.
        let mut session = Session::new_invitee(
            &self.identity,
            &ephemeral,
            &invite.inviter,
            &invite.one_time_key,
            &attestation.id(),
            &mut rng,
        )
        .map_err(internal)?;
        let hello = session
            .encrypt(&Content::Hello.encode(), &mut rng)
            .map_err(internal)?;
        acceptance.set_first_message(hello).map_err(internal)?;
        advance(&mut record.state, InviteEvent::Accept).map_err(transition_refused)?;
        record.closed_at_ms = Some(now);
        record.acceptance = Some(acceptance.encode());
        // The session now holds everything the ephemeral key was for; keeping it would only
        // weaken forward secrecy.
        record.ephemeral_secret = None;
        drop(ephemeral);
        record.next_publish_at_ms = Some(now + FIRST_REPUBLISH_DELAY_MS);
        record.publish_count = 0;
        let connection = new_connection(record.peer, &attestation, now);
        self.store
            .accept_incoming(&record, &connection, &session.to_bytes())
            .await
            .map_err(internal)?;
        self.live.note_incoming(&record);
        self.live.note_connection(&connection);
        self.messages.channel_changed(record.peer).await;
        self.emit_accepted(&record.invite_id, &record.peer, &connection);
        let key = DeliveryKey::Acceptance(record.invite_id);
        let payload = Payload::Acceptance(acceptance);
        self.deliver(record.peer, &payload, record.expires_at_ms, key)
            .await;
        Ok(incoming_summary(&record))
    }

    pub(super) fn emit_accepted(
        &self,
        invite_id: &InviteId,
        peer: &AccordId,
        connection: &Connection,
    ) {
        tracing::info!(%peer, attestation = %hex(&connection.attestation_id), "connected");
        self.emit(accord_api::Event::InviteAccepted {
            invite_id: hex(invite_id),
            peer: peer.to_string(),
            attestation_id: hex(&connection.attestation_id),
        });
    }

    /// `accord decline`: the inviter is not told.
    pub(super) async fn decline(&mut self, target: &str) -> Result<InviteSummary, RemoteError> {
        let mut record = self.pending_incoming(target).await?;
        advance(&mut record.state, InviteEvent::Decline).map_err(transition_refused)?;
        record.closed_at_ms = Some(clock::now_ms());
        self.store.put_incoming(&record).await.map_err(internal)?;
        self.live.note_incoming(&record);
        Ok(incoming_summary(&record))
    }

    /// `accord withdraw`.
    pub(super) async fn withdraw(&mut self, target: &str) -> Result<InviteSummary, RemoteError> {
        let now = clock::now_ms();
        let id = match parse_invite_id(target) {
            Some(id) => Some(id),
            None => self.live.pending_outgoing_to(&parse_id(target)?, 0),
        };
        let found = match id {
            Some(id) => self.store.outgoing(&id).await.map_err(internal)?,
            None => None,
        };
        let mut record = found.ok_or_else(|| refused(format!("no invite to {target}")))?;
        if record.state != InviteState::Pending {
            return Err(refused(format!(
                "invite {} is {}, not pending",
                hex(&record.invite_id),
                record.state
            )));
        }
        advance(&mut record.state, InviteEvent::Withdraw).map_err(transition_refused)?;
        record.closed_at_ms = Some(now);
        record.one_time_secret = None;
        record.next_publish_at_ms = Some(now + FIRST_REPUBLISH_DELAY_MS);
        record.publish_count = 0;
        self.store.put_outgoing(&record).await.map_err(internal)?;
        self.live.note_outgoing(&record);
        let withdrawal = Withdrawal::create(&self.identity, record.peer, record.invite_id, now);
        let key = DeliveryKey::Withdrawal(record.invite_id);
        let payload = Payload::Withdrawal(withdrawal);
        self.deliver(record.peer, &payload, record.expires_at_ms, key)
            .await;
        Ok(outgoing_summary(&record))
    }

    /// `accord block` / `accord unblock`. Blocking also declines, silently, every pending
    /// invite from that ID.
    pub(super) async fn block(
        &mut self,
        peer: &str,
        block: bool,
    ) -> Result<BlockInfo, RemoteError> {
        let peer = parse_id(peer)?;
        let now = clock::now_ms();
        if block {
            self.store.block(&peer, now).await.map_err(internal)?;
            for id in self.live.all_pending_incoming_from(&peer) {
                let Some(mut invite) = self.store.incoming(&id).await.map_err(internal)? else {
                    continue;
                };
                // Only pending invites move; the others stay as they are.
                if advance(&mut invite.state, InviteEvent::Decline).is_ok() {
                    invite.closed_at_ms = Some(now);
                    self.store.put_incoming(&invite).await.map_err(internal)?;
                    self.live.note_incoming(&invite);
                }
            }
        } else {
            self.store.unblock(&peer).await.map_err(internal)?;
            self.store
                .set_meta(&unblocked_key(&peer), &now.to_be_bytes())
                .await
                .map_err(internal)?;
            // The time ends the decline cool-down early; it must survive a crash like the
            // unblocking it goes with. The flush joins the group commit.
            self.store.flush().await.map_err(internal)?;
            // The Message actor held back what it queued for this peer; as after a channel
            // set-up, it sends it now.
            self.messages.channel_changed(peer).await;
        }
        Ok(BlockInfo {
            peer: peer.to_string(),
            blocked: block,
        })
    }

    /// When `peer` was last unblocked, if ever.
    pub(super) async fn unblocked_at(&mut self, peer: &AccordId) -> Option<u64> {
        let bytes = match self.store.meta(&unblocked_key(peer)).await {
            Ok(bytes) => bytes?,
            Err(err) => {
                self.store_failed("store_read_failed", &err);
                return None;
            }
        };
        Some(u64::from_be_bytes(bytes.try_into().ok()?))
    }

    /// `accord disconnect`: a signed revocation, sent to the other side and kept.
    pub(super) async fn disconnect(&mut self, peer: &str) -> Result<ConnectionInfo, RemoteError> {
        let peer = parse_id(peer)?;
        let now = clock::now_ms();
        let mut connection = self.active_connection(&peer).await?;
        let attestation = Attestation::decode(&connection.attestation).map_err(internal)?;
        let revocation = Revocation::create(&self.identity, &attestation, now).map_err(internal)?;
        revoke(&mut connection, now).map_err(transition_refused)?;
        connection.revocation = Some(revocation.encode());
        connection.next_publish_at_ms = Some(now + FIRST_REPUBLISH_DELAY_MS);
        connection.publish_count = 0;
        // The channel's keys go with the connection, in the same transaction: nothing more
        // can be read or written, and no crash can leave the session behind.
        self.store
            .revoke_connection(&connection)
            .await
            .map_err(internal)?;
        self.live.note_connection(&connection);
        self.emit(accord_api::Event::ConnectionRevoked {
            peer: peer.to_string(),
            attestation_id: hex(&connection.attestation_id),
        });
        let expires = now + 30 * DAY_MS;
        let key = DeliveryKey::Revocation(Box::new(peer));
        self.deliver(peer, &Payload::Revocation(revocation), expires, key)
            .await;
        Ok(connection_info(&connection))
    }

    async fn active_connection(&self, peer: &AccordId) -> Result<Connection, RemoteError> {
        match self.store.connection(peer).await.map_err(internal)? {
            Some(connection) if connection.revoked_at_ms.is_none() => Ok(connection),
            Some(_) => Err(refused(format!("the connection with {peer} was revoked"))),
            None => Err(refused(format!(
                "{peer} is not a connection; send an invite with: accord connect {peer}"
            ))),
        }
    }

    /// `accord connections`: the unrevoked ones.
    pub(super) async fn list_connections(&mut self) -> Result<Vec<ConnectionInfo>, RemoteError> {
        let connections = self.store.connections().await.map_err(internal)?;
        Ok(connections
            .iter()
            .filter(|c| c.revoked_at_ms.is_none())
            .map(connection_info)
            .collect())
    }

    /// `accord attestation`.
    pub(super) async fn attestation(&mut self, peer: &str) -> Result<AttestationText, RemoteError> {
        let peer = parse_id(peer)?;
        let connection = self.active_connection(&peer).await?;
        let attestation = Attestation::decode(&connection.attestation).map_err(internal)?;
        Ok(AttestationText {
            peer: peer.to_string(),
            attestation_id: hex(&connection.attestation_id),
            text: attestation.to_text(),
        })
    }
}

/// The meta key under which the last unblocking of `peer` is kept (8 bytes, big-endian Unix
/// ms): it ends the decline cool-down early, see `declined_recently`. An ID is at most 52
/// base58 characters, so the key fits the store's 64-byte limit on meta keys.
fn unblocked_key(peer: &AccordId) -> String {
    format!("unblocked/{peer}")
}

/// The connection record for a fresh attestation.
pub(super) fn new_connection(peer: AccordId, attestation: &Attestation, now: u64) -> Connection {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unblocked_key_fits_the_store_for_any_id() {
        let mut rng = crate::rng::os_rng();
        for _ in 0..100 {
            let id = accord_identity::Identity::generate(&mut rng).id();
            let key = unblocked_key(&id);
            assert!(key.len() <= 64, "{key} is {} bytes", key.len());
            assert!(key.bytes().all(|b| b.is_ascii_graphic()));
        }
    }
}
