//! The errors of session set-up and of encrypting and decrypting messages.

use crate::envelope::{EnvelopeError, SessionId};

/// Why a session cannot be set up from the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Our identity and the peer's are the same: a channel needs two parties.
    #[error("cannot open a channel with yourself")]
    SameIdentity,
    /// One of the set-up's Diffie-Hellman results is all zeros: a peer key (the one-time or
    /// the ephemeral key) is a low-order point, so the result would carry no secret.
    #[error("a peer's one-time or ephemeral key is invalid (of low order)")]
    NonContributory,
}

/// Why a message cannot be encrypted or decrypted. A failed decryption never changes the
/// session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// The bytes are not an envelope.
    #[error("invalid envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The envelope belongs to another session.
    #[error("the message is for session {found}, not this session ({expected})")]
    WrongSession {
        /// This session's id.
        expected: SessionId,
        /// The id in the envelope.
        found: SessionId,
    },
    /// The plaintext is longer than [`crate::MAX_PLAINTEXT_LEN`].
    #[error("the message is {len} bytes; at most {max} are allowed")]
    PlaintextTooLarge {
        /// Its length.
        len: usize,
        /// The most allowed.
        max: usize,
    },
    /// The inviter cannot send before it has decrypted the invitee's first message (the
    /// invitee always speaks first; see the crate docs).
    #[error("cannot send yet: the peer's first message has not been received")]
    CannotSendYet,
    /// The header asks to skip more message keys in one chain than [`crate::MAX_SKIP`].
    #[error("the message would skip {skip} message keys; at most {max} are allowed")]
    TooManySkipped {
        /// How many keys it would skip.
        skip: u64,
        /// The most allowed.
        max: u32,
    },
    /// The message's key is gone: it was already decrypted (a replay or duplicate), or it
    /// was skipped and has since expired or been evicted.
    #[error("the message was already received, or its key expired")]
    MessageKeyUnavailable,
    /// The peer's ratchet key in the header is a low-order point.
    #[error("the message's ratchet key is invalid (of low order)")]
    NonContributory,
    /// The message does not authenticate: it was forged or altered, or is not for us.
    #[error("the message does not authenticate (forged, altered or not for this session)")]
    Decryption,
    /// The sending chain has used every message number (2³² messages without a reply).
    #[error("the sending chain is exhausted; the peer must reply first")]
    ChainExhausted,
    /// The AEAD refused to encrypt (cannot happen for messages within the size limit).
    #[error("encryption failed")]
    Encryption,
}
