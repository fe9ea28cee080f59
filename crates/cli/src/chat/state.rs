//! The chat's state and everything that changes it, free of I/O so that it can be tested
//! without a terminal or a daemon. The run loop feeds it keys and API events and carries out
//! the [`ChatAction`]s it returns.

use std::cell::Cell;
use std::collections::VecDeque;

use accord_api::{Event, MessageInfo, SendInfo};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// At most this many messages are kept; older ones fall off the top.
pub(crate) const MAX_MESSAGES: usize = 1000;
/// Receipts that arrive before the send that caused them returns (the event stream and the
/// request connection race) are held back, at most this many.
const MAX_EARLY_RECEIPTS: usize = 64;
/// The input is capped well above the daemon's message limit (64 KiB by default), so that a
/// huge paste cannot make every keystroke slow; the daemon still gives the real verdict.
const MAX_INPUT_BYTES: usize = 256 * 1024;

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

    /// Handles a key press; returns what the run loop should do, if anything.
    pub(crate) fn handle_key(&mut self, key: KeyEvent) -> Option<ChatAction> {
        // Some terminals (and Windows) also report releases; act on presses and repeats only.
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let shift = key.modifiers.contains(KeyModifiers::SHIFT);
        match key.code {
            KeyCode::Esc => return Some(ChatAction::Quit),
            KeyCode::Char('c') if ctrl => {
                if self.input.is_empty() {
                    return Some(ChatAction::Quit);
                }
                self.clear_input();
            }
            KeyCode::Char('d') if ctrl => {
                if self.input.is_empty() {
                    return Some(ChatAction::Quit);
                }
                self.delete_forward();
            }
            KeyCode::Enter if alt || shift => self.insert_str("\n"),
            KeyCode::Enter => {
                if self.input.trim().is_empty() {
                    return None;
                }
                let body = std::mem::take(&mut self.input);
                self.cursor = 0;
                return Some(ChatAction::Send(body));
            }
            KeyCode::Char('a') if ctrl => self.cursor = self.line_start(),
            KeyCode::Char('e') if ctrl => self.cursor = self.line_end(),
            KeyCode::Char('u') if ctrl => self.clear_input(),
            KeyCode::Char('w') if ctrl => self.delete_word_back(),
            KeyCode::Char(_) if ctrl => {}
            KeyCode::Char(c) => {
                let mut buf = [0; 4];
                self.insert_str(c.encode_utf8(&mut buf));
            }
            KeyCode::Tab => self.insert_str("    "),
            KeyCode::Backspace => {
                if let Some(c) = self.input[..self.cursor].chars().next_back() {
                    self.cursor -= c.len_utf8();
                    self.input.remove(self.cursor);
                }
            }
            KeyCode::Delete => self.delete_forward(),
            KeyCode::Left => {
                if let Some(c) = self.input[..self.cursor].chars().next_back() {
                    self.cursor -= c.len_utf8();
                }
            }
            KeyCode::Right => {
                if let Some(c) = self.input[self.cursor..].chars().next() {
                    self.cursor += c.len_utf8();
                }
            }
            KeyCode::Home => self.cursor = self.line_start(),
            KeyCode::End => self.cursor = self.line_end(),
            KeyCode::PageUp => {
                self.scroll = self
                    .scroll
                    .saturating_add(self.page.max(1))
                    .min(self.scroll_limit.get());
            }
            KeyCode::PageDown => self.scroll = self.scroll.saturating_sub(self.page.max(1)),
            _ => {}
        }
        None
    }

    /// Pasted text (bracketed paste) goes into the input as it is, newlines included.
    pub(crate) fn handle_paste(&mut self, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        self.insert_str(&text);
    }

    fn insert_str(&mut self, text: &str) {
        if self.input.len().saturating_add(text.len()) > MAX_INPUT_BYTES {
            self.status = "message too long".to_owned();
            return;
        }
        self.input.insert_str(self.cursor, text);
        self.cursor += text.len();
    }

    fn clear_input(&mut self) {
        self.input.clear();
        self.cursor = 0;
    }

    fn delete_forward(&mut self) {
        if self.cursor < self.input.len() {
            self.input.remove(self.cursor);
        }
    }

    fn delete_word_back(&mut self) {
        let before = &self.input[..self.cursor];
        let trimmed = before.trim_end();
        let start = trimmed
            .rfind(char::is_whitespace)
            .map(|i| i + trimmed[i..].chars().next().map_or(1, char::len_utf8))
            .unwrap_or(0);
        self.input.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    /// The start of the input line the cursor is on.
    fn line_start(&self) -> usize {
        self.input[..self.cursor].rfind('\n').map_or(0, |i| i + 1)
    }

    /// The end of the input line the cursor is on.
    fn line_end(&self) -> usize {
        self.input[self.cursor..]
            .find('\n')
            .map_or(self.input.len(), |i| self.cursor + i)
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
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ME: &str = "12D3KooWme000000000000000000000000000000000000000000";
    const PEER: &str = "12D3KooWpeer00000000000000000000000000000000000abcd";

    fn state() -> ChatState {
        ChatState::new(PEER.into(), short_id(PEER), ME.into())
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    fn type_text(state: &mut ChatState, text: &str) {
        for c in text.chars() {
            assert_eq!(state.handle_key(key(KeyCode::Char(c))), None);
        }
    }

    fn info(id: &str, from: &str, to: &str, body: &str, state: &str) -> MessageInfo {
        MessageInfo {
            message_id: id.into(),
            from: from.into(),
            to: to.into(),
            body: body.into(),
            sent_at: "2024-05-06T07:08:09.000Z".into(),
            received_at: None,
            state: state.into(),
            reason: None,
        }
    }

    #[test]
    fn typing_and_enter_sends_and_clears() {
        let mut s = state();
        type_text(&mut s, "hi **there**");
        assert_eq!(s.input, "hi **there**");
        assert_eq!(s.cursor, s.input.len());
        assert_eq!(
            s.handle_key(key(KeyCode::Enter)),
            Some(ChatAction::Send("hi **there**".into()))
        );
        assert_eq!(s.input, "");
        assert_eq!(s.cursor, 0);
    }

    #[test]
    fn enter_on_blank_input_does_nothing() {
        let mut s = state();
        assert_eq!(s.handle_key(key(KeyCode::Enter)), None);
        type_text(&mut s, "   ");
        assert_eq!(s.handle_key(key(KeyCode::Enter)), None);
        assert_eq!(s.input, "   ");
    }

    #[test]
    fn quitting() {
        let mut s = state();
        assert_eq!(s.handle_key(key(KeyCode::Esc)), Some(ChatAction::Quit));
        assert_eq!(s.handle_key(ctrl('c')), Some(ChatAction::Quit));
        assert_eq!(s.handle_key(ctrl('d')), Some(ChatAction::Quit));
        // With a draft, Ctrl-C clears it first and Ctrl-D deletes forward.
        type_text(&mut s, "draft");
        assert_eq!(s.handle_key(ctrl('d')), None);
        assert_eq!(s.handle_key(ctrl('c')), None);
        assert_eq!(s.input, "");
        assert_eq!(s.handle_key(ctrl('c')), Some(ChatAction::Quit));
    }

    #[test]
    fn releases_are_ignored() {
        let mut s = state();
        let mut release = key(KeyCode::Char('x'));
        release.kind = KeyEventKind::Release;
        assert_eq!(s.handle_key(release), None);
        assert_eq!(s.input, "");
    }

    #[test]
    fn cursor_movement_and_editing_respect_characters() {
        let mut s = state();
        type_text(&mut s, "héllo");
        s.handle_key(key(KeyCode::Left));
        s.handle_key(key(KeyCode::Left));
        s.handle_key(key(KeyCode::Left));
        s.handle_key(key(KeyCode::Left));
        s.handle_key(key(KeyCode::Backspace));
        assert_eq!(s.input, "éllo");
        assert_eq!(s.cursor, 0);
        s.handle_key(key(KeyCode::Backspace));
        assert_eq!(s.input, "éllo");
        s.handle_key(key(KeyCode::Right));
        type_text(&mut s, "X");
        assert_eq!(s.input, "éXllo");
        s.handle_key(key(KeyCode::Home));
        assert_eq!(s.cursor, 0);
        s.handle_key(key(KeyCode::Delete));
        assert_eq!(s.input, "Xllo");
        s.handle_key(key(KeyCode::End));
        assert_eq!(s.cursor, s.input.len());
        s.handle_key(key(KeyCode::Right));
        assert_eq!(s.cursor, s.input.len());
        type_text(&mut s, " two words");
        s.handle_key(ctrl('w'));
        assert_eq!(s.input, "Xllo two ");
        s.handle_key(ctrl('u'));
        assert_eq!(s.input, "");
    }

    #[test]
    fn alt_or_shift_enter_inserts_a_newline() {
        let mut s = state();
        type_text(&mut s, "a");
        assert_eq!(
            s.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT)),
            None
        );
        assert_eq!(
            s.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::SHIFT)),
            None
        );
        type_text(&mut s, "b");
        assert_eq!(s.input, "a\n\nb");
        s.handle_key(key(KeyCode::Home));
        assert_eq!(s.cursor, 3);
    }

    #[test]
    fn paste_inserts_text_with_newlines() {
        let mut s = state();
        s.handle_paste("line 1\r\nline 2");
        assert_eq!(s.input, "line 1\nline 2");
        assert_eq!(s.cursor, s.input.len());
    }

    #[test]
    fn page_keys_scroll_within_the_limit() {
        let mut s = state();
        s.page = 5;
        s.handle_key(key(KeyCode::PageUp));
        assert_eq!(s.scroll, 5);
        s.scroll_limit.set(7);
        s.handle_key(key(KeyCode::PageUp));
        assert_eq!(s.scroll, 7);
        s.handle_key(key(KeyCode::PageDown));
        s.handle_key(key(KeyCode::PageDown));
        assert_eq!(s.scroll, 0);
    }

    #[test]
    fn history_tells_our_messages_from_theirs() {
        let mut s = state();
        s.load_history(vec![
            info("1", PEER, ME, "hello", "read"),
            info("2", ME, PEER, "hi", "delivered"),
        ]);
        assert_eq!(s.messages.len(), 2);
        assert!(!s.messages[0].outgoing);
        assert!(s.messages[1].outgoing);
        assert_eq!(s.messages[1].delivery, Delivery::Delivered);
    }

    #[test]
    fn history_is_bounded() {
        let mut s = state();
        let history = (0..MAX_MESSAGES + 5)
            .map(|i| info(&i.to_string(), PEER, ME, "x", "read"))
            .collect();
        s.load_history(history);
        assert_eq!(s.messages.len(), MAX_MESSAGES);
        assert_eq!(s.messages[0].message_id, "5");
    }

    #[test]
    fn received_messages_are_added_once_and_marked_read() {
        let mut s = state();
        s.load_history(vec![info("1", PEER, ME, "hello", "read")]);
        let event = |id: &str| Event::MessageReceived {
            peer: PEER.into(),
            message_id: id.into(),
            body: "new".into(),
            sent_at: "2024-05-06T07:09:00.000Z".into(),
        };
        assert_eq!(s.on_event(event("2")), Some(ChatAction::MarkRead));
        assert_eq!(s.on_event(event("1")), Some(ChatAction::MarkRead));
        assert_eq!(s.messages.len(), 2);
        assert_eq!(s.messages[1].body, "new");
    }

    #[test]
    fn messages_from_others_only_touch_the_status() {
        let mut s = state();
        let action = s.on_event(Event::MessageReceived {
            peer: "12D3KooWsomeoneelse0000000000000000000000000000zzzz".into(),
            message_id: "9".into(),
            body: "psst".into(),
            sent_at: String::new(),
        });
        assert_eq!(action, None);
        assert!(s.messages.is_empty());
        assert!(s.status.contains("…0000zzzz"), "{}", s.status);
    }

    #[test]
    fn receipts_advance_our_messages_and_never_go_back() {
        let mut s = state();
        s.on_sent(
            SendInfo {
                message_id: "m1".into(),
                state: "queued".into(),
                reason: None,
            },
            "body".into(),
            String::new(),
        );
        assert_eq!(s.messages[0].delivery, Delivery::Queued);
        let delivered = Event::MessageDelivered {
            peer: PEER.into(),
            message_id: "m1".into(),
        };
        let read = Event::MessageRead {
            peer: PEER.into(),
            message_id: "m1".into(),
        };
        assert_eq!(s.on_event(delivered.clone()), None);
        assert_eq!(s.messages[0].delivery, Delivery::Delivered);
        s.on_event(read);
        assert_eq!(s.messages[0].delivery, Delivery::Read);
        s.on_event(delivered);
        assert_eq!(s.messages[0].delivery, Delivery::Read);
        assert_eq!(Delivery::Read.mark(), "✓✓");
        assert_eq!(Delivery::Delivered.mark(), "✓");
    }

    #[test]
    fn a_receipt_before_the_send_returns_is_kept() {
        let mut s = state();
        s.on_event(Event::MessageDelivered {
            peer: PEER.into(),
            message_id: "m1".into(),
        });
        s.on_sent(
            SendInfo {
                message_id: "m1".into(),
                state: "sent".into(),
                reason: None,
            },
            "body".into(),
            String::new(),
        );
        assert_eq!(s.messages[0].delivery, Delivery::Delivered);
    }

    #[test]
    fn a_failed_send_gives_the_text_back() {
        let mut s = state();
        type_text(&mut s, "important");
        let Some(ChatAction::Send(body)) = s.handle_key(key(KeyCode::Enter)) else {
            panic!("expected a send");
        };
        s.on_send_failed(body, "daemon not running");
        assert_eq!(s.input, "important");
        assert!(s.status.contains("daemon not running"));
    }

    #[test]
    fn peer_presence_and_revocation() {
        let mut s = state();
        assert_eq!(s.link, Link::Unknown);
        s.on_event(Event::PeerConnected {
            peer: PEER.into(),
            addr: "/ip4/1.2.3.4/tcp/1".into(),
        });
        assert_eq!(s.link, Link::Online);
        s.on_event(Event::PeerDisconnected { peer: PEER.into() });
        assert_eq!(s.link, Link::Offline);
        s.on_event(Event::ConnectionRevoked {
            peer: PEER.into(),
            attestation_id: "a".into(),
        });
        s.on_event(Event::PeerConnected {
            peer: PEER.into(),
            addr: String::new(),
        });
        assert_eq!(s.link, Link::Revoked);
        assert_eq!(
            s.on_event(Event::Lagged { missed: 3 }),
            Some(ChatAction::Reload)
        );
        s.on_stream_closed();
        assert_eq!(s.link, Link::DaemonGone);
    }

    #[test]
    fn short_ids_keep_the_distinctive_end() {
        assert_eq!(short_id(PEER), "…0000abcd");
        assert_eq!(short_id("bob"), "bob");
    }

    fn any_key() -> impl Strategy<Value = KeyEvent> {
        let code = prop_oneof![
            any::<char>().prop_map(KeyCode::Char),
            Just(KeyCode::Enter),
            Just(KeyCode::Backspace),
            Just(KeyCode::Delete),
            Just(KeyCode::Left),
            Just(KeyCode::Right),
            Just(KeyCode::Home),
            Just(KeyCode::End),
            Just(KeyCode::PageUp),
            Just(KeyCode::PageDown),
            Just(KeyCode::Tab),
            Just(KeyCode::Esc),
            (1u8..13).prop_map(KeyCode::F),
        ];
        let modifiers = (0u8..16).prop_map(|bits| {
            let mut m = KeyModifiers::NONE;
            if bits & 1 != 0 {
                m |= KeyModifiers::CONTROL;
            }
            if bits & 2 != 0 {
                m |= KeyModifiers::ALT;
            }
            if bits & 4 != 0 {
                m |= KeyModifiers::SHIFT;
            }
            m
        });
        (code, modifiers).prop_map(|(code, modifiers)| KeyEvent::new(code, modifiers))
    }

    proptest! {
        #[test]
        fn handle_key_never_panics_and_keeps_the_cursor_valid(
            keys in proptest::collection::vec(any_key(), 0..200),
            paste in any::<String>(),
        ) {
            let mut s = state();
            s.handle_paste(&paste);
            for key in keys {
                let _ = s.handle_key(key);
                prop_assert!(s.cursor <= s.input.len());
                prop_assert!(s.input.is_char_boundary(s.cursor));
            }
        }
    }
}
