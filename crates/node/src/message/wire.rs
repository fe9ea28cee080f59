//! The bytes of `/accord/dm/1`: the request frame around a ratchet envelope, the response, and
//! the content inside the encryption.
//!
//! ```text
//! request   = version (1) ‖ message id (16) ‖ envelope (the rest; at most MAX_ENVELOPE)
//! response  = version (1) ‖ status (1): 0 stored, 1 duplicate, 2 refused
//! content   = version (1) ‖ kind (1) ‖ fields
//!   kind 0 hello: nothing (the first ratchet message, carried in the acceptance)
//!   kind 1 text:  message id (16) ‖ sent_at_ms (u64) ‖ sender_seq (u64) ‖ reply flag (1)
//!                 [‖ reply-to id (16)] ‖ body length (u32) ‖ body (UTF-8)
//!   kind 2 read:  count (u16, 1–1000) ‖ count × message id (16)
//!   kind 3 people: a people content (the rest; see `crate::people::content`)
//!   kind 5 delivered: count (u16, 1–1000) ‖ count × message id (16): the sender took these
//!                 messages in from one of its mailboxes (the acknowledgement, sent back
//!                 through the recipient's own mailboxes)
//!   kind 4 mailboxes: the sender's mailbox announcement (the rest, at most 256 bytes; see
//!                 `crate::mailbox::wire`)
//! ```
//!
//! The message id travels in clear in the request so that a recipient can recognise a
//! retransmission before it decrypts anything (decrypting it again would fail: its message key
//! is spent). It is random, so it links nothing; the encrypted content repeats it, and a
//! mismatch is dropped.

use accord_store::MessageId;

/// The version byte of every structure here.
pub const VERSION: u8 = 1;

/// The most bytes a message body may have, whatever the configuration says.
pub const MAX_BODY: usize = 64 * 1024;

/// The most receipts in one read-receipt content.
pub const MAX_RECEIPTS: usize = 1000;

/// The largest request accepted.
pub const MAX_REQUEST: usize = 1 + 16 + MAX_BODY + 4096;

/// Why bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Too short for what it claims.
    #[error("truncated")]
    Truncated,
    /// More bytes than the structure holds.
    #[error("trailing bytes")]
    TrailingBytes,
    /// A version we do not speak.
    #[error("unsupported version {0}")]
    Version(u8),
    /// A kind or status we do not know.
    #[error("unknown kind {0}")]
    Kind(u8),
    /// Over a limit.
    #[error("too large")]
    TooLarge,
    /// The body is not UTF-8.
    #[error("the body is not UTF-8")]
    NotUtf8,
}

/// What a recipient answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Stored durably (or applied, for a receipt).
    Stored,
    /// Already stored earlier: the sender may stop retrying.
    Duplicate,
    /// Refused: not a connection, no channel, undecryptable or malformed.
    Refused,
    /// Not taken yet: an earlier message of the conversation (by sender sequence) has not
    /// arrived. Nothing was stored; the sender sends it again after the earlier ones.
    Early,
}

/// The inside of an encrypted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// The first ratchet message, empty.
    Hello,
    /// A text message.
    Text {
        /// The message's random id; it must equal the id of the request that carried it.
        message_id: MessageId,
        /// When the sender sent it (Unix ms, the sender's clock).
        sent_at_ms: u64,
        /// The sender's sequence number in this conversation, for ordering.
        sender_seq: u64,
        /// The message this one answers, if any.
        reply_to: Option<MessageId>,
        /// The text, at most [`MAX_BODY`] bytes of UTF-8.
        body: String,
    },
    /// These messages were read.
    Read {
        /// The ids of the messages read, 1 to [`MAX_RECEIPTS`] of them.
        ids: Vec<MessageId>,
    },
    /// A profile, a shared-list step or an introduction (taken by the people half of the
    /// node, never shown in a conversation). At most [`MAX_PEOPLE`] bytes.
    People(Vec<u8>),
    /// The sender stored these messages of ours, which it fetched from its mailbox: the
    /// acknowledgement that could not be an answer, since we could not be reached.
    Delivered {
        /// The ids, 1 to [`MAX_RECEIPTS`] of them.
        ids: Vec<MessageId>,
    },
    /// Which mailboxes hold the sender's mail, and the token to deposit with (taken by the
    /// mailbox half of the node). At most [`MAX_MAILBOXES_CONTENT`] bytes.
    Mailboxes(Vec<u8>),
}

/// The most bytes of a mailbox announcement content.
pub const MAX_MAILBOXES_CONTENT: usize = 256;

/// The most bytes of a people content (a whole profile with a 64 KiB avatar and some).
pub const MAX_PEOPLE: usize = 64 * 1024 + 2048;

/// The request frame around `envelope`: version ‖ message id ‖ envelope.
pub fn encode_request(message_id: &MessageId, envelope: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(17 + envelope.len());
    out.push(VERSION);
    out.extend_from_slice(message_id);
    out.extend_from_slice(envelope);
    out
}

/// Parses [`encode_request`]: the message id and the envelope (not yet parsed).
///
/// # Errors
///
/// [`WireError::TooLarge`] above [`MAX_REQUEST`], [`WireError::Version`],
/// [`WireError::Truncated`] (an empty envelope included).
pub fn decode_request(bytes: &[u8]) -> Result<(MessageId, &[u8]), WireError> {
    if bytes.len() > MAX_REQUEST {
        return Err(WireError::TooLarge);
    }
    let (&version, rest) = bytes.split_first().ok_or(WireError::Truncated)?;
    if version != VERSION {
        return Err(WireError::Version(version));
    }
    let id = rest.get(..16).ok_or(WireError::Truncated)?;
    let mut message_id = [0u8; 16];
    message_id.copy_from_slice(id);
    let envelope = rest.get(16..).unwrap_or_default();
    if envelope.is_empty() {
        return Err(WireError::Truncated);
    }
    Ok((message_id, envelope))
}

/// The response frame: version ‖ status code.
pub fn encode_status(status: Status) -> Vec<u8> {
    let code = match status {
        Status::Stored => 0,
        Status::Duplicate => 1,
        Status::Refused => 2,
        Status::Early => 3,
    };
    vec![VERSION, code]
}

/// Parses [`encode_status`].
///
/// # Errors
///
/// [`WireError::Truncated`], [`WireError::TrailingBytes`], [`WireError::Version`],
/// [`WireError::Kind`] for an unknown status code.
pub fn decode_status(bytes: &[u8]) -> Result<Status, WireError> {
    match bytes {
        [VERSION, 0] => Ok(Status::Stored),
        [VERSION, 1] => Ok(Status::Duplicate),
        [VERSION, 2] => Ok(Status::Refused),
        [VERSION, 3] => Ok(Status::Early),
        [VERSION, kind] => Err(WireError::Kind(*kind)),
        [version, _] => Err(WireError::Version(*version)),
        [] | [_] => Err(WireError::Truncated),
        _ => Err(WireError::TrailingBytes),
    }
}

impl Content {
    /// The plaintext bytes to encrypt.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        match self {
            Content::Hello => out.push(0),
            Content::Text {
                message_id,
                sent_at_ms,
                sender_seq,
                reply_to,
                body,
            } => {
                out.push(1);
                out.extend_from_slice(message_id);
                out.extend_from_slice(&sent_at_ms.to_be_bytes());
                out.extend_from_slice(&sender_seq.to_be_bytes());
                match reply_to {
                    Some(id) => {
                        out.push(1);
                        out.extend_from_slice(id);
                    }
                    None => out.push(0),
                }
                // Bodies are capped at MAX_BODY before encoding, so the length fits a u32.
                let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(body.as_bytes());
            }
            Content::People(bytes) => {
                out.push(3);
                out.extend_from_slice(bytes);
            }
            Content::Mailboxes(bytes) => {
                out.push(4);
                out.extend_from_slice(bytes);
            }
            Content::Delivered { ids } => {
                out.push(5);
                let count = u16::try_from(ids.len().min(MAX_RECEIPTS)).unwrap_or(0);
                out.extend_from_slice(&count.to_be_bytes());
                for id in ids.iter().take(MAX_RECEIPTS) {
                    out.extend_from_slice(id);
                }
            }
            Content::Read { ids } => {
                out.push(2);
                let count = u16::try_from(ids.len().min(MAX_RECEIPTS)).unwrap_or(0);
                out.extend_from_slice(&count.to_be_bytes());
                for id in ids.iter().take(MAX_RECEIPTS) {
                    out.extend_from_slice(id);
                }
            }
        }
        out
    }

    /// Parses [`Content::encode`] (a decrypted plaintext).
    ///
    /// # Errors
    ///
    /// Any [`WireError`]: every structure has exactly one encoding, so anything else is
    /// refused.
    pub fn decode(bytes: &[u8]) -> Result<Content, WireError> {
        let mut reader = Reader(bytes);
        let version = reader.u8()?;
        if version != VERSION {
            return Err(WireError::Version(version));
        }
        let content = match reader.u8()? {
            0 => Content::Hello,
            1 => {
                let message_id = reader.id()?;
                let sent_at_ms = reader.u64()?;
                let sender_seq = reader.u64()?;
                let reply_to = match reader.u8()? {
                    0 => None,
                    1 => Some(reader.id()?),
                    other => return Err(WireError::Kind(other)),
                };
                let len = usize::try_from(reader.u32()?).map_err(|_| WireError::TooLarge)?;
                if len > MAX_BODY {
                    return Err(WireError::TooLarge);
                }
                let body = String::from_utf8(reader.take(len)?.to_vec())
                    .map_err(|_| WireError::NotUtf8)?;
                Content::Text {
                    message_id,
                    sent_at_ms,
                    sender_seq,
                    reply_to,
                    body,
                }
            }
            2 => {
                let count = usize::from(reader.u16()?);
                if count == 0 || count > MAX_RECEIPTS {
                    return Err(WireError::TooLarge);
                }
                let ids = (0..count).map(|_| reader.id()).collect::<Result<_, _>>()?;
                Content::Read { ids }
            }
            3 => {
                let bytes = reader.take(reader.0.len())?;
                if bytes.len() > MAX_PEOPLE {
                    return Err(WireError::TooLarge);
                }
                Content::People(bytes.to_vec())
            }
            4 => {
                let bytes = reader.take(reader.0.len())?;
                if bytes.len() > MAX_MAILBOXES_CONTENT {
                    return Err(WireError::TooLarge);
                }
                Content::Mailboxes(bytes.to_vec())
            }
            5 => {
                let count = usize::from(reader.u16()?);
                if count == 0 || count > MAX_RECEIPTS {
                    return Err(WireError::TooLarge);
                }
                let ids = (0..count).map(|_| reader.id()).collect::<Result<_, _>>()?;
                Content::Delivered { ids }
            }
            other => return Err(WireError::Kind(other)),
        };
        if !reader.0.is_empty() {
            return Err(WireError::TrailingBytes);
        }
        Ok(content)
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(WireError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, WireError> {
        let mut b = [0u8; 2];
        b.copy_from_slice(self.take(2)?);
        Ok(u16::from_be_bytes(b))
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(b))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(b))
    }
    fn id(&mut self) -> Result<MessageId, WireError> {
        let mut id = [0u8; 16];
        id.copy_from_slice(self.take(16)?);
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn contents_round_trip() {
        for content in [
            Content::Hello,
            Content::Text {
                message_id: [7; 16],
                sent_at_ms: 1_700_000_000_000,
                sender_seq: 42,
                reply_to: Some([9; 16]),
                body: "**bold** and `code` — ünïcode".to_owned(),
            },
            Content::Read {
                ids: vec![[1; 16], [2; 16]],
            },
            Content::People(vec![1, 2, 3]),
            Content::Mailboxes(vec![1, 0, 0]),
            Content::Delivered {
                ids: vec![[3; 16], [4; 16]],
            },
        ] {
            assert_eq!(Content::decode(&content.encode()), Ok(content));
        }
        // An acknowledgement names at least one message, and a bounded number.
        assert_eq!(Content::decode(&[1, 5, 0, 0]), Err(WireError::TooLarge));
        assert_eq!(
            Content::decode(&[vec![1, 4], vec![0; MAX_MAILBOXES_CONTENT + 1]].concat()),
            Err(WireError::TooLarge)
        );
    }

    #[test]
    fn frames_and_statuses_round_trip_and_refuse_junk() {
        let frame = encode_request(&[3; 16], b"envelope");
        assert_eq!(decode_request(&frame), Ok(([3; 16], &b"envelope"[..])));
        assert!(decode_request(&frame[..17]).is_err());
        assert!(decode_request(&[2; 40]).is_err());
        for status in [
            Status::Stored,
            Status::Duplicate,
            Status::Refused,
            Status::Early,
        ] {
            assert_eq!(decode_status(&encode_status(status)), Ok(status));
        }
        assert!(decode_status(&[1, 0, 0]).is_err());
        let mut text = Content::Hello.encode();
        text.push(0);
        assert_eq!(Content::decode(&text), Err(WireError::TrailingBytes));
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Content::decode(&bytes);
            let _ = decode_request(&bytes);
            let _ = decode_status(&bytes);
        }
    }
}
