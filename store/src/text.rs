//! The rule for free text people type into the catalog (titles, descriptions, categories of
//! streams and videos): trimmed, bounded in characters, no control characters (descriptions may
//! keep line breaks and tabs). Names shown as identities follow `oxcast_media::display_name`.

use crate::StoreError;

/// Trims `value` and checks it is at most `max` characters of one line.
pub(crate) fn one_line(value: &str, what: &str, max: usize) -> Result<String, StoreError> {
    checked(value, what, max, false)
}

/// Trims `value` and checks it is at most `max` characters; newlines and tabs are allowed.
pub(crate) fn multi_line(value: &str, what: &str, max: usize) -> Result<String, StoreError> {
    checked(value, what, max, true)
}

fn checked(value: &str, what: &str, max: usize, multiline: bool) -> Result<String, StoreError> {
    let value = value.trim();
    if value.chars().count() > max {
        return Err(StoreError::Invalid(format!("{what} must be at most {max} characters")));
    }
    if value.chars().any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t'))) {
        return Err(StoreError::Invalid(format!("{what} contains control characters")));
    }
    Ok(value.to_owned())
}
