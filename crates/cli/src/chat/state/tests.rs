//! Tests of the chat state: history, events, receipts and presence.

use accord_api::{Event, MessageInfo, SendInfo};

use super::*;

const ME: &str = "12D3KooWme000000000000000000000000000000000000000000";
const PEER: &str = "12D3KooWpeer00000000000000000000000000000000000abcd";

fn state() -> ChatState {
    ChatState::new(PEER.into(), short_id(PEER), ME.into())
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
        name: None,
    }
}

#[test]
fn history_tells_our_messages_from_theirs() {
    let mut s = state();
    s.load_history(
        vec![
            info("1", PEER, ME, "hello", "read"),
            info("2", ME, PEER, "hi", "delivered"),
        ],
        200,
    );
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
    s.load_history(history, MAX_MESSAGES + 5);
    assert_eq!(s.messages.len(), MAX_MESSAGES);
    assert_eq!(s.messages[0].message_id, "5");
}

#[test]
fn received_messages_are_added_once_and_marked_read() {
    let mut s = state();
    s.load_history(vec![info("1", PEER, ME, "hello", "read")], 200);
    let event = |id: &str| Event::MessageReceived {
        peer: PEER.into(),
        message_id: id.into(),
        body: "new".into(),
        sent_at: "2024-05-06T07:09:00.000Z".into(),
        name: None,
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
        name: None,
    });
    assert_eq!(action, None);
    assert!(s.messages.is_empty());
    assert!(s.status.contains("…0000zzzz"), "{}", s.status);
    // With a name (the alias, else the profile's), the status shows it instead of the ID.
    s.on_event(Event::MessageReceived {
        peer: "12D3KooWsomeoneelse0000000000000000000000000000zzzz".into(),
        message_id: "10".into(),
        body: "psst".into(),
        sent_at: String::new(),
        name: Some("Someone".into()),
    });
    assert_eq!(s.status, "new message from Someone");
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

fn page(ids: std::ops::Range<usize>) -> Vec<MessageInfo> {
    ids.map(|i| info(&format!("m{i}"), PEER, ME, "x", "read"))
        .collect()
}

/// Scrolls to the top of what is loaded, as PageUp does once the view knows the limit.
fn scroll_to_top(s: &mut ChatState) -> Option<ChatAction> {
    s.scroll_limit.set(40);
    s.scroll = 40;
    s.after_scroll_up()
}

#[test]
fn scrolling_to_the_top_fetches_the_page_before_the_first_message_once() {
    let mut s = state();
    s.load_history(page(100..110), 10);
    assert_eq!(s.older, Older::Unknown);
    s.scroll_limit.set(40);
    s.scroll = 20;
    assert_eq!(s.after_scroll_up(), None, "not at the top yet");
    assert_eq!(
        scroll_to_top(&mut s),
        Some(ChatAction::LoadOlder("m100".into()))
    );
    assert_eq!(scroll_to_top(&mut s), None, "one page at a time");

    s.prepend_older(page(90..100), 10);
    let ids: Vec<_> = s.messages.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(
        ids,
        page(90..110)
            .into_iter()
            .map(|m| m.message_id)
            .collect::<Vec<_>>()
    );
    assert_eq!(s.scroll, 40, "the reader's place from the bottom is kept");
    assert_eq!(
        scroll_to_top(&mut s),
        Some(ChatAction::LoadOlder("m90".into()))
    );
}

#[test]
fn a_short_page_is_the_start_of_the_conversation() {
    let mut s = state();
    s.load_history(page(5..15), 10);
    assert_eq!(
        scroll_to_top(&mut s),
        Some(ChatAction::LoadOlder("m5".into()))
    );
    s.prepend_older(page(0..5), 10);
    assert_eq!(s.older, Older::None);
    assert_eq!(scroll_to_top(&mut s), None);
    assert_eq!(
        s.messages.front().map(|m| m.message_id.as_str()),
        Some("m0")
    );

    let mut short = state();
    short.load_history(page(0..3), 10);
    assert_eq!(
        scroll_to_top(&mut short),
        None,
        "a first page under the size is all"
    );
}

#[test]
fn a_failed_fetch_is_tried_again_on_the_next_scroll() {
    let mut s = state();
    s.load_history(page(10..20), 10);
    assert!(scroll_to_top(&mut s).is_some());
    s.older_failed("daemon gone");
    assert!(s.status.contains("daemon gone"));
    assert_eq!(
        scroll_to_top(&mut s),
        Some(ChatAction::LoadOlder("m10".into()))
    );
}

#[test]
fn far_back_the_newest_are_dropped_and_reloaded_on_the_way_down() {
    let mut s = state();
    let size = 1000;
    s.load_history(page(10 * MAX_MESSAGES..10 * MAX_MESSAGES + size), size);
    let mut next = 10 * MAX_MESSAGES;
    while s.messages.len() < MAX_MESSAGES + size {
        let Some(ChatAction::LoadOlder(_)) = scroll_to_top(&mut s) else {
            break;
        };
        s.prepend_older(page(next - size..next), size);
        next -= size;
        if s.messages.len() == MAX_MESSAGES {
            break;
        }
    }
    assert_eq!(s.messages.len(), MAX_MESSAGES, "memory stays bounded");
    // One more page pushes the newest off the bottom.
    assert!(scroll_to_top(&mut s).is_some());
    s.prepend_older(page(next - size..next), size);
    assert_eq!(s.messages.len(), MAX_MESSAGES);
    assert_eq!(
        s.messages.front().map(|m| m.message_id.clone()),
        Some(format!("m{}", next - size))
    );
    // A message arriving now is not appended after a gap…
    let arrived = s.on_event(Event::MessageReceived {
        peer: PEER.into(),
        message_id: "new".into(),
        body: "hi".into(),
        sent_at: String::new(),
        name: None,
    });
    assert_eq!(arrived, Some(ChatAction::MarkRead));
    assert!(s.messages.iter().all(|m| m.message_id != "new"));
    // …and back at the bottom the newest page is reloaded, with it.
    s.scroll = 0;
    assert_eq!(s.after_scroll_down(), Some(ChatAction::Reload));
    s.load_history(page(0..3), size);
    assert_eq!(s.after_scroll_down(), None);
}
