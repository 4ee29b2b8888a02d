//! Values written as in the attributes (`30s`, `50%`, `100/s`, `exponential(5s, max = 5m)`):
//! parsed for the registry's settings by key and the configuration file, and printed for
//! snapshots, so what a snapshot shows can be pasted back.

use std::time::Duration;

use resilience_syntax::duration as units;
use resilience_syntax::percent;

use crate::{Backoff, Jitter};

/// A duration with its unit: `250ms`, `1.5s`, `2m`, `1h`; the units and their scaling are the
/// attributes' own (`resilience_syntax::duration`).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let unit = match unit.trim() {
        "" => return Err(format!("`{s}` needs a unit: write 30s, 500ms, 2m or 1h")),
        unit => units::unit_nanos(unit).ok_or_else(|| {
            format!("unknown unit `{unit}` in `{s}`: write ms, s, m or h (30s, 500ms, 2m)")
        })?,
    };
    units::scale(number, unit)
        .map(Duration::from_nanos)
        .ok_or_else(|| format!("`{s}` is not a duration: write 30s, 500ms, 2m or 1h"))
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

/// A rate: `100/s`, `6000/m`, `10/h`, `1/ms`: a count per unit, as the attribute takes it. A
/// period with digits (`5/10s`) is accepted too.
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

/// A call written `name(positional, key = value, ...)`.
type Call<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);

/// `name(positional, key = value, ...)`: the name, the positional argument, the named ones.
fn call(s: &str) -> Option<Call<'_>> {
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

/// `fixed(d)`, `linear(step, max = d)`, `exponential(initial, factor = f, max = d)`.
pub(crate) fn parse_backoff(s: &str) -> Result<Backoff, String> {
    let t = s.trim();
    let wrong = || {
        format!(
            "`{t}` is not a backoff: write fixed(500ms), linear(100ms, max = 2s) or exponential(100ms, factor = 2, max = 10s)"
        )
    };
    let (name, first, named) = call(t).ok_or_else(wrong)?;
    let first = parse_duration(first)?;
    let mut max = None;
    let mut factor = None;
    for (k, v) in named {
        match k {
            "max" => max = Some(parse_duration(v)?),
            "factor" if name == "exponential" => {
                factor = Some(v.parse::<f64>().map_err(|_| wrong())?);
            }
            _ => return Err(wrong()),
        }
    }
    match (name, max) {
        ("fixed", None) => Ok(Backoff::fixed(first)),
        ("linear", Some(max)) => Ok(Backoff::linear(first, max)),
        ("exponential", Some(max)) => {
            Ok(Backoff::exponential(first, max).factor(factor.unwrap_or(2.0)))
        }
        _ => Err(wrong()),
    }
}

pub(crate) fn fmt_backoff(b: Backoff) -> String {
    match b {
        Backoff::Fixed { delay } => format!("fixed({})", fmt_duration(delay)),
        Backoff::Linear { step, max } => {
            format!(
                "linear({}, max = {})",
                fmt_duration(step),
                fmt_duration(max)
            )
        }
        Backoff::Exponential {
            initial,
            factor,
            max,
        } => {
            let factor = if factor == 2.0 {
                String::new()
            } else {
                format!(", factor = {factor}")
            };
            format!(
                "exponential({}{factor}, max = {})",
                fmt_duration(initial),
                fmt_duration(max)
            )
        }
    }
}

/// An open wait: `30s`, or `exponential(5s, max = 5m)`; returns (initial, max).
pub(crate) fn parse_open(s: &str) -> Result<(Duration, Duration), String> {
    let t = s.trim();
    if !t.contains('(') {
        let d = parse_duration(t)?;
        return Ok((d, d));
    }
    match call(t) {
        Some(("exponential", initial, named)) if named.len() == 1 && named[0].0 == "max" => {
            Ok((parse_duration(initial)?, parse_duration(named[0].1)?))
        }
        _ => Err(format!(
            "`{t}` is not an open wait: write 30s, or exponential(5s, max = 5m)"
        )),
    }
}

pub(crate) fn fmt_open(initial: Duration, max: Duration) -> String {
    if initial == max {
        fmt_duration(initial)
    } else {
        format!(
            "exponential({}, max = {})",
            fmt_duration(initial),
            fmt_duration(max)
        )
    }
}

pub(crate) fn parse_jitter(s: &str) -> Result<Jitter, String> {
    match s.trim() {
        "none" => Ok(Jitter::None),
        "full" => Ok(Jitter::Full),
        "equal" => Ok(Jitter::Equal),
        "decorrelated" => Ok(Jitter::Decorrelated),
        t => Err(format!(
            "`{t}` is not a jitter: write none, full, equal or decorrelated"
        )),
    }
}

pub(crate) fn fmt_jitter(j: Jitter) -> &'static str {
    match j {
        Jitter::None => "none",
        Jitter::Full => "full",
        Jitter::Equal => "equal",
        Jitter::Decorrelated => "decorrelated",
    }
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
    fn backoffs_and_open_waits_round_trip() {
        for s in [
            "fixed(500ms)",
            "linear(100ms, max = 2s)",
            "exponential(100ms, max = 10s)",
            "exponential(50ms, factor = 3, max = 1m)",
        ] {
            assert_eq!(fmt_backoff(parse_backoff(s).unwrap()), s);
        }
        let (i, m) = parse_open("exponential(5s, max = 5m)").unwrap();
        assert_eq!(fmt_open(i, m), "exponential(5s, max = 5m)");
        assert_eq!(parse_open("30s").unwrap().0, Duration::from_secs(30));
    }

    #[test]
    fn rates_and_percentages() {
        assert_eq!(
            parse_rate("6000/m").unwrap(),
            (6000, Duration::from_secs(60))
        );
        assert_eq!(fmt_rate(100, Duration::from_secs(1)), "100/s");
        assert_eq!(parse_percent("threshold", "12.5%").unwrap(), 12.5);
        assert!(parse_rate("100").is_err());
        // Every period the attribute takes, and back.
        for (rate, per) in [
            ("5/ms", Duration::from_millis(1)),
            ("100/s", Duration::from_secs(1)),
            ("10/h", Duration::from_secs(3600)),
            ("3/10s", Duration::from_secs(10)),
        ] {
            let parsed = parse_rate(rate).unwrap();
            assert_eq!(parsed, (parsed.0, per), "{rate}");
            assert_eq!(fmt_rate(parsed.0, parsed.1), rate);
        }
    }
}
