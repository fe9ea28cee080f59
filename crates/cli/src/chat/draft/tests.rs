//! Tests of the draft: typing, editing, sending and leaving.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use proptest::prelude::*;

use crate::chat::state::{ChatAction, ChatState, short_id};

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
