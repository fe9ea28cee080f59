//! The persistence of end-to-end encrypted messaging: ratchet sessions, message history, the
//! outbox, the message-id index and per-conversation bookkeeping.
//!
//! Records are encoded by [`crate::message_record`]; the layout is in [`crate::trees`]. Every
//! operation that touches several trees runs in one sled transaction, so a crash leaves all of
//! its writes or none. Reads done to prepare a transaction (the conversation record, the index)
//! happen just before it; that is safe because the [`Store`] has exactly one owner, so nothing
//! can change in between.
//!
//! # Sequence numbers
//!
//! - The *local sequence* (`local_seq`) numbers the messages of one conversation in the order
//!   this store recorded them, starting at 1, shared by both directions. The `messages` key is
//!   peer ‖ local sequence, so a conversation's history is one range scan in display order.
//! - The *sender sequence* (`sender_seq`) is the per-conversation number the sender put in the
//!   message. For outgoing messages the store assigns it (from 1); for incoming ones it keeps
//!   what the peer sent.
//! - The *outbox sequence* (`outbox_seq`) orders the outbox across conversations. When the
//!   outbox empties, numbering may start again, so an entry is identified by its peer and
//!   message id as well ([`Store::update_outbox`] checks both).
//!
//! # The message-id index (`seen`)
//!
//! The `seen` tree maps peer ‖ message id to the local sequence, for messages in **both**
//! directions. It de-duplicates incoming messages ([`Store::record_incoming`],
//! [`Store::is_seen`]) and finds outgoing ones for acknowledgements and receipts
//! ([`Store::complete_outbox`], [`Store::set_message_state`]) without a scan. A message id is
//! therefore unique within a conversation: an incoming message reusing the id of any stored
//! message of that conversation (which only a misbehaving peer would send) is reported as a
//! duplicate of it.
//!
//! # Message states
//!
//! Outgoing messages start [`MessageState::Queued`] and move to `sent`, `delivered` (the peer
//! acknowledged after storing it) and `read` (the peer's read receipt). Incoming messages are
//! stored as [`MessageState::Delivered`] — from the receiver's point of view they have been
//! delivered — and become [`MessageState::Read`] when the user reads them
//! ([`Store::mark_read`]). States only move forward; a request to move one backwards changes
//! nothing.
//!
//! # Durability
//!
//! The methods here do **not** flush. Through a [`StoreHandle`](crate::StoreHandle), every
//! method that writes answers only after a flush (a node acknowledging a duplicate found by
//! [`Store::is_seen`] flushes first), and the flush is shared by every request that was queued at the
//! same time (group commit), so durability does not cost one fsync per message under load.
//! [`StoreHandle::update_outbox`](crate::StoreHandle::update_outbox) is the exception: a lost
//! retry schedule only means an earlier retry. Direct users of the synchronous API must call
//! [`Store::flush`] themselves before they acknowledge a message or send the envelope of a
//! recorded one.
//!
//! # Damaged records
//!
//! A value that cannot be decoded is logged, counted ([`Store::skipped_records`]) and skipped:
//! lookups report it as absent, listings leave it out. Nothing is deleted because of damage. A
//! damaged conversation record is rebuilt from the conversation's messages the next time a
//! message is recorded in it.

use std::fmt;
use std::ops::Bound;
use std::str::FromStr;

use accord_identity::AccordId;

use crate::StoreError;
use crate::message_record::{self as codec};

mod history;
mod outbox;
mod recording;
mod sessions;

/// The 16 random bytes that name a message (chosen by its sender).
pub type MessageId = [u8; 16];

/// Which way a message went.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Direction {
    /// We sent it.
    Outgoing,
    /// The peer sent it.
    Incoming,
}

/// Where a message is in its life. States are ordered and only ever move forward.
///
/// Outgoing messages go `queued` → `sent` → `delivered` → `read`. Incoming messages are stored
/// as `delivered` and become `read` when the user reads them.
///
/// `Display` and `FromStr` use the lowercase names (`"queued"`, `"sent"`, `"delivered"`,
/// `"read"`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord, Hash)]
pub enum MessageState {
    /// Recorded and waiting in the outbox.
    Queued,
    /// Handed to the network, not yet acknowledged.
    Sent,
    /// Held by a mailbox of the recipient (it answered after its flush), not yet
    /// acknowledged by the recipient.
    Stored,
    /// Stored by the recipient (for incoming messages: stored by us).
    Delivered,
    /// Read by the recipient (for incoming messages: read by our user).
    Read,
}

impl MessageState {
    /// The lowercase name, as shown to users and scripts.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Queued => "queued",
            MessageState::Sent => "sent",
            MessageState::Stored => "stored",
            MessageState::Delivered => "delivered",
            MessageState::Read => "read",
        }
    }
}

impl fmt::Display for MessageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`MessageState`] from a string that is not one of its names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown message state (expected queued, sent, stored, delivered or read)")]
pub struct ParseMessageStateError;

impl FromStr for MessageState {
    type Err = ParseMessageStateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "queued" => Ok(MessageState::Queued),
            "sent" => Ok(MessageState::Sent),
            "stored" => Ok(MessageState::Stored),
            "delivered" => Ok(MessageState::Delivered),
            "read" => Ok(MessageState::Read),
            _ => Err(ParseMessageStateError),
        }
    }
}

/// One stored message (tree `messages`, keyed by peer ‖ local sequence).
///
/// `Debug` prints the body's length, not the body.
#[derive(Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// The other side of the conversation.
    pub peer: AccordId,
    /// The message's place in the conversation as this store recorded it, from 1, shared by
    /// both directions.
    pub local_seq: u64,
    /// The message's id.
    pub message_id: MessageId,
    /// Whether we sent or received it.
    pub direction: Direction,
    /// The sender's per-conversation sequence number.
    pub sender_seq: u64,
    /// The text (Markdown).
    pub body: String,
    /// The message this one answers.
    pub reply_to: Option<MessageId>,
    /// When the sender sent it, by the sender's clock, in unix milliseconds.
    pub sent_at_ms: u64,
    /// When we received it, in unix milliseconds; `None` for outgoing messages.
    pub received_at_ms: Option<u64>,
    /// Where the message is in its life.
    pub state: MessageState,
}

/// A message waiting for delivery (tree `outbox`, keyed by the outbox sequence).
///
/// `Debug` prints the envelope's length only.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The entry's place in the outbox (enqueue order across conversations).
    pub outbox_seq: u64,
    /// The recipient.
    pub peer: AccordId,
    /// The message's id.
    pub message_id: MessageId,
    /// The message's local sequence in the conversation.
    pub local_seq: u64,
    /// The encrypted bytes to send, and to send again until acknowledged.
    pub envelope: Vec<u8>,
    /// How many delivery attempts were made.
    pub attempts: u32,
    /// When to try next, in unix milliseconds.
    pub next_attempt_at_ms: u64,
}

/// The bookkeeping of one conversation (tree `conversations`, keyed by the peer).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ConversationRecord {
    /// The other side.
    pub peer: AccordId,
    /// The local sequence the next message (either direction) gets.
    pub next_local_seq: u64,
    /// The sender sequence our next outgoing message gets.
    pub next_sender_seq: u64,
    /// Incoming messages not read yet.
    pub unread: u64,
    /// When the latest message was sent (outgoing) or received (incoming), in unix
    /// milliseconds, by our clock; never moves backwards.
    pub last_message_at_ms: u64,
    /// The highest local sequence the user has read up to.
    pub last_read_local_seq: u64,
    /// The highest sender sequence received from the peer. `None` for a conversation stored
    /// before Accord kept it: the next incoming message is then accepted whatever its number.
    pub last_received_sender_seq: Option<u64>,
    /// The local sequence up to which the peer acknowledged our read receipts: the receipts
    /// of the read incoming messages after it are owed (see [`Store::owed_receipts`]).
    /// `None` for a conversation stored before Accord kept it, which counts as
    /// `last_read_local_seq` (its receipts were sent, best effort, when it was read).
    pub receipts_acked_local_seq: Option<u64>,
}

impl ConversationRecord {
    /// The local sequence up to which no read receipt is owed.
    pub fn receipts_acked(&self) -> u64 {
        self.receipts_acked_local_seq
            .unwrap_or(self.last_read_local_seq)
    }

    /// The record of a conversation with no messages yet.
    fn empty(peer: AccordId) -> Self {
        ConversationRecord {
            peer,
            next_local_seq: 1,
            next_sender_seq: 1,
            unread: 0,
            last_message_at_ms: 0,
            last_read_local_seq: 0,
            last_received_sender_seq: Some(0),
            receipts_acked_local_seq: Some(0),
        }
    }
}

/// What [`Store::record_incoming`] did.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Incoming {
    /// The message was new and is now stored.
    New(MessageRecord),
    /// A message with this id was already stored in the conversation; nothing was written.
    /// This is the stored message.
    Duplicate(MessageRecord),
    /// The message's sender sequence is beyond the next one expected: an earlier message of
    /// the conversation has not arrived yet. Nothing was written; the sender sends it again
    /// after the earlier ones, so that the user sees messages in the order they were sent.
    Early {
        /// The sender sequence the conversation expects next.
        expected: u64,
    },
}

impl Incoming {
    /// The stored message, new or not; `None` for a message that came too early.
    pub fn record(&self) -> Option<&MessageRecord> {
        match self {
            Incoming::New(record) | Incoming::Duplicate(record) => Some(record),
            Incoming::Early { .. } => None,
        }
    }
}

/// Renders an id as hex in `Debug` output.
struct Hex<'a>(&'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::hex(self.0))
    }
}

/// Prints a length instead of contents.
struct Len(usize);

impl fmt::Debug for Len {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0)
    }
}

impl fmt::Debug for MessageRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageRecord")
            .field("peer", &self.peer)
            .field("local_seq", &self.local_seq)
            .field("message_id", &Hex(&self.message_id))
            .field("direction", &self.direction)
            .field("sender_seq", &self.sender_seq)
            .field("body", &Len(self.body.len()))
            .field("reply_to", &self.reply_to.as_ref().map(|id| Hex(id)))
            .field("sent_at_ms", &self.sent_at_ms)
            .field("received_at_ms", &self.received_at_ms)
            .field("state", &self.state)
            .finish()
    }
}

impl fmt::Debug for OutboxEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxEntry")
            .field("outbox_seq", &self.outbox_seq)
            .field("peer", &self.peer)
            .field("message_id", &Hex(&self.message_id))
            .field("local_seq", &self.local_seq)
            .field("envelope", &Len(self.envelope.len()))
            .field("attempts", &self.attempts)
            .field("next_attempt_at_ms", &self.next_attempt_at_ms)
            .finish()
    }
}

/// The error for a sequence number that would overflow (never expected in practice).
fn exhausted(tree: &'static str) -> StoreError {
    StoreError::BadRecord {
        tree,
        reason: "sequence numbers exhausted".into(),
    }
}

/// The range of `messages` keys of one conversation, optionally only below `before`.
fn conversation_range(slot: &[u8], before: Option<u64>) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let start = Bound::Included(codec::message_key(slot, 0));
    let end = match before {
        Some(before) => Bound::Excluded(codec::message_key(slot, before)),
        None => Bound::Included(codec::message_key(slot, u64::MAX)),
    };
    (start, end)
}
