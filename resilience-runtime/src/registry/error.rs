//! The registry's errors: a name that is not there (with the close matches), a setting that
//! does not exist or does not parse, a value a policy refuses, a configuration file's mistake
//! (with its file, line and column).

use std::fmt;

use resilience_syntax::suggest::edit_distance;

use crate::error::ConfigError;
use crate::event::PolicyKind;

/// What went wrong, for code that reacts to it; the [`Display`](fmt::Display) says it in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryErrorKind {
    /// No policy has that name.
    UnknownPolicy,
    /// `policy!` statics of different modules share that name: it names none of them.
    Ambiguous,
    /// The policy of that name is of another kind.
    WrongKind,
    /// The policy's kind has no setting of that name.
    UnknownSetting,
    /// The value does not parse, or the policy refuses it (a [`ConfigError`]).
    InvalidValue,
    /// A configuration file could not be read or is not valid TOML.
    File,
}

/// Where in a configuration file an error is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file, as given.
    pub file: String,
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// An error of the registry: looking a policy up, changing its settings, loading a
/// configuration file. Nothing was changed when one is returned.
///
/// ```
/// use resilience_runtime::registry::{self, RegistryErrorKind};
/// let e = registry::get("no-such-policy").unwrap_err();
/// assert_eq!(e.kind(), RegistryErrorKind::UnknownPolicy);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RegistryError(Box<Inner>);

/// Boxed: errors are rare, and a small `Result` keeps the happy path cheap.
#[derive(Clone, Debug, PartialEq)]
struct Inner {
    kind: RegistryErrorKind,
    policy: Option<String>,
    field: Option<String>,
    message: String,
    suggestions: Vec<String>,
    location: Option<Location>,
}

impl RegistryError {
    fn new(kind: RegistryErrorKind, message: String) -> Self {
        RegistryError(Box::new(Inner {
            kind,
            policy: None,
            field: None,
            message,
            suggestions: Vec::new(),
            location: None,
        }))
    }

    pub(crate) fn unknown_policy<'a>(
        name: &str,
        kind: Option<PolicyKind>,
        candidates: impl Iterator<Item = &'a str>,
    ) -> Self {
        let suggestions = close_matches(name, candidates);
        let what = match kind {
            Some(kind) => format!("no {kind} named `{name}` in the registry"),
            None => format!("no policy named `{name}` in the registry"),
        };
        let message = format!("{what}{}", did_you_mean(&suggestions));
        let mut e = RegistryError::new(RegistryErrorKind::UnknownPolicy, message);
        e.0.policy = Some(name.to_owned());
        e.0.suggestions = suggestions;
        e
    }

    pub(crate) fn ambiguous(name: &str, names: Vec<String>) -> Self {
        let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        let listed = match quoted.as_slice() {
            [init @ .., last] if !init.is_empty() => format!("{} and {last}", init.join(", ")),
            _ => quoted.join(", "),
        };
        let message = format!(
            "`{name}` is ambiguous: {} policies are named `{name}`, {listed}; write one of \
             those names, or give each its own `name = \"...\"` where it is declared",
            names.len()
        );
        let mut e = RegistryError::new(RegistryErrorKind::Ambiguous, message);
        e.0.policy = Some(name.to_owned());
        e.0.suggestions = names;
        e
    }

    pub(crate) fn wrong_kind(name: &str, expected: PolicyKind, found: PolicyKind) -> Self {
        let mut e = RegistryError::new(
            RegistryErrorKind::WrongKind,
            format!("`{name}` is a {found}, not a {expected}"),
        );
        e.0.policy = Some(name.to_owned());
        e
    }

    /// `name` is a keyed family (or is not) where the other was asked for.
    pub(crate) fn keyed_or_not(name: &str, kind: PolicyKind, keyed: bool) -> Self {
        let message = if keyed {
            format!(
                "`{name}` is a keyed family of {kind}s, one per key: reach it with \
                 registry::keyed_{kind}(\"{name}\"), and a child with .key(..)"
            )
        } else {
            format!(
                "`{name}` is a {kind} of its own, not a keyed family: registry::{kind}(\"{name}\")"
            )
        };
        let mut e = RegistryError::new(RegistryErrorKind::WrongKind, message);
        e.0.policy = Some(name.to_owned());
        e
    }

    pub(crate) fn unknown_setting(name: &str, kind: PolicyKind, key: &str, keys: &[&str]) -> Self {
        let suggestions = close_matches(key, keys.iter().copied());
        let foreign = resilience_syntax::foreign::lookup(kind.as_str(), key);
        let hint = if let Some(foreign) = foreign {
            format!("; {}", foreign.message())
        } else if suggestions.is_empty() {
            format!("; a {kind} has {}", keys.join(", "))
        } else {
            did_you_mean(&suggestions)
        };
        let mut e = RegistryError::new(
            RegistryErrorKind::UnknownSetting,
            format!("unknown setting `{key}` for {kind} `{name}`{hint}"),
        );
        e.0.policy = Some(name.to_owned());
        e.0.field = Some(key.to_owned());
        e.0.suggestions = suggestions;
        e
    }

    pub(crate) fn invalid_value(name: &str, key: &str, message: String) -> Self {
        let mut e = RegistryError::new(
            RegistryErrorKind::InvalidValue,
            format!("invalid `{key}` for policy `{name}`: {message}"),
        );
        e.0.policy = Some(name.to_owned());
        e.0.field = Some(key.to_owned());
        e
    }

    pub(crate) fn config(name: &str, e: ConfigError) -> Self {
        Self::invalid_value(name, e.field(), e.message().into_owned())
    }

    #[cfg_attr(not(feature = "config"), allow(dead_code))]
    pub(crate) fn file(message: String) -> Self {
        RegistryError::new(RegistryErrorKind::File, message)
    }

    /// The same error, found at `location` in a configuration file.
    #[cfg_attr(not(feature = "config"), allow(dead_code))]
    pub(crate) fn at(mut self, location: Location) -> Self {
        self.0.location = Some(location);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> RegistryErrorKind {
        self.0.kind
    }

    /// The policy name involved, as given.
    pub fn policy(&self) -> Option<&str> {
        self.0.policy.as_deref()
    }

    /// The setting involved (`threshold`, `max`, ...), named as in the attributes.
    pub fn field(&self) -> Option<&str> {
        self.0.field.as_deref()
    }

    /// The close matches of an unknown name or setting, best first; for an ambiguous name,
    /// the registry names of the policies it could mean.
    pub fn suggestions(&self) -> &[String] {
        &self.0.suggestions
    }

    /// Where in a configuration file, for errors found there.
    pub fn location(&self) -> Option<&Location> {
        self.0.location.as_ref()
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.0.location {
            write!(f, "{location}: ")?;
        }
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for RegistryError {}

fn did_you_mean(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!("; did you mean `{one}`?"),
        many => {
            let quoted: Vec<String> = many.iter().map(|s| format!("`{s}`")).collect();
            format!("; did you mean one of {}?", quoted.join(", "))
        }
    }
}

/// Up to 3 candidates close to `name`: within an edit distance of a third of its length (at
/// least 2), or ending with it (`fetch/retry` for `shop::fetch/retry`); best first.
pub(crate) fn close_matches<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let limit = (name.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = candidates
        .filter_map(|c| {
            let d = edit_distance(name, c);
            if d <= limit {
                Some((d, c))
            } else if !name.is_empty() && (c.ends_with(name) || c.contains(name)) {
                Some((limit + 1, c))
            } else {
                None
            }
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored
        .into_iter()
        .take(3)
        .map(|(_, c)| c.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_matches_find_typos_and_suffixes() {
        let names = ["shop::fetch/retry", "payments", "shop::stock/timeout"];
        assert_eq!(
            close_matches("paymnts", names.iter().copied()),
            ["payments"]
        );
        assert_eq!(
            close_matches("fetch/retry", names.iter().copied()),
            ["shop::fetch/retry"]
        );
        assert!(close_matches("zzz", names.iter().copied()).is_empty());
    }
}
