//! `#[idempotent]`: the key of each call, how long a result serves its duplicates and how many
//! keys are held, and the builder calls that make its store.

use proc_macro2::{Span, TokenStream};
use quote::quote;

use super::prelude::*;

const KIND: Kind = Kind::Idempotent;

/// `#[idempotent(key = .., ttl = .., capacity = ..)]`.
#[derive(Default)]
pub struct Idempotent {
    /// The key of each call: an expression over the function's parameters.
    pub key: Option<syn::Expr>,
    pub ttl: Option<S<Nanos>>,
    pub capacity: Option<S<u32>>,
}

impl Idempotent {
    /// Takes option `key`, one of this kind's own, checked as the option table says.
    pub fn set(&mut self, key: &str, value: &Value, cx: &mut Ctxt) {
        match (key, value) {
            ("key", Value::Expr(e)) => self.key = Some((**e).clone()),
            ("ttl", _) => self.ttl = positive(duration(value, key, cx), key, cx),
            ("capacity", _) => self.capacity = in_range(count(value, key, cx), KIND, key, cx),
            _ => {}
        }
    }

    /// The options it cannot do without: where it is used, the key of each call.
    pub fn required(&self, span: Span, site: Site, cx: &mut Ctxt) {
        if site == Site::Attribute && self.key.is_none() {
            cx.error(
                span,
                "#[idempotent] needs the key of each call, an expression over the function's parameters: key = req.idempotency_key",
            );
        }
    }

    /// The builder calls that set the options given; the builder holds the defaults.
    pub fn builder_calls(&self, _private: &TokenStream) -> TokenStream {
        let mut calls = TokenStream::new();
        if let Some(t) = self.ttl {
            let t = tokens::duration(t.value);
            calls.extend(quote!(.ttl(#t)));
        }
        if let Some(c) = self.capacity {
            let c = c.value as usize;
            calls.extend(quote!(.capacity(#c)));
        }
        calls
    }
}
