//! What goes into [`MessageCore::handle`](super::MessageCore::handle): what was queued for the
//! actor, the answers of the network, the results of store jobs and flushes, and timer ticks.

use std::collections::HashMap;

use accord_api::{ConversationInfo, Event, RemoteError};
use accord_identity::AccordId;
use accord_net::PeerId;
use accord_store::{MessageId, MessageRecord, OutboxEntry, StoreError};

use super::output::Fill;
use super::{FlushId, ReplyToken, ResponseToken};
use crate::message::MessageCommand;
use crate::message::wire::Status;

/// One input of the Message core.
#[derive(Debug)]
pub(crate) enum MessageInput {
    /// Everything the actor took from its queue at once, in the order it was queued.
    Queued(Vec<Queued>),
    /// Answers to deliveries (from `/accord/dm/1`, or the error that kept one from it).
    Answered(Vec<DeliveryAnswer>),
    /// A read receipt was answered (`acknowledged`: stored), or not.
    ReceiptAnswered {
        peer: AccordId,
        up_to_local_seq: u64,
        acknowledged: bool,
    },
    /// A store job finished.
    Stored(StoreDone),
    /// The writes a [`MessageOutput::AwaitFlush`](super::MessageOutput::AwaitFlush) named are
    /// durable (or could not be made so).
    Flushed {
        id: FlushId,
        result: Result<(), StoreError>,
    },
    /// The swarm says which of the peers asked about by a
    /// [`MessageOutput::CheckConnected`](super::MessageOutput::CheckConnected) are connected.
    ConnectedChecked { batch: u64, live: Vec<AccordId> },
    /// The deadline the core asked for ([`MessageCore::wake_at`](super::MessageCore::wake_at))
    /// came.
    Tick,
    /// A [`MessageOutput::Deposit`](super::MessageOutput::Deposit) was answered: a mailbox
    /// holds the message (after its flush), or why none does.
    Deposited {
        peer: AccordId,
        message_id: MessageId,
        result: Result<(), String>,
    },
}

/// Something queued for the actor.
#[derive(Debug)]
pub(crate) enum Queued {
    /// A user command, answered with a [`MessageOutput::Reply`](super::MessageOutput::Reply).
    Command {
        token: ReplyToken,
        command: MessageCommand,
    },
    /// An `/accord/dm/1` request, answered with a
    /// [`MessageOutput::Respond`](super::MessageOutput::Respond).
    Incoming {
        token: ResponseToken,
        peer: PeerId,
        data: Vec<u8>,
    },
    /// A peer connected: deliver what waits for it.
    PeerConnected(PeerId),
    /// A peer's last connection closed: what was handed to it is no longer `sent`.
    PeerDisconnected(PeerId),
    /// A channel was set up or torn down (by the Connect actor): re-examine the outbox.
    ChannelChanged(AccordId),
}

/// The answer to one delivery: the peer, the message, and the status it answered or why it
/// could not.
pub(crate) type DeliveryAnswer = (AccordId, MessageId, Result<Status, String>);

/// A request taken in by a [`StoreJob::Receive`](super::StoreJob::Receive), decoded only as
/// far as its sender.
#[derive(Debug)]
pub(crate) struct Request {
    /// The sender.
    pub(crate) peer: AccordId,
    /// The request as it arrived.
    pub(crate) data: Vec<u8>,
}

/// Why a request was dropped: counted in `accord stats` under `reason`, logged with `detail`.
#[derive(Debug)]
pub(crate) struct Dropped {
    pub(crate) reason: &'static str,
    pub(crate) detail: String,
}

/// What became of one incoming request in the store job.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Refused at once (nothing written), counted under a reason if it is one the user sees.
    Refused(Option<Dropped>),
    /// Already stored: acknowledged once the original is certainly on disk (after the flush).
    Duplicate,
    /// A new text message, stored with this sender sequence: acknowledged and announced
    /// after the flush.
    Stored { sender_seq: u64, event: Box<Event> },
    /// A read receipt, an acknowledgement through a mailbox, or another content without a
    /// place in the conversation: the new ratchet state, the messages now `read` and those
    /// now `delivered` are acknowledged and announced after the flush.
    Receipt {
        read: Vec<MessageId>,
        delivered: Vec<MessageId>,
    },
    /// A people content (or a repeat of one), taken with the new ratchet state: acknowledged
    /// after the flush, and announced then if it changed something.
    Taken { event: Option<Box<Event>> },
    /// A text message that overtook an earlier one: held until the gap is filled.
    Early { sender_seq: u64 },
}

impl Outcome {
    /// Whether the answer must wait for the flush.
    pub(crate) fn waits_for_flush(&self) -> bool {
        matches!(
            self,
            Outcome::Duplicate
                | Outcome::Stored { .. }
                | Outcome::Receipt { .. }
                | Outcome::Taken { .. }
        )
    }

    /// The status the sender is answered with (for `Early`, once it is no longer held).
    pub(crate) fn status(&self) -> Status {
        match self {
            Outcome::Refused(_) => Status::Refused,
            Outcome::Duplicate => Status::Duplicate,
            Outcome::Stored { .. } | Outcome::Receipt { .. } | Outcome::Taken { .. } => {
                Status::Stored
            }
            Outcome::Early { .. } => Status::Early,
        }
    }
}

/// What a [`StoreJob::MakeReceipt`](super::StoreJob::MakeReceipt) made.
#[derive(Debug)]
pub(crate) enum ReceiptPlan {
    /// Nothing to send now.
    Nothing,
    /// A receipt, encrypted with a ratchet state written in the same job: it leaves once that
    /// is durable.
    Send { frame: Vec<u8>, up_to: u64 },
}

/// What a batch of sends recorded: per send, the record and its outbox entry (or why it was
/// refused), and the queue lengths the job counted.
pub(crate) type SendsRecorded = (
    Vec<Result<(MessageRecord, OutboxEntry), RemoteError>>,
    HashMap<AccordId, usize>,
);

/// What the store answered to a [`StoreJob::WriteDeliveries`](super::StoreJob::WriteDeliveries).
#[derive(Debug)]
pub(crate) struct DeliveriesWritten {
    /// Per completion, the record it completed (`None`: completed already).
    pub(crate) completed: Vec<Result<Option<MessageRecord>, StoreError>>,
    /// Per new schedule, whether its entry was still there.
    pub(crate) rescheduled: Vec<Result<bool, StoreError>>,
    /// Per peer to refill, its outbox head read after the writes (`None`: not an unblocked,
    /// unrevoked connection).
    pub(crate) heads: Vec<(AccordId, OutboxHead)>,
}

/// A read of a peer's outbox head: `None` when the peer is not an unrevoked connection or is
/// blocked.
pub(crate) type OutboxHead = Result<Option<Vec<OutboxEntry>>, StoreError>;

/// The result of a [`StoreJob`](super::StoreJob), with what the core needs to carry on.
#[derive(Debug)]
pub(crate) enum StoreDone {
    SendsRecorded {
        replies: Vec<ReplyToken>,
        result: Result<SendsRecorded, StoreError>,
    },
    Received {
        tokens: Vec<ResponseToken>,
        result: Result<(Vec<Request>, Vec<Outcome>), StoreError>,
    },
    OutboxPeers(Result<Vec<AccordId>, StoreError>),
    OutboxHead {
        peer: AccordId,
        fill: Fill,
        result: OutboxHead,
    },
    DeliveriesWritten {
        result: Result<DeliveriesWritten, StoreError>,
    },
    /// `changed`: some message became `read`.
    ReadMarked {
        peer: AccordId,
        result: Result<bool, StoreError>,
    },
    ReceiptMade {
        peer: AccordId,
        result: Result<ReceiptPlan, StoreError>,
    },
    ReceiptsAcknowledged {
        result: Result<(), StoreError>,
    },
    History {
        reply: ReplyToken,
        result: Result<(AccordId, Vec<MessageRecord>), RemoteError>,
        /// Whether this is the newest page (no `before`): only reading that one marks the
        /// conversation read.
        newest: bool,
    },
    Inbox {
        reply: ReplyToken,
        result: Result<Vec<ConversationInfo>, RemoteError>,
    },
    Resolved {
        reply: ReplyToken,
        result: Result<AccordId, RemoteError>,
    },
    /// `true`: the message moved to `stored`.
    MarkedStored {
        peer: AccordId,
        message_id: MessageId,
        result: Result<bool, StoreError>,
    },
    /// A page of `peer`'s outbox to deposit: each entry's sequence and message id, in order.
    DepositPage {
        peer: AccordId,
        result: Result<Vec<(u64, MessageId)>, StoreError>,
    },
}
