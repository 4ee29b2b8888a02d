//! The `static` value of a policy: its runtime builder, called in a `const` context. Shared by
//! the attributes (one static per inline policy) and `policy!`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;

use syn::spanned::Spanned as _;

use crate::kinds::{Budget, Config};
use crate::validate::Layer;

/// The runtime type of the layer's policy (`::resilience::__private::Retry`, or for a keyed
/// one its family: `KeyedRateLimiter`), or `None` for a fallback, which holds no state.
pub fn policy_type(private: &TokenStream, layer: &Layer, span: Span) -> Option<TokenStream> {
    if layer.keyed {
        return Some(match layer.config {
            Config::CircuitBreaker(_) => quote_spanned!(span=> #private::KeyedCircuitBreaker),
            Config::Bulkhead(_) => quote_spanned!(span=> #private::KeyedBulkhead),
            Config::RateLimiter(_) => quote_spanned!(span=> #private::KeyedRateLimiter),
            _ => return None,
        });
    }
    kind_type(private, layer, span)
}

/// The runtime type of the layer's kind, whose builder makes its policy.
fn kind_type(private: &TokenStream, layer: &Layer, span: Span) -> Option<TokenStream> {
    Some(match layer.config {
        Config::CircuitBreaker(_) => quote_spanned!(span=> #private::CircuitBreaker),
        Config::Retry(_) => quote_spanned!(span=> #private::Retry),
        Config::Timeout(_) => quote_spanned!(span=> #private::Timeout),
        Config::Bulkhead(_) => quote_spanned!(span=> #private::Bulkhead),
        Config::RateLimiter(_) => quote_spanned!(span=> #private::RateLimiter),
        Config::Chaos(_) => quote_spanned!(span=> #private::Chaos),
        Config::Idempotent(_) => quote_spanned!(span=> #private::Idempotency),
        Config::Cache(_) => quote_spanned!(span=> #private::Cache),
        Config::Hedge(_) => quote_spanned!(span=> #private::Hedge),
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
        Config::CircuitBreaker(_) if layer.keyed => quote!(KeyedCircuitBreaker),
        Config::Bulkhead(_) if layer.keyed => quote!(KeyedBulkhead),
        Config::RateLimiter(_) if layer.keyed => quote!(KeyedRateLimiter),
        Config::CircuitBreaker(_) => quote!(CircuitBreaker),
        Config::Retry(_) => quote!(Retry),
        Config::Timeout(_) => quote!(Timeout),
        Config::Bulkhead(_) => quote!(Bulkhead),
        Config::RateLimiter(_) => quote!(RateLimiter),
        Config::Chaos(_) => quote!(Chaos),
        Config::Idempotent(_) => quote!(Idempotency),
        Config::Cache(_) => quote!(Cache),
        Config::Hedge(_) => quote!(Hedge),
        Config::Fallback => return None,
    };
    registration_of(private, variant, ident, at, shared)
}

/// The registration of the static `ident`, a `registry::Policy::#variant` (see
/// [`registration`]).
pub fn registration_of(
    private: &TokenStream,
    variant: TokenStream,
    ident: &Ident,
    at: Span,
    shared: bool,
) -> Option<TokenStream> {
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
    let ty = kind_type(private, layer, Span::call_site())?;
    let mut calls = layer.config.builder_calls(private)?;
    let budget = match &layer.config {
        Config::Retry(retry) => retry.budget.as_ref(),
        Config::Hedge(hedge) => hedge.budget.as_ref(),
        _ => None,
    };
    if let Some(budget) = budget {
        let budget = budget_reference(private, budget, name);
        calls.extend(quote!(.budget(#budget)));
    }
    let message = format!(
        "invalid #[{}] configuration that the attribute did not catch; please report this as a bug",
        layer.kind.attr_name()
    );
    // A family frees its children when dropped (and an idempotency store its results), so a
    // `const` cannot match on a `Result` that holds one: the settings are checked in the match
    // and the policy built in its arm.
    if let Config::Idempotent(_) | Config::Cache(_) = layer.config {
        return Some(quote! {
            match #ty::builder(#name) #calls .check() {
                ::core::result::Result::Ok(checked) => checked.build(),
                ::core::result::Result::Err(_) => ::core::panic!(#message),
            }
        });
    }
    if let Some(keyed) = layer.config.keyed().filter(|_| layer.keyed) {
        let family = keyed.builder_calls();
        return Some(quote! {
            match #ty::builder(#name) #calls #family .check() {
                ::core::result::Result::Ok(checked) => checked.build(),
                ::core::result::Result::Err(_) => ::core::panic!(#message),
            }
        });
    }
    Some(quote! {
        match #ty::builder(#name) #calls .build() {
            ::core::result::Result::Ok(policy) => policy,
            ::core::result::Result::Err(_) => ::core::panic!(#message),
        }
    })
}

/// What a retry's builder takes as its budget: `&PATH`, or a block that declares the budget
/// written in place (registered as `<the retry's name>/budget`, or by its own `name`) and
/// gives it.
fn budget_reference(
    private: &TokenStream,
    budget: &Budget,
    retry_name: &TokenStream,
) -> TokenStream {
    match budget {
        // At the path: a policy of another kind is a type error there.
        Budget::Shared(path) => quote_spanned!(path.span()=> &#path),
        Budget::Inline(config, span) => {
            let name = match &config.name {
                Some(name) => quote!(#name),
                None => quote!(::core::concat!(#retry_name, "/budget")),
            };
            let ident = format_ident!("__RESILIENCE_BUDGET", span = Span::mixed_site());
            let value = crate::kinds::declared::value(config.as_ref(), private, &name);
            let registration = registration_of(private, quote!(RetryBudget), &ident, *span, false);
            quote! {{
                static #ident: #private::RetryBudget = #value;
                #registration
                &#ident
            }}
        }
    }
}
