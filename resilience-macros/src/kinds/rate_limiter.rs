//! `#[rate_limiter]`: the options of a rate limiter, and the builder calls that make its policy.

use proc_macro2::{Span, TokenStream};
use quote::quote;

use super::keyed::Keyed;
use super::prelude::*;

const KIND: Kind = Kind::RateLimiter;

/// `#[rate_limiter(rate, ...)]`.
#[derive(Default)]
pub struct RateLimiter {
    pub rate: Option<Spanned<Rate>>,
    pub burst: Option<Spanned<u32>>,
    pub wait: Option<Spanned<Nanos>>,
    /// `key`, `max_keys`: one limiter per key.
    pub keyed: Keyed,
    /// The name a fleet shares it under.
    pub shared: Option<syn::LitStr>,
}

impl RateLimiter {
    /// Takes option `key`, one of this kind's own, checked as the option table says.
    pub fn set(&mut self, key: &str, value: &Value, cx: &mut Ctxt) {
        if self.keyed.set(KIND, key, value, cx) {
            return;
        }
        match key {
            "burst" => self.burst = in_range(count(value, key, cx), KIND, key, cx),
            "wait" => self.wait = duration(value, key, cx),
            "shared" => self.shared = string(value, key, cx),
            _ => {}
        }
    }

    /// The options it cannot do without.
    pub fn required(&self, span: Span, site: Site, cx: &mut Ctxt) {
        if self.rate.is_none() {
            cx.error(
                span,
                format!(
                    "{} needs a rate: #[rate_limiter(100/s)]",
                    site.written(KIND)
                ),
            );
        }
    }

    /// Options that cannot be used together, or only together.
    pub fn combinations(&self, site: Site, cx: &mut Ctxt) {
        self.keyed.combinations(KIND, site, cx);
        if let (Some(shared), Some(_)) = (&self.shared, &self.keyed.key) {
            cx.error(shared.span(), super::keyed::SHARED_KEYED);
        }
    }

    /// The builder calls that set the options given; the builder holds the defaults.
    pub fn builder_calls(&self, _private: &TokenStream) -> TokenStream {
        let mut calls = TokenStream::new();
        if let Some(r) = self.rate {
            let (count, per) = (r.value.count, tokens::duration(r.value.per));
            calls.extend(quote!(.rate(#count, #per)));
        }
        if let Some(n) = self.burst {
            let v = n.value;
            calls.extend(quote!(.burst(#v)));
        }
        if let Some(d) = self.wait {
            let d = tokens::duration(d.value);
            calls.extend(quote!(.wait(#d)));
        }
        if let Some(shared) = &self.shared {
            calls.extend(quote!(.shared(#shared)));
        }
        calls
    }
}
