//! `retry_budget(..)`: a retry budget, declared in `policy!` (`static API_RETRIES: RetryBudget =
//! retry_budget(ratio = 20%, min = 10/s, window = 10s);`) or written in place as a retry's
//! `budget`. No attribute is named after it: a budget is shared by retries, not a layer.

use std::collections::HashSet;

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{LitStr, Path};

use super::prelude::*;
use crate::attr::{Arg, Args};
use crate::check::options::did_you_mean;
use crate::check::values::{crate_path, rate_or_none, string};
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
            let config = RetryBudget::parse(&call.args, false, cx);
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

impl RetryBudget {
    /// Validates the arguments of `retry_budget(..)`; `declared` in `policy!` (where `crate`
    /// may be given), else in place on a retry (which gives the crate).
    pub fn parse(args: &Args, declared: bool, cx: &mut Ctxt) -> RetryBudget {
        let mut budget = RetryBudget::default();
        let mut seen = HashSet::new();
        let names: Vec<&str> = table::of("retry_budget").map(|o| o.name).collect();
        for arg in &args.items {
            let (name, value) = match arg {
                Arg::Named { name, value } => (name, value),
                Arg::Positional(value) => {
                    cx.error(
                        value.span(),
                        format!("a retry budget takes its options by name: {EXAMPLE}"),
                    );
                    continue;
                }
            };
            let key = name.to_string();
            if !names.contains(&key.as_str()) || (key == "crate" && !declared) {
                let message = if key == "crate" {
                    "'crate' is given on the #[retry] that holds this budget".to_owned()
                } else {
                    match did_you_mean(&key, &names) {
                        Some(s) => {
                            format!("unknown option '{key}' of a retry budget; did you mean '{s}'?")
                        }
                        None => format!(
                            "unknown option '{key}' of a retry budget; it takes ratio, min, window and name: {EXAMPLE}"
                        ),
                    }
                };
                cx.error(name.span(), message);
                continue;
            }
            if !seen.insert(key.clone()) {
                cx.error(
                    name.span(),
                    format!("duplicate option '{key}'; give it once"),
                );
                continue;
            }
            match key.as_str() {
                "ratio" => budget.ratio = percent(value, "ratio", cx),
                "min" => budget.min = floor(value, cx),
                "window" => budget.window = window_of(value, cx),
                "name" => budget.name = string(value, "name", cx),
                "crate" => budget.krate = crate_path(value, cx),
                _ => {}
            }
        }
        budget
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

    /// The budget's `static` value: its builder, in a `const` context.
    pub fn value(&self, private: &TokenStream, name: &TokenStream) -> TokenStream {
        let calls = self.builder_calls();
        quote! {
            match #private::RetryBudget::builder(#name) #calls .build() {
                ::core::result::Result::Ok(budget) => budget,
                ::core::result::Result::Err(_) => ::core::panic!(
                    "invalid retry budget that the attribute did not catch; please report this as a bug"
                ),
            }
        }
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
