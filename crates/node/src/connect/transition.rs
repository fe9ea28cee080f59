//! State changes of invites and connections, through `accord-handshake`'s state machine
//! (`InviteState::apply`, `ConnectionState::apply`), so that the rules of which change is
//! allowed live in one place and the node only decides when to ask for one.

use accord_handshake::{
    ConnectionEvent, ConnectionState, InviteEvent, InviteState, TransitionError,
};
use accord_store::Connection;

/// Moves an invite's state by `event`; leaves it as it is, and says why, when the rules do
/// not allow the change (only a pending invite moves).
pub(super) fn advance(state: &mut InviteState, event: InviteEvent) -> Result<(), TransitionError> {
    *state = state.apply(event)?;
    Ok(())
}

/// The state of a stored connection: a connection record is revoked once it holds the time of
/// its revocation.
pub(super) fn connection_state(connection: &Connection) -> ConnectionState {
    match connection.revoked_at_ms {
        Some(_) => ConnectionState::Revoked,
        None => ConnectionState::Connected,
    }
}

/// Revokes a connection at `at_ms`; refused, leaving it unchanged, if it is revoked already.
pub(super) fn revoke(connection: &mut Connection, at_ms: u64) -> Result<(), TransitionError> {
    connection_state(connection).apply(ConnectionEvent::Revoke)?;
    connection.revoked_at_ms = Some(at_ms);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection() -> Connection {
        let peer = accord_identity::Identity::generate(&mut crate::rng::os_rng()).id();
        Connection {
            peer,
            attestation: Vec::new(),
            attestation_id: [0; 32],
            since_ms: 1,
            alias: None,
            revoked_at_ms: None,
            revocation: None,
            next_publish_at_ms: None,
            publish_count: 0,
            awaiting_confirmation: false,
        }
    }

    #[test]
    fn only_a_pending_invite_moves_and_a_refusal_changes_nothing() {
        let mut state = InviteState::Pending;
        assert_eq!(advance(&mut state, InviteEvent::Decline), Ok(()));
        assert_eq!(state, InviteState::Declined);
        assert!(advance(&mut state, InviteEvent::Accept).is_err());
        assert_eq!(state, InviteState::Declined);
    }

    #[test]
    fn a_connection_is_revoked_once() {
        let mut connection = connection();
        assert_eq!(connection_state(&connection), ConnectionState::Connected);
        assert_eq!(revoke(&mut connection, 5), Ok(()));
        assert_eq!(connection.revoked_at_ms, Some(5));
        assert_eq!(connection_state(&connection), ConnectionState::Revoked);
        assert!(revoke(&mut connection, 9).is_err());
        assert_eq!(
            connection.revoked_at_ms,
            Some(5),
            "a second revocation moved the time"
        );
    }
}
