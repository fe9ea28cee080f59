//! Tests of the Markdown renderer: styles, layout and hostile input.

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
