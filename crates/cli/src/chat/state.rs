//! The chat's state and how the daemon's answers and events change it, free of I/O so that it
//! can be tested without a terminal or a daemon. The run loop feeds it keys (see
//! [`super::draft`]) and API events and carries out the [`ChatAction`]s it returns.

use std::cell::Cell;
use std::collections::VecDeque;

use accord_api::{Event, MessageInfo, SendInfo};

/// At most this many messages are kept; older ones fall off the top.
pub(crate) const MAX_MESSAGES: usize = 1000;
/// Receipts that arrive before the send that caused them returns (the event stream and the
/// request connection race) are held back, at most this many.
const MAX_EARLY_RECEIPTS: usize = 64;

/// What the run loop should do after a key or an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChatAction {
    /// Send this body to the peer.
    Send(String),
    /// Leave the chat.
    Quit,
    /// A message arrived while the chat is open: mark the conversation read.
    MarkRead,
    /// The event stream lagged: reload the history to catch up.
    Reload,
}

/// Where one of our messages is. Ordered: a message only ever moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Delivery {
    /// In the outbox, not yet handed to the network.
    Queued,
    /// Sent, not yet acknowledged.
    Sent,
    /// Acknowledged by the recipient's node.
    Delivered,
    /// Read by the recipient.
    Read,
}

impl Delivery {
    fn parse(state: &str) -> Delivery {
        match state {
            "queued" => Delivery::Queued,
            "delivered" => Delivery::Delivered,
            "read" => Delivery::Read,
            // "sent", and anything newer daemons may invent, shows as plainly sent.
            _ => Delivery::Sent,
        }
    }

    /// The mark shown after our messages.
    pub(crate) fn mark(self) -> &'static str {
        match self {
            Delivery::Queued => "…",
            Delivery::Sent => "↑",
            Delivery::Delivered => "✓",
            Delivery::Read => "✓✓",
        }
    }
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChatMessage {
    pub(crate) message_id: String,
    /// Sent by us (as opposed to received from the peer).
    pub(crate) outgoing: bool,
    pub(crate) body: String,
    /// RFC 3339, as the API gives it.
    pub(crate) sent_at: String,
    /// Meaningful for outgoing messages only.
    pub(crate) delivery: Delivery,
}

/// Whether the peer is reachable, as far as the events tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    /// No event about the peer yet.
    Unknown,
    Online,
    Offline,
    /// The connection (attestation) was revoked: messages can no longer be exchanged.
    Revoked,
    /// The daemon closed the event stream.
    DaemonGone,
}

impl Link {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Link::Unknown => "status unknown",
            Link::Online => "online",
            Link::Offline => "offline",
            Link::Revoked => "connection revoked",
            Link::DaemonGone => "daemon stopped",
        }
    }
}

/// The whole state of an open chat.
#[derive(Debug)]
pub(crate) struct ChatState {
    /// The peer's Accord ID (events name peers by ID).
    pub(crate) peer: String,
    /// How the peer is shown: its alias, or a short form of its ID.
    pub(crate) peer_name: String,
    /// Our own Accord ID, to tell our messages from the peer's in the history.
    pub(crate) our_id: String,
    pub(crate) messages: VecDeque<ChatMessage>,
    /// The message being typed; `cursor` is a byte offset on a character boundary.
    pub(crate) input: String,
    pub(crate) cursor: usize,
    /// How many lines the conversation is scrolled up from the newest.
    pub(crate) scroll: usize,
    /// The largest useful scroll, as the view found it when drawing (it alone knows how many
    /// lines the messages take); `usize::MAX` until it knows.
    pub(crate) scroll_limit: Cell<usize>,
    /// Lines scrolled by PageUp/PageDown; the run loop sets it from the terminal's height.
    pub(crate) page: usize,
    pub(crate) link: Link,
    /// A transient note for the status bar (errors, messages from other peers).
    pub(crate) status: String,
    early_receipts: VecDeque<(String, Delivery)>,
}

impl ChatState {
    pub(crate) fn new(peer: String, peer_name: String, our_id: String) -> ChatState {
        ChatState {
            peer,
            peer_name,
            our_id,
            messages: VecDeque::new(),
            input: String::new(),
            cursor: 0,
            scroll: 0,
            scroll_limit: Cell::new(usize::MAX),
            page: 10,
            link: Link::Unknown,
            status: String::new(),
            early_receipts: VecDeque::new(),
        }
    }

    /// Replaces the conversation with a history page (oldest first).
    pub(crate) fn load_history(&mut self, history: Vec<MessageInfo>) {
        self.messages.clear();
        for info in history {
            let outgoing = info.from == self.our_id;
            self.push(ChatMessage {
                message_id: info.message_id,
                outgoing,
                body: info.body,
                sent_at: info.sent_at,
                delivery: Delivery::parse(&info.state),
            });
        }
    }

    /// Adds a message unless one with the same id is there already (the history and the
    /// event stream can both carry a message that arrived while the chat was opening).
    fn push(&mut self, message: ChatMessage) {
        if self
            .messages
            .iter()
            .any(|m| m.message_id == message.message_id)
        {
            return;
        }
        // New lines at the bottom would shift a scrolled view; keep what the reader sees,
        // roughly (header, body lines and gap; wrapping may add a few more).
        if self.scroll > 0 {
            self.scroll = self
                .scroll
                .saturating_add(message.body.lines().count().saturating_add(2));
            self.scroll_limit.set(usize::MAX);
        }
        self.messages.push_back(message);
        while self.messages.len() > MAX_MESSAGES {
            self.messages.pop_front();
        }
    }

    /// Our message was accepted by the daemon.
    pub(crate) fn on_sent(&mut self, info: SendInfo, body: String, sent_at: String) {
        let mut delivery = Delivery::parse(&info.state);
        self.early_receipts.retain(|(id, early)| {
            if *id == info.message_id {
                delivery = delivery.max(*early);
                false
            } else {
                true
            }
        });
        self.push(ChatMessage {
            message_id: info.message_id,
            outgoing: true,
            body,
            sent_at,
            delivery,
        });
        self.scroll = 0;
        self.status.clear();
    }

    /// The daemon refused or could not take our message: give the text back for another try.
    pub(crate) fn on_send_failed(&mut self, body: String, error: &str) {
        if self.input.is_empty() {
            self.input = body;
            self.cursor = self.input.len();
        }
        self.status = format!("not sent: {error}");
    }

    /// Applies an event from the daemon.
    pub(crate) fn on_event(&mut self, event: Event) -> Option<ChatAction> {
        match event {
            Event::MessageReceived {
                peer,
                message_id,
                body,
                sent_at,
            } => {
                if peer == self.peer {
                    self.push(ChatMessage {
                        message_id,
                        outgoing: false,
                        body,
                        sent_at,
                        delivery: Delivery::Read,
                    });
                    return Some(ChatAction::MarkRead);
                }
                self.status = format!("new message from {}", short_id(&peer));
                None
            }
            Event::MessageDelivered { peer, message_id } if peer == self.peer => {
                self.receipt(message_id, Delivery::Delivered);
                None
            }
            Event::MessageRead { peer, message_id } if peer == self.peer => {
                self.receipt(message_id, Delivery::Read);
                None
            }
            Event::PeerConnected { peer, .. } if peer == self.peer => {
                if self.link != Link::Revoked {
                    self.link = Link::Online;
                }
                None
            }
            Event::PeerDisconnected { peer } if peer == self.peer => {
                if self.link != Link::Revoked {
                    self.link = Link::Offline;
                }
                None
            }
            Event::ConnectionRevoked { peer, .. } if peer == self.peer => {
                self.link = Link::Revoked;
                None
            }
            Event::Lagged { .. } => Some(ChatAction::Reload),
            _ => None,
        }
    }

    /// The daemon closed the event stream (it is shutting down).
    pub(crate) fn on_stream_closed(&mut self) {
        self.link = Link::DaemonGone;
    }

    fn receipt(&mut self, message_id: String, delivery: Delivery) {
        if let Some(message) = self
            .messages
            .iter_mut()
            .rev()
            .find(|m| m.outgoing && m.message_id == message_id)
        {
            message.delivery = message.delivery.max(delivery);
            return;
        }
        if self.early_receipts.len() >= MAX_EARLY_RECEIPTS {
            self.early_receipts.pop_front();
        }
        self.early_receipts.push_back((message_id, delivery));
    }
}

/// A short, recognisable form of an Accord ID. All IDs start `12D3KooW`, so the end is what
/// tells them apart.
pub(crate) fn short_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 12 {
        return id.to_owned();
    }
    let tail: String = chars[chars.len() - 8..].iter().collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests;
