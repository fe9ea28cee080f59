//! Drawing a [`ChatState`]: the conversation on top, the input box below it, a status bar at
//! the bottom.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::markdown;
use super::state::{ChatMessage, ChatState, Delivery};
use crate::terminal_text::single_line;

/// The input box grows with a multi-line draft up to this many lines, then scrolls.
const MAX_INPUT_LINES: usize = 5;
/// Message bodies are indented under their header line by this much.
const BODY_INDENT: &str = "  ";

const OUR_NAME: Style = Style::new().fg(Color::Green).add_modifier(Modifier::BOLD);
const PEER_NAME: Style = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
const DIM: Style = Style::new().fg(Color::DarkGray);
const READ_MARK: Style = Style::new().fg(Color::LightBlue);
const STATUS_BAR: Style = Style::new().fg(Color::Black).bg(Color::Gray);

pub(crate) fn draw(frame: &mut Frame<'_>, state: &ChatState) {
    let input_lines = state.input.split('\n').count().clamp(1, MAX_INPUT_LINES);
    // Two rows for the box's borders.
    let input_height = u16::try_from(input_lines + 2).unwrap_or(u16::MAX);
    let [history_area, input_area, status_area] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(input_height),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_history(frame, state, history_area);
    draw_input(frame, state, input_area);
    draw_status(frame, state, status_area);
}

/// The lines one message takes: a header (sender, time, delivery mark), the rendered body and
/// a blank separator.
fn message_lines(message: &ChatMessage, state: &ChatState, width: u16) -> Vec<Line<'static>> {
    let mut header = vec![
        if message.outgoing {
            Span::styled("you", OUR_NAME)
        } else {
            Span::styled(single_line(&state.peer_name), PEER_NAME)
        },
        Span::styled(format!(" · {}", clock(&message.sent_at)), DIM),
    ];
    if message.outgoing {
        let style = if message.delivery == Delivery::Read {
            READ_MARK
        } else {
            DIM
        };
        header.push(Span::raw(" "));
        header.push(Span::styled(message.delivery.mark(), style));
    }
    let mut lines = vec![Line::from(header)];
    let body_width = width.saturating_sub(BODY_INDENT.width() as u16);
    for line in markdown::render(&message.body, body_width) {
        let mut spans = Vec::with_capacity(line.spans.len() + 1);
        spans.push(Span::raw(BODY_INDENT));
        spans.extend(line.spans);
        lines.push(Line::from(spans));
    }
    lines.push(Line::default());
    lines
}

/// `HH:MM` from an RFC 3339 time (shown in UTC, as the API gives it); the raw text when it
/// does not have that shape.
fn clock(sent_at: &str) -> String {
    match sent_at.get(11..16) {
        Some(hhmm) if sent_at.get(10..11) == Some("T") => hhmm.to_owned(),
        _ => single_line(sent_at),
    }
}

fn draw_history(frame: &mut Frame<'_>, state: &ChatState, area: Rect) {
    let height = usize::from(area.height);
    if state.messages.is_empty() {
        let hint = Line::styled(
            format!(
                "No messages with {} yet. Write one below (Markdown works).",
                single_line(&state.peer_name)
            ),
            DIM,
        );
        frame.render_widget(Paragraph::new(hint), area);
        state.scroll_limit.set(0);
        return;
    }
    // Render from the newest message back, only as far as the screen and the scroll reach:
    // the cost of a frame does not grow with the length of the history.
    let wanted = height.saturating_add(state.scroll);
    let mut blocks: Vec<Vec<Line<'static>>> = Vec::new();
    let mut total = 0;
    let mut reached_top = true;
    for message in state.messages.iter().rev() {
        if total >= wanted {
            reached_top = false;
            break;
        }
        let lines = message_lines(message, state, area.width);
        total += lines.len();
        blocks.push(lines);
    }
    let max_scroll = total.saturating_sub(height);
    state
        .scroll_limit
        .set(if reached_top { max_scroll } else { usize::MAX });
    let scroll = state.scroll.min(max_scroll);
    let lines: Vec<Line<'static>> = blocks.into_iter().rev().flatten().collect();
    let end = lines.len().saturating_sub(scroll);
    let start = end.saturating_sub(height);
    let visible: Vec<Line<'static>> = lines.into_iter().skip(start).take(end - start).collect();
    frame.render_widget(Paragraph::new(visible), area);
}

fn draw_input(frame: &mut Frame<'_>, state: &ChatState, area: Rect) {
    let block = Block::bordered()
        .border_style(DIM)
        .title(" message · Alt-Enter for a new line ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.width == 0 || inner.height == 0 {
        return;
    }
    if state.input.is_empty() {
        frame.render_widget(Paragraph::new(Line::styled("Type a message…", DIM)), inner);
        frame.set_cursor_position(Position::new(inner.x, inner.y));
        return;
    }
    // Where the cursor is, in rows and columns of the (sanitised) draft.
    let before = &state.input[..state.cursor.min(state.input.len())];
    let row = before.matches('\n').count();
    let col = single_line(before.rsplit('\n').next().unwrap_or("")).width();
    // Scroll so that the cursor stays inside the box.
    let rows = usize::from(inner.height);
    let cols = usize::from(inner.width);
    let offset_y = row.saturating_sub(rows - 1);
    let offset_x = col.saturating_sub(cols - 1);
    let lines: Vec<Line<'static>> = state
        .input
        .split('\n')
        .map(|line| Line::raw(single_line(line)))
        .collect();
    let scroll = (
        u16::try_from(offset_y).unwrap_or(u16::MAX),
        u16::try_from(offset_x).unwrap_or(u16::MAX),
    );
    frame.render_widget(Paragraph::new(lines).scroll(scroll), inner);
    // Both offsets keep the cursor within the box, so these fit in u16.
    let x = inner.x + u16::try_from(col - offset_x).unwrap_or(0);
    let y = inner.y + u16::try_from(row - offset_y).unwrap_or(0);
    frame.set_cursor_position(Position::new(x, y));
}

fn draw_status(frame: &mut Frame<'_>, state: &ChatState, area: Rect) {
    let mut text = format!(
        " {} · {}",
        single_line(&state.peer_name),
        state.link.label()
    );
    if !state.status.is_empty() {
        text.push_str(" · ");
        text.push_str(&single_line(&state.status));
    }
    if state.scroll > 0 {
        text.push_str(" · scrolled (PgDn)");
    }
    text.push_str(" · Enter send · Esc quit");
    frame.render_widget(Paragraph::new(Line::raw(text)).style(STATUS_BAR), area);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use crate::chat::state::{Link, short_id};
    use accord_api::{Event, MessageInfo, SendInfo};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    const ME: &str = "12D3KooWme000000000000000000000000000000000000000000";
    const PEER: &str = "12D3KooWpeer00000000000000000000000000000000000abcd";

    fn message(id: &str, from: &str, body: &str, state: &str) -> MessageInfo {
        MessageInfo {
            message_id: id.into(),
            from: from.into(),
            to: if from == ME { PEER.into() } else { ME.into() },
            body: body.into(),
            sent_at: "2024-05-06T07:08:09.000Z".into(),
            received_at: None,
            state: state.into(),
            reason: None,
            name: None,
        }
    }

    fn render(state: &ChatState, width: u16, height: u16) -> (Vec<String>, Terminal<TestBackend>) {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|frame| draw(frame, state)).unwrap();
        let buffer = terminal.backend().buffer().clone();
        let rows = (0..height)
            .map(|y| {
                (0..width)
                    .map(|x| buffer[(x, y)].symbol().to_owned())
                    .collect::<String>()
            })
            .collect();
        (rows, terminal)
    }

    fn contains(rows: &[String], needle: &str) -> bool {
        rows.iter().any(|row| row.contains(needle))
    }

    #[test]
    fn draws_history_input_and_status() {
        let mut state = ChatState::new(PEER.into(), "alice".into(), ME.into());
        state.load_history(
            vec![
                message("1", PEER, "hello **you**", "read"),
                message("2", ME, "- one\n- two", "read"),
                message("3", ME, "pending", "delivered"),
            ],
            200,
        );
        state.link = Link::Online;
        for c in "typing".chars() {
            state.handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
        let (rows, mut terminal) = render(&state, 60, 20);
        let all = rows.join("\n");
        assert!(contains(&rows, "alice · 07:08"), "{all}");
        assert!(contains(&rows, "  hello you"), "{all}");
        assert!(contains(&rows, "you · 07:08 ✓✓"), "{all}");
        assert!(contains(&rows, "  • one"), "{all}");
        assert!(contains(&rows, "  • two"), "{all}");
        assert!(contains(&rows, "you · 07:08 ✓"), "{all}");
        assert!(contains(&rows, "│typing"), "{all}");
        let status = rows.last().unwrap();
        assert!(status.contains("alice · online"), "{status}");
        assert!(status.contains("Enter send · Esc quit"), "{status}");
        // The cursor sits after the draft, inside the box's border.
        let cursor = terminal.get_cursor_position().unwrap();
        assert_eq!(cursor, Position::new(1 + 6, 20 - 1 - 2));
        // Styles: the bold word keeps its style in the buffer.
        let (x, y) = find(&rows, "you").unwrap();
        let _ = (x, y);
        let buffer = terminal.backend().buffer().clone();
        let (bx, by) = find(&rows, "hello you").map(|(x, y)| (x + 6, y)).unwrap();
        assert!(buffer[(bx, by)].modifier.contains(Modifier::BOLD));
    }

    fn find(rows: &[String], needle: &str) -> Option<(u16, u16)> {
        rows.iter().enumerate().find_map(|(y, row)| {
            row.find(needle).map(|byte| {
                let x = row[..byte].chars().count();
                (x as u16, y as u16)
            })
        })
    }

    #[test]
    fn live_events_show_up() {
        let mut state = ChatState::new(PEER.into(), short_id(PEER), ME.into());
        state.on_event(Event::MessageReceived {
            peer: PEER.into(),
            message_id: "x".into(),
            body: "`live` message".into(),
            sent_at: "2024-05-06T23:59:00.000Z".into(),
            name: None,
        });
        state.on_sent(
            SendInfo {
                message_id: "y".into(),
                state: "queued".into(),
                reason: None,
            },
            "answer".into(),
            "2024-05-07T00:01:00.000Z".into(),
        );
        let (rows, _) = render(&state, 50, 12);
        let all = rows.join("\n");
        assert!(contains(&rows, "…0000abcd · 23:59"), "{all}");
        assert!(contains(&rows, "  live message"), "{all}");
        assert!(contains(&rows, "you · 00:01 …"), "{all}");
        assert!(contains(&rows, "Type a message"), "{all}");
    }

    #[test]
    fn an_empty_conversation_says_so() {
        let state = ChatState::new(PEER.into(), "bob".into(), ME.into());
        let (rows, _) = render(&state, 70, 8);
        assert!(contains(&rows, "No messages with bob yet"));
        assert!(rows.last().unwrap().contains("bob · status unknown"));
    }

    #[test]
    fn the_newest_messages_are_visible_and_page_up_scrolls_back() {
        let mut state = ChatState::new(PEER.into(), "bob".into(), ME.into());
        let history = (0..50)
            .map(|i| message(&i.to_string(), PEER, &format!("message number {i}"), "read"))
            .collect();
        state.load_history(history, 200);
        let (rows, _) = render(&state, 40, 12);
        assert!(contains(&rows, "message number 49"));
        assert!(!contains(&rows, "message number 0 "));
        state.page = 6;
        for _ in 0..100 {
            state.handle_key(KeyEvent::new(KeyCode::PageUp, KeyModifiers::NONE));
            let _ = render(&state, 40, 12);
        }
        let (rows, _) = render(&state, 40, 12);
        assert!(contains(&rows, "message number 0"), "{}", rows.join("\n"));
        assert!(rows.last().unwrap().contains("scrolled"));
        // The limit the view found stops the scroll at the top, so one page down moves.
        state.handle_key(KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE));
        let (rows, _) = render(&state, 40, 12);
        assert!(!contains(&rows, "message number 0"), "{}", rows.join("\n"));
    }

    #[test]
    fn a_long_multiline_draft_keeps_the_cursor_in_the_box() {
        let mut state = ChatState::new(PEER.into(), "bob".into(), ME.into());
        state.handle_paste(&"line\n".repeat(10));
        state.handle_paste(&"x".repeat(100));
        let (rows, terminal) = render(&state, 30, 15);
        let mut terminal = terminal;
        let cursor = terminal.get_cursor_position().unwrap();
        assert!(cursor.x < 29 && cursor.y < 14, "{cursor:?}");
        assert!(contains(&rows, "xxxx"));
    }

    #[test]
    fn tiny_terminals_do_not_panic() {
        let mut state = ChatState::new(PEER.into(), "bob".into(), ME.into());
        state.load_history(vec![message("1", PEER, "# hi\n\n> quote", "read")], 200);
        state.handle_paste("draft\nmore");
        for (w, h) in [(1, 1), (2, 3), (5, 5), (0, 0), (3, 10)] {
            let _ = render(&state, w, h);
        }
    }
}
