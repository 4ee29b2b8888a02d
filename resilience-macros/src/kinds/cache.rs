//! `#[cache]`: how long a value is fresh, served stale and refreshed, the key of each call,
//! how many entries, and the builder calls that make its cache.

use proc_macro2::{Span, TokenStream};
use quote::quote;

use super::prelude::*;

const KIND: Kind = Kind::Cache;

/// `#[cache(ttl = .., key = .., stale = .., refresh = .., capacity = ..)]`.
#[derive(Default)]
pub struct Cache {
    /// The key of each call; none: one entry for every call.
    pub key: Option<syn::Expr>,
    pub ttl: Option<S<Nanos>>,
    pub stale: Option<S<Nanos>>,
    pub refresh: Option<S<Nanos>>,
    pub capacity: Option<S<u32>>,
}

impl Cache {
    /// Takes option `key`, one of this kind's own, checked as the option table says.
    pub fn set(&mut self, key: &str, value: &Value, cx: &mut Ctxt) {
        match (key, value) {
            ("key", Value::Expr(e)) => self.key = Some((**e).clone()),
            ("ttl", _) => self.ttl = positive(duration(value, key, cx), key, cx),
            ("stale", _) => self.stale = positive(duration(value, key, cx), key, cx),
            ("refresh", _) => self.refresh = positive(duration(value, key, cx), key, cx),
            ("capacity", _) => self.capacity = in_range(count(value, key, cx), KIND, key, cx),
            _ => {}
        }
    }

    /// The options it cannot do without: how long a value is fresh.
    pub fn required(&self, span: Span, site: Site, cx: &mut Ctxt) {
        if self.ttl.is_none() {
            cx.error(
                span,
                format!(
                    "{} needs how long a value is served without calling what is below: ttl = 30s",
                    site.written(KIND)
                ),
            );
        }
    }

    /// Options that cannot be used together, or only together.
    pub fn combinations(&self, cx: &mut Ctxt) {
        let Some(ttl) = self.ttl else {
            return;
        };
        if let Some(stale) = self.stale
            && stale.value <= ttl.value
        {
            cx.error(
                stale.span,
                "'stale' must be longer than 'ttl': a value is fresh until ttl, served stale after it until stale (ttl = 30s, stale = 5m)",
            );
        }
        if let Some(refresh) = self.refresh
            && refresh.value >= ttl.value
        {
            cx.error(
                refresh.span,
                "'refresh' must be shorter than 'ttl': a value is refreshed before it expires (ttl = 30s, refresh = 25s)",
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
        if let Some(s) = self.stale {
            let s = tokens::duration(s.value);
            calls.extend(quote!(.stale(::core::option::Option::Some(#s))));
        }
        if let Some(r) = self.refresh {
            let r = tokens::duration(r.value);
            calls.extend(quote!(.refresh(::core::option::Option::Some(#r))));
        }
        if let Some(c) = self.capacity {
            let c = c.value as usize;
            calls.extend(quote!(.capacity(#c)));
        }
        calls
    }
}
