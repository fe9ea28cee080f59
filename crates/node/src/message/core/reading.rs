//! The user's commands other than `send` (`history`, `inbox`, `alias`, `verify`, and the
//! Message half of `status` and `stats`), and read receipts: reading a conversation marks its
//! incoming messages read, and a receipt naming them is then owed to the sender until its node
//! answers `stored`. What is owed is kept in the store, so a sender that was offline when its
//! messages were read still learns it: the receipt goes out when it connects.

use accord_api::{
    ErrorCode, MessageInfo, RemoteError, SafetyNumberInfo, format_rfc3339_ms as rfc3339,
};
use accord_identity::{AccordId, safety_number};
use accord_store::{Direction, MessageId, MessageRecord, StoreError};

use super::flush::AfterFlush;
use super::input::ReceiptPlan;
use super::output::{Query, StoreJob};
use super::{MessageCore, ReplyToken};
use crate::hex::encode as hex;
use crate::message::{MessageCommand, MessageReply};

/// `accord history` without `--limit` shows this many of the newest messages.
const DEFAULT_HISTORY: usize = 50;
/// The most messages one history request returns.
const MAX_HISTORY: usize = 1000;

impl MessageCore {
    /// A user command other than `send` (sends are recorded in batches).
    pub(super) fn on_command(&mut self, reply: ReplyToken, command: MessageCommand, now_ms: u64) {
        match command {
            MessageCommand::Send(send) => self.on_sends(vec![(reply, *send)], now_ms),
            MessageCommand::History {
                peer,
                limit,
                before,
            } => {
                let limit = limit.unwrap_or(DEFAULT_HISTORY).clamp(1, MAX_HISTORY);
                match before.as_deref().map(checked_message_id).transpose() {
                    Ok(before) => self.store(StoreJob::Query(Query::History {
                        reply,
                        peer,
                        limit,
                        before,
                    })),
                    Err(err) => self.reply(reply, Err(err)),
                }
            }
            MessageCommand::Inbox => self.store(StoreJob::Query(Query::Inbox { reply })),
            MessageCommand::Verify { peer } => {
                self.store(StoreJob::Query(Query::Resolve { reply, peer }))
            }
            MessageCommand::Status => {
                let reasons = self.undelivered_reasons();
                self.reply(reply, Ok(MessageReply::Status(reasons)));
            }
            MessageCommand::Stats => {
                let dropped = self.dropped.clone();
                self.reply(reply, Ok(MessageReply::Stats(dropped)));
            }
        }
    }

    /// `accord history`'s messages, oldest first. Opening a conversation reads it: the mark
    /// goes to the store before the answer.
    pub(super) fn on_history(
        &mut self,
        reply: ReplyToken,
        result: Result<(AccordId, Vec<MessageRecord>), RemoteError>,
        newest: bool,
    ) {
        let (peer, records) = match result {
            Ok(found) => found,
            Err(err) => return self.reply(reply, Err(err)),
        };
        // Only the newest page is what the user reads now; an older one is scrolling back.
        if let Some(last) = records.last().filter(|_| newest) {
            self.store(StoreJob::MarkRead {
                peer,
                local_seq: last.local_seq,
            });
        }
        // Base58 of an ID is costly enough to matter on a page: render both once.
        let names = (self.me.to_string(), peer.to_string());
        let list = records
            .iter()
            .map(|r| self.message_info(r, &names))
            .collect();
        self.reply(reply, Ok(MessageReply::History(list)));
    }

    /// The API form of a stored message; `names` are our ID and the peer's, as text.
    fn message_info(&self, record: &MessageRecord, names: &(String, String)) -> MessageInfo {
        let (me, peer) = names;
        let (from, to) = match record.direction {
            Direction::Outgoing => (me, peer),
            Direction::Incoming => (peer, me),
        };
        MessageInfo {
            message_id: hex(&record.message_id),
            from: from.clone(),
            to: to.clone(),
            body: record.body.clone(),
            sent_at: rfc3339(record.sent_at_ms),
            received_at: record.received_at_ms.map(rfc3339),
            state: self.shown_state(record).to_string(),
            reason: self.queued_reason(record),
            // Filled in at the control edge (`people::names`).
            name: None,
        }
    }

    /// `accord verify`: the safety number of the pair.
    pub(super) fn on_resolved(&mut self, reply: ReplyToken, result: Result<AccordId, RemoteError>) {
        let info = result.map(|peer| {
            MessageReply::Verify(SafetyNumberInfo {
                peer: peer.to_string(),
                safety_number: safety_number(&self.me, &peer).to_string(),
            })
        });
        self.reply(reply, info);
    }

    /// The read marks are written; once they are durable, the receipts now owed go out.
    pub(super) fn on_read_marked(&mut self, peer: AccordId, result: Result<bool, StoreError>) {
        match result {
            Ok(true) => self.await_flush(AfterFlush::ReadMarked(peer)),
            Ok(false) => {}
            Err(err) => self.note_store_failure("store_failed_mark_read", &err),
        }
    }

    /// Makes the oldest read receipt owed to `peer`, unless one is on its way already (one
    /// receipt in flight per peer; its answer sends the next).
    pub(super) fn send_owed_receipts(&mut self, peer: AccordId) {
        if self.receipts.busy(&peer) {
            return;
        }
        let receipts_on = self.receipts_on;
        self.store(StoreJob::MakeReceipt { peer, receipts_on });
    }

    /// The receipt is made: it leaves once the ratchet state it was made with is durable.
    pub(super) fn on_receipt_made(
        &mut self,
        peer: AccordId,
        result: Result<ReceiptPlan, StoreError>,
    ) {
        match result {
            Ok(ReceiptPlan::Send { frame, up_to }) => {
                self.receipts.sent(peer);
                self.await_flush(AfterFlush::Receipt { peer, frame, up_to });
            }
            Ok(ReceiptPlan::Nothing) => {}
            // Still owed: tried again when the peer next connects or more is read.
            Err(err) => self.note_store_failure("store_failed_receipts", &err),
        }
    }

    /// A receipt was answered: an acknowledged one moves the mark and sends the next owed
    /// receipt; an unanswered one stays owed until the peer next connects or more is read.
    pub(super) fn on_receipt_answered(
        &mut self,
        peer: AccordId,
        up_to_local_seq: u64,
        acknowledged: bool,
    ) {
        self.receipts.answered(&peer);
        if acknowledged {
            // Not flushed on its own: a mark lost in a crash only sends the receipt again.
            self.store(StoreJob::AcknowledgeReceipts {
                peer,
                up_to_local_seq,
            });
            self.send_owed_receipts(peer);
        }
    }
}

/// A message id as the API shows it (32 hex digits), or the error `history` answers with.
fn checked_message_id(text: &str) -> Result<MessageId, RemoteError> {
    crate::hex::decode::<16>(text).ok_or_else(|| {
        RemoteError::new(
            ErrorCode::InvalidParams,
            format!("{text:?} is not a message id (32 hex digits)"),
        )
    })
}
