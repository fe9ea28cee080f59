//! Markdown (CommonMark plus strikethrough and task lists) to styled terminal lines.
//!
//! Message bodies come from other people, so the renderer must cope with anything: it never
//! panics, it replaces control characters (which could otherwise smuggle escape sequences to
//! the terminal) and it wraps every line to the width it is given, so that the view can count
//! lines exactly when it scrolls.

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use crate::terminal_text::single_line;

mod layout;

/// Inline `code`: a colour of its own so it stands out from emphasis.
pub(crate) const INLINE_CODE: Style = Style::new().fg(Color::Yellow);
/// Fenced and indented code blocks.
pub(crate) const CODE_BLOCK: Style = Style::new().fg(Color::LightYellow);
/// The `│ ` bar in front of quoted lines.
pub(crate) const QUOTE_BAR: Style = Style::new().fg(Color::DarkGray);
/// Link text.
pub(crate) const LINK: Style = Style::new()
    .fg(Color::Cyan)
    .add_modifier(Modifier::UNDERLINED);
/// The URL shown after a link's text.
pub(crate) const LINK_URL: Style = Style::new().fg(Color::DarkGray);
/// List bullets and numbers.
pub(crate) const MARKER: Style = Style::new().fg(Color::LightBlue);
/// Headings.
pub(crate) const HEADING: Style = Style::new()
    .add_modifier(Modifier::BOLD)
    .add_modifier(Modifier::UNDERLINED);

/// Code block lines are indented by this much.
const CODE_INDENT: &str = "  ";
/// Tabs become this many spaces: a raw tab has no width of its own and would break the layout.
const TAB: &str = "    ";
/// Deeper nesting than this no longer indents further, so that hostile input cannot push the
/// text off the screen (or make every line enormous).
const MAX_INDENT_DEPTH: usize = 8;

/// Renders `body` as lines no wider than `width` columns (except where a prefix alone is wider).
pub(crate) fn render(body: &str, width: u16) -> Vec<Line<'static>> {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TASKLISTS);
    let mut renderer = Renderer::new(usize::from(width).max(1));
    for event in Parser::new_ext(body, options) {
        renderer.event(event);
    }
    renderer.finish()
}

/// A block that puts something in front of each of its lines.
#[derive(Debug)]
enum Container {
    BlockQuote,
    /// A list, with the number of its next item when it is ordered.
    List {
        next: Option<u64>,
    },
    /// A list item: its marker goes on its first line, blanks of the same width on the rest.
    Item {
        marker: String,
        marker_shown: bool,
    },
}

struct Renderer {
    width: usize,
    lines: Vec<Line<'static>>,
    /// The line being filled, if one is started (it then holds at least its prefix).
    current: Option<Vec<Span<'static>>>,
    /// How many spans of `current` are the prefix (never merged with text).
    prefix_spans: usize,
    current_width: usize,
    prefix_width: usize,
    /// A space is owed before the next word, in this style, unless the line breaks first.
    pending_space: Option<Style>,
    containers: Vec<Container>,
    /// Inline styles in force (emphasis, strong, links, headings…), innermost last.
    styles: Vec<Style>,
    in_code_block: bool,
    in_html_block: bool,
    /// Open links and images: their URL and the text shown so far.
    links: Vec<(String, String)>,
    /// A block ended; the next block is separated from it by a blank line.
    gap: bool,
}

impl Renderer {
    fn new(width: usize) -> Self {
        Renderer {
            width,
            lines: Vec::new(),
            current: None,
            prefix_spans: 0,
            current_width: 0,
            prefix_width: 0,
            pending_space: None,
            containers: Vec::new(),
            styles: Vec::new(),
            in_code_block: false,
            in_html_block: false,
            links: Vec::new(),
            gap: false,
        }
    }

    fn finish(mut self) -> Vec<Line<'static>> {
        self.flush();
        self.lines
    }

    fn style(&self) -> Style {
        self.styles
            .iter()
            .fold(Style::new(), |acc, style| acc.patch(*style))
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => {
                if self.in_code_block {
                    self.raw_text(&text, CODE_BLOCK, CODE_INDENT);
                } else if self.in_html_block {
                    self.raw_text(&text, self.style(), "");
                } else {
                    self.note_link_text(&text);
                    let style = self.style();
                    self.words(&text, style);
                }
            }
            Event::Code(code) => {
                self.note_link_text(&code);
                let style = self.style().patch(INLINE_CODE);
                // Keep the code's spaces: words() would let a line break eat them.
                self.word(&code, style);
            }
            Event::Html(html) => self.raw_text(&html, self.style(), ""),
            Event::InlineHtml(html) | Event::InlineMath(html) | Event::DisplayMath(html) => {
                let style = self.style();
                self.words(&html, style);
            }
            Event::FootnoteReference(name) => {
                let style = self.style();
                self.word(&format!("[^{name}]"), style);
            }
            Event::SoftBreak => self.pending_space = Some(self.style()),
            Event::HardBreak => {
                self.ensure_line();
                self.flush();
            }
            Event::Rule => {
                self.begin_block();
                self.ensure_line();
                let rule = "─".repeat(self.width.saturating_sub(self.prefix_width).max(1));
                self.append(&rule, QUOTE_BAR);
                self.flush();
                self.gap = true;
            }
            Event::TaskListMarker(done) => {
                let marker = if done { "[x]" } else { "[ ]" };
                self.word(marker, MARKER);
                self.pending_space = Some(Style::new());
            }
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph => self.begin_block(),
            Tag::Heading { .. } => {
                self.begin_block();
                self.styles.push(HEADING);
            }
            Tag::BlockQuote(_) => {
                self.begin_block();
                self.containers.push(Container::BlockQuote);
            }
            Tag::CodeBlock(kind) => self.start_code_block(kind),
            Tag::HtmlBlock => {
                self.begin_block();
                self.in_html_block = true;
            }
            Tag::List(start) => {
                self.begin_block();
                self.containers.push(Container::List { next: start });
            }
            Tag::Item => self.start_item(),
            Tag::Emphasis => self
                .styles
                .push(Style::new().add_modifier(Modifier::ITALIC)),
            Tag::Strong => self.styles.push(Style::new().add_modifier(Modifier::BOLD)),
            Tag::Strikethrough => self
                .styles
                .push(Style::new().add_modifier(Modifier::CROSSED_OUT)),
            Tag::Link { dest_url, .. } => {
                self.styles.push(LINK);
                self.links.push((dest_url.to_string(), String::new()));
            }
            Tag::Image { dest_url, .. } => {
                let style = self.style();
                self.word("[image:", style);
                self.pending_space = Some(style);
                self.styles.push(LINK);
                self.links.push((dest_url.to_string(), String::new()));
            }
            // Tables, footnotes, definition lists and metadata are not enabled; anything that
            // still arrives is shown as plain text by the text events.
            _ => {}
        }
    }

    /// A code block: its lines are kept as they are; a fenced block's language is shown
    /// quietly, like a caption.
    fn start_code_block(&mut self, kind: CodeBlockKind<'_>) {
        self.begin_block();
        self.in_code_block = true;
        if let CodeBlockKind::Fenced(lang) = kind
            && !lang.is_empty()
        {
            self.ensure_line();
            self.append(&single_line(&lang), QUOTE_BAR);
            self.flush();
        }
    }

    /// A list item: it starts on its own line (after a loose list's gap) with its marker, a
    /// number for ordered lists and a bullet by depth otherwise.
    fn start_item(&mut self) {
        self.flush();
        if self.gap && !self.lines.is_empty() {
            self.ensure_line();
            self.flush();
        }
        self.gap = false;
        let depth = self
            .containers
            .iter()
            .filter(|c| matches!(c, Container::List { .. }))
            .count();
        let marker = match self.containers.last_mut() {
            Some(Container::List { next: Some(n) }) => {
                let marker = format!("{n}. ");
                *n = n.saturating_add(1);
                marker
            }
            _ => match depth {
                0 | 1 => "• ".to_owned(),
                2 => "◦ ".to_owned(),
                _ => "▪ ".to_owned(),
            },
        };
        self.containers.push(Container::Item {
            marker,
            marker_shown: false,
        });
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => self.end_block(),
            TagEnd::Heading(_) => {
                self.styles.pop();
                self.end_block();
            }
            TagEnd::BlockQuote(_) => {
                self.end_block();
                self.pop_container(|c| matches!(c, Container::BlockQuote));
            }
            TagEnd::CodeBlock => {
                self.in_code_block = false;
                self.end_block();
            }
            TagEnd::HtmlBlock => {
                self.in_html_block = false;
                self.end_block();
            }
            TagEnd::List(_) => {
                self.end_block();
                self.pop_container(|c| matches!(c, Container::List { .. }));
                // A list nested in an item is part of that item: no gap before the next one.
                if matches!(self.containers.last(), Some(Container::Item { .. })) {
                    self.gap = false;
                }
            }
            TagEnd::Item => {
                // An empty item still shows its marker.
                if let Some(Container::Item {
                    marker_shown: false,
                    ..
                }) = self.containers.last()
                {
                    self.ensure_line();
                }
                self.flush();
                self.pop_container(|c| matches!(c, Container::Item { .. }));
            }
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => {
                self.styles.pop();
            }
            TagEnd::Link => {
                self.styles.pop();
                self.close_link(false);
            }
            TagEnd::Image => {
                self.styles.pop();
                self.close_link(true);
            }
            _ => {}
        }
    }

    /// Pops the innermost container if it is of the expected kind (it always is for the
    /// well-nested events pulldown-cmark produces; the check keeps a surprise harmless).
    fn pop_container(&mut self, expected: impl Fn(&Container) -> bool) {
        if self.containers.last().is_some_and(expected) {
            self.containers.pop();
        }
    }

    fn close_link(&mut self, image: bool) {
        let Some((url, text)) = self.links.pop() else {
            return;
        };
        let shown = url.strip_prefix("mailto:").unwrap_or(&url);
        if !url.is_empty() && text.trim() != shown {
            self.pending_space = Some(Style::new());
            self.word(&format!("<{url}>"), LINK_URL);
        }
        if image {
            let style = self.style();
            self.word("]", style);
        }
    }

    fn note_link_text(&mut self, text: &str) {
        if let Some((_, shown)) = self.links.last_mut() {
            // Bounded: only needed to compare against the URL.
            if shown.len() < 4096 {
                shown.push_str(text);
            }
        }
    }
}

#[cfg(test)]
mod tests;
