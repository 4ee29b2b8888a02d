//! `#[hedge]`: when another attempt starts (`after`, a duration or a percentile), the delay
//! until a percentile is known (`initial`), how many hedges at most (`max`), the budget they
//! spend, and the builder calls that make its policy.

use proc_macro2::{Span, TokenStream};
use quote::quote;

use super::prelude::*;
use crate::check::values::delay;
use crate::model::Delay;

const KIND: Kind = Kind::Hedge;

/// `#[hedge(after = 50ms, max = 1)]`.
#[derive(Default)]
pub struct Hedge {
    pub after: Option<S<Delay>>,
    pub initial: Option<S<Nanos>>,
    pub max: Option<S<u32>>,
    /// The budget its hedges are taken from.
    pub budget: Option<super::Budget>,
}

impl Hedge {
    /// Takes option `key`, one of this kind's own, checked as the option table says.
    pub fn set(&mut self, key: &str, value: &Value, cx: &mut Ctxt) {
        match key {
            "after" => self.after = delay(value, key, cx),
            "initial" => self.initial = positive(duration(value, key, cx), key, cx),
            "max" => self.max = in_range(count(value, key, cx), KIND, key, cx),
            "budget" => self.budget = super::retry_budget::budget(value, cx),
            _ => {}
        }
    }

    /// The options it cannot do without.
    pub fn required(&self, span: Span, site: Site, cx: &mut Ctxt) {
        if self.after.is_none() {
            cx.error(
                span,
                format!(
                    "{} needs to know when to start another attempt: after = 50ms, or after = p95 (the 95th percentile of recent calls)",
                    site.written(KIND)
                ),
            );
        }
    }

    /// Options that cannot be used together, or only together.
    pub fn combinations(&self, cx: &mut Ctxt) {
        if let (
            Some(initial),
            Some(S {
                value: Delay::Fixed(_),
                ..
            }),
        ) = (&self.initial, &self.after)
        {
            cx.error(
                initial.span,
                "'initial' is the delay used until a percentile is known: it goes with after = p95; with a fixed `after`, leave it out",
            );
        }
    }

    /// The builder calls that set the options given; the builder holds the defaults.
    pub fn builder_calls(&self, _private: &TokenStream) -> TokenStream {
        let mut calls = TokenStream::new();
        match self.after.map(|a| a.value) {
            Some(Delay::Fixed(d)) => {
                let d = tokens::duration(d);
                calls.extend(quote!(.after(#d)));
            }
            Some(Delay::Percentile(p)) => calls.extend(quote!(.after_percentile(#p))),
            None => {}
        }
        if let Some(d) = self.initial {
            let d = tokens::duration(d.value);
            calls.extend(quote!(.initial(#d)));
        }
        if let Some(n) = self.max {
            let n = n.value;
            calls.extend(quote!(.max(#n)));
        }
        calls
    }
}
