//! Where configuration values come from, and what is wrong with them.

use std::collections::BTreeMap;
use std::fmt;

use super::yaml::Position;

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The built-in default.
    Default,
    /// The configuration file, at this position.
    File {
        /// The file as the user named it.
        path: String,
        /// The value's position.
        at: Position,
    },
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => formatter.write_str("default"),
            Source::File { path, at } => write!(formatter, "{path}:{}:{}", at.line, at.column),
            Source::Env(name) => write!(formatter, "environment {name}"),
            Source::Flag(flag) => write!(formatter, "flag {flag}"),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub source: Source,
}

/// One problem with the configuration: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where the bad value is.
    pub source: Source,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Every problem found in the configuration, in the order of the file, then the environment,
/// then the command line. Its `Display` shows each with the line it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The problems.
    pub problems: Vec<Problem>,
    /// The text of each file named in a problem, to show the offending line.
    pub(crate) texts: BTreeMap<String, String>,
    /// Values never shown: external IDs, values of secret-looking keys (`FileConfig::secrets`).
    pub(crate) secrets: Vec<String>,
    /// Lines (of the file) quoted only with their value masked: an unknown key's.
    pub(crate) masked_lines: std::collections::BTreeSet<u64>,
}

impl ConfigError {
    /// An error made of these problems.
    pub fn new(problems: Vec<Problem>) -> ConfigError {
        ConfigError {
            problems,
            texts: BTreeMap::new(),
            secrets: Vec::new(),
            masked_lines: std::collections::BTreeSet::new(),
        }
    }

    /// `text` with every secret value replaced by `***`, the longest first.
    fn redact(&self, text: &str) -> String {
        let mut secrets: Vec<&String> = self.secrets.iter().filter(|s| !s.is_empty()).collect();
        secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        secrets.into_iter().fold(text.to_owned(), |text, secret| {
            text.replace(secret.as_str(), "***")
        })
    }
}

/// A quoted line with its value masked: `key: ***` (or `***` for a line without a key).
fn masked(line: &str) -> String {
    let colon = line
        .char_indices()
        .find(|(at, c)| {
            *c == ':'
                && line[at + 1..]
                    .chars()
                    .next()
                    .is_none_or(char::is_whitespace)
        })
        .map(|(at, _)| at);
    match colon {
        Some(at) if line[at + 1..].trim().is_empty() => line.to_owned(),
        Some(at) => format!("{}: ***", &line[..at]),
        None => {
            let indent = line.len() - line.trim_start().len();
            format!("{}***", &line[..indent])
        }
    }
}

impl std::error::Error for ConfigError {}

impl fmt::Display for ConfigError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        writeln!(
            formatter,
            "the configuration has {count} problem{}; nothing was scanned",
            if count == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            writeln!(
                formatter,
                "{}: {}",
                problem.source,
                self.redact(&problem.message)
            )?;
            if let Source::File { path, at } = &problem.source
                && let Some(line) = self
                    .texts
                    .get(path)
                    .and_then(|text| text.lines().nth((at.line as usize).saturating_sub(1)))
            {
                let number = at.line.to_string();
                let gutter = " ".repeat(number.len());
                let caret = " ".repeat((at.column as usize).saturating_sub(1));
                let line = if self.masked_lines.contains(&at.line) {
                    masked(line)
                } else {
                    self.redact(line)
                };
                writeln!(formatter, "  {number} | {line}")?;
                writeln!(formatter, "  {gutter} | {caret}^")?;
            }
        }
        Ok(())
    }
}
