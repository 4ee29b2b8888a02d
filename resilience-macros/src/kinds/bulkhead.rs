//! `#[bulkhead]`: the options of a bulkhead, the rules between them, and the builder calls that make its policy.

use proc_macro2::{Span, TokenStream};
use quote::quote;

use super::keyed::Keyed;
use super::prelude::*;
use crate::check::values::algorithm;
use crate::model::Algorithm;

const KIND: Kind = Kind::Bulkhead;

/// `#[bulkhead(...)]`.
#[derive(Default)]
pub struct Bulkhead {
    pub max: Option<Spanned<u32>>,
    pub queue: Option<Spanned<u32>>,
    pub wait: Option<Spanned<Nanos>>,
    /// `adaptive = gradient2`: the limit follows the latency, `max` its highest.
    pub adaptive: Option<Spanned<Algorithm>>,
    pub min: Option<Spanned<u32>>,
    pub initial: Option<Spanned<u32>>,
    /// `key`, `max_keys`: one bulkhead per key.
    pub keyed: Keyed,
}

impl Bulkhead {
    /// Takes option `key`, one of this kind's own, checked as the option table says.
    pub fn set(&mut self, key: &str, value: &Value, cx: &mut Ctxt) {
        if self.keyed.set(KIND, key, value, cx) {
            return;
        }
        match key {
            "max" => self.max = in_range(count(value, key, cx), KIND, key, cx),
            "queue" => self.queue = in_range(count(value, key, cx), KIND, key, cx),
            "wait" => self.wait = positive(duration(value, key, cx), key, cx),
            "adaptive" => self.adaptive = algorithm(value, cx),
            "min" => self.min = in_range(count(value, key, cx), KIND, key, cx),
            "initial" => self.initial = in_range(count(value, key, cx), KIND, key, cx),
            _ => {}
        }
    }

    /// The options it cannot do without.
    pub fn required(&self, span: Span, site: Site, cx: &mut Ctxt) {
        if self.max.is_none() {
            cx.error(
                span,
                format!(
                    "{} needs the number of concurrent calls it admits: #[bulkhead(max = 10)]",
                    site.written(KIND)
                ),
            );
        }
    }

    /// Options that cannot be used together, or only together.
    pub fn combinations(&self, site: Site, cx: &mut Ctxt) {
        self.keyed.combinations(KIND, site, cx);
        if let Some(w) = &self.wait
            && self.queue.is_none_or(|q| q.value == 0)
        {
            cx.error(w.span, "'wait' is the longest wait in the queue, so it needs a queue: add queue = 20 beside it, or remove wait");
        }
        if self.adaptive.is_none() {
            for (option, given) in [("min", &self.min), ("initial", &self.initial)] {
                if let Some(given) = given {
                    cx.error(given.span, format!("'{option}' is for an adaptive limit: add adaptive = gradient2 beside it (max is then the highest the limit goes), or remove {option}"));
                }
            }
            return;
        }
        let max = self.max.map(|m| m.value);
        if let (Some(min), Some(max)) = (&self.min, max)
            && min.value > max
        {
            cx.error(
                min.span,
                format!("'min' must be at most max ({max}), the highest the limit goes"),
            );
        }
        if let Some(initial) = &self.initial {
            let min = self.min.map_or(1, |m| m.value);
            if max.is_some_and(|max| initial.value > max) || initial.value < min {
                cx.error(
                    initial.span,
                    "'initial' is where the limit starts: between min (default 1) and max",
                );
            }
        }
    }

    /// The builder calls that set the options given; the builder holds the defaults.
    pub fn builder_calls(&self, private: &TokenStream) -> TokenStream {
        let mut calls = TokenStream::new();
        if let Some(n) = self.max {
            let v = n.value;
            calls.extend(quote!(.max(#v)));
        }
        if let Some(n) = self.queue {
            let v = n.value;
            calls.extend(quote!(.queue(#v)));
        }
        if let Some(d) = self.wait {
            let d = tokens::duration(d.value);
            calls.extend(quote!(.wait(#d)));
        }
        if let Some(a) = self.adaptive {
            let variant = match a.value {
                Algorithm::Aimd => quote!(Aimd),
                Algorithm::Gradient2 => quote!(Gradient2),
            };
            calls.extend(quote!(.adaptive(#private::bulkhead::adaptive::Algorithm::#variant)));
        }
        if let Some(n) = self.min {
            let v = n.value;
            calls.extend(quote!(.min(#v)));
        }
        if let Some(n) = self.initial {
            let v = n.value;
            calls.extend(quote!(.initial(#v)));
        }
        calls
    }
}
