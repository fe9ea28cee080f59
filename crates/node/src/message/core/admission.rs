//! The rules an incoming message passes before anything is decrypted, without I/O.
//!
//! They are checked in order, cheapest and strictest first: everything from a blocked ID is
//! dropped; then everything from someone who is not an unrevoked connection; a message whose
//! id is already stored is a duplicate, acknowledged without decrypting it again; and a
//! conversation without a ratchet state cannot take anything.

use accord_store::IncomingContext;
use zeroize::Zeroizing;

/// What to do with an incoming message, given what the store knows of its conversation.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Drop it (refused, and counted under this reason in `accord stats`).
    Drop(&'static str),
    /// Already stored: acknowledge it once the original is certainly durable.
    Duplicate,
    /// Decrypt it with this ratchet state.
    Decrypt(Zeroizing<Vec<u8>>),
}

/// Applies the rules to `context` (see the module docs).
pub(crate) fn admit(context: IncomingContext) -> Admission {
    if context.blocked {
        return Admission::Drop("blocked");
    }
    if !context.active {
        return Admission::Drop("not_a_connection");
    }
    if context.seen {
        return Admission::Duplicate;
    }
    match context.session {
        Some(state) => Admission::Decrypt(state),
        None => Admission::Drop("no_session"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(blocked: bool, active: bool, seen: bool, session: bool) -> IncomingContext {
        IncomingContext {
            blocked,
            active,
            seen,
            session: session.then(|| Zeroizing::new(vec![7])),
        }
    }

    #[test]
    fn a_blocked_sender_is_dropped_whatever_else_holds() {
        for (active, seen, session) in [(true, true, true), (false, false, false)] {
            assert_eq!(
                admit(context(true, active, seen, session)),
                Admission::Drop("blocked")
            );
        }
    }

    #[test]
    fn only_an_unrevoked_connection_is_heard() {
        assert_eq!(
            admit(context(false, false, true, true)),
            Admission::Drop("not_a_connection")
        );
    }

    #[test]
    fn a_seen_message_is_a_duplicate_before_any_decryption() {
        assert_eq!(
            admit(context(false, true, true, true)),
            Admission::Duplicate
        );
    }

    #[test]
    fn a_new_message_needs_a_session() {
        assert_eq!(
            admit(context(false, true, false, false)),
            Admission::Drop("no_session")
        );
        assert_eq!(
            admit(context(false, true, false, true)),
            Admission::Decrypt(Zeroizing::new(vec![7]))
        );
    }
}
