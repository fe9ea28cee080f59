//! The chat's state and how the daemon's answers and events change it, free of I/O so that it
//! can be tested without a terminal or a daemon. The run loop feeds it keys (see
//! [`super::draft`]) and API events and carries out the [`ChatAction`]s it returns.

use std::cell::Cell;
use std::collections::VecDeque;

use accord_api::{Event, MessageInfo, SendInfo};

/// At most this many messages are kept in memory. New ones push the oldest off the top (they
/// are fetched again when the reader scrolls back to them); older pages fetched while
/// scrolling back push the newest off the bottom (the newest page is reloaded when the reader
/// returns to it).
pub(crate) const MAX_MESSAGES: usize = 5000;
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
    /// The event stream lagged, or the reader came back to messages dropped while
    /// scrolling back: reload the newest page.
    Reload,
    /// The reader scrolled to the top of what is loaded: fetch the page before this message.
    LoadOlder(String),
}

/// What is known of the messages before the first one loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Older {
    /// There may be older messages; none are being fetched.
    Unknown,
    /// A page of them is being fetched.
    Loading,
    /// The first message of the conversation is loaded.
    None,
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
    /// Whether older messages may be fetched when the reader scrolls to the top.
    pub(crate) older: Older,
    /// Whether newer messages were dropped from the bottom to make room for older ones.
    newer_dropped: bool,
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
            older: Older::Unknown,
            newer_dropped: false,
        }
    }

    /// Replaces the conversation with the newest history page (oldest first), of at most
    /// `page_size` messages.
    pub(crate) fn load_history(&mut self, history: Vec<MessageInfo>, page_size: usize) {
        self.messages.clear();
        self.newer_dropped = false;
        self.older = if history.len() < page_size {
            Older::None
        } else {
            Older::Unknown
        };
        self.scroll = 0;
        self.scroll_limit.set(usize::MAX);
        for info in history {
            let message = self.chat_message(info);
            self.push(message);
        }
    }

    /// Puts a page of older messages (oldest first, of at most `page_size`) above the ones
    /// loaded. The reader's place, counted from the bottom, stays where it was.
    pub(crate) fn prepend_older(&mut self, page: Vec<MessageInfo>, page_size: usize) {
        self.older = if page.len() < page_size {
            Older::None
        } else {
            Older::Unknown
        };
        for info in page.into_iter().rev() {
            if self
                .messages
                .iter()
                .any(|m| m.message_id == info.message_id)
            {
                continue;
            }
            let message = self.chat_message(info);
            self.messages.push_front(message);
        }
        while self.messages.len() > MAX_MESSAGES {
            let dropped = self.messages.pop_back().map(|m| m.body.lines().count() + 2);
            self.scroll = self.scroll.saturating_sub(dropped.unwrap_or(0));
            self.newer_dropped = true;
        }
        self.scroll_limit.set(usize::MAX);
    }

    /// Fetching older messages failed: say so, and let the next scroll try again.
    pub(crate) fn older_failed(&mut self, error: &str) {
        self.older = Older::Unknown;
        self.status = format!("cannot load older messages: {error}");
    }

    /// After a scroll up: when the reader reached the top of what is loaded and there may be
    /// more, the page before the first message is wanted.
    pub(crate) fn after_scroll_up(&mut self) -> Option<ChatAction> {
        if self.older != Older::Unknown || self.scroll < self.scroll_limit.get() {
            return None;
        }
        let first = self.messages.front()?.message_id.clone();
        self.older = Older::Loading;
        Some(ChatAction::LoadOlder(first))
    }

    /// After a scroll down: back at the bottom with newer messages dropped, reload them.
    pub(crate) fn after_scroll_down(&mut self) -> Option<ChatAction> {
        (self.scroll == 0 && self.newer_dropped).then_some(ChatAction::Reload)
    }

    fn chat_message(&self, info: MessageInfo) -> ChatMessage {
        ChatMessage {
            outgoing: info.from == self.our_id,
            delivery: Delivery::parse(&info.state),
            message_id: info.message_id,
            body: info.body,
            sent_at: info.sent_at,
        }
    }

    /// Adds a message unless one with the same id is there already (the history and the
    /// event stream can both carry a message that arrived while the chat was opening).
    fn push(&mut self, message: ChatMessage) {
        // The bottom of the conversation is not loaded (the reader scrolled far back): the
        // reload on the way back down brings this message with the rest.
        if self.newer_dropped {
            return;
        }
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
            // What fell off the top can be fetched again.
            if self.older == Older::None {
                self.older = Older::Unknown;
            }
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
                name,
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
                let from = name.unwrap_or_else(|| short_id(&peer));
                self.status = format!("new message from {from}");
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
