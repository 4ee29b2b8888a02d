//! `#[circuit_breaker]`: the options of a breaker, the rules between them, and the builder calls that make its policy.

use proc_macro2::{Span, TokenStream};
use quote::quote;

use super::keyed::Keyed;
use super::prelude::*;

const KIND: Kind = Kind::CircuitBreaker;

/// The window of a breaker that names none: the runtime's default, 100 calls.
const DEFAULT_WINDOW_CALLS: u32 = 100;

/// `#[circuit_breaker(...)]`.
#[derive(Default)]
pub struct CircuitBreaker {
    pub threshold: Option<Spanned<f64>>,
    pub failures: Option<Spanned<u32>>,
    pub window: Option<Spanned<Window>>,
    pub min_calls: Option<Spanned<u32>>,
    pub slow: Option<Spanned<Nanos>>,
    pub slow_threshold: Option<Spanned<f64>>,
    pub open: Option<Spanned<Open>>,
    pub half_open: Option<Spanned<u32>>,
    pub critical: Option<Spanned<bool>>,
    /// Errors that count as failures (the others as successes).
    pub record: Option<Callable>,
    /// Errors that count as neither success nor failure.
    pub ignore: Option<Callable>,
    /// `key`, `max_keys`, `idle`: one breaker per key.
    pub keyed: Keyed,
    /// The name a fleet shares it under.
    pub shared: Option<syn::LitStr>,
    /// The replicas that must trip for the fleet's breaker to open.
    pub quorum: Option<Spanned<u32>>,
}

impl CircuitBreaker {
    /// Takes option `key`, one of this kind's own, checked as the option table says.
    pub fn set(&mut self, key: &str, value: &Value, cx: &mut Ctxt) {
        if self.keyed.set(KIND, key, value, cx) {
            return;
        }
        match key {
            "threshold" => self.threshold = percent(value, key, cx),
            "failures" => self.failures = in_range(count(value, key, cx), KIND, key, cx),
            "window" => self.window = window(value, cx),
            "min_calls" => self.min_calls = in_range(count(value, key, cx), KIND, key, cx),
            "slow" => self.slow = positive(duration(value, key, cx), key, cx),
            "slow_threshold" => self.slow_threshold = percent(value, key, cx),
            "open" => self.open = open(value, cx),
            "half_open" => self.half_open = in_range(count(value, key, cx), KIND, key, cx),
            "critical" => self.critical = boolean(value, key, cx),
            "shared" => self.shared = string(value, key, cx),
            "quorum" => self.quorum = in_range(count(value, key, cx), KIND, key, cx),
            "record" => self.record = callable(value, key, cx),
            "ignore" => self.ignore = callable(value, key, cx),
            _ => {}
        }
    }

    /// The options it cannot do without.
    pub fn required(&self, span: Span, site: Site, cx: &mut Ctxt) {
        let _ = (span, site, cx);
    }

    /// Options that cannot be used together, or only together.
    pub fn combinations(&self, site: Site, cx: &mut Ctxt) {
        self.keyed.combinations(KIND, site, cx);
        if let (Some(critical), Some(_)) = (&self.critical, &self.keyed.key)
            && critical.value
        {
            cx.error(critical.span, super::keyed::CRITICAL_KEYED);
        }
        if let (Some(shared), Some(_)) = (&self.shared, &self.keyed.key) {
            cx.error(shared.span(), super::keyed::SHARED_KEYED);
        }
        if let (Some(quorum), None) = (&self.quorum, &self.shared) {
            cx.error(quorum.span, "'quorum' counts the replicas of a fleet that must trip: it needs 'shared', the name the fleet shares the breaker under: shared = \"payments\", quorum = 2");
        }
        if let (Some(_), Some(failures)) = (&self.threshold, &self.failures) {
            cx.error(failures.span, "'failures' and 'threshold' cannot be used together: a breaker trips on a failure rate (threshold = 50%) or on consecutive failures (failures = 5), not both");
        }
        if let (Some(st), None) = (&self.slow_threshold, &self.slow) {
            cx.error(st.span, "'slow_threshold' needs 'slow', the duration from which a call is slow: slow = 2s, slow_threshold = 80%");
        }
        // Without a window, the default one (100 calls) is the one min_calls must fit in.
        let window = match &self.window {
            Some(S {
                value: Window::Calls(w),
                ..
            }) => Some((*w, "")),
            Some(_) => None,
            None => Some((DEFAULT_WINDOW_CALLS, " (the default window)")),
        };
        if let (Some(min), Some((w, which))) = (&self.min_calls, window)
            && min.value > w
        {
            cx.error(min.span, format!(
                    "min_calls = {} is more than the window of {w} calls{which}, so the breaker could never trip; make it at most {w}, or give a window of at least {} calls",
                    min.value, min.value
                ));
        }
    }

    /// The builder calls that set the options given; the builder holds the defaults.
    pub fn builder_calls(&self, _private: &TokenStream) -> TokenStream {
        let mut calls = TokenStream::new();
        if let Some(t) = self.threshold {
            let v = tokens::float(t.value);
            calls.extend(quote!(.threshold(#v)));
        }
        if let Some(n) = self.failures {
            let v = n.value;
            calls.extend(quote!(.consecutive_failures(#v)));
        }
        match self.window.map(|w| w.value) {
            Some(Window::Calls(n)) => calls.extend(quote!(.window_calls(#n))),
            Some(Window::Time(d)) => {
                let d = tokens::duration(d);
                calls.extend(quote!(.window_time(#d)))
            }
            None => {}
        }
        if let Some(n) = self.min_calls {
            let v = n.value;
            calls.extend(quote!(.min_calls(#v)));
        }
        if let Some(d) = self.slow {
            let d = tokens::duration(d.value);
            calls.extend(quote!(.slow(#d)));
        }
        if let Some(t) = self.slow_threshold {
            let v = tokens::float(t.value);
            calls.extend(quote!(.slow_threshold(#v)));
        }
        match self.open.map(|o| o.value) {
            Some(Open::Fixed(d)) => {
                let d = tokens::duration(d);
                calls.extend(quote!(.open(#d)));
            }
            Some(Open::Exponential { initial, max }) => {
                let (i, m) = (tokens::duration(initial), tokens::duration(max));
                calls.extend(quote!(.open_exponential(#i, #m)));
            }
            None => {}
        }
        if let Some(n) = self.half_open {
            let v = n.value;
            calls.extend(quote!(.half_open(#v)));
        }
        if let Some(b) = self.critical {
            let v = b.value;
            calls.extend(quote!(.critical(#v)));
        }
        if let Some(shared) = &self.shared {
            calls.extend(quote!(.shared(#shared)));
        }
        if let Some(n) = self.quorum {
            let v = n.value;
            calls.extend(quote!(.quorum(#v)));
        }
        calls
    }
}
