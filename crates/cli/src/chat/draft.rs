//! The draft: the message being typed in the chat's input box. Keys edit it (or send it, or
//! leave the chat); pasted text goes in as it is. Like the rest of [`ChatState`], free of I/O.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::state::{ChatAction, ChatState};

/// The input is capped well above the daemon's message limit (64 KiB by default), so that a
/// huge paste cannot make every keystroke slow; the daemon still gives the real verdict.
const MAX_INPUT_BYTES: usize = 256 * 1024;

impl ChatState {
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
            KeyCode::Esc => Some(ChatAction::Quit),
            KeyCode::Char('c') if ctrl => {
                if self.input.is_empty() {
                    return Some(ChatAction::Quit);
                }
                self.clear_input();
                None
            }
            KeyCode::Char('d') if ctrl => {
                if self.input.is_empty() {
                    return Some(ChatAction::Quit);
                }
                self.delete_forward();
                None
            }
            KeyCode::Enter if alt || shift => {
                self.insert_str("\n");
                None
            }
            KeyCode::Enter => {
                if self.input.trim().is_empty() {
                    return None;
                }
                let body = std::mem::take(&mut self.input);
                self.cursor = 0;
                Some(ChatAction::Send(body))
            }
            KeyCode::PageUp => {
                self.scroll = self
                    .scroll
                    .saturating_add(self.page.max(1))
                    .min(self.scroll_limit.get());
                self.after_scroll_up()
            }
            KeyCode::PageDown => {
                self.scroll = self.scroll.saturating_sub(self.page.max(1));
                self.after_scroll_down()
            }
            code => {
                self.edit(code, ctrl);
                None
            }
        }
    }

    /// A key that edits the draft, moves its cursor or scrolls the conversation.
    fn edit(&mut self, code: KeyCode, ctrl: bool) {
        match code {
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
            _ => {}
        }
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

#[cfg(test)]
mod tests;
