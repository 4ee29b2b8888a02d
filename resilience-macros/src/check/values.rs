//! Parsing one option's value: strings, booleans, paths, functions, durations, counts,
//! percentages, rates, windows and jitters, each refused with a message saying what to
//! write instead.

use syn::{LitStr, Path};

use resilience_syntax::duration::{self as units, unit_nanos};
use resilience_syntax::names::JITTERS;
use resilience_syntax::options::MAX_WINDOW_CALLS;
use resilience_syntax::percent::{self, Refused};

use super::Ctxt;
use super::bounds::{at_least, positive};
use super::options::{did_you_mean, example};
use crate::attr::Value;
use crate::model::{Algorithm, Callable, Delay, Jitter, Nanos, Rate, Spanned as S, Window};

pub(crate) fn string(value: &Value, key: &str, cx: &mut Ctxt) -> Option<LitStr> {
    match value {
        Value::Str(s) if !s.value().is_empty() => Some(s.clone()),
        Value::Str(s) => {
            cx.error(
                s.span(),
                format!("'{key}' cannot be empty: {}", example(key)),
            );
            None
        }
        other => {
            cx.error(
                other.span(),
                format!("'{key}' takes a string: {}", example(key)),
            );
            None
        }
    }
}

pub(crate) fn boolean(value: &Value, key: &str, cx: &mut Ctxt) -> Option<S<bool>> {
    match value {
        Value::Bool(b) => Some(S {
            value: b.value,
            span: b.span,
        }),
        other => {
            cx.error(
                other.span(),
                format!("'{key}' takes true or false: {}", example(key)),
            );
            None
        }
    }
}

/// `crate = path`: the path the generated code reaches the framework by.
pub(crate) fn crate_path(value: &Value, cx: &mut Ctxt) -> Option<Path> {
    path(value, "a path", example("crate"), "crate", cx)
}

/// An option whose value is a path: `what` it takes, shown with `example` when it is not one.
pub(crate) fn path(
    value: &Value,
    what: &str,
    example: &str,
    key: &str,
    cx: &mut Ctxt,
) -> Option<Path> {
    match value {
        Value::Path(p) => Some(p.clone()),
        other => {
            cx.error(
                other.span(),
                format!(
                    "'{key}' takes {what}, found {}: {example}",
                    other.describe()
                ),
            );
            None
        }
    }
}

pub(crate) fn callable(value: &Value, key: &str, cx: &mut Ctxt) -> Option<Callable> {
    match value {
        Value::Path(p) => Some(Callable::Path(p.clone())),
        Value::Closure(c) => Some(Callable::Closure(c.clone())),
        Value::Call(call) => {
            let func = &call.func;
            cx.error(
                func.span(),
                format!("'{key}' takes the function itself, not a call of it: {key} = {func}, or a closure: {key} = |e| ..."),
            );
            None
        }
        other => {
            let what = if key == "crate" {
                "a path"
            } else {
                "the path of a function"
            };
            cx.error(
                other.span(),
                format!(
                    "'{key}' takes {what}, found {}: {}",
                    other.describe(),
                    example(key)
                ),
            );
            None
        }
    }
}

pub(crate) fn duration(value: &Value, key: &str, cx: &mut Ctxt) -> Option<S<Nanos>> {
    let n = match value {
        Value::Number(n) if !n.percent && n.per.is_none() => n,
        other => {
            cx.error(
                other.span(),
                format!(
                    "'{key}' takes a duration, found {}: {}",
                    other.describe(),
                    duration_example(key)
                ),
            );
            return None;
        }
    };
    if n.suffix.is_empty() {
        let d = &n.digits;
        cx.error(
            n.span,
            format!("a duration needs a unit: write {d}ms, {d}s, {d}m or {d}h"),
        );
        return None;
    }
    let Some(unit) = unit_nanos(&n.suffix) else {
        cx.error(
            n.span,
            format!(
                "unknown unit '{}'; a duration is written with ms, s, m or h: 500ms, 30s, 2m, 1h",
                n.suffix
            ),
        );
        return None;
    };
    if n.negative {
        cx.error(n.span, "a duration cannot be negative");
        return None;
    }
    match units::scale(&n.digits, unit) {
        Some(v) => Some(S {
            value: v,
            span: n.span,
        }),
        None => {
            cx.error(
                n.span,
                "this duration is too long; write at most a few centuries, e.g. 24h",
            );
            None
        }
    }
}

fn duration_example(key: &str) -> &'static str {
    match key {
        "timeout" => "#[timeout(2s)]",
        "open" => "open = 30s",
        "slow" => "slow = 2s",
        "wait" => "wait = 500ms",
        "window" => "window = 60s",
        _ => "30s, 500ms, 2m",
    }
}

pub(crate) fn count(value: &Value, key: &str, cx: &mut Ctxt) -> Option<S<u32>> {
    let n = match value {
        Value::Number(n) => n,
        other => {
            cx.error(
                other.span(),
                format!(
                    "'{key}' takes a number, found {}: {}",
                    other.describe(),
                    example(key)
                ),
            );
            return None;
        }
    };
    if n.percent || n.per.is_some() || !n.suffix.is_empty() {
        cx.error(
            n.span,
            format!("'{key}' is a plain count, without a unit: {}", example(key)),
        );
        return None;
    }
    if !n.is_int {
        cx.error(
            n.span,
            format!("'{key}' takes a whole number: {}", example(key)),
        );
        return None;
    }
    if n.negative {
        cx.error(
            n.span,
            format!("'{key}' cannot be negative: {}", example(key)),
        );
        return None;
    }
    match n.digits.parse::<u32>() {
        Ok(v) => Some(S {
            value: v,
            span: n.span,
        }),
        Err(_) => {
            cx.error(
                n.span,
                format!("'{key}' is too large; it must fit in a u32"),
            );
            None
        }
    }
}

pub(crate) fn percent(value: &Value, key: &str, cx: &mut Ctxt) -> Option<S<f64>> {
    let n = match value {
        Value::Number(n) if n.percent => n,
        Value::Number(n) if n.suffix.is_empty() && n.per.is_none() => {
            cx.error(n.span, Refused::NoPercentSign.message(key, example(key)));
            return None;
        }
        other => {
            cx.error(
                other.span(),
                format!(
                    "'{key}' takes a percentage, found {}: {}",
                    other.describe(),
                    example(key)
                ),
            );
            return None;
        }
    };
    if !n.suffix.is_empty() {
        cx.error(
            n.span,
            format!("a percentage has no unit before '%': {}", example(key)),
        );
        return None;
    }
    let v: f64 = n.digits.parse().unwrap_or(f64::NAN);
    let v = if n.negative { -v } else { v };
    if !percent::in_range(v) {
        cx.error(n.span, Refused::OutOfRange.message(key, example(key)));
        return None;
    }
    Some(S {
        value: v,
        span: n.span,
    })
}

pub(crate) fn rate(value: &Value, cx: &mut Ctxt) -> Option<S<Rate>> {
    rate_or_none(value, false, cx)
}

/// A rate, `0/s` included when `zero` allows it (a retry budget's floor: only what the ratio
/// earns).
pub(crate) fn rate_or_none(value: &Value, zero: bool, cx: &mut Ctxt) -> Option<S<Rate>> {
    let n = match value {
        Value::Number(n) if n.per.is_some() => n,
        other => {
            cx.error(
                other.span(),
                "a rate is a count per period: #[rate_limiter(100/s)], 6000/m, 10000/h",
            );
            return None;
        }
    };
    let per = n.per.as_ref()?;
    let Some(period) = unit_nanos(&per.to_string()) else {
        cx.error(
            per.span(),
            format!("unknown period '{per}'; a rate is per ms, s, m or h: 100/s, 6000/m"),
        );
        return None;
    };
    if !n.is_int || !n.suffix.is_empty() || n.negative {
        cx.error(n.span, "a rate counts whole calls: 100/s, 6000/m");
        return None;
    }
    match n.digits.parse::<u32>() {
        Ok(0) if !zero => {
            cx.error(
                n.span,
                "a rate of 0 admits no call at all; write at least 1, as in 1/s",
            );
            None
        }
        Ok(count) => Some(S {
            value: Rate { count, per: period },
            span: n.span,
        }),
        Err(_) => {
            cx.error(
                n.span,
                "this rate is too large; the count must fit in a u32",
            );
            None
        }
    }
}

/// A bulkhead's `adaptive`: `gradient2` or `aimd`.
pub(crate) fn algorithm(value: &Value, cx: &mut Ctxt) -> Option<S<Algorithm>> {
    let found = value.as_ident().map(|i| (i.to_string(), i.span()));
    match found.as_ref().map(|(name, span)| (name.as_str(), *span)) {
        Some(("gradient2", span)) => Some(S {
            value: Algorithm::Gradient2,
            span,
        }),
        Some(("aimd", span)) => Some(S {
            value: Algorithm::Aimd,
            span,
        }),
        Some((name, span)) => {
            let close = did_you_mean(name, &["gradient2", "aimd"])
                .map(|w| format!(" (did you mean `{w}`?)"))
                .unwrap_or_default();
            cx.error(span, format!("unknown algorithm `{name}`{close}: an adaptive limit is adaptive = gradient2 (Netflix's Gradient2) or adaptive = aimd (additive increase, multiplicative decrease)"));
            None
        }
        None => {
            cx.error(
                value.span(),
                format!(
                    "'adaptive' takes an algorithm, found {}: {}",
                    value.describe(),
                    example("adaptive")
                ),
            );
            None
        }
    }
}

/// A hedge's `after`: a duration above zero, or a percentile (`p95`, `p99.9`).
pub(crate) fn delay(value: &Value, key: &str, cx: &mut Ctxt) -> Option<S<Delay>> {
    let (text, span) = match value {
        Value::Number(_) => {
            let d = positive(duration(value, key, cx), key, cx)?;
            return Some(S {
                value: Delay::Fixed(d.value),
                span: d.span,
            });
        }
        Value::Percentile(text, span) => (text.clone(), *span),
        other => match other.as_ident() {
            Some(ident) => (ident.to_string(), ident.span()),
            None => {
                cx.error(
                    other.span(),
                    format!(
                        "'{key}' takes a duration or a percentile of recent calls, found {}: {}",
                        other.describe(),
                        example(key)
                    ),
                );
                return None;
            }
        },
    };
    match resilience_syntax::percentile::parse(&text) {
        Ok(per_mille) => Some(S {
            value: Delay::Percentile(per_mille),
            span,
        }),
        Err(message) => {
            cx.error(span, format!("{message}; or a duration: {}", example(key)));
            None
        }
    }
}

pub(crate) fn window(value: &Value, cx: &mut Ctxt) -> Option<S<Window>> {
    match value {
        Value::Number(n) if n.suffix.is_empty() && !n.percent && n.per.is_none() => {
            let c = at_least(count(value, "window", cx), 1, "window", cx)?;
            if c.value > MAX_WINDOW_CALLS {
                cx.error(c.span, format!("a count window holds at most {MAX_WINDOW_CALLS} calls; for more traffic use a time window: window = 60s"));
                return None;
            }
            Some(S {
                value: Window::Calls(c.value),
                span: c.span,
            })
        }
        Value::Number(_) => {
            let d = positive(duration(value, "window", cx), "window", cx)?;
            Some(S {
                value: Window::Time(d.value),
                span: d.span,
            })
        }
        other => {
            cx.error(
                other.span(),
                format!(
                    "'window' takes a number of calls or a duration: {}",
                    example("window")
                ),
            );
            None
        }
    }
}

pub(crate) fn jitter(value: &Value, cx: &mut Ctxt) -> Option<S<Jitter>> {
    let ident = match value.as_ident() {
        Some(i) => i,
        None => {
            cx.error(
                value.span(),
                "jitter is one of none, full, equal, decorrelated: jitter = full",
            );
            return None;
        }
    };
    let jitter = match ident.to_string().as_str() {
        "none" => Jitter::None,
        "full" => Jitter::Full,
        "equal" => Jitter::Equal,
        "decorrelated" => Jitter::Decorrelated,
        other => {
            let msg = match did_you_mean(other, JITTERS) {
                Some(s) => format!("unknown jitter '{other}'; did you mean '{s}'?"),
                None => format!(
                    "unknown jitter '{other}'; jitter is one of none, full, equal, decorrelated"
                ),
            };
            cx.error(ident.span(), msg);
            return None;
        }
    };
    Some(S {
        value: jitter,
        span: ident.span(),
    })
}
