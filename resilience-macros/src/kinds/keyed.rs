//! The options of a keyed family (`key`, `max_keys`, `idle`), which a rate limiter, a bulkhead
//! and a circuit breaker take alike: one policy per key, in bounded memory.

use proc_macro2::TokenStream;
use quote::quote;

use super::prelude::*;

/// Why a keyed breaker is never `critical`.
pub const CRITICAL_KEYED: &str = "'critical' cannot be set on a keyed breaker: one key's open breaker makes health degraded, never down (one tenant's or host's outage must not fail the whole service's readiness); remove critical";

/// `shared` on a keyed family: not shared by a fleet (yet).
pub const SHARED_KEYED: &str = "'shared' and 'key' cannot be used together: a keyed family is not shared by a fleet; share one policy (shared = \"partner-api\") or keep the family local";

/// `key = expr`, `max_keys = n` and (a breaker's) `idle = d`.
#[derive(Default)]
pub struct Keyed {
    /// The key of each call: an expression over the function's parameters.
    pub key: Option<syn::Expr>,
    pub max_keys: Option<Spanned<u32>>,
    pub idle: Option<Spanned<Nanos>>,
}

impl Keyed {
    /// Takes option `key` if it is one of a keyed family's; whether it was.
    pub fn set(&mut self, kind: Kind, key: &str, value: &Value, cx: &mut Ctxt) -> bool {
        match (key, value) {
            ("key", Value::Expr(e)) => self.key = Some((**e).clone()),
            ("max_keys", _) => self.max_keys = in_range(count(value, key, cx), kind, key, cx),
            ("idle", _) => self.idle = positive(duration(value, key, cx), key, cx),
            _ => return false,
        }
        true
    }

    /// On a function, `max_keys` and `idle` are the family's that `key` makes: without `key`
    /// there is none. (In `policy!`, the declared type says whether it is keyed.)
    pub fn combinations(&self, kind: Kind, site: Site, cx: &mut Ctxt) {
        if self.key.is_some() || site != Site::Attribute {
            return;
        }
        let attr = kind.attr_name();
        for (option, span) in [
            ("max_keys", self.max_keys.map(|m| m.span)),
            ("idle", self.idle.map(|i| i.span)),
        ] {
            if let Some(span) = span {
                cx.error(
                    span,
                    format!(
                        "'{option}' bounds a keyed policy, one per key: add the key beside it, as in #[{attr}(.., key = tenant.id, {option} = ..)], or remove {option}"
                    ),
                );
            }
        }
    }

    /// The builder calls of the family, after the kind's own: `.keyed().max_keys(n)..`.
    pub fn builder_calls(&self) -> TokenStream {
        let mut calls = quote!(.keyed());
        if let Some(n) = self.max_keys {
            let v = n.value as usize;
            calls.extend(quote!(.max_keys(#v)));
        }
        if let Some(d) = self.idle {
            let d = tokens::duration(d.value);
            calls.extend(quote!(.idle(#d)));
        }
        calls
    }
}
