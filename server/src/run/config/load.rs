//! Reading the configuration: the file (if any), then the command-line overrides, then the
//! checks across keys; every failure is one [`ConfigError`] whose message names the file, the
//! line and column, and the key or value at fault.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{Config, Invalid, Overrides};

/// Why the configuration cannot be used. The binary prints it on one line and exits with
/// status 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {reason}", path = path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// The file is not valid TOML, has an unknown key, or holds a value that cannot be used.
    #[error("{origin}:{line}:{column}: {message}")]
    Syntax {
        /// Where the text came from.
        origin: Origin,
        /// 1-based line of the offending key or value (0 when the parser gave no position).
        line: usize,
        /// 1-based column (character, not byte).
        column: usize,
        /// What is wrong, as the TOML parser or the value check said it (it names the key
        /// for unknown and missing keys).
        message: String,
    },
    /// Keys that are each valid do not fit together.
    #[error("{origin}: {invalid}")]
    Invalid {
        /// Where the configuration came from.
        origin: Origin,
        /// What does not fit.
        invalid: Invalid,
    },
}

/// Where configuration text came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file.
    File(PathBuf),
    /// Text given directly (tests, embedded defaults).
    Text,
    /// No file: defaults and command-line overrides only.
    Defaults,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Text => f.write_str("<config>"),
            Origin::Defaults => f.write_str("configuration"),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    // Spans from the parser fall on character boundaries; step back defensively if not.
    let mut at = offset;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

impl Config {
    /// Parses configuration text (no overrides, relations checked).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Syntax`] or [`ConfigError::Invalid`].
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config = parse(text, &Origin::Text)?;
        config.validate().map_err(|invalid| ConfigError::Invalid {
            origin: Origin::Text,
            invalid,
        })?;
        Ok(config)
    }

    /// The configuration `tandem run` uses: `path` if given (else defaults), with `overrides`
    /// on top, then checked as a whole.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an unreadable file, bad TOML, an unknown key, a bad value, or keys
    /// (overrides included) that do not fit together.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let (mut config, origin) = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
                let origin = Origin::File(path.to_owned());
                (parse(&text, &origin)?, origin)
            }
            None => (Config::default(), Origin::Defaults),
        };
        overrides.apply(&mut config);
        config
            .validate()
            .map_err(|invalid| ConfigError::Invalid { origin, invalid })?;
        Ok(config)
    }
}

fn parse(text: &str, origin: &Origin) -> Result<Config, ConfigError> {
    toml::from_str(text).map_err(|e: toml::de::Error| {
        let (line, column) = e.span().map_or((0, 0), |s| line_column(text, s.start));
        ConfigError::Syntax {
            origin: origin.clone(),
            line,
            column,
            message: e.message().trim_end().to_owned(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters_from_one() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // 'é' is two bytes: the '=' after it is the fourth character of line 2.
        assert_eq!(line_column(text, 10), (2, 4));
        assert_eq!(line_column(text, 1000), (3, 1));
    }
}
