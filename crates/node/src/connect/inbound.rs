//! Frames that arrive: open, check, and apply them. Anything wrong is dropped and counted,
//! and nothing already stored is changed by it.

use accord_channel::Session;
use accord_handshake::{
    Acceptance, Admission, Attestation, Crossed, GossipFrame, IncomingPolicy, Invite, InviteEvent,
    InviteState, OneTimeSecret, OpenError, Payload, Revocation, Withdrawal, check_cooldown,
    crossed_resolution, open_payload,
};
use accord_identity::AccordId;
use accord_net::DirectProtocol;
use accord_net::{PeerId, ResponseChannel};
use accord_store::{IncomingInvite, LiveItem, OutgoingInvite};

use crate::message::wire::Content;

use super::actor::ConnectActor;
use super::commands::{hex, new_connection};
use super::core::{BlockVerdict, block_verdict};
use super::delivery::{DIRECT_OK, DIRECT_REFUSED};
use super::replay::frame_digest;
use super::stamped::is_stamp_error;
use super::transition::{advance, revoke};
use crate::clock;

/// How far ahead of our clock a sender's time stamp may be.
pub(crate) const MAX_CLOCK_SKEW_MS: u64 = 10 * 60 * 1000;

impl ConnectActor {
    /// Opens and applies one frame; true when it was applied (and may have changed state).
    pub(super) async fn on_frame(
        &mut self,
        data: &[u8],
        from: PeerId,
        channel: Option<ResponseChannel<Vec<u8>>>,
    ) -> bool {
        let now = clock::now_ms();
        // A frame handled before is answered as it was, before any cryptography: a replay
        // costs a hash and a lookup, and changes nothing stored.
        let digest = frame_digest(data);
        if let Some(answer) = self.replays.seen(&digest) {
            self.drop_frame("replayed_frame", &from);
            self.answer_direct(channel, answer).await;
            return false;
        }
        // Direct frames get the relay check here, so that the stamp is checked before any
        // trial decryption. Gossip frames are not checked twice: gossipsub delivers only what
        // this node's gossip validator accepted, and that validator is the same check.
        let checked = match channel {
            Some(_) => GossipFrame::check(data, now, self.config.invites.stamp_bits),
            None => Ok(()),
        };
        let opened = checked
            .map_err(OpenError::from)
            .and_then(|()| open_payload(&self.identity, data, now));
        let accepted = match opened {
            Ok(payload) => {
                self.frame_settled = true;
                let accepted = self.on_payload(payload, now).await;
                // Only an accepted, settled frame is remembered: a refusal may come from a
                // passing store error or a block that is lifted later.
                if accepted && self.frame_settled {
                    self.replays.remember(digest, true);
                }
                accepted
            }
            // Trial decryption: most of what arrives on a shard is for someone else, and will
            // stay so.
            Err(OpenError::NotForMe) => {
                self.replays.remember(digest, false);
                false
            }
            Err(OpenError::Frame(err)) if is_stamp_error(&err) => {
                self.drop_frame("stamp", &format_args!("{err} (via {from})"));
                false
            }
            Err(err) => {
                self.drop_frame("malformed", &format_args!("{err} (via {from})"));
                false
            }
        };
        self.answer_direct(channel, accepted).await;
        accepted
    }

    /// Answers a frame handed over directly (`ok` or `no`); gossip frames have no channel.
    async fn answer_direct(&mut self, channel: Option<ResponseChannel<Vec<u8>>>, accepted: bool) {
        if let Some(channel) = channel {
            let answer = if accepted { DIRECT_OK } else { DIRECT_REFUSED };
            let _ = self
                .net
                .respond_direct(DirectProtocol::Inbox, channel, answer.to_vec())
                .await;
        }
    }

    /// Applies an opened payload; true when it was accepted (or is a harmless repeat).
    async fn on_payload(&mut self, payload: Payload, now: u64) -> bool {
        let sender = match &payload {
            Payload::Invite(invite) => invite.inviter,
            Payload::Acceptance(acceptance) => acceptance.invitee,
            Payload::Withdrawal(withdrawal) => withdrawal.inviter,
            Payload::Revocation(revocation) => revocation.by,
        };
        let checked = self.store.is_blocked(&sender).await;
        match (block_verdict(&checked), checked) {
            (BlockVerdict::Allowed, _) => {}
            (BlockVerdict::Blocked, _) => {
                self.drop_frame("blocked", &sender);
                return false;
            }
            (BlockVerdict::Unknown, checked) => {
                if let Err(err) = checked {
                    self.store_failed("block_check_failed", &err);
                }
                return false;
            }
        }
        match payload {
            Payload::Invite(invite) => self.on_invite(invite, now).await,
            Payload::Acceptance(acceptance) => self.on_acceptance(acceptance, now).await,
            Payload::Withdrawal(withdrawal) => self.on_withdrawal(withdrawal).await,
            Payload::Revocation(revocation) => self.on_revocation(revocation, now).await,
        }
    }

    async fn on_invite(&mut self, invite: Invite, now: u64) -> bool {
        if let Err(err) = invite.verify(&self.me, now, MAX_CLOCK_SKEW_MS) {
            self.drop_frame("invalid_invite", &err);
            return false;
        }
        // A verified invite is evidence of the real time (the bound on the clock mark).
        self.time_evidence.note_peer_time(invite.created_at_ms);
        let peer = invite.inviter;
        match self.store.incoming(&invite.invite_id).await {
            // A republication of an invite we have: nothing to do.
            Ok(Some(known)) => return known.peer == peer,
            Ok(None) => {}
            Err(err) => {
                self.store_failed("store_read_failed", &err);
                return false;
            }
        }
        match self.store.connection(&peer).await {
            Ok(Some(connection)) if connection.revoked_at_ms.is_none() => {
                self.drop_frame("already_connected", &peer);
                return false;
            }
            Ok(_) => {}
            Err(err) => {
                self.store_failed("store_read_failed", &err);
                return false;
            }
        }
        if self.declined_recently(&peer, now).await {
            // Dropped without a trace, but answered like a delivered invite: a refusal would
            // tell the inviter what the decline itself never tells them.
            self.drop_frame("declined_cooldown", &peer);
            return true;
        }
        let crossed = self.live.pending_outgoing_to(&peer, now).is_some();
        if crossed && crossed_resolution(&self.me, &peer) == Crossed::KeepOurs {
            // Both asked, and ours wins the tie-break: they accept ours when it reaches them.
            // Should ours end unanswered, a later copy of theirs must still count.
            self.frame_settled = false;
            return true;
        }
        let record = self.incoming_record(&invite, now);
        if !self.make_room_for(&record).await {
            return false;
        }
        if !self.save_incoming(&record).await {
            return false;
        }
        tracing::info!(%peer, invite = %hex(&record.invite_id), "invite received");
        if crossed {
            // Both asked, and theirs wins the tie-break: accept it.
            return self.resolve_crossed(record, now).await;
        }
        self.emit(accord_api::Event::InviteReceived {
            invite_id: hex(&record.invite_id),
            peer: peer.to_string(),
            note: record.note,
            // Filled in for each subscriber at the control edge (`people::names`).
            name: None,
        });
        true
    }

    /// Whether we declined an invite from `peer` less than `invites.reinvite_cooldown_days`
    /// ago. The inviter is not told of a decline, so it cannot hold back on its own once its
    /// invite expires; the invitee enforces the cool-down instead. The clock high-water mark
    /// keeps a clock set back from ending the cool-down early.
    async fn declined_recently(&mut self, peer: &AccordId, now: u64) -> bool {
        // Unblocking someone says "I will hear from them again": declines up to then (blocking
        // declines what is pending) no longer hold them back.
        let unblocked_at = self.unblocked_at(peer).await;
        let Some(declined_at) = self.live.last_decline(peer, unblocked_at) else {
            return false;
        };
        let high_water = match self.store.clock_high_water_ms().await {
            Ok(mark) => mark,
            Err(err) => {
                self.store_failed("store_read_failed", &err);
                0
            }
        };
        let days = self.config.invites.reinvite_cooldown_days;
        check_cooldown(declined_at, days, now, high_water).is_err()
    }

    fn incoming_record(&self, invite: &Invite, now: u64) -> IncomingInvite {
        IncomingInvite {
            invite_id: invite.invite_id,
            peer: invite.inviter,
            invite: invite.encode(),
            note: invite.note.as_str().to_owned(),
            state: InviteState::Pending,
            created_at_ms: invite.created_at_ms,
            expires_at_ms: invite.expires_at_ms,
            received_at_ms: now,
            closed_at_ms: None,
            acceptance: None,
            ephemeral_secret: None,
            next_publish_at_ms: None,
            publish_count: 0,
        }
    }

    /// Keeps one pending invite per sender (the newest) and at most `limits.pending_invites`
    /// in all,
    /// by the handshake's rule: when full, the invite with the earliest eviction deadline
    /// (its expiry, capped at 14 days after its creation) goes, so a flood of long-lived
    /// invites cannot outrank honest ones that arrived after it.
    async fn make_room_for(&mut self, record: &IncomingInvite) -> bool {
        let summary = accord_handshake::IncomingInvite {
            invite_id: record.invite_id,
            inviter: record.peer,
            created_at_ms: record.created_at_ms,
            expires_at_ms: record.expires_at_ms,
        };
        let pending = self.live.pending_incoming();
        let policy = IncomingPolicy {
            // Validated to at most 5000, which fits every usize.
            max_incoming: usize::try_from(self.config.limits.pending_invites).unwrap_or(usize::MAX),
        };
        match policy.admit(&pending, &summary) {
            Admission::Admit { evict } => {
                for invite_id in evict {
                    match self.store.remove_incoming(&invite_id).await {
                        Ok(_) => self.live.forget(&LiveItem::Incoming(invite_id)),
                        Err(err) => {
                            self.store_failed("store_write_failed", &err);
                            return false;
                        }
                    }
                    self.drop_frame("evicted_invite", &hex(&invite_id));
                }
                true
            }
            Admission::Duplicate => false,
            Admission::Stale => {
                self.drop_frame("superseded_invite", &record.peer);
                false
            }
            Admission::Full => {
                self.drop_frame("incoming_full", &record.peer);
                false
            }
        }
    }

    /// Crossed invites where theirs wins: accept theirs, and close ours as accepted, since the
    /// pair ends up connected through one attestation.
    async fn resolve_crossed(&mut self, record: IncomingInvite, now: u64) -> bool {
        let peer = record.peer;
        if let Err(err) = self.accept_incoming(record, now).await {
            tracing::warn!(%peer, %err, "cannot accept a crossed invite");
            return false;
        }
        // Expired or not, our pending invite to them is answered by the connection.
        if let Some(id) = self.live.pending_outgoing_to(&peer, 0)
            && let Some(mut ours) = self.load_outgoing(&id).await
            && advance(&mut ours.state, InviteEvent::Accept).is_ok()
        {
            ours.closed_at_ms = Some(now);
            ours.one_time_secret = None;
            ours.next_publish_at_ms = None;
            self.save_outgoing(&ours).await;
        }
        true
    }

    async fn on_acceptance(&mut self, acceptance: Acceptance, now: u64) -> bool {
        let ours = match self.store.outgoing(&acceptance.invite_id).await {
            Ok(Some(ours)) => ours,
            Ok(None) => {
                self.drop_frame("unknown_acceptance", &acceptance.invitee);
                return false;
            }
            Err(err) => {
                self.store_failed("store_read_failed", &err);
                return false;
            }
        };
        let invite = match Invite::decode(&ours.invite) {
            Ok(invite) => invite,
            Err(err) => {
                self.drop_frame("unreadable_own_invite", &err);
                return false;
            }
        };
        let attestation = match acceptance.verify(&invite) {
            Ok(attestation) => attestation,
            Err(err) => {
                self.drop_frame("invalid_acceptance", &err);
                return false;
            }
        };
        if ours.state == InviteState::Accepted {
            // A republication, or a replay, of an acceptance we already applied: it changes
            // nothing, but it is counted, and answered so that an honest sender stops.
            self.drop_frame("repeated_acceptance", &acceptance.invitee);
            return true;
        }
        if ours.state != InviteState::Pending || ours.expires_at_ms <= now {
            self.drop_frame("late_acceptance", &acceptance.invitee);
            return false;
        }
        let Some(session) = self.inviter_session(&ours, &acceptance, &attestation, now) else {
            return false;
        };
        let connection = new_connection(ours.peer, &attestation, now);
        match self
            .store
            .complete_outgoing(&ours.invite_id, &connection, now, &session.to_bytes())
            .await
        {
            Ok(true) => {
                let mut closed = ours.clone();
                closed.state = InviteState::Accepted;
                closed.next_publish_at_ms = None;
                self.live.note_outgoing(&closed);
                self.live.note_connection(&connection);
                self.emit_accepted(&ours.invite_id, &ours.peer, &connection);
                self.messages.channel_changed(ours.peer).await;
                true
            }
            Ok(false) => {
                self.drop_frame("replayed_acceptance", &acceptance.invitee);
                false
            }
            Err(err) => {
                self.store_failed("store_write_failed", &err);
                false
            }
        }
    }

    /// The inviter's half of the channel: from the invite's one-time key and the acceptance's
    /// ephemeral key, checked by decrypting the first ratchet message the acceptance carries.
    fn inviter_session(
        &mut self,
        ours: &OutgoingInvite,
        acceptance: &Acceptance,
        attestation: &Attestation,
        now: u64,
    ) -> Option<Session> {
        let Some(secret) = ours.one_time_secret.clone() else {
            self.drop_frame("no_one_time_key", &acceptance.invitee);
            return None;
        };
        let secret = OneTimeSecret::from_bytes(secret);
        let session = Session::new_inviter(
            &self.identity,
            &secret,
            &acceptance.invitee,
            &acceptance.ephemeral_key,
            &attestation.id(),
        );
        let mut session = match session {
            Ok(session) => session,
            Err(err) => {
                self.drop_frame("bad_channel_setup", &err);
                return None;
            }
        };
        match session.decrypt(acceptance.first_message(), now) {
            Ok(first) if Content::decode(&first) == Ok(Content::Hello) => Some(session),
            Ok(_) => {
                self.drop_frame("bad_first_message", &acceptance.invitee);
                None
            }
            Err(err) => {
                self.drop_frame("bad_first_message", &err);
                None
            }
        }
    }

    async fn on_withdrawal(&mut self, withdrawal: Withdrawal) -> bool {
        let mut theirs = match self.store.incoming(&withdrawal.invite_id).await {
            Ok(Some(theirs)) => theirs,
            // We never saw the invite (or already dropped it): nothing to withdraw. The invite
            // may still arrive, so a later copy of this withdrawal must still count.
            Ok(None) => {
                self.frame_settled = false;
                return true;
            }
            Err(err) => {
                self.store_failed("store_read_failed", &err);
                return false;
            }
        };
        let invite = match Invite::decode(&theirs.invite) {
            Ok(invite) => invite,
            Err(err) => {
                self.drop_frame("unreadable_invite", &err);
                return false;
            }
        };
        if let Err(err) = withdrawal.verify(&invite) {
            self.drop_frame("invalid_withdrawal", &err);
            return false;
        }
        // An invite already answered, expired or withdrawn stays as it is.
        if advance(&mut theirs.state, InviteEvent::Withdraw).is_err() {
            return true;
        }
        theirs.closed_at_ms = Some(withdrawal.at_ms);
        if !self.save_incoming(&theirs).await {
            return false;
        }
        self.emit(accord_api::Event::InviteWithdrawn {
            invite_id: hex(&theirs.invite_id),
            peer: theirs.peer.to_string(),
        });
        true
    }

    async fn on_revocation(&mut self, revocation: Revocation, now: u64) -> bool {
        let peer = revocation.by;
        let mut connection = match self.store.connection(&peer).await {
            Ok(Some(connection)) => connection,
            Ok(None) => {
                self.drop_frame("unknown_revocation", &peer);
                return false;
            }
            Err(err) => {
                self.store_failed("store_read_failed", &err);
                return false;
            }
        };
        let attestation = match Attestation::decode(&connection.attestation) {
            Ok(attestation) => attestation,
            Err(err) => {
                self.drop_frame("unreadable_attestation", &err);
                return false;
            }
        };
        if let Err(err) = revocation.verify(&attestation) {
            self.drop_frame("invalid_revocation", &err);
            return false;
        }
        // Revoked already: a repeat changes nothing.
        if revoke(&mut connection, now).is_err() {
            return true;
        }
        connection.revocation = Some(revocation.encode());
        // The connection and the end of its channel (the session's keys) are one write, so a
        // revocation can never be stored while the session survives.
        if !self.save_revocation(&connection).await {
            return false;
        }
        self.emit(accord_api::Event::ConnectionRevoked {
            peer: peer.to_string(),
            attestation_id: hex(&connection.attestation_id),
        });
        true
    }
}
