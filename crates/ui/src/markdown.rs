//! Markdown message bodies rendered into HTML that holds no markup of the sender's own.

use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd, html};

/// Renders a Markdown body into HTML that is safe to insert into the page.
///
/// Raw HTML in the body (blocks and inline tags alike) becomes escaped text, images become
/// their alternative text (the app loads nothing from elsewhere), and a link survives only
/// when it points to `http:`, `https:` or `mailto:`; any other link (`javascript:`, `data:`,
/// a relative path) keeps its text and loses its target.
pub fn render_markdown(body: &str) -> String {
    let options =
        Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS;
    // Whether each open link was kept, so that its end is kept or dropped to match.
    let mut links: Vec<bool> = Vec::new();
    let events = Parser::new_ext(body, options).filter_map(|event| match event {
        Event::Html(text) | Event::InlineHtml(text) => Some(Event::Text(text)),
        Event::Start(Tag::HtmlBlock) => Some(Event::Start(Tag::Paragraph)),
        Event::End(TagEnd::HtmlBlock) => Some(Event::End(TagEnd::Paragraph)),
        Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => None,
        Event::Start(Tag::Link {
            link_type,
            ref dest_url,
            ..
        }) => {
            let keep = link_type == LinkType::Email || safe_url(dest_url);
            links.push(keep);
            keep.then_some(event)
        }
        Event::End(TagEnd::Link) => links.pop().unwrap_or(false).then_some(event),
        other => Some(other),
    });
    let mut out = String::with_capacity(body.len() + body.len() / 2);
    html::push_html(&mut out, events);
    out
}

fn safe_url(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_rendered() {
        let html = render_markdown("**bold** and `code`\n\n- one\n- two");
        assert!(html.contains("<strong>bold</strong>"), "{html}");
        assert!(html.contains("<code>code</code>"), "{html}");
        assert!(html.contains("<li>one</li>"), "{html}");
    }

    #[test]
    fn raw_html_never_passes() {
        for body in [
            "<script>window.pwned = 1</script>",
            "hello <img src=x onerror=\"window.pwned = 2\"> there",
            "<div onclick=alert(1)>block</div>\n\nmore",
            "<svg/onload=alert(1)>",
        ] {
            let html = render_markdown(body);
            assert!(!html.contains("<script"), "{html}");
            assert!(!html.contains("<img"), "{html}");
            assert!(!html.contains("<div"), "{html}");
            assert!(!html.contains("<svg"), "{html}");
            assert!(html.contains("&lt;"), "{html}");
        }
    }

    #[test]
    fn only_safe_links_keep_their_target() {
        let html = render_markdown("[a](javascript:alert(1)) [b](https://example.org) ![c](x.png)");
        assert!(!html.contains("javascript"), "{html}");
        assert!(
            html.contains("<a href=\"https://example.org\">b</a>"),
            "{html}"
        );
        assert!(html.contains('c') && !html.contains("<img"), "{html}");
        let html = render_markdown("[x](JaVaScRiPt:alert(1))");
        assert!(!html.to_lowercase().contains("javascript"), "{html}");
    }
}
