//! The invite note: a short plain-text message from the inviter.

use std::fmt;

/// Why a text is not a valid invite note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note has more Unicode scalar values than allowed.
    #[error("the note is {chars} characters long; at most {max} are allowed")]
    TooLong {
        /// How many characters (Unicode scalar values) the note has.
        chars: usize,
        /// The most allowed.
        max: u32,
    },
    /// The note contains a control character (including newlines and tabs).
    #[error(
        "the note contains a control character at position {position}; notes are one line of plain text"
    )]
    ControlCharacter {
        /// The index of the offending character, counted in characters from 0.
        position: usize,
    },
    /// The note contains a bidirectional formatting character (an embedding, override or
    /// isolate, or an implicit direction mark). Such characters can make a terminal or a page
    /// show the text in another order than it was written, so a note could pass off one text
    /// as another.
    #[error(
        "the note contains a bidirectional formatting character at position {position}; notes are plain text"
    )]
    DirectionalFormatting {
        /// The index of the offending character, counted in characters from 0.
        position: usize,
    },
}

/// Whether `c` is a bidirectional formatting character: the Arabic letter mark, the
/// left-to-right and right-to-left marks, the embeddings and overrides (U+202A–U+202E) and the
/// isolates (U+2066–U+2069), as listed in Unicode's bidirectional algorithm (UAX #9).
pub fn is_directional_formatting(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// A validated invite note: at most [`Note::MAX_CHARS`] Unicode scalar values (fewer if the
/// node is configured so), plain text with no control characters (no newlines, tabs or
/// escape sequences, so it cannot mess with a terminal). The empty note is allowed.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Note(String);

impl Note {
    /// The protocol's limit on a note's length, in Unicode scalar values.
    pub const MAX_CHARS: u32 = 300;
    /// The most bytes a note can take in UTF-8 (four per scalar value).
    pub const MAX_BYTES: usize = Self::MAX_CHARS as usize * 4;

    /// Validates `text` as a note of at most `max_chars` characters (the node's configured
    /// limit; anything above [`Note::MAX_CHARS`] is treated as [`Note::MAX_CHARS`]).
    ///
    /// # Errors
    ///
    /// [`NoteError::TooLong`], [`NoteError::ControlCharacter`] or
    /// [`NoteError::DirectionalFormatting`].
    pub fn new(text: impl Into<String>, max_chars: u32) -> Result<Self, NoteError> {
        let text = text.into();
        let max = max_chars.min(Self::MAX_CHARS);
        if let Some(position) = text.chars().position(char::is_control) {
            return Err(NoteError::ControlCharacter { position });
        }
        if let Some(position) = text.chars().position(is_directional_formatting) {
            return Err(NoteError::DirectionalFormatting { position });
        }
        let chars = text.chars().count();
        if chars > max as usize {
            return Err(NoteError::TooLong { chars, max });
        }
        Ok(Self(text))
    }

    /// The empty note.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(Note::new("", 300).unwrap().as_str(), "");
        let long = "é".repeat(300);
        assert_eq!(Note::new(long.clone(), 300).unwrap().as_str(), long);
        assert_eq!(
            Note::new(long.clone(), 299),
            Err(NoteError::TooLong {
                chars: 300,
                max: 299
            })
        );
        assert_eq!(
            Note::new("x".repeat(301), 1000),
            Err(NoteError::TooLong {
                chars: 301,
                max: 300
            })
        );
        // Counted in scalar values, not bytes: 300 four-byte characters fit.
        assert!(Note::new("🦀".repeat(300), 300).is_ok());
    }

    #[test]
    fn control_characters_refused() {
        for bad in ["a\nb", "a\tb", "a\u{1b}[31m", "a\u{7f}", "a\u{85}", "ab\r"] {
            assert!(
                matches!(Note::new(bad, 300), Err(NoteError::ControlCharacter { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(
            Note::new("é\n", 300),
            Err(NoteError::ControlCharacter { position: 1 })
        );
        assert!(Note::new("Hi! Let's connect — ünïcödé is fine ✓", 300).is_ok());
    }

    #[test]
    fn directional_formatting_refused() {
        for (bad, position) in [
            ("abc\u{202E}gpj.exe", 3),
            ("\u{202A}x", 0),
            ("x\u{2066}y\u{2069}", 1),
            ("a\u{200F}", 1),
            ("a\u{200E}", 1),
            ("a\u{061C}", 1),
        ] {
            assert_eq!(
                Note::new(bad, 300),
                Err(NoteError::DirectionalFormatting { position }),
                "{bad:?}"
            );
        }
        // Right-to-left text itself is fine: only the formatting characters are refused.
        assert!(Note::new("שלום, نتواصل؟", 300).is_ok());
    }
}
