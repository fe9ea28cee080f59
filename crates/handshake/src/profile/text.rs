//! The two text fields of a profile: the name and the headline.

use crate::note::is_directional_formatting;

/// Which text field of a profile an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileField {
    /// The display name.
    Name,
    /// The one-line headline.
    Headline,
}

impl std::fmt::Display for ProfileField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Name => "name",
            Self::Headline => "headline",
        })
    }
}

/// Why a name or headline is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProfileTextError {
    /// The name is empty or only white space: a profile exists to name someone.
    #[error("the name is empty; give at least one visible character")]
    EmptyName,
    /// The field has more Unicode scalar values than allowed.
    #[error("the {field} is {chars} characters long; at most {max} are allowed")]
    TooLong {
        /// The field.
        field: ProfileField,
        /// How many characters (Unicode scalar values) it has.
        chars: usize,
        /// The most allowed.
        max: usize,
    },
    /// The field contains a control character (newline, tab, escape…), which could rewrite
    /// a terminal that prints it.
    #[error(
        "the {field} contains a control character at position {position}; it must be one line of plain text"
    )]
    ControlCharacter {
        /// The field.
        field: ProfileField,
        /// The index of the offending character, counted in characters from 0.
        position: usize,
    },
    /// The field contains a bidirectional formatting character, which could make a view
    /// show the text in another order than it was written (and so pass off one name as
    /// another).
    #[error(
        "the {field} contains a bidirectional formatting character at position {position}; it must be plain text"
    )]
    DirectionalFormatting {
        /// The field.
        field: ProfileField,
        /// The index of the offending character, counted in characters from 0.
        position: usize,
    },
}

/// The most characters (Unicode scalar values) in a name.
pub const NAME_MAX_CHARS: usize = 64;
/// The most characters in a headline.
pub const HEADLINE_MAX_CHARS: usize = 120;
/// The most bytes a name takes in UTF-8.
pub const NAME_MAX_BYTES: usize = NAME_MAX_CHARS * 4;
/// The most bytes a headline takes in UTF-8.
pub const HEADLINE_MAX_BYTES: usize = HEADLINE_MAX_CHARS * 4;

/// Checks one text field: plain text of one line, at most `max` characters.
fn check(text: &str, field: ProfileField, max: usize) -> Result<(), ProfileTextError> {
    if let Some(position) = text.chars().position(char::is_control) {
        return Err(ProfileTextError::ControlCharacter { field, position });
    }
    if let Some(position) = text.chars().position(is_directional_formatting) {
        return Err(ProfileTextError::DirectionalFormatting { field, position });
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(ProfileTextError::TooLong { field, chars, max });
    }
    Ok(())
}

/// Checks a name: not blank, at most [`NAME_MAX_CHARS`] characters, plain text.
///
/// # Errors
///
/// See [`ProfileTextError`].
pub fn check_name(name: &str) -> Result<(), ProfileTextError> {
    check(name, ProfileField::Name, NAME_MAX_CHARS)?;
    if name.trim().is_empty() {
        return Err(ProfileTextError::EmptyName);
    }
    Ok(())
}

/// Checks a headline: at most [`HEADLINE_MAX_CHARS`] characters of plain text (it may be
/// empty).
///
/// # Errors
///
/// See [`ProfileTextError`].
pub fn check_headline(headline: &str) -> Result<(), ProfileTextError> {
    check(headline, ProfileField::Headline, HEADLINE_MAX_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_plain_text() {
        assert_eq!(check_name("Ada Lovelace"), Ok(()));
        assert_eq!(check_name(&"é".repeat(64)), Ok(()));
        assert_eq!(
            check_name(&"é".repeat(65)),
            Err(ProfileTextError::TooLong {
                field: ProfileField::Name,
                chars: 65,
                max: 64
            })
        );
        assert_eq!(check_name("  "), Err(ProfileTextError::EmptyName));
        assert_eq!(check_name(""), Err(ProfileTextError::EmptyName));
        assert_eq!(
            check_name("Ada\u{1b}[2J"),
            Err(ProfileTextError::ControlCharacter {
                field: ProfileField::Name,
                position: 3
            })
        );
        assert_eq!(
            check_name("Ada\u{202E}ecalevoL"),
            Err(ProfileTextError::DirectionalFormatting {
                field: ProfileField::Name,
                position: 3
            })
        );
        // Right-to-left text itself is fine.
        assert_eq!(check_name("שלום"), Ok(()));
    }

    #[test]
    fn headlines_may_be_empty_but_not_long() {
        assert_eq!(check_headline(""), Ok(()));
        assert_eq!(check_headline(&"x".repeat(120)), Ok(()));
        assert_eq!(
            check_headline(&"x".repeat(121)),
            Err(ProfileTextError::TooLong {
                field: ProfileField::Headline,
                chars: 121,
                max: 120
            })
        );
        assert!(matches!(
            check_headline("line\nbreak"),
            Err(ProfileTextError::ControlCharacter { .. })
        ));
    }
}
