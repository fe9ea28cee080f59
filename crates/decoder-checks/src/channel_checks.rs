//! The channel's decoders: ratchet headers, envelopes (and decrypting them) and stored
//! session state.

use accord_channel::{Envelope, Header, Session};

use crate::assert_explained;
use crate::fixtures::{NOW_MS, world};
use accord_identity::test_rng::TestRng;

/// A Double Ratchet header.
pub(crate) fn ratchet_header(data: &[u8]) {
    match Header::decode(data) {
        Ok(header) => assert_eq!(header.encode(), data, "a header re-encodes exactly"),
        Err(err) => assert_explained(&err),
    }
}

/// An envelope from a peer: decode it, then try to decrypt it with the fixed session, which
/// must be left exactly as it was when decryption fails.
pub(crate) fn envelope(data: &[u8]) {
    let decoded = Envelope::decode(data);
    match &decoded {
        Ok(envelope) => assert_eq!(envelope.encode(), data, "an envelope re-encodes exactly"),
        Err(err) => assert_explained(err),
    }
    let mut session = world().alice_session();
    let decrypted = decrypt_leaving_no_trace(&mut session, data);
    if decrypted {
        assert!(decoded.is_ok(), "only a well-formed envelope decrypts");
    }
}

/// Stored session state, as read back from a possibly damaged disk: restore it, re-encode it,
/// and use it (decrypt the world's envelopes, purge, encrypt), which must not panic and must
/// leave a state that restores again.
pub(crate) fn ratchet_state(data: &[u8]) {
    let mut session = match Session::from_bytes(data) {
        Ok(session) => session,
        Err(err) => return assert_explained(&err),
    };
    assert_eq!(
        session.to_bytes().as_slice(),
        data,
        "a session state re-encodes exactly"
    );
    let _ = (
        session.session_id(),
        session.attestation_id(),
        session.role(),
        session.our_id(),
        session.peer_id(),
        session.skipped_key_count(),
    );
    for envelope in &world().envelopes {
        decrypt_leaving_no_trace(&mut session, envelope);
    }
    session.purge_expired(NOW_MS);
    if session.can_send()
        && let Err(err) = session.encrypt(b"fuzz", &mut TestRng::new(0))
    {
        assert_explained(&err);
    }
    let stored = session.to_bytes();
    assert!(
        Session::from_bytes(&stored).is_ok(),
        "a state a session reached restores again"
    );
}

/// Decrypts `envelope`; true when it authenticated. On failure the session must not change.
fn decrypt_leaving_no_trace(session: &mut Session, envelope: &[u8]) -> bool {
    let before = session.to_bytes();
    match session.decrypt(envelope, NOW_MS) {
        Ok(_) => true,
        Err(err) => {
            assert_explained(&err);
            assert!(
                session.to_bytes() == before,
                "a refused envelope changed the session"
            );
            false
        }
    }
}
