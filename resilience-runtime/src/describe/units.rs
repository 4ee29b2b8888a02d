//! Values written as in the attributes (`30s`, `50%`, `10`, `true`, `name(first, key = value)`),
//! shared by every kind's settings by key: parsed for `registry::set` and the configuration
//! file, and printed for snapshots, so what a snapshot shows can be pasted back. A value of one
//! kind alone (a backoff, an open wait, a rate) is parsed in that kind's `registered.rs`, with
//! these.

use std::time::Duration;

use resilience_syntax::duration as units;
use resilience_syntax::percent;

/// A duration with its unit: `250ms`, `1.5s`, `2m`, `1h`; the units and their scaling are the
/// attributes' own (`resilience_syntax::duration::parse`).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    units::parse(s)
}

/// A duration as the attributes write it: in the largest unit that writes it exactly (`30s`,
/// `1500ms`, `5m`), or in seconds with decimals.
pub(crate) fn fmt_duration(d: Duration) -> String {
    // Policies hold durations as u64 nanoseconds (584 years): none is longer.
    units::format(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A percentage of setting `key`: `50%`, `12.5%`, with its `%` and in `(0, 100]`, as the
/// attribute takes it and with the attribute's words (`resilience_syntax::percent`).
pub(crate) fn parse_percent(key: &str, s: &str) -> Result<f64, String> {
    percent::parse(s).map_err(|refused| {
        let example = match key {
            "slow_threshold" => "slow_threshold = 80%".to_owned(),
            _ => format!("{key} = 50%"),
        };
        refused.message(key, &example)
    })
}

pub(crate) fn fmt_percent(p: f64) -> String {
    format!("{p}%")
}

/// A count: a plain non-negative integer.
pub(crate) fn parse_count(s: &str) -> Result<u32, String> {
    let t = s.trim();
    t.replace('_', "")
        .parse()
        .map_err(|_| format!("`{t}` is not a count: write a whole number such as 10"))
}

pub(crate) fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        t => Err(format!("`{t}` is not a boolean: write true or false")),
    }
}

/// A rate: `100/s`, `6000/m`, `10/h`, `1/ms`: a count per unit, as the attributes take it
/// (a rate limiter's rate, a retry budget's floor). A period with digits (`5/10s`) is accepted
/// too.
pub(crate) fn parse_rate(s: &str) -> Result<(u32, Duration), String> {
    let t = s.trim();
    let wrong = || format!("`{t}` is not a rate: write 100/s, 6000/m or 10/h");
    let (count, per) = t.split_once('/').ok_or_else(wrong)?;
    let count = parse_count(count).map_err(|_| wrong())?;
    let per = match per.trim() {
        "ms" => Duration::from_millis(1),
        "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        other => parse_duration(other).map_err(|_| wrong())?,
    };
    Ok((count, per))
}

/// A rate as the attributes write it: `100/s`, `6000/m`, `5/10s`.
pub(crate) fn fmt_rate(count: u32, per: Duration) -> String {
    if per == Duration::from_millis(1) {
        return format!("{count}/ms");
    }
    match per.as_secs() {
        1 if per.subsec_nanos() == 0 => format!("{count}/s"),
        60 if per.subsec_nanos() == 0 => format!("{count}/m"),
        3600 if per.subsec_nanos() == 0 => format!("{count}/h"),
        _ => format!("{count}/{}", fmt_duration(per)),
    }
}

/// An optional setting: `off` (the word the option table gives it) turns it off, anything
/// else is read by `parse`.
pub(crate) fn parse_or_off<T>(
    s: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, String> {
    match s.trim() {
        "off" => Ok(None),
        v => parse(v).map(Some),
    }
}

/// An optional setting as [`parse_or_off`] reads it back: `off`, or the value.
pub(crate) fn fmt_or_off<T>(value: Option<T>, fmt: impl FnOnce(T) -> String) -> String {
    value.map_or_else(|| "off".to_owned(), fmt)
}

/// A call written `name(positional, key = value, ...)`.
pub(crate) type Call<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);

/// `name(positional, key = value, ...)`: the name, the positional argument, the named ones.
pub(crate) fn call(s: &str) -> Option<Call<'_>> {
    let s = s.trim();
    let open = s.find('(')?;
    let inner = s.strip_suffix(')')?.get(open + 1..)?;
    let name = s[..open].trim();
    let mut parts = inner.split(',').map(str::trim);
    let positional = parts.next()?;
    let mut named = Vec::new();
    for part in parts {
        let (k, v) = part.split_once('=')?;
        named.push((k.trim(), v.trim()));
    }
    Some((name, positional, named))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests may unwrap")]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_print_in_attribute_units() {
        for s in ["250ms", "1500ms", "30s", "2m", "1h"] {
            assert_eq!(fmt_duration(parse_duration(s).unwrap()), s);
        }
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("30").unwrap_err().contains("needs a unit"));
        assert!(parse_duration("30d").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn percentages_keep_their_decimals() {
        assert_eq!(parse_percent("threshold", "12.5%").unwrap(), 12.5);
        assert_eq!(fmt_percent(12.5), "12.5%");
    }
}
