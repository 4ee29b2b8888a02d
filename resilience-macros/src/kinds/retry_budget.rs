//! `retry_budget(..)`: a retry budget, declared in `policy!` (`static API_RETRIES: RetryBudget =
//! retry_budget(ratio = 20%, min = 10/s, window = 10s);`) or written in place as a retry's
//! `budget`. No attribute is named after it: a budget is shared by retries, not a layer.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{LitStr, Path};

use super::declared::{self, Declared};
use super::prelude::*;
use crate::check::values::rate_or_none;
use resilience_syntax::options as table;

/// How a retry budget is written, for the messages.
pub const EXAMPLE: &str = "retry_budget(ratio = 20%, min = 10/s, window = 10s)";

/// The options of `retry_budget(..)`.
#[derive(Default)]
pub struct RetryBudget {
    pub ratio: Option<S<f64>>,
    pub min: Option<S<Rate>>,
    pub window: Option<S<Nanos>>,
    pub name: Option<LitStr>,
    pub krate: Option<Path>,
}

/// A retry's `budget`: a shared budget's path, or one written in place.
pub enum Budget {
    /// `budget = API_RETRIES`.
    Shared(Path),
    /// `budget = retry_budget(ratio = 20%)`.
    Inline(Box<RetryBudget>, Span),
}

/// `budget = PATH` or `budget = retry_budget(..)`.
pub fn budget(value: &Value, cx: &mut Ctxt) -> Option<Budget> {
    match value {
        Value::Path(p) => Some(Budget::Shared(p.clone())),
        Value::Call(call) if call.func == "retry_budget" => {
            let config: RetryBudget = declared::parse(&call.args, false, cx);
            Some(Budget::Inline(Box::new(config), call.func.span()))
        }
        Value::Call(call) => {
            cx.error(
                call.func.span(),
                format!(
                    "'budget' takes a shared retry budget's path or {EXAMPLE}, not {}(..)",
                    call.func
                ),
            );
            None
        }
        other => {
            cx.error(
                other.span(),
                format!(
                    "'budget' takes a shared retry budget's path (budget = API_RETRIES) or one written in place: budget = {EXAMPLE}; found {}",
                    other.describe()
                ),
            );
            None
        }
    }
}

impl Declared for RetryBudget {
    const CTOR: &'static str = "retry_budget";
    const TYPE: &'static str = "RetryBudget";
    const EXAMPLE: &'static str = EXAMPLE;
    const WHAT: &'static str = "a retry budget";

    fn set(&mut self, key: &str, value: &Value, cx: &mut Ctxt) {
        match key {
            "ratio" => self.ratio = percent(value, "ratio", cx),
            "min" => self.min = floor(value, cx),
            "window" => self.window = window_of(value, cx),
            _ => {}
        }
    }

    fn common(&mut self) -> (&mut Option<LitStr>, &mut Option<Path>) {
        (&mut self.name, &mut self.krate)
    }

    /// The builder calls that set the options given; the builder holds the defaults.
    fn builder_calls(&self) -> TokenStream {
        let mut calls = TokenStream::new();
        if let Some(r) = self.ratio {
            let v = tokens::float(r.value);
            calls.extend(quote!(.ratio(#v)));
        }
        if let Some(m) = self.min {
            let count = m.value.count;
            let per = tokens::duration(m.value.per);
            calls.extend(quote!(.min(#count, #per)));
        }
        if let Some(w) = self.window {
            let w = tokens::duration(w.value);
            calls.extend(quote!(.window(#w)));
        }
        calls
    }
}

/// A budget's window: a duration from 1 s to 1 h.
fn window_of(value: &Value, cx: &mut Ctxt) -> Option<S<Nanos>> {
    let d = duration(value, "window", cx)?;
    if !(table::MIN_BUDGET_WINDOW_NANOS..=table::MAX_BUDGET_WINDOW_NANOS).contains(&d.value) {
        cx.error(
            d.span,
            "a retry budget's window is from 1s to 1h (the span its ratio and floor count over): window = 10s",
        );
        return None;
    }
    Some(d)
}

/// A budget's floor: retries per period, `0/s` allowed.
fn floor(value: &Value, cx: &mut Ctxt) -> Option<S<Rate>> {
    match value {
        Value::Number(n) if n.per.is_some() => rate_or_none(value, true, cx),
        other => {
            cx.error(
                other.span(),
                "'min' is a floor of retries per period, allowed whatever the traffic: min = 10/s (or 0/s for none)",
            );
            None
        }
    }
}
