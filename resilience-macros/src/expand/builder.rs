//! The `static` value of a policy: its runtime builder, called in a `const` context. Shared by
//! the attributes (one static per inline policy) and `policy!`.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;

use crate::model::{Backoff, Config, Jitter, Layer, Nanos, Open, Window};

fn duration(nanos: Nanos) -> TokenStream {
    let n = Literal::u64_suffixed(nanos);
    quote!(::core::time::Duration::from_nanos(#n))
}

fn float(f: f64) -> Literal {
    Literal::f64_suffixed(f)
}

/// The runtime type of the layer's policy (`::resilience::__private::Retry`), or `None` for a
/// fallback, which holds no state.
pub fn policy_type(private: &TokenStream, layer: &Layer, span: Span) -> Option<TokenStream> {
    Some(match layer.config {
        Config::CircuitBreaker(_) => quote_spanned!(span=> #private::CircuitBreaker),
        Config::Retry(_) => quote_spanned!(span=> #private::Retry),
        Config::Timeout(_) => quote_spanned!(span=> #private::Timeout),
        Config::Bulkhead(_) => quote_spanned!(span=> #private::Bulkhead),
        Config::RateLimiter(_) => quote_spanned!(span=> #private::RateLimiter),
        Config::Fallback => return None,
    })
}

/// The registration of the static `ident` in the registry, collected at link time: a
/// `linkme` distributed slice element (`static`s inside function bodies work), reached
/// through `__private` so the user's crate needs no `linkme` dependency. `at` spans the
/// `line!()` / `column!()` that order same-named policies deterministically. A `policy!`
/// static is `shared`: it is listed in the names' `DECLARED` too, with its path
/// (`module_path!()::IDENT`), the name it reports when another static shares its name.
pub fn registration(
    private: &TokenStream,
    layer: &Layer,
    ident: &Ident,
    at: Span,
    shared: bool,
) -> Option<TokenStream> {
    let variant = match layer.config {
        Config::CircuitBreaker(_) => quote!(CircuitBreaker),
        Config::Retry(_) => quote!(Retry),
        Config::Timeout(_) => quote!(Timeout),
        Config::Bulkhead(_) => quote!(Bulkhead),
        Config::RateLimiter(_) => quote!(RateLimiter),
        Config::Fallback => return None,
    };
    let site = format_ident!("__RESILIENCE_SITE_OF_{}", ident, span = Span::mixed_site());
    let position = quote_spanned!(at=> ::core::file!(), ::core::line!(), ::core::column!());
    // A `policy!` static is also listed with its path, in the names' own list: what makes a
    // name two statics share report their paths instead.
    let declared = shared.then(|| {
        let declared = format_ident!("__RESILIENCE_DECLARED_{}", ident, span = Span::mixed_site());
        let path = format!("::{ident}");
        quote! {
            #[#private::linkme::distributed_slice(#private::DECLARED)]
            #[linkme(crate = #private::linkme)]
            static #declared: #private::Declared = #private::Declared::new(
                &#ident,
                ::core::concat!(::core::module_path!(), #path),
            );
        }
    });
    Some(quote! {
        #[#private::linkme::distributed_slice(#private::registry::SITES)]
        #[linkme(crate = #private::linkme)]
        static #site: #private::registry::Site = #private::registry::Site::new(
            #private::registry::Policy::#variant(&#ident),
            #position,
        );
        #declared
    })
}

/// `match Type::builder(name).option(..)...build() { Ok(p) => p, Err(_) => panic!(..) }`: a
/// constant expression, so it can initialise a `static`. Only the options given are set; the
/// builders hold the defaults.
pub fn policy_value(
    private: &TokenStream,
    layer: &Layer,
    name: &TokenStream,
) -> Option<TokenStream> {
    let ty = policy_type(private, layer, Span::call_site())?;
    let mut calls = TokenStream::new();
    match &layer.config {
        Config::CircuitBreaker(cb) => {
            if let Some(t) = cb.threshold {
                let v = float(t.value);
                calls.extend(quote!(.threshold(#v)));
            }
            if let Some(n) = cb.failures {
                let v = n.value;
                calls.extend(quote!(.consecutive_failures(#v)));
            }
            match cb.window.map(|w| w.value) {
                Some(Window::Calls(n)) => calls.extend(quote!(.window_calls(#n))),
                Some(Window::Time(d)) => {
                    let d = duration(d);
                    calls.extend(quote!(.window_time(#d)))
                }
                None => {}
            }
            if let Some(n) = cb.min_calls {
                let v = n.value;
                calls.extend(quote!(.min_calls(#v)));
            }
            if let Some(d) = cb.slow {
                let d = duration(d.value);
                calls.extend(quote!(.slow(#d)));
            }
            if let Some(t) = cb.slow_threshold {
                let v = float(t.value);
                calls.extend(quote!(.slow_threshold(#v)));
            }
            match cb.open.map(|o| o.value) {
                Some(Open::Fixed(d)) => {
                    let d = duration(d);
                    calls.extend(quote!(.open(#d)));
                }
                Some(Open::Exponential { initial, max }) => {
                    let (i, m) = (duration(initial), duration(max));
                    calls.extend(quote!(.open_exponential(#i, #m)));
                }
                None => {}
            }
            if let Some(n) = cb.half_open {
                let v = n.value;
                calls.extend(quote!(.half_open(#v)));
            }
            if let Some(b) = cb.critical {
                let v = b.value;
                calls.extend(quote!(.critical(#v)));
            }
        }
        Config::Retry(r) => {
            if let Some(n) = r.attempts {
                let v = n.value;
                calls.extend(quote!(.attempts(#v)));
            }
            if let Some(b) = r.backoff {
                let backoff = match b.value {
                    Backoff::Fixed(d) => {
                        let d = duration(d);
                        quote!(#private::Backoff::fixed(#d))
                    }
                    Backoff::Linear { step, max } => {
                        let (s, m) = (duration(step), duration(max));
                        quote!(#private::Backoff::linear(#s, #m))
                    }
                    Backoff::Exponential {
                        initial,
                        factor,
                        max,
                    } => {
                        let (i, m) = (duration(initial), duration(max));
                        let factor = factor.map(|f| {
                            let f = float(f);
                            quote!(.factor(#f))
                        });
                        quote!(#private::Backoff::exponential(#i, #m) #factor)
                    }
                };
                calls.extend(quote!(.backoff(#backoff)));
            }
            if let Some(j) = r.jitter {
                let variant = match j.value {
                    Jitter::None => quote!(None),
                    Jitter::Full => quote!(Full),
                    Jitter::Equal => quote!(Equal),
                    Jitter::Decorrelated => quote!(Decorrelated),
                };
                calls.extend(quote!(.jitter(#private::Jitter::#variant)));
            }
        }
        Config::Timeout(t) => {
            if let Some(d) = t.duration {
                let d = duration(d.value);
                calls.extend(quote!(.duration(#d)));
            }
        }
        Config::Bulkhead(b) => {
            if let Some(n) = b.max {
                let v = n.value;
                calls.extend(quote!(.max(#v)));
            }
            if let Some(n) = b.queue {
                let v = n.value;
                calls.extend(quote!(.queue(#v)));
            }
            if let Some(d) = b.wait {
                let d = duration(d.value);
                calls.extend(quote!(.wait(#d)));
            }
        }
        Config::RateLimiter(rl) => {
            if let Some(r) = rl.rate {
                let (count, per) = (r.value.count, duration(r.value.per));
                calls.extend(quote!(.rate(#count, #per)));
            }
            if let Some(n) = rl.burst {
                let v = n.value;
                calls.extend(quote!(.burst(#v)));
            }
            if let Some(d) = rl.wait {
                let d = duration(d.value);
                calls.extend(quote!(.wait(#d)));
            }
        }
        Config::Fallback => return None,
    }
    let message = format!(
        "invalid #[{}] configuration that the attribute did not catch; please report this as a bug",
        layer.kind.attr_name()
    );
    Some(quote! {
        match #ty::builder(#name) #calls .build() {
            ::core::result::Result::Ok(policy) => policy,
            ::core::result::Result::Err(_) => ::core::panic!(#message),
        }
    })
}
