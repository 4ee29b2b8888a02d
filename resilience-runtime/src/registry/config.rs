//! Settings of named policies from a TOML file and the environment (cargo feature `config`).
//!
//! Each table is a policy's registry name; its keys are the settings of
//! [`ChangeSet`], with the attributes' units:
//!
//! ```toml
//! [PAYMENTS]                          # a policy! static
//! threshold = "25%"
//! open = "exponential(5s, max = 5m)"
//!
//! ["shop::stock::fetch/retry"]        # an inline policy: quote the name
//! attempts = 5
//! backoff = "exponential(50ms, max = 2s)"
//!
//! ["shop::billing::DB"]               # a policy! static whose name another one shares
//! max = 8
//! ```
//!
//! The table `[fleet]` is not a policy's: it holds the fleet backend's deployment settings
//! (see `resilience::redis`), and this loader leaves it alone.
//!
//! A table named after a name two `policy!` statics share (`[DB]`) is an error naming their
//! paths, as is its environment variable: write the path of the one you mean (see the
//! [registry's names](super#names)).
//!
//! Environment variables override the file: `RESILIENCE_<NAME>__<KEY>`, the name upper-cased
//! with every character other than a letter or digit written `_` (`RESILIENCE_PAYMENTS__OPEN=10s`,
//! `RESILIENCE_SHOP__STOCK__FETCH_RETRY__ATTEMPTS=5`). A variable starting with `RESILIENCE_`
//! that names no policy and key is an error, as is one whose name or value is not UTF-8; other
//! variables are not read.
//!
//! # Loading and reloading
//!
//! [`load`] checks everything first: unknown names and keys (with "did you mean"), values that
//! do not parse, and values the policies' builders refuse are errors naming the file, line and
//! key, and then nothing changes. Otherwise every change is applied.
//!
//! A load applies exactly what the file and the environment name, on top of each policy's
//! current settings: a setting they do not name stays as it is, whether it was declared, set
//! at run time ([`registry::set`](super::set), `set_open`, ...) or set by a former load. So a
//! reload never undoes an operator's change it does not mention, and a setting removed from the
//! file keeps the value the file last gave it. A reset ([`registry::reset`](super::reset),
//! [`registry::reset_all`](super::reset_all)) returns a policy to its declared values; load
//! again after it to apply the file on top of them. Each policy takes its new settings from its
//! next call, keeping its state and counters.
//!
//! ```
//! # use resilience_runtime::{registry, CircuitBreaker};
//! # static PAYMENTS: CircuitBreaker = match CircuitBreaker::builder("docs-payments").build() { Ok(b) => b, Err(_) => panic!() };
//! # registry::register(&PAYMENTS);
//! let toml = "[docs-payments]\ntreshold = \"25%\"\n";
//! let e = registry::config::load_str("resilience.toml", toml, []).unwrap_err();
//! assert_eq!(
//!     e.to_string(),
//!     "resilience.toml:2:1: unknown setting `treshold` for circuit_breaker `docs-payments`; did you mean `threshold`?"
//! );
//! registry::config::load_str("resilience.toml", "[docs-payments]\nthreshold = \"25%\"\n", []).unwrap();
//! assert_eq!(registry::snapshot().get("docs-payments").unwrap().setting("threshold"), Some("25%"));
//! ```

use std::collections::HashMap;
use std::path::Path;

use toml::de::{DeTable, DeValue};

use super::settings::{ChangeSet, keys};
use super::{Location, RegistryError};

/// A setting given by the file or the environment: policy, key, value, and where in the file.
type Given = (String, String, String, Option<Location>);

/// Loads `path` and the environment's `RESILIENCE_*` variables, and applies them: see the
/// [module docs](self). Call it again to reload.
///
/// # Errors
///
/// The file cannot be read or is not TOML; or an unknown policy or key, a value that does not
/// parse or that the policy refuses, with the file, line and key. Nothing changes on error.
pub fn load(path: impl AsRef<Path>) -> Result<(), RegistryError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .map_err(|e| RegistryError::file(format!("cannot read {}: {e}", path.display())))?;
    load_str(&path.display().to_string(), &text, process_env()?)
}

/// The process's `RESILIENCE_*` variables. Others are skipped unread, whatever their encoding
/// (`std::env::vars` would panic on one that is not UTF-8); a `RESILIENCE_*` one that is not
/// UTF-8 is an error.
fn process_env() -> Result<Vec<(String, String)>, RegistryError> {
    let not_utf8 = |var: &std::ffi::OsStr| {
        RegistryError::file(format!(
            "environment variable `{}` is not valid UTF-8: write its name and value in UTF-8",
            var.to_string_lossy()
        ))
    };
    let mut out = Vec::new();
    for (var, value) in std::env::vars_os() {
        if !var.as_encoded_bytes().starts_with(b"RESILIENCE_") {
            continue;
        }
        let name = var.to_str().ok_or_else(|| not_utf8(&var))?.to_owned();
        let value = value.into_string().map_err(|_| not_utf8(&var))?;
        out.push((name, value));
    }
    Ok(out)
}

/// The table of the fleet backend's deployment settings (`[fleet]`: `url`, `prefix`,
/// `deadline`, ...), which the backend reads (`RedisStore::connect_configured` of
/// `resilience::redis`); not a policy. A policy named `fleet` is configured in code.
pub const FLEET_TABLE: &str = "fleet";

/// Like [`load`], with the file's `text` (named `file` in errors) and the environment given.
///
/// # Errors
///
/// As [`load`].
pub fn load_str(
    file: &str,
    text: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), RegistryError> {
    let lines = Lines::of(text);
    let at = |offset: usize| lines.at(file, offset);
    let root = DeTable::parse(text).map_err(|e| {
        let location = at(e.span().map_or(0, |s| s.start));
        RegistryError::file(format!("not valid TOML: {}", e.message().trim())).at(location)
    })?;

    // (policy, key) -> (value, where), in file order, then the environment's.
    let mut given: Vec<Given> = Vec::new();
    for (name, value) in root.get_ref() {
        // The fleet backend's deployment settings, read by the backend (`resilience::redis`).
        if name.get_ref() == FLEET_TABLE {
            continue;
        }
        let name_at = at(name.span().start);
        let Some(table) = value.get_ref().as_table() else {
            return Err(RegistryError::file(format!(
                "`{}` must be a table of a policy's settings: write [{}] and its settings below it",
                name.get_ref(),
                name.get_ref()
            ))
            .at(name_at));
        };
        // The policy must exist, even with no settings.
        super::get(name.get_ref()).map_err(|e| e.at(name_at.clone()))?;
        for (key, value) in table {
            let key_at = at(key.span().start);
            let value = scalar(value.get_ref()).map_err(|message| {
                RegistryError::invalid_value(name.get_ref(), key.get_ref(), message)
                    .at(key_at.clone())
            })?;
            given.push((
                name.get_ref().to_string(),
                key.get_ref().to_string(),
                value,
                Some(key_at),
            ));
        }
    }
    given.extend(from_env(env)?);

    let mut changes = ChangeSet::new();
    for (name, key, value, location) in &given {
        changes.set(name, key, value).map_err(|e| match location {
            Some(l) => e.at(l.clone()),
            None => e,
        })?;
    }
    changes.check().map_err(|e| {
        // Point at the key the policy refused, or at its table.
        let found = given
            .iter()
            .find(|(n, k, ..)| Some(n.as_str()) == e.policy() && Some(k.as_str()) == e.field());
        let found = found.or_else(|| given.iter().find(|(n, ..)| Some(n.as_str()) == e.policy()));
        match found.and_then(|g| g.3.clone()) {
            Some(l) => e.at(l),
            None => e,
        }
    })?;
    changes.apply()
}

/// Where each line of a file starts, found once, so locating a key is a binary search rather
/// than a count of the lines before it (which made a load quadratic in the number of keys).
struct Lines {
    /// The byte offset of each line's first byte, in order; the first is 0.
    starts: Vec<usize>,
}

impl Lines {
    fn of(text: &str) -> Self {
        let breaks = text.match_indices('\n').map(|(i, _)| i + 1);
        Lines {
            starts: std::iter::once(0).chain(breaks).collect(),
        }
    }

    /// The line and column (from 1, the column in bytes) of byte `offset` of `file`.
    fn at(&self, file: &str, offset: usize) -> Location {
        // The lines starting at or before `offset`: at least the first.
        let line = self.starts.partition_point(|&start| start <= offset).max(1);
        Location {
            file: file.to_owned(),
            line,
            column: offset - self.starts[line - 1] + 1,
        }
    }
}

/// A TOML value as the text the registry's settings take. An integer is the value TOML gives
/// it, written in decimal: `0x10`, `0o20` and `0b1_0000` are all 16.
fn scalar(value: &DeValue<'_>) -> Result<String, String> {
    match value {
        DeValue::String(s) => Ok(s.to_string()),
        // `as_str` is the digits without their prefix, in `radix`.
        DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix())
            .map(|n| n.to_string())
            .map_err(|_| format!("`{}` is not an integer TOML can hold", i.as_str())),
        DeValue::Float(f) => Ok(f.as_str().to_owned()),
        DeValue::Boolean(b) => Ok(b.to_string()),
        other => Err(format!(
            "expected a string such as \"30s\", a number or a boolean, found {}",
            other.type_str()
        )),
    }
}

/// `RESILIENCE_PAYMENTS__OPEN` for `PAYMENTS` and `open`.
pub fn env_var(name: &str, key: &str) -> String {
    let upper = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!("RESILIENCE_{}__{}", upper(name), upper(key))
}

/// The overrides among `env`: every `RESILIENCE_*` variable must name a policy and key.
fn from_env(env: impl IntoIterator<Item = (String, String)>) -> Result<Vec<Given>, RegistryError> {
    let mut known = HashMap::new();
    // The variables an ambiguous name would have: refused as the name is, naming the paths.
    let mut ambiguous = HashMap::new();
    for (name, policy) in super::policies() {
        let built = policy.built_name();
        for key in keys(policy) {
            known.insert(env_var(&name, key), (name.clone(), key.to_owned()));
            if super::is_ambiguous(built) {
                ambiguous.insert(env_var(built, key), built);
            }
        }
    }
    let mut out = Vec::new();
    for (var, value) in env {
        if !var.starts_with("RESILIENCE_") {
            continue;
        }
        match known.get(&var) {
            Some((name, key)) => out.push((name.clone(), key.clone(), value, None)),
            None => {
                if let Some(e) = ambiguous
                    .get(&var)
                    .and_then(|name| super::ambiguity_of(name))
                {
                    return Err(e);
                }
                let suggestions =
                    super::error::close_matches(&var, known.keys().map(String::as_str));
                let hint = match suggestions.first() {
                    Some(s) => format!("; did you mean `{s}`?"),
                    None => {
                        "; write RESILIENCE_<POLICY>__<SETTING>, e.g. RESILIENCE_PAYMENTS__OPEN=10s"
                            .to_owned()
                    }
                };
                return Err(RegistryError::file(format!(
                    "environment variable `{var}` names no policy setting{hint}"
                )));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_start_search_locates_every_offset_as_counting_lines_does() {
        let text = "[a]\nkey = 1\n\n  other = \"x\"\nlast";
        let lines = Lines::of(text);
        for offset in 0..=text.len() + 2 {
            let before = &text[..offset.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = offset - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            let at = lines.at("f", offset);
            assert_eq!((at.line, at.column), (line, column), "offset {offset}");
        }
    }
}
