//! `#[timeout]`: its duration, and the builder call that makes its policy.

use proc_macro2::{Span, TokenStream};
use quote::quote;

use super::prelude::*;

const KIND: Kind = Kind::Timeout;

/// `#[timeout(d)]`.
#[derive(Default)]
pub struct Timeout {
    pub duration: Option<Spanned<Nanos>>,
}

impl Timeout {
    /// Takes option `key`, one of this kind's own, checked as the option table says.
    pub fn set(&mut self, key: &str, value: &Value, cx: &mut Ctxt) {
        let _ = (key, value, cx);
    }

    /// The options it cannot do without.
    pub fn required(&self, span: Span, site: Site, cx: &mut Ctxt) {
        if self.duration.is_none() {
            cx.error(
                span,
                format!("{} needs a duration: #[timeout(2s)]", site.written(KIND)),
            );
        }
    }

    /// Options that cannot be used together, or only together.
    pub fn combinations(&self, cx: &mut Ctxt) {
        let _ = cx;
    }

    /// The builder calls that set the options given; the builder holds the defaults.
    pub fn builder_calls(&self, _private: &TokenStream) -> TokenStream {
        let mut calls = TokenStream::new();
        if let Some(d) = self.duration {
            let d = tokens::duration(d.value);
            calls.extend(quote!(.duration(#d)));
        }
        calls
    }
}
