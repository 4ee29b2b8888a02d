//! What the kinds' files use: the raw values, the checks of one value, the typed values and
//! their tokens.

pub(crate) use crate::attr::Value;
pub(crate) use crate::check::bounds::{in_range, positive};
pub(crate) use crate::check::calls::{backoff, open};
pub(crate) use crate::check::values::{
    boolean, callable, count, duration, jitter, percent, string, window,
};
pub(crate) use crate::check::{Ctxt, Site};
pub(crate) use crate::model::{
    Backoff, Callable, Jitter, Kind, Nanos, Open, Rate, Spanned, Spanned as S, Window,
};
pub(crate) use crate::tokens;
