//! `#[retry]`: the options of a retry, the rules between them, and the builder calls that make its policy.

use proc_macro2::{Span, TokenStream};
use quote::quote;

use super::prelude::*;

/// `#[retry(...)]`.
#[derive(Default)]
pub struct Retry {
    pub attempts: Option<Spanned<u32>>,
    pub backoff: Option<Spanned<Backoff>>,
    pub jitter: Option<Spanned<Jitter>>,
    /// Which errors are retried.
    pub when: Option<Callable>,
    /// Which `Ok` values are retried.
    pub when_ok: Option<Callable>,
    /// The least delay an error asks for: `fn(&E) -> Option<Duration>`.
    pub retry_after: Option<Callable>,
    /// Whether a timeout below the retry is retried (default true).
    pub retry_timeouts: Option<Spanned<bool>>,
    /// The budget its retries are taken from.
    pub budget: Option<super::Budget>,
}

impl Retry {
    /// Takes option `key`, one of this kind's own, checked as the option table says.
    pub fn set(&mut self, key: &str, value: &Value, cx: &mut Ctxt) {
        match key {
            "attempts" => {
                self.attempts = count(value, key, cx).and_then(|n| {
                    if n.value == 0 {
                        cx.error(n.span, "attempts counts the first call too, so it must be at least 1: attempts = 3");
                        None
                    } else {
                        Some(n)
                    }
                })
            }
            "backoff" => self.backoff = backoff(value, cx),
            "jitter" => self.jitter = jitter(value, cx),
            "when" => self.when = callable(value, key, cx),
            "when_ok" => self.when_ok = callable(value, key, cx),
            "retry_after" => self.retry_after = callable(value, key, cx),
            "retry_timeouts" => self.retry_timeouts = boolean(value, key, cx),
            "budget" => self.budget = super::retry_budget::budget(value, cx),
            _ => {}
        }
    }

    /// The options it cannot do without.
    pub fn required(&self, span: Span, site: Site, cx: &mut Ctxt) {
        let _ = (span, site, cx);
    }

    /// Options that cannot be used together, or only together.
    pub fn combinations(&self, cx: &mut Ctxt) {
        if let Some(j) = &self.jitter
            && j.value == Jitter::Decorrelated
            && let Some(S {
                value: Backoff::Fixed(_) | Backoff::Linear { .. },
                ..
            }) = &self.backoff
        {
            cx.error(j.span, "jitter = decorrelated grows its own delays, so it works only with exponential backoff; use jitter = full or equal here, or backoff = exponential(...)");
        }
    }

    /// The builder calls that set the options given; the builder holds the defaults.
    pub fn builder_calls(&self, private: &TokenStream) -> TokenStream {
        let mut calls = TokenStream::new();
        if let Some(n) = self.attempts {
            let v = n.value;
            calls.extend(quote!(.attempts(#v)));
        }
        if let Some(b) = self.backoff {
            let backoff = match b.value {
                Backoff::Fixed(d) => {
                    let d = tokens::duration(d);
                    quote!(#private::Backoff::fixed(#d))
                }
                Backoff::Linear { step, max } => {
                    let (s, m) = (tokens::duration(step), tokens::duration(max));
                    quote!(#private::Backoff::linear(#s, #m))
                }
                Backoff::Exponential {
                    initial,
                    factor,
                    max,
                } => {
                    let (i, m) = (tokens::duration(initial), tokens::duration(max));
                    let factor = factor.map(|f| {
                        let f = tokens::float(f);
                        quote!(.factor(#f))
                    });
                    quote!(#private::Backoff::exponential(#i, #m) #factor)
                }
            };
            calls.extend(quote!(.backoff(#backoff)));
        }
        if let Some(j) = self.jitter {
            let variant = match j.value {
                Jitter::None => quote!(None),
                Jitter::Full => quote!(Full),
                Jitter::Equal => quote!(Equal),
                Jitter::Decorrelated => quote!(Decorrelated),
            };
            calls.extend(quote!(.jitter(#private::Jitter::#variant)));
        }
        calls
    }
}
