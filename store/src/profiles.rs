//! Transcoding profile names as the store sees them: names the configuration defines.
//!
//! The ladders themselves belong to `transcode` and the configuration; the store only keeps a
//! stream's choice. So that a name is checked in one place (not once in the CLI and again in the
//! REST API), a [`ProfileName`] can only be made by [`KnownProfiles::check`], and the store's
//! functions take a `ProfileName`, never a bare string.

use std::sync::Arc;

use crate::{StoreError, validate_name};

/// A profile name the configuration knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileName(String);

impl ProfileName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The profile names of this server and the default one, from the configuration.
#[derive(Debug, Clone)]
pub struct KnownProfiles {
    names: Arc<[String]>,
    default: Arc<str>,
}

impl KnownProfiles {
    /// `default` must be one of `names`; every name must be a valid name.
    pub fn new(names: impl IntoIterator<Item = String>, default: &str) -> Result<Self, StoreError> {
        let names: Arc<[String]> = names.into_iter().collect();
        for name in names.iter() {
            validate_name(name)?;
        }
        let known = Self { names, default: default.into() };
        known.check(default)?;
        Ok(known)
    }

    /// The name as a [`ProfileName`], or an error that lists the known ones.
    pub fn check(&self, name: &str) -> Result<ProfileName, StoreError> {
        if self.names.iter().any(|known| known == name) {
            Ok(ProfileName(name.to_owned()))
        } else {
            Err(StoreError::UnknownProfile { name: name.to_owned(), known: self.names.join(", ") })
        }
    }

    /// Checks an optional name (`None`: the server default).
    pub fn check_optional(&self, name: Option<&str>) -> Result<Option<ProfileName>, StoreError> {
        name.map(|n| self.check(n)).transpose()
    }

    pub fn default_name(&self) -> &str {
        &self.default
    }

    /// The profile a stream uses: its own, or the default.
    pub fn effective<'a>(&'a self, stored: Option<&'a str>) -> &'a str {
        stored.unwrap_or(&self.default)
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_names_pass_and_the_default_must_be_one() {
        let known = KnownProfiles::new(["passthrough".to_owned(), "standard".to_owned()], "standard").unwrap();
        assert_eq!(known.check("passthrough").unwrap().as_str(), "passthrough");
        let err = known.check("mobile").unwrap_err().to_string();
        assert!(err.contains("\"mobile\"") && err.contains("passthrough, standard"), "{err}");
        assert_eq!(known.check_optional(None).unwrap(), None);
        assert_eq!(known.effective(None), "standard");
        assert_eq!(known.effective(Some("passthrough")), "passthrough");
        assert!(KnownProfiles::new(["a".to_owned()], "b").is_err());
        assert!(KnownProfiles::new(["a/b".to_owned()], "a/b").is_err());
    }
}
