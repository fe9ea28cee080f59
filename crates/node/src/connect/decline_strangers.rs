//! `accord decline --all-from-strangers`: one command for a user under a flood of invites.

use accord_api::{DeclinedInfo, RemoteError};
use accord_handshake::InviteEvent;

use super::actor::ConnectActor;
use super::transition::advance;
use crate::clock;
use crate::remote_error::internal;

impl ConnectActor {
    /// Declines every pending incoming invite whose inviter is not a connection, as `decline`
    /// does one (silently, each starting its re-invite cool-down), and says how many.
    ///
    /// Every pending invite is from a stranger today, since an invite from a connection is
    /// dropped on arrival; the check stays so that a connection made since (a crossed invite
    /// that was accepted the other way) keeps its invite.
    pub(super) async fn decline_strangers(&mut self) -> Result<DeclinedInfo, RemoteError> {
        let now = clock::now_ms();
        let mut declined = 0;
        for pending in self.live.pending_incoming() {
            if self.live.is_connected(&pending.inviter) {
                continue;
            }
            let stored = self
                .store
                .incoming(&pending.invite_id)
                .await
                .map_err(internal)?;
            let Some(mut record) = stored else {
                continue;
            };
            // Only pending invites move; one that changed since the index saw it stays as it is.
            if advance(&mut record.state, InviteEvent::Decline).is_err() {
                continue;
            }
            record.closed_at_ms = Some(now);
            self.store.put_incoming(&record).await.map_err(internal)?;
            self.live.note_incoming(&record);
            declined += 1;
        }
        tracing::info!(declined, "declined every pending invite from strangers");
        Ok(DeclinedInfo { declined })
    }
}
