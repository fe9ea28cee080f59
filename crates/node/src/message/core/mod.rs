//! The Message half's decisions, without I/O: [`MessageCore::handle`] takes an input and the
//! time, and says what to do.
//!
//! Inputs ([`MessageInput`]) are what was queued for the actor (commands with a reply token,
//! `/accord/dm/1` requests with a response token, peers connecting and leaving, channels
//! changing), the network's answers to deliveries and receipts, the results of store jobs and
//! flushes, and timer ticks. Outputs ([`MessageOutput`]) are store jobs, sends, responses,
//! replies and events; the deadline the actor sleeps until is [`MessageCore::wake_at`]. The
//! core holds every piece of state a decision needs:
//!
//! - [`outbox`]: the window of messages in flight per peer, the back-off, the retry on
//!   connect, what a delivery answer means, when a message is `sent`, and the halt after a
//!   failed flush;
//! - [`reorder`]: incoming messages that overtook an earlier one, held (bounded) until it
//!   comes;
//! - [`admission`]: the rules an incoming message passes before anything is decrypted (applied
//!   in the store job, which reads what they need);
//! - [`receipts`]: when a read receipt may go out, one in flight per peer;
//! - what waits for a flush ([`AfterFlush`]): answers to senders and to `accord send` go out
//!   only after the flush that holds their message, envelopes only after the flush that holds
//!   the ratchet state they were made with;
//! - why deliveries failed (`accord status`) and what was dropped (`accord stats`).
//!
//! Ratchet encryption and decryption happen in the store jobs ([`super::send_step`],
//! [`super::receive_step`], [`super::receipt_step`]), where reading a conversation's state,
//! advancing it and writing it back is one step nothing else can interleave with.

pub(crate) mod admission;
mod deposits;
mod flush;
mod input;
mod known_ids;
pub(crate) mod outbox;
mod outbox_tail;
mod output;
mod reading;
pub(crate) mod receipts;
mod receiving;
pub(crate) mod reorder;
mod sending;
#[cfg(test)]
#[allow(
    clippy::expect_used,
    reason = "a test whose outputs lack what it drives on should fail loudly"
)]
mod tests;

use std::collections::BTreeMap;

use accord_api::{Event, RemoteError};
use accord_identity::AccordId;
use accord_store::StoreError;

use self::deposits::Deposited;
use self::flush::AfterFlush;
use self::known_ids::KnownIds;
use self::outbox::Outbox;
use self::outbox_tail::Tails;
use self::receipts::Receipts;
use self::reorder::ReorderBuffer;
pub(crate) use input::{
    DeliveriesWritten, DeliveryAnswer, Dropped, MessageInput, Outcome, Queued, ReceiptPlan,
    Request, SendsRecorded, StoreDone,
};
pub(crate) use outbox::WINDOW;
pub(crate) use output::{Fill, MessageOutput, Query, StoreJob};

use super::{MessageCommand, MessageReply};

/// Names a user command's reply (the actor keeps the channel it goes to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ReplyToken(pub(crate) u64);

/// Names an `/accord/dm/1` request's response (the actor keeps the channel it goes to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ResponseToken(pub(crate) u64);

/// Names the writes of one store job that something waits on to be durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct FlushId(u64);

/// The most answers that may wait for a flush. When this many are waiting, the actor stops
/// taking new work until the disk catches up, which bounds the memory they hold.
pub(crate) const MAX_AWAITING_FLUSH: usize = 1024;

/// The state and decisions of the Message half (see the module docs).
pub(crate) struct MessageCore {
    /// Our own Accord ID (for safety numbers and history).
    me: AccordId,
    /// `messages.read_receipts`.
    receipts_on: bool,
    outbox: Outbox,
    /// The outbox entries already held, by peer (see [`outbox_tail`]).
    tails: Tails,
    reorder: ReorderBuffer<ResponseToken>,
    receipts: Receipts,
    known: KnownIds,
    /// Why the last delivery to a peer failed, until one succeeds. Kept in memory only: after
    /// a restart the next attempt says again.
    undelivered: BTreeMap<AccordId, String>,
    /// Inbound messages dropped, and store writes that failed, by reason.
    dropped: BTreeMap<&'static str, u64>,
    /// What waits for each flush.
    awaiting: BTreeMap<FlushId, AfterFlush>,
    /// How many answers `awaiting` holds in all.
    awaiting_answers: usize,
    /// Durable sends waiting for their windows to be filled or for the swarm to say whether
    /// their peers are connected, by batch.
    answering: BTreeMap<u64, flush::SentBatch>,
    /// The messages handed to a mailbox of their recipient (see [`deposits`]).
    deposited: Deposited,
    /// The last id handed out (flushes and batches).
    last_id: u64,
    /// What the current input asks for, in order.
    out: Vec<MessageOutput>,
}

impl std::fmt::Debug for MessageCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageCore")
            .field("me", &self.me)
            .field("awaiting_answers", &self.awaiting_answers)
            .finish_non_exhaustive()
    }
}

impl MessageCore {
    /// A core for the node `me`; the first [`MessageInput::Tick`] sends what the outbox held
    /// at the last shutdown.
    pub(crate) fn new(me: AccordId, receipts_on: bool) -> MessageCore {
        MessageCore {
            me,
            receipts_on,
            outbox: Outbox::default(),
            tails: Tails::default(),
            reorder: ReorderBuffer::default(),
            receipts: Receipts::default(),
            known: KnownIds::default(),
            undelivered: BTreeMap::new(),
            dropped: BTreeMap::new(),
            awaiting: BTreeMap::new(),
            awaiting_answers: 0,
            answering: BTreeMap::new(),
            deposited: Deposited::default(),
            last_id: 0,
            out: Vec::new(),
        }
    }

    /// Handles one input at `now_ms` (unix ms) and says what to do, in order.
    pub(crate) fn handle(&mut self, input: MessageInput, now_ms: u64) -> Vec<MessageOutput> {
        match input {
            MessageInput::Queued(batch) => self.on_queued(batch, now_ms),
            MessageInput::Answered(answers) => self.on_answers(answers, now_ms),
            MessageInput::ReceiptAnswered {
                peer,
                up_to_local_seq,
                acknowledged,
            } => self.on_receipt_answered(peer, up_to_local_seq, acknowledged),
            MessageInput::Stored(done) => self.on_stored(done, now_ms),
            MessageInput::Flushed { id, result } => self.on_flushed(id, result),
            MessageInput::ConnectedChecked { batch, live } => {
                self.on_connected_checked(batch, &live)
            }
            MessageInput::Tick => self.on_tick(now_ms),
            MessageInput::Deposited {
                peer,
                message_id,
                result,
            } => self.on_deposited(peer, message_id, result),
        }
        std::mem::take(&mut self.out)
    }

    /// When the actor should hand in a [`MessageInput::Tick`] (unix ms): the earliest retry
    /// due, or the earliest held message to answer `early`.
    pub(crate) fn wake_at(&self) -> Option<u64> {
        match (self.outbox.next_retry_ms(), self.reorder.next_expiry_ms()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// How many queued items the actor may take now: none while [`MAX_AWAITING_FLUSH`]
    /// answers wait for the disk.
    pub(crate) fn intake_room(&self) -> usize {
        MAX_AWAITING_FLUSH.saturating_sub(self.awaiting_answers)
    }

    /// Handles what was queued: commands and peer events one by one in order, then every send
    /// as one store job and every incoming request as another, so that they share a hop to the
    /// store thread and a flush.
    fn on_queued(&mut self, batch: Vec<Queued>, now_ms: u64) {
        let mut sends = Vec::new();
        let mut incoming = Vec::new();
        for queued in batch {
            match queued {
                Queued::Command {
                    token,
                    command: MessageCommand::Send(send),
                } => sends.push((token, *send)),
                Queued::Command { token, command } => self.on_command(token, command, now_ms),
                Queued::Incoming { token, peer, data } => incoming.push((token, peer, data)),
                Queued::PeerConnected(peer) => self.on_peer_connected(peer),
                Queued::PeerDisconnected(peer) => {
                    if let Some(peer) = self.known.of_peer(peer) {
                        self.outbox.disconnected(&peer);
                    }
                }
                Queued::ChannelChanged(peer) => {
                    // Blocked or unblocked, set up or torn down: the store says what to send.
                    self.tails.forget(&peer);
                    self.send_owed_receipts(peer);
                    self.fill_window(peer, Fill::Now);
                }
            }
        }
        // How far batching goes under load; read with `RUST_LOG=accord_node::message=trace`.
        tracing::trace!(
            sends = sends.len(),
            incoming = incoming.len(),
            "message batch"
        );
        if !sends.is_empty() {
            self.on_sends(sends, now_ms);
        }
        if !incoming.is_empty() {
            self.on_incoming(incoming, now_ms);
        }
    }

    /// A peer connected: the receipts owed to it and its queue go out at once.
    fn on_peer_connected(&mut self, peer: accord_net::PeerId) {
        if let Some(peer) = self.known.of_peer(peer) {
            self.outbox.connected(peer);
            self.send_owed_receipts(peer);
            self.fill_window(peer, Fill::Connected);
        }
    }

    /// A store job finished: carry on with what it was for.
    fn on_stored(&mut self, done: StoreDone, now_ms: u64) {
        match done {
            StoreDone::SendsRecorded { replies, result } => self.on_sends_recorded(replies, result),
            StoreDone::Received { tokens, result } => self.on_received(tokens, result, now_ms),
            StoreDone::OutboxPeers(result) => self.on_outbox_peers(result, now_ms),
            StoreDone::OutboxHead { peer, fill, result } => {
                self.on_outbox_head(peer, fill, result, now_ms);
            }
            StoreDone::DeliveriesWritten { result } => {
                self.on_deliveries_written(result, now_ms);
            }
            StoreDone::ReadMarked { peer, result } => self.on_read_marked(peer, result),
            StoreDone::ReceiptMade { peer, result } => self.on_receipt_made(peer, result),
            StoreDone::ReceiptsAcknowledged { result } => {
                if let Err(err) = result {
                    self.note_store_failure("store_failed_receipts", &err);
                }
            }
            StoreDone::History {
                reply,
                result,
                newest,
            } => self.on_history(reply, result, newest),
            StoreDone::Inbox { reply, result } => {
                self.reply(reply, result.map(MessageReply::Inbox));
            }
            StoreDone::Resolved { reply, result } => self.on_resolved(reply, result),
            StoreDone::MarkedStored {
                peer,
                message_id,
                result,
            } => self.on_marked_stored(peer, message_id, result),
            StoreDone::DepositPage { peer, result } => self.on_deposit_page(peer, result),
        }
    }

    /// A fresh id for a flush or a batch.
    fn next_id(&mut self) -> u64 {
        self.last_id = self.last_id.wrapping_add(1);
        self.last_id
    }

    fn store(&mut self, job: StoreJob) {
        self.out.push(MessageOutput::Store(job));
    }

    fn reply(&mut self, token: ReplyToken, reply: Result<MessageReply, RemoteError>) {
        self.out.push(MessageOutput::Reply { token, reply });
    }

    fn respond(&mut self, token: ResponseToken, status: crate::message::wire::Status) {
        self.out.push(MessageOutput::Respond { token, status });
    }

    fn emit(&mut self, event: Event) {
        self.out.push(MessageOutput::Emit(event));
    }

    /// Counts a dropped inbound message and logs why.
    fn drop_message(&mut self, reason: &'static str, peer: &dyn std::fmt::Display) {
        *self.dropped.entry(reason).or_default() += 1;
        tracing::info!(reason, %peer, "dropped an inbound message");
    }

    /// Counts a store call that failed under `reason` (shown by `accord stats`), and logs it
    /// the first time, so that a failing disk does not flood the log.
    fn note_store_failure(&mut self, reason: &'static str, err: &StoreError) {
        let count = self.dropped.entry(reason).or_default();
        *count += 1;
        if *count == 1 {
            tracing::warn!(reason, %err, "a store call failed (counted in `accord stats`)");
        } else {
            tracing::debug!(reason, %err, "a store call failed");
        }
    }
}
