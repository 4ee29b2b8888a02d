//! The bounds of counts and durations, as the option table (`resilience_syntax::options`) gives
//! them, with a message that says the bound crossed and what to write.

use resilience_syntax::options;

use super::Ctxt;
use super::options::example;
use crate::model::{Kind, Nanos, Spanned as S};

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

pub(crate) fn at_least(n: Option<S<u32>>, min: u32, key: &str, cx: &mut Ctxt) -> Option<S<u32>> {
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

pub(crate) fn at_most(n: Option<S<u32>>, max: u32, key: &str, cx: &mut Ctxt) -> Option<S<u32>> {
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
