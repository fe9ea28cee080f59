//! The life of an invite and of a connection, and the crossed-invite rule.

use std::fmt;
use std::str::FromStr;

use accord_identity::AccordId;

/// Where an invite stands. Only `Pending` moves, with one exception: an incoming invite we
/// accepted becomes `Withdrawn` or `Expired` when its inviter refuses the acceptance
/// ([`InviteEvent::Refused`]), since the acceptance then never took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InviteState {
    /// Sent or received, not yet answered.
    Pending,
    /// The invitee accepted: the parties are connected.
    Accepted,
    /// The invitee declined (the inviter is not told, so on the inviter's side the invite
    /// stays pending until it expires).
    Declined,
    /// The inviter withdrew it.
    Withdrawn,
    /// It expired unanswered.
    Expired,
}

/// What can happen to a pending invite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InviteEvent {
    /// The invitee accepts.
    Accept,
    /// The invitee declines.
    Decline,
    /// The inviter withdraws.
    Withdraw,
    /// The expiry time passes.
    Expire,
    /// The inviter refused our acceptance with a signed settlement, or we learn it withdrew
    /// the invite before our acceptance reached it: the invite had been withdrawn (`expired`
    /// false) or had expired (`expired` true) on the inviter's side.
    Refused {
        /// Whether the invite had expired (else it had been withdrawn).
        expired: bool,
    },
}

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// The attestation holds: messaging is allowed.
    Connected,
    /// Either side revoked the attestation: final.
    Revoked,
}

/// What can happen to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionEvent {
    /// Either side revokes the attestation.
    Revoke,
}

/// A state change that the rules do not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The invite is no longer pending.
    #[error("the invite is already {state}; cannot {event:?} it")]
    Invite {
        /// Its (final) state.
        state: InviteState,
        /// The event refused.
        event: InviteEvent,
    },
    /// The connection is already revoked.
    #[error("the connection is already {state}; cannot {event:?} it")]
    Connection {
        /// Its (final) state.
        state: ConnectionState,
        /// The event refused.
        event: ConnectionEvent,
    },
}

/// A string that names no state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown state {0:?}")]
pub struct ParseStateError(pub String);

impl InviteState {
    /// Every state, in declaration order.
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Accepted,
        Self::Declined,
        Self::Withdrawn,
        Self::Expired,
    ];

    /// The lowercase name the CLI prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Withdrawn => "withdrawn",
            Self::Expired => "expired",
        }
    }

    /// Whether the state is final.
    pub fn is_terminal(self) -> bool {
        self != Self::Pending
    }

    /// The state after `event`.
    ///
    /// # Errors
    ///
    /// [`TransitionError::Invite`] unless the invite is pending.
    pub fn apply(self, event: InviteEvent) -> Result<Self, TransitionError> {
        match (self, event) {
            (Self::Pending, InviteEvent::Accept) => Ok(Self::Accepted),
            (Self::Pending, InviteEvent::Decline) => Ok(Self::Declined),
            (Self::Pending, InviteEvent::Withdraw) => Ok(Self::Withdrawn),
            (Self::Pending, InviteEvent::Expire) => Ok(Self::Expired),
            (Self::Accepted, InviteEvent::Refused { expired: true }) => Ok(Self::Expired),
            (Self::Accepted, InviteEvent::Refused { expired: false }) => Ok(Self::Withdrawn),
            (state, event) => Err(TransitionError::Invite { state, event }),
        }
    }
}

impl ConnectionState {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Revoked => "revoked",
        }
    }

    /// The state after `event`.
    ///
    /// # Errors
    ///
    /// [`TransitionError::Connection`] if already revoked.
    pub fn apply(self, event: ConnectionEvent) -> Result<Self, TransitionError> {
        match (self, event) {
            (Self::Connected, ConnectionEvent::Revoke) => Ok(Self::Revoked),
            (state, event) => Err(TransitionError::Connection { state, event }),
        }
    }
}

impl fmt::Display for InviteState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InviteState {
    type Err = ParseStateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| ParseStateError(s.to_owned()))
    }
}

impl fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConnectionState {
    type Err = ParseStateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Connected, Self::Revoked]
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| ParseStateError(s.to_owned()))
    }
}

/// What to do when we hold a pending invite *to* a peer and receive one *from* them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crossed {
    /// Their invite wins: accept it. Our own invite to them is superseded: once connected,
    /// neither node keeps it pending (ours may withdraw it; theirs drops it).
    AcceptTheirs,
    /// Our invite wins: keep it pending and leave theirs unanswered; the peer accepts ours.
    KeepOurs,
}

/// The crossed-invite rule: the invite from the party whose Accord ID byte string
/// ([`AccordId::to_bytes`]) is lower wins. Both nodes apply the same rule, so exactly one
/// invite is accepted and exactly one attestation results.
pub fn crossed_resolution(me: &AccordId, peer: &AccordId) -> Crossed {
    if me.to_bytes() < peer.to_bytes() {
        Crossed::KeepOurs
    } else {
        Crossed::AcceptTheirs
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use crate::test_rng::parties;

    #[test]
    fn only_pending_moves() {
        use InviteEvent::*;
        let events = [Accept, Decline, Withdraw, Expire];
        let targets = [
            InviteState::Accepted,
            InviteState::Declined,
            InviteState::Withdrawn,
            InviteState::Expired,
        ];
        for (event, target) in events.into_iter().zip(targets) {
            assert_eq!(InviteState::Pending.apply(event), Ok(target));
            for state in InviteState::ALL.into_iter().filter(|s| s.is_terminal()) {
                assert_eq!(
                    state.apply(event),
                    Err(TransitionError::Invite { state, event })
                );
            }
        }
        // A refused acceptance undoes only an accepted invite.
        for expired in [false, true] {
            let event = Refused { expired };
            let target = if expired {
                InviteState::Expired
            } else {
                InviteState::Withdrawn
            };
            assert_eq!(InviteState::Accepted.apply(event), Ok(target));
            for state in InviteState::ALL
                .into_iter()
                .filter(|s| *s != InviteState::Accepted)
            {
                assert_eq!(
                    state.apply(event),
                    Err(TransitionError::Invite { state, event })
                );
            }
        }
        assert_eq!(
            ConnectionState::Connected.apply(ConnectionEvent::Revoke),
            Ok(ConnectionState::Revoked)
        );
        assert!(
            ConnectionState::Revoked
                .apply(ConnectionEvent::Revoke)
                .is_err()
        );
    }

    #[test]
    fn names() {
        for state in InviteState::ALL {
            assert_eq!(state.to_string().parse::<InviteState>(), Ok(state));
        }
        assert_eq!(InviteState::Pending.to_string(), "pending");
        assert_eq!(InviteState::Withdrawn.to_string(), "withdrawn");
        assert!("Pending".parse::<InviteState>().is_err());
        assert_eq!(
            "revoked".parse::<ConnectionState>(),
            Ok(ConnectionState::Revoked)
        );
        assert!("".parse::<ConnectionState>().is_err());
    }

    #[test]
    fn crossed_invites_resolve_to_one() {
        for seed in 0..16 {
            let (a, b, _) = parties(seed);
            let (a, b) = (a.id(), b.id());
            let at_a = crossed_resolution(&a, &b);
            let at_b = crossed_resolution(&b, &a);
            assert_ne!(at_a, at_b, "exactly one side accepts");
            let a_wins = a.to_bytes() < b.to_bytes();
            assert_eq!(at_a == Crossed::KeepOurs, a_wins);
        }
    }
}
