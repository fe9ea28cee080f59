//! Markdown (CommonMark plus strikethrough and task lists) to styled terminal lines.
//!
//! Message bodies come from other people, so the renderer must cope with anything: it never
//! panics, it replaces control characters (which could otherwise smuggle escape sequences to
//! the terminal) and it wraps every line to the width it is given, so that the view can count
//! lines exactly when it scrolls.

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

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
            Tag::CodeBlock(kind) => {
                self.begin_block();
                self.in_code_block = true;
                if let CodeBlockKind::Fenced(lang) = kind
                    && !lang.is_empty()
                {
                    // Show the language quietly, like a caption.
                    self.ensure_line();
                    self.append(&sanitize(&lang), QUOTE_BAR);
                    self.flush();
                }
            }
            Tag::HtmlBlock => {
                self.begin_block();
                self.in_html_block = true;
            }
            Tag::List(start) => {
                self.begin_block();
                self.containers.push(Container::List { next: start });
            }
            Tag::Item => {
                // A new item starts on its own line; a loose list's gap goes before the marker.
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

    /// Starts a block: finishes the line in progress and leaves a blank line after the
    /// previous block (but not between a list item's marker and its first paragraph).
    fn begin_block(&mut self) {
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

    fn end_block(&mut self) {
        self.flush();
        self.gap = true;
    }

    /// Starts a line with the containers' prefix if none is in progress.
    fn ensure_line(&mut self) {
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
    fn flush(&mut self) {
        if let Some(spans) = self.current.take() {
            self.lines.push(Line::from(spans));
        }
        self.pending_space = None;
    }

    fn has_content(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|spans| spans.len() > self.prefix_spans)
    }

    /// Appends text to the current line without wrapping, merging with the last span when the
    /// style matches.
    fn append(&mut self, text: &str, style: Style) {
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
    fn words(&mut self, text: &str, style: Style) {
        let text = sanitize(text);
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
    fn word(&mut self, word: &str, style: Style) {
        let word = sanitize(word);
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
    fn hard_wrap(&mut self, text: &str, style: Style, indent: &str) {
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
    fn raw_text(&mut self, text: &str, style: Style, indent: &str) {
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
                self.hard_wrap(&sanitize(segment), style, indent);
            }
            if !is_last {
                // The newline ends the line, even an empty one.
                self.ensure_line();
                self.flush();
            }
        }
    }
}

/// Replaces control characters (escape sequences, carriage returns, tabs, …) so that nothing
/// in a message can drive the terminal.
pub(crate) fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' => ' ',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(line: &Line<'_>) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    fn texts(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(text).collect()
    }

    /// The style of the span holding `needle`.
    fn style_of(lines: &[Line<'_>], needle: &str) -> Style {
        lines
            .iter()
            .flat_map(|l| l.spans.iter())
            .find(|s| s.content.contains(needle))
            .map(|s| s.style)
            .unwrap_or_else(|| panic!("no span contains {needle:?} in {:?}", texts(lines)))
    }

    #[test]
    fn plain_text_is_one_line() {
        let lines = render("hello world", 80);
        assert_eq!(texts(&lines), ["hello world"]);
        assert_eq!(style_of(&lines, "hello"), Style::new());
    }

    #[test]
    fn bold_italic_and_strikethrough_are_styled() {
        let lines = render("a **bold** and *it* and ~~gone~~", 80);
        assert_eq!(texts(&lines), ["a bold and it and gone"]);
        assert!(
            style_of(&lines, "bold")
                .add_modifier
                .contains(Modifier::BOLD)
        );
        assert!(
            style_of(&lines, "it")
                .add_modifier
                .contains(Modifier::ITALIC)
        );
        assert!(
            style_of(&lines, "gone")
                .add_modifier
                .contains(Modifier::CROSSED_OUT)
        );
        let nested = render("***both***", 80);
        let style = style_of(&nested, "both");
        assert!(
            style
                .add_modifier
                .contains(Modifier::BOLD | Modifier::ITALIC)
        );
    }

    #[test]
    fn inline_code_has_its_own_style_and_keeps_spaces() {
        let lines = render("run `cargo  test` now", 80);
        assert_eq!(texts(&lines), ["run cargo  test now"]);
        assert_eq!(style_of(&lines, "cargo"), INLINE_CODE);
    }

    #[test]
    fn code_blocks_are_indented_and_styled_line_by_line() {
        let lines = render("before\n\n```rust\nfn main() {\n\tx\n}\n```\nafter", 80);
        assert_eq!(
            texts(&lines),
            [
                "before",
                "",
                "rust",
                "  fn main() {",
                "      x",
                "  }",
                "",
                "after"
            ]
        );
        assert_eq!(style_of(&lines, "fn main"), CODE_BLOCK);
    }

    #[test]
    fn indented_code_blocks_work_too() {
        let lines = render("    let x = 1;", 80);
        assert_eq!(texts(&lines), ["  let x = 1;"]);
        assert_eq!(style_of(&lines, "let"), CODE_BLOCK);
    }

    #[test]
    fn headings_are_bold_and_underlined() {
        let lines = render("# Title\n\nbody", 80);
        assert_eq!(texts(&lines), ["Title", "", "body"]);
        assert_eq!(style_of(&lines, "Title"), HEADING);
        assert_eq!(style_of(&lines, "body"), Style::new());
    }

    #[test]
    fn links_are_underlined_and_show_their_url() {
        let lines = render("see [the docs](https://example.org/d) now", 80);
        assert_eq!(texts(&lines), ["see the docs <https://example.org/d> now"]);
        assert_eq!(style_of(&lines, "the docs"), LINK);
        assert_eq!(style_of(&lines, "https://"), LINK_URL);
        // An autolink's text is its URL: not shown twice.
        let auto = render("<https://example.org>", 80);
        assert_eq!(texts(&auto), ["https://example.org"]);
        assert_eq!(style_of(&auto, "example"), LINK);
    }

    #[test]
    fn images_show_alt_text_and_url() {
        let lines = render("![a cat](cat.png)", 80);
        assert_eq!(texts(&lines), ["[image: a cat <cat.png>]"]);
    }

    #[test]
    fn bullet_lists_get_bullets_and_nested_lists_indent() {
        let lines = render("- one\n- two\n  - inner\n- three", 80);
        assert_eq!(texts(&lines), ["• one", "• two", "  ◦ inner", "• three"]);
        assert_eq!(style_of(&lines, "•"), MARKER);
    }

    #[test]
    fn ordered_lists_are_numbered_from_their_start() {
        let lines = render("3. c\n4. d\n5. e", 80);
        assert_eq!(texts(&lines), ["3. c", "4. d", "5. e"]);
    }

    #[test]
    fn list_items_wrap_under_their_text() {
        let lines = render("- alpha beta gamma", 10);
        assert_eq!(texts(&lines), ["• alpha", "  beta", "  gamma"]);
    }

    #[test]
    fn task_lists_show_boxes() {
        let lines = render("- [x] done\n- [ ] todo", 80);
        assert_eq!(texts(&lines), ["• [x] done", "• [ ] todo"]);
    }

    #[test]
    fn block_quotes_get_a_bar_on_every_line() {
        let lines = render("> quoted text that wraps\n> > nested", 12);
        assert_eq!(
            texts(&lines),
            ["│ quoted", "│ text that", "│ wraps", "│ ", "│ │ nested"]
        );
        assert_eq!(style_of(&lines, "│"), QUOTE_BAR);
    }

    #[test]
    fn paragraphs_are_separated_and_breaks_respected() {
        let lines = render("one\ntwo\n\nthree  \nfour", 80);
        assert_eq!(texts(&lines), ["one two", "", "three", "four"]);
    }

    #[test]
    fn rules_span_the_width() {
        let lines = render("a\n\n---\n\nb", 5);
        assert_eq!(texts(&lines), ["a", "", "─────", "", "b"]);
    }

    #[test]
    fn long_words_are_broken_and_lines_never_exceed_the_width() {
        let lines = render("abcdefghij", 4);
        assert_eq!(texts(&lines), ["abcd", "efgh", "ij"]);
        let wide = render("日本語のテキスト", 5);
        assert!(wide.iter().all(|l| l.width() <= 5), "{:?}", texts(&wide));
    }

    #[test]
    fn control_characters_are_neutralised() {
        let lines = render("evil\u{1b}[2Jtext\u{7}", 80);
        let all = texts(&lines).concat();
        assert!(!all.chars().any(char::is_control), "{all:?}");
        assert!(all.contains("evil"));
    }

    #[test]
    fn raw_html_is_shown_as_text() {
        let lines = render("<div>\nhi\n</div>", 80);
        assert_eq!(texts(&lines), ["<div>", "hi", "</div>"]);
    }

    #[test]
    fn empty_input_renders_nothing() {
        assert!(render("", 80).is_empty());
        assert!(render("   \n\n", 80).is_empty());
    }

    proptest! {
        #[test]
        fn render_never_panics(body in any::<String>(), width in 0u16..200) {
            let _ = render(&body, width);
        }

        #[test]
        fn render_never_panics_on_markdownish_input(
            body in "[-*_`#>\\[\\]()!~|0-9. \n\ta-z\u{1b}日]{0,200}",
            width in 0u16..60,
        ) {
            let lines = render(&body, width);
            for line in &lines {
                for span in &line.spans {
                    prop_assert!(!span.content.chars().any(char::is_control));
                }
            }
        }

        #[test]
        fn shallow_lines_fit_the_width(words in proptest::collection::vec("[a-z*`]{1,12}", 0..40)) {
            let lines = render(&words.join(" "), 20);
            for line in &lines {
                prop_assert!(line.width() <= 20, "{:?}", text(line));
            }
        }
    }
}
