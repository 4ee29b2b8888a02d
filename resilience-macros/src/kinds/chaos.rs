//! `#[chaos]`: the faults to inject and their rates, the functions that make an injected error
//! or outcome, and the builder calls that make its layer. What it expands to is kept only with
//! the `resilience` crate's `chaos` feature (see `expand`).

use proc_macro2::{Span, TokenStream};
use quote::quote;

use super::prelude::*;
use crate::check::bounds::positive;

/// `#[chaos(...)]`.
#[derive(Default)]
pub struct Chaos {
    pub error: Option<S<f64>>,
    pub latency: Option<S<f64>>,
    /// The range a delay is drawn in, in nanoseconds.
    pub delay: Option<S<(Nanos, Nanos)>>,
    pub outcome: Option<S<f64>>,
    pub seed: Option<S<u32>>,
    /// Makes the injected error: `fn() -> E`.
    pub error_with: Option<Callable>,
    /// Makes the injected outcome: `fn() -> T`.
    pub outcome_with: Option<Callable>,
}

impl Chaos {
    /// Takes option `key`, one of this kind's own, checked as the option table says.
    pub fn set(&mut self, key: &str, value: &Value, cx: &mut Ctxt) {
        match key {
            "error" => self.error = percent(value, key, cx),
            "latency" => self.latency = percent(value, key, cx),
            "outcome" => self.outcome = percent(value, key, cx),
            "delay" => self.delay = range(value, cx),
            "seed" => self.seed = count(value, key, cx),
            "error_with" => self.error_with = callable(value, key, cx),
            "outcome_with" => self.outcome_with = callable(value, key, cx),
            "enabled" => cx.error(
                value.span(),
                "a chaos layer is enabled at run time only, by name: registry::set(\"NAME\", \"enabled\", \"true\"), or enabled = true in the configuration file",
            ),
            _ => {}
        }
    }

    /// The options it cannot do without: none (a layer with no rate injects nothing until
    /// rates are set at run time).
    pub fn required(&self, span: Span, site: Site, cx: &mut Ctxt) {
        let _ = (span, site, cx);
    }

    /// Options that cannot be used together, or only together. A shared layer's makers are
    /// given where it is used, so its declaration is not asked for them.
    pub fn combinations(&self, site: Site, cx: &mut Ctxt) {
        // A maker or a delay given but wrong is reported already: do not ask for it again.
        let clean = cx.is_ok();
        let used = site == Site::Attribute && clean;
        if let Some(e) = self.error
            && self.error_with.is_none()
            && used
        {
            cx.error(
                e.span,
                "'error' injects the error 'error_with' makes: give it, as in error_with = ApiError::injected (a fn() -> E)",
            );
        }
        if let Some(o) = self.outcome
            && self.outcome_with.is_none()
            && used
        {
            cx.error(
                o.span,
                "'outcome' injects the value 'outcome_with' makes: give it, as in outcome_with = Quote::stale (a fn() -> T)",
            );
        }
        if let Some(l) = self.latency
            && self.delay.is_none()
            && clean
        {
            cx.error(
                l.span,
                "'latency' delays calls by a delay drawn in 'delay': give it, as in delay = 200ms..2s",
            );
        }
        let total: f64 = [self.error, self.latency, self.outcome]
            .iter()
            .flatten()
            .map(|r| r.value)
            .sum();
        if total > 100.0
            && let Some(r) = self.outcome.or(self.latency).or(self.error)
        {
            cx.error(
                r.span,
                "error, latency and outcome are shares of the same calls: together at most 100%",
            );
        }
    }

    /// The builder calls that set the options given; the builder holds the defaults.
    pub fn builder_calls(&self, _private: &TokenStream) -> TokenStream {
        let mut calls = TokenStream::new();
        let rate = |r: S<f64>| {
            let v = tokens::float(r.value);
            quote!(::core::option::Option::Some(#v))
        };
        if let Some(r) = self.error {
            let r = rate(r);
            calls.extend(quote!(.error(#r)));
        }
        if let Some(r) = self.latency {
            let r = rate(r);
            calls.extend(quote!(.latency(#r)));
        }
        if let Some(d) = self.delay {
            let (least, most) = (tokens::duration(d.value.0), tokens::duration(d.value.1));
            calls.extend(quote!(.delay(#least, #most)));
        }
        if let Some(r) = self.outcome {
            let r = rate(r);
            calls.extend(quote!(.outcome(#r)));
        }
        if let Some(s) = self.seed {
            let s = u64::from(s.value);
            calls.extend(quote!(.seed(#s)));
        }
        calls
    }
}

/// `delay = 200ms..2s`, or one duration (the range of one).
fn range(value: &Value, cx: &mut Ctxt) -> Option<S<(Nanos, Nanos)>> {
    let (least, most) = match value {
        Value::Range(least, most) => (least.as_ref(), most.as_ref()),
        other => (other, other),
    };
    let l = positive(duration(least, "delay", cx), "delay", cx)?;
    let m = positive(duration(most, "delay", cx), "delay", cx)?;
    if l.value > m.value {
        cx.error(
            l.span,
            "a delay range goes from the least to the most: delay = 200ms..2s",
        );
        return None;
    }
    Some(S {
        value: (l.value, m.value),
        span: l.span,
    })
}
