//! Filling lines: the containers' prefixes, words wrapped at the width, preformatted text
//! broken by characters. Every piece of message text passes through [`single_line`] on its way
//! in, so that nothing in a body can drive the terminal.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::{Container, MARKER, MAX_INDENT_DEPTH, QUOTE_BAR, Renderer, TAB};
use crate::terminal_text::single_line;

impl Renderer {
    /// Starts a block: finishes the line in progress and leaves a blank line after the
    /// previous block (but not between a list item's marker and its first paragraph).
    pub(super) fn begin_block(&mut self) {
        self.flush();
        let fresh_item = matches!(
            self.containers.last(),
            Some(Container::Item {
                marker_shown: false,
                ..
            })
        );
        if self.gap && !self.lines.is_empty() && !fresh_item {
            self.ensure_line();
            self.flush();
        }
        self.gap = false;
    }

    pub(super) fn end_block(&mut self) {
        self.flush();
        self.gap = true;
    }

    /// Starts a line with the containers' prefix if none is in progress.
    pub(super) fn ensure_line(&mut self) {
        if self.current.is_some() {
            return;
        }
        let mut spans = Vec::new();
        let mut width = 0;
        for (depth, container) in self.containers.iter_mut().enumerate() {
            let (text, style) = match container {
                Container::BlockQuote => ("│ ".to_owned(), QUOTE_BAR),
                Container::List { .. } => continue,
                Container::Item {
                    marker,
                    marker_shown,
                } => {
                    if *marker_shown {
                        (" ".repeat(marker.width()), Style::new())
                    } else {
                        *marker_shown = true;
                        (marker.clone(), MARKER)
                    }
                }
            };
            // Beyond the depth limit only the markers still owed are shown.
            if depth >= MAX_INDENT_DEPTH && style != MARKER {
                continue;
            }
            width += text.width();
            spans.push(Span::styled(text, style));
        }
        self.prefix_spans = spans.len();
        self.prefix_width = width;
        self.current_width = width;
        self.current = Some(spans);
        self.pending_space = None;
    }

    /// Finishes the line in progress, if any.
    pub(super) fn flush(&mut self) {
        if let Some(spans) = self.current.take() {
            self.lines.push(Line::from(spans));
        }
        self.pending_space = None;
    }

    pub(super) fn has_content(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|spans| spans.len() > self.prefix_spans)
    }

    /// Appends text to the current line without wrapping, merging with the last span when the
    /// style matches.
    pub(super) fn append(&mut self, text: &str, style: Style) {
        self.ensure_line();
        let prefix_spans = self.prefix_spans;
        let Some(spans) = self.current.as_mut() else {
            return;
        };
        let has_text = spans.len() > prefix_spans;
        match spans.last_mut() {
            Some(last) if has_text && last.style == style => {
                last.content.to_mut().push_str(text);
            }
            _ => spans.push(Span::styled(text.to_owned(), style)),
        }
        self.current_width += text.width();
    }

    /// Flowing text: words separated by spaces, wrapped at the width.
    pub(super) fn words(&mut self, text: &str, style: Style) {
        let text = single_line(text);
        let mut first = true;
        for word in text.split(' ') {
            if !first && self.has_content() {
                self.pending_space = Some(style);
            }
            first = false;
            if !word.is_empty() {
                self.word(word, style);
            }
        }
        if text.ends_with(' ') && self.has_content() {
            self.pending_space = Some(style);
        }
    }

    /// One unbreakable piece of text (broken by characters only when no line could hold it).
    pub(super) fn word(&mut self, word: &str, style: Style) {
        let word = single_line(word);
        let word_width = word.width();
        if self.has_content() {
            let space = usize::from(self.pending_space.is_some());
            if self.current_width + space + word_width > self.width {
                self.flush();
            } else if let Some(space_style) = self.pending_space.take() {
                self.append(" ", space_style);
            }
        }
        self.ensure_line();
        self.pending_space = None;
        if self.current_width + word_width <= self.width {
            self.append(&word, style);
        } else {
            self.hard_wrap(&word, style, "");
        }
    }

    /// Appends text character by character, breaking lines wherever the width is reached;
    /// continuation lines start with `indent` after the prefix.
    pub(super) fn hard_wrap(&mut self, text: &str, style: Style, indent: &str) {
        let mut chunk = String::new();
        // Tracked, not recomputed: a long word must not cost quadratic time.
        let mut chunk_width = 0;
        for c in text.chars() {
            self.ensure_line();
            let c_width = c.width().unwrap_or(0);
            let at_line_start = !self.has_content() && chunk.is_empty();
            if self.current_width + chunk_width + c_width > self.width && !at_line_start {
                if !chunk.is_empty() {
                    self.append(&chunk, style);
                    chunk.clear();
                    chunk_width = 0;
                }
                self.flush();
                self.ensure_line();
                if !indent.is_empty() {
                    self.append(indent, style);
                }
            }
            // Every character is placed, so each line break makes progress.
            chunk.push(c);
            chunk_width += c_width;
        }
        if !chunk.is_empty() {
            self.append(&chunk, style);
        }
    }

    /// Preformatted text (code and HTML blocks): every newline ends a line, nothing is
    /// collapsed, long lines are broken by characters.
    pub(super) fn raw_text(&mut self, text: &str, style: Style, indent: &str) {
        let text = text.replace('\t', TAB);
        let mut segments = text.split('\n').peekable();
        while let Some(segment) = segments.next() {
            let is_last = segments.peek().is_none();
            if !segment.is_empty() {
                if !self.has_content() {
                    self.ensure_line();
                    if !indent.is_empty() {
                        self.append(indent, style);
                    }
                }
                self.hard_wrap(&single_line(segment), style, indent);
            }
            if !is_last {
                // The newline ends the line, even an empty one.
                self.ensure_line();
                self.flush();
            }
        }
    }
}
