//! The deployment's settings from the configuration file: the `[fleet]` table of the file the
//! registry reads (`registry::config`, which leaves that table to the backend).
//!
//! ```toml
//! [fleet]
//! url = "redis://10.0.0.5:6379"   # required
//! prefix = "shop"                 # "resilience"
//! deadline = "20ms"
//! mode = "leasing"                # or "exact"
//! fallback = "share"              # or "own_rate", "allow", "deny"
//! resync = "1s"
//! probe_lease = "5s"
//! ```
//!
//! Durations are written as in the attributes. An unknown key (with the close match), a value
//! of the wrong type or that does not parse is an error naming the key, and nothing connects.

use std::fmt;
use std::time::Duration;

use resilience_syntax::duration;
use resilience_syntax::suggest::edit_distance;

use crate::{Fallback, Mode, StoreOptions};

const KEYS: [&str; 7] = [
    "url",
    "prefix",
    "deadline",
    "mode",
    "fallback",
    "resync",
    "probe_lease",
];

/// A `[fleet]` table that cannot be used: what is wrong, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetConfigError {
    /// The key at fault, if one is.
    pub key: Option<String>,
    /// What is wrong and what to write.
    pub message: String,
}

impl fmt::Display for FleetConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "[fleet] {key}: {}", self.message),
            None => write!(f, "[fleet]: {}", self.message),
        }
    }
}

impl std::error::Error for FleetConfigError {}

fn error(key: Option<&str>, message: impl Into<String>) -> FleetConfigError {
    FleetConfigError {
        key: key.map(str::to_owned),
        message: message.into(),
    }
}

/// The Redis URL and the store's options from the `[fleet]` table of a configuration file's
/// `text`.
///
/// # Errors
///
/// Not TOML, no `[fleet]` table or no `url`, an unknown key, a value that does not parse.
pub fn from_toml(text: &str) -> Result<(String, StoreOptions), FleetConfigError> {
    let root: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| error(None, format!("not valid TOML: {}", e.message())))?;
    let Some(fleet) = root.get("fleet").and_then(toml::Value::as_table) else {
        return Err(error(
            None,
            "no [fleet] table: write [fleet] and url = \"redis://host:6379\" below it",
        ));
    };
    let mut options = StoreOptions::default();
    let mut url = None;
    for (key, value) in fleet {
        let text = |value: &toml::Value| {
            value
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| error(Some(key), format!("takes a string: {key} = \"...\"")))
        };
        let parse_duration =
            |value: &toml::Value| duration::parse(&text(value)?).map_err(|m| error(Some(key), m));
        match key.as_str() {
            "url" => url = Some(text(value)?),
            "prefix" => options.prefix = text(value)?,
            "deadline" => options.deadline = positive(key, parse_duration(value)?)?,
            "resync" => options.resync = positive(key, parse_duration(value)?)?,
            "probe_lease" => options.probe_lease = positive(key, parse_duration(value)?)?,
            "mode" => {
                options.mode = match text(value)?.as_str() {
                    "leasing" => Mode::Leasing,
                    "exact" => Mode::Exact,
                    other => {
                        return Err(error(
                            Some(key),
                            format!("`{other}` is not a mode: write \"leasing\" or \"exact\""),
                        ));
                    }
                }
            }
            "fallback" => {
                options.fallback = match text(value)?.as_str() {
                    "share" => Fallback::Share,
                    "own_rate" => Fallback::OwnRate,
                    "allow" => Fallback::Allow,
                    "deny" => Fallback::Deny,
                    other => {
                        return Err(error(
                            Some(key),
                            format!(
                                "`{other}` is not a fallback: write \"share\", \"own_rate\", \"allow\" or \"deny\""
                            ),
                        ));
                    }
                }
            }
            unknown => {
                let close = KEYS
                    .iter()
                    .filter(|k| edit_distance(unknown, k) <= 2)
                    .min_by_key(|k| edit_distance(unknown, k));
                let hint = match close {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => format!("the keys are {}", KEYS.join(", ")),
                };
                return Err(error(Some(unknown), format!("unknown key; {hint}")));
            }
        }
    }
    let url = url.ok_or_else(|| error(Some("url"), "is required: url = \"redis://host:6379\""))?;
    Ok((url, options))
}

fn positive(key: &str, d: Duration) -> Result<Duration, FleetConfigError> {
    if d.is_zero() {
        Err(error(Some(key), "must be more than 0: 20ms"))
    } else {
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fleet_table_gives_the_url_and_the_options() {
        let (url, options) = from_toml(
            "[PAYMENTS]\nopen = \"10s\"\n\n[fleet]\nurl = \"redis://10.0.0.5:6379\"\nprefix = \"shop\"\ndeadline = \"15ms\"\nmode = \"exact\"\nfallback = \"deny\"\nresync = \"2s\"\nprobe_lease = \"3s\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(url, "redis://10.0.0.5:6379");
        assert_eq!(options.prefix, "shop");
        assert_eq!(options.deadline, Duration::from_millis(15));
        assert_eq!(options.mode, Mode::Exact);
        assert_eq!(options.fallback, Fallback::Deny);
        assert_eq!(options.resync, Duration::from_secs(2));
        assert_eq!(options.probe_lease, Duration::from_secs(3));
    }

    #[test]
    fn bad_input_names_the_key_and_what_to_write() {
        let e = |text: &str| {
            from_toml(text)
                .map(|_| ())
                .expect_err("the table is refused")
                .to_string()
        };
        assert_eq!(
            e("[fleet]\nurl = \"redis://x\"\ndeadlne = \"5ms\"\n"),
            "[fleet] deadlne: unknown key; did you mean `deadline`?"
        );
        assert_eq!(
            e("[fleet]\nurl = \"redis://x\"\ndeadline = \"5\"\n"),
            "[fleet] deadline: `5` needs a unit: write 30s, 500ms, 2m or 1h"
        );
        assert_eq!(
            e("[fleet]\nurl = \"redis://x\"\ndeadline = \"0ms\"\n"),
            "[fleet] deadline: must be more than 0: 20ms"
        );
        assert_eq!(
            e("[fleet]\nurl = \"redis://x\"\nmode = \"lazy\"\n"),
            "[fleet] mode: `lazy` is not a mode: write \"leasing\" or \"exact\""
        );
        assert_eq!(
            e("[fleet]\nprefix = \"shop\"\n"),
            "[fleet] url: is required: url = \"redis://host:6379\""
        );
        assert_eq!(
            e("[PAYMENTS]\nopen = \"10s\"\n"),
            "[fleet]: no [fleet] table: write [fleet] and url = \"redis://host:6379\" below it"
        );
        assert_eq!(
            e("[fleet]\nurl = 6379\n"),
            "[fleet] url: takes a string: url = \"...\""
        );
    }
}
