//! Rules of the attributes: the options each cannot do without and those that go together or
//! not at all (each kind's own, in `crate::kinds`), and the bounds of counts and durations.

use proc_macro2::Span;

use resilience_syntax::options;

use super::options::example;
use super::{Ctxt, Site};
use crate::model::{Config, Kind, Layer, Nanos, Spanned as S};

/// Options an attribute cannot do without: each kind's (`crate::kinds`), and a fallback's
/// function.
pub(super) fn required(layer: &Layer, span: Span, site: Site, cx: &mut Ctxt) {
    match &layer.config {
        Config::Fallback if layer.fallback.is_none() => cx.error(
            span,
            "#[fallback] needs the function to call: #[fallback(cached_value)]",
        ),
        config => config.required(span, site, cx),
    }
}

/// Options that cannot be used together, or only together (tokio-macros' `build()` step):
/// each kind's (`crate::kinds`).
pub(super) fn combinations(layer: &Layer, cx: &mut Ctxt) {
    layer.config.combinations(cx);
}

/// The range the option table gives a count option of `kind`: `n` if in it, else an error
/// saying the bound it crosses.
pub(crate) fn in_range(n: Option<S<u32>>, kind: Kind, key: &str, cx: &mut Ctxt) -> Option<S<u32>> {
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

pub(crate) fn positive(d: Option<S<Nanos>>, key: &str, cx: &mut Ctxt) -> Option<S<Nanos>> {
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
