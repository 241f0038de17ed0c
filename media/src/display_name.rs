//! The one rule for names people show to others: chat guests, chat tokens, and (later) users.
//!
//! It lives in the shared vocabulary crate because several crates apply it (the chat checks a
//! guest's `hello`, the store checks every name it keeps) and none of them may depend on another
//! for it. Names are trimmed, 1 to [`MAX_DISPLAY_NAME_CHARS`] characters, and may not contain
//! control characters or the zero-width and bidirectional formatting characters that let one
//! name pose as another (`"Ann\u{202e}"` renders differently from what it compares as).

/// Longest display name, in characters (Unicode scalar values).
pub const MAX_DISPLAY_NAME_CHARS: usize = 32;

/// Why a display name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisplayNameError {
    #[error("name is empty")]
    Empty,
    #[error("name is longer than {MAX_DISPLAY_NAME_CHARS} characters")]
    TooLong,
    #[error("name contains control, zero-width or bidirectional formatting characters")]
    ControlChars,
}

/// Characters that are invisible or reorder text: a name containing one can impersonate another.
fn is_spoofing_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// Trims and checks a display name; returns the trimmed name.
pub fn validate_display_name(raw: &str) -> Result<String, DisplayNameError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(DisplayNameError::Empty);
    }
    if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(DisplayNameError::TooLong);
    }
    if name.chars().any(is_spoofing_char) {
        return Err(DisplayNameError::ControlChars);
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_free_of_spoofing_characters() {
        assert_eq!(validate_display_name("  Ann  ").unwrap(), "Ann");
        assert_eq!(validate_display_name("Zoë 🎮").unwrap(), "Zoë 🎮");
        assert_eq!(validate_display_name("   "), Err(DisplayNameError::Empty));
        assert_eq!(validate_display_name(&"é".repeat(32)).unwrap().chars().count(), 32);
        assert_eq!(validate_display_name(&"é".repeat(33)), Err(DisplayNameError::TooLong));
        for bad in ["a\u{7}b", "a\nb", "a\u{202e}b", "a\u{200b}b", "a\u{2066}b", "a\u{feff}b", "a\u{2060}b"] {
            assert_eq!(validate_display_name(bad), Err(DisplayNameError::ControlChars), "{bad:?}");
        }
    }
}
