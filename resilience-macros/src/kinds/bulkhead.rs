//! `#[bulkhead]`: the options of a bulkhead, the rules between them, and the builder calls that make its policy.

use proc_macro2::{Span, TokenStream};
use quote::quote;

use super::keyed::Keyed;
use super::prelude::*;

const KIND: Kind = Kind::Bulkhead;

/// `#[bulkhead(...)]`.
#[derive(Default)]
pub struct Bulkhead {
    pub max: Option<Spanned<u32>>,
    pub queue: Option<Spanned<u32>>,
    pub wait: Option<Spanned<Nanos>>,
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
    }

    /// The builder calls that set the options given; the builder holds the defaults.
    pub fn builder_calls(&self, _private: &TokenStream) -> TokenStream {
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
        calls
    }
}
