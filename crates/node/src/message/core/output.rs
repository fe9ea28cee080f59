//! What comes out of [`MessageCore::handle`](super::MessageCore::handle): store jobs, sends,
//! answers to requests, replies to commands and events, for the actor to carry out in order.
//!
//! The actor carries the outputs out one after the other, and handles the input an output
//! produces (a store job's result, the swarm's answer to [`MessageOutput::CheckConnected`])
//! before it goes on to the next output. The core relies on that order: the window of a peer
//! is filled before the sends that waited for it are answered, and a conversation is marked
//! read before `accord history` is answered.

use std::collections::HashMap;

use accord_api::{Event, RemoteError};
use accord_identity::AccordId;
use accord_store::{MessageId, OutboxEntry};

use super::input::Request;
use super::{FlushId, ReplyToken, ResponseToken};
use crate::message::MessageReply;
use crate::message::command::SendCommand;
use crate::message::wire::Status;

/// One thing for the actor to do.
#[derive(Debug)]
pub(crate) enum MessageOutput {
    /// Run a job on the store thread and hand its result back as
    /// [`MessageInput::Stored`](super::MessageInput::Stored).
    Store(StoreJob),
    /// The store job whose result is being handled wrote something that must be durable
    /// first: hand back [`MessageInput::Flushed`](super::MessageInput::Flushed) with this id
    /// once its flush ticket resolves. Comes right in the outputs of that result.
    AwaitFlush(FlushId),
    /// Send an envelope over `/accord/dm/1` (by another route if the swarm cannot dial the
    /// peer), and hand the answer back as [`MessageInput::Answered`](super::MessageInput::Answered).
    Deliver {
        peer: AccordId,
        message_id: MessageId,
        frame: Vec<u8>,
    },
    /// Send a read receipt and hand back whether it was stored as
    /// [`MessageInput::ReceiptAnswered`](super::MessageInput::ReceiptAnswered).
    SendReceipt {
        peer: AccordId,
        frame: Vec<u8>,
        up_to_local_seq: u64,
    },
    /// Answer an `/accord/dm/1` request.
    Respond {
        token: ResponseToken,
        status: Status,
    },
    /// Answer a user command.
    Reply {
        token: ReplyToken,
        reply: Result<MessageReply, RemoteError>,
    },
    /// Tell subscribers.
    Emit(Event),
    /// Ask the swarm which of `peers` still have a live connection, and hand the answer back
    /// as [`MessageInput::ConnectedChecked`](super::MessageInput::ConnectedChecked).
    CheckConnected { batch: u64, peers: Vec<AccordId> },
    /// Hand our queued message to a mailbox of `peer`'s (which cannot be reached), and hand
    /// the answer back as [`MessageInput::Deposited`](super::MessageInput::Deposited).
    Deposit {
        peer: AccordId,
        message_id: MessageId,
    },
}

/// Why a peer's outbox head is read, which says how its window is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fill {
    /// What is due: stop at the first entry still waiting for its back-off.
    Due,
    /// Everything, the back-off cut short (the peer's channel changed).
    Now,
    /// Everything, the back-off cut short: the peer connected (said in the log).
    Connected,
    /// Everything, the back-off cut short: the sends of this batch are durable, and are
    /// answered once every window they wait for is filled.
    AfterSend(u64),
}

impl Fill {
    /// Whether the back-off is cut short.
    pub(crate) fn cuts_backoff(self) -> bool {
        self != Fill::Due
    }
}

/// A job for the store thread. Each is one hop to the store thread; the ones that write go into
/// the store's next group commit.
#[derive(Debug)]
pub(crate) enum StoreJob {
    /// Check, encrypt and record these sends, each with its new ratchet state, history entry
    /// and outbox entry; `queued` holds the queue lengths known so far.
    RecordSends {
        replies: Vec<ReplyToken>,
        sends: Vec<SendCommand>,
        queued: HashMap<AccordId, usize>,
        now_ms: u64,
    },
    /// Take in these `/accord/dm/1` requests, in order.
    Receive {
        tokens: Vec<ResponseToken>,
        requests: Vec<Request>,
        now_ms: u64,
    },
    /// The peers with something in their outbox.
    OutboxPeers,
    /// The oldest entries of `peer`'s outbox (a window's worth), if it is an unblocked,
    /// unrevoked connection.
    OutboxHead { peer: AccordId, fill: Fill },
    /// Complete the delivered outbox entries and store the new schedules (not flushed on
    /// their own: a completion lost in a crash only sends the message again, and the
    /// recipient answers that it has it).
    /// Then read the outbox heads of the `refill` peers, in the same hop, to fill their windows.
    WriteDeliveries {
        completed: Vec<(AccordId, MessageId)>,
        rescheduled: Vec<OutboxEntry>,
        refill: Vec<AccordId>,
    },
    /// Mark `peer`'s messages read up to `local_seq`.
    MarkRead { peer: AccordId, local_seq: u64 },
    /// Make the receipt owed to `peer`, if one is, encrypted with its ratchet state (written
    /// in the same job); with receipts off, move the mark on instead.
    MakeReceipt { peer: AccordId, receipts_on: bool },
    /// `peer` acknowledged the receipts up to `up_to_local_seq`.
    AcknowledgeReceipts {
        peer: AccordId,
        up_to_local_seq: u64,
    },
    /// Mark our message `stored`: a mailbox of the recipient holds it.
    MarkStored {
        peer: AccordId,
        message_id: MessageId,
    },
    /// The next page of `peer`'s outbox to deposit at its mailboxes: the sequences and ids of
    /// at most `limit` entries after outbox entry `after` (from the start with `None`).
    DepositPage {
        peer: AccordId,
        after: Option<u64>,
        limit: usize,
    },
    /// A user command's reads and writes.
    Query(Query),
}

/// The store work of a user command other than `send`, answered with a reply.
#[derive(Debug)]
pub(crate) enum Query {
    /// `accord history`: resolve `peer` (an ID or an alias) and read its newest messages, or
    /// with `before` the page just older than that message.
    History {
        reply: ReplyToken,
        peer: String,
        limit: usize,
        before: Option<MessageId>,
    },
    /// `accord inbox`.
    Inbox { reply: ReplyToken },
    /// Resolve `peer` (an ID or an alias) to an Accord ID, revoked connections included.
    Resolve { reply: ReplyToken, peer: String },
}
