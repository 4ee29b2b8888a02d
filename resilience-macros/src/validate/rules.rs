//! Rules per kind of attribute: the options it cannot do without, those that go together
//! or not at all, and the bounds of its counts and durations.

use proc_macro2::Span;

use resilience_syntax::options;

use super::options::example;
use super::{Ctxt, Site};
use crate::model::{Backoff, Config, Jitter, Kind, Layer, Nanos, Spanned as S, Window};

/// Options an attribute cannot do without.
pub(super) fn required(layer: &Layer, span: Span, site: Site, cx: &mut Ctxt) {
    let inline = |attr: &str| match site {
        Site::Attribute => format!("#[{attr}]"),
        Site::Declaration(_) => format!("{attr}(...)"),
    };
    match &layer.config {
        Config::Timeout(t) if t.duration.is_none() => cx.error(
            span,
            format!("{} needs a duration: #[timeout(2s)]", inline("timeout")),
        ),
        Config::Bulkhead(b) if b.max.is_none() => cx.error(
            span,
            format!(
                "{} needs the number of concurrent calls it admits: #[bulkhead(max = 10)]",
                inline("bulkhead")
            ),
        ),
        Config::RateLimiter(rl) if rl.rate.is_none() => cx.error(
            span,
            format!(
                "{} needs a rate: #[rate_limiter(100/s)]",
                inline("rate_limiter")
            ),
        ),
        Config::Fallback if layer.fallback.is_none() => cx.error(
            span,
            "#[fallback] needs the function to call: #[fallback(cached_value)]",
        ),
        _ => {}
    }
}

/// The window of a breaker that names none: the runtime's default, 100 calls.
const DEFAULT_WINDOW_CALLS: u32 = 100;

/// Options that cannot be used together, or only together (tokio-macros' `build()` step).
pub(super) fn combinations(layer: &Layer, cx: &mut Ctxt) {
    match &layer.config {
        Config::CircuitBreaker(cb) => {
            if let (Some(_), Some(failures)) = (&cb.threshold, &cb.failures) {
                cx.error(failures.span, "'failures' and 'threshold' cannot be used together: a breaker trips on a failure rate (threshold = 50%) or on consecutive failures (failures = 5), not both");
            }
            if let (Some(st), None) = (&cb.slow_threshold, &cb.slow) {
                cx.error(st.span, "'slow_threshold' needs 'slow', the duration from which a call is slow: slow = 2s, slow_threshold = 80%");
            }
            // Without a window, the default one (100 calls) is the one min_calls must fit in.
            let window = match &cb.window {
                Some(S {
                    value: Window::Calls(w),
                    ..
                }) => Some((*w, "")),
                Some(_) => None,
                None => Some((DEFAULT_WINDOW_CALLS, " (the default window)")),
            };
            if let (Some(min), Some((w, which))) = (&cb.min_calls, window)
                && min.value > w
            {
                cx.error(min.span, format!(
                    "min_calls = {} is more than the window of {w} calls{which}, so the breaker could never trip; make it at most {w}, or give a window of at least {} calls",
                    min.value, min.value
                ));
            }
        }
        Config::Retry(r) => {
            if let Some(j) = &r.jitter
                && j.value == Jitter::Decorrelated
                && let Some(S {
                    value: Backoff::Fixed(_) | Backoff::Linear { .. },
                    ..
                }) = &r.backoff
            {
                cx.error(j.span, "jitter = decorrelated grows its own delays, so it works only with exponential backoff; use jitter = full or equal here, or backoff = exponential(...)");
            }
        }
        Config::Bulkhead(b) => {
            if let Some(w) = &b.wait
                && b.queue.is_none_or(|q| q.value == 0)
            {
                cx.error(w.span, "'wait' is the longest wait in the queue, so it needs a queue: add queue = 20 beside it, or remove wait");
            }
        }
        _ => {}
    }
}

/// The range the option table gives a count option of `kind`: `n` if in it, else an error
/// saying the bound it crosses.
pub(super) fn in_range(n: Option<S<u32>>, kind: Kind, key: &str, cx: &mut Ctxt) -> Option<S<u32>> {
    let Some(spec) = options::get(kind.attr_name(), key) else {
        return n;
    };
    let min = u32::try_from(spec.min).unwrap_or(u32::MAX);
    let n = at_least(n, min, key, cx)?;
    match u32::try_from(spec.max) {
        Ok(max) if max < u32::MAX => at_most(Some(n), max, key, cx),
        _ => Some(n),
    }
}

pub(super) fn at_least(n: Option<S<u32>>, min: u32, key: &str, cx: &mut Ctxt) -> Option<S<u32>> {
    let n = n?;
    if n.value < min {
        cx.error(
            n.span,
            format!("'{key}' must be at least {min}: {}", example(key)),
        );
        return None;
    }
    Some(n)
}

pub(super) fn at_most(n: Option<S<u32>>, max: u32, key: &str, cx: &mut Ctxt) -> Option<S<u32>> {
    let n = n?;
    if n.value > max {
        cx.error(
            n.span,
            format!("'{key}' must be at most {max}: {}", example(key)),
        );
        return None;
    }
    Some(n)
}

pub(super) fn positive(d: Option<S<Nanos>>, key: &str, cx: &mut Ctxt) -> Option<S<Nanos>> {
    let d = d?;
    if d.value == 0 {
        cx.error(
            d.span,
            format!("'{key}' must be longer than 0: {}", example(key)),
        );
        return None;
    }
    Some(d)
}
