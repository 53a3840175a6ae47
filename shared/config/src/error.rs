use std::fmt;
use std::path::PathBuf;

/// One thing wrong with a configuration, tied to the dotted key it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Problem {
    /// Dotted path of the offending key, e.g. `risk.max_positions`.
    pub key: String,
    /// What is wrong, lowercase and without a trailing period.
    pub message: String,
}

impl Problem {
    /// Creates a problem for `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read config file {}", path.display())]
    Io {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The configuration file is not valid YAML or not a mapping.
    #[error("cannot parse config file {}: {message}", path.display())]
    Yaml {
        /// The file that could not be parsed.
        path: PathBuf,
        /// The parser's message, with line and column when known.
        message: String,
    },
    /// The configuration has one or more problems: unknown keys, values of the wrong type,
    /// or values that fail validation. All of them are listed.
    #[error("{}", ProblemList(.0))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    /// The problems carried by [`ConfigError::Invalid`]; empty for the other variants.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Invalid(problems) => problems,
            Self::Io { .. } | Self::Yaml { .. } => &[],
        }
    }
}

struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid configuration:")?;
        for problem in self.0 {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

/// A name (service, launch profile) that is not one of the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`, expected one of: {}", expected.join(", "))]
pub struct ParseNameError {
    /// What kind of name was parsed, e.g. `service`.
    pub kind: &'static str,
    /// The rejected input.
    pub value: String,
    /// The accepted names.
    pub expected: Vec<&'static str>,
}
