//! `policy!`: shared policies declared once as statics and named by path at each use site.
//!
//! ```text
//! policy! {
//!     /// docs
//!     pub static PAYMENTS: CircuitBreaker = circuit_breaker(threshold = 50%, open = 30s);
//! }
//! ```

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Attribute, Ident, LitStr, Path, Token, Visibility};

use crate::attr::{Args, parse_args};
use crate::kinds::declared::{self, Declared};
use crate::kinds::{RetryBudget, Toggle};
use crate::model::Kind;
use crate::validate::Layer;
use crate::validate::{self, Ctxt, Site, did_you_mean};

use super::builder;

struct Decl {
    attrs: Vec<Attribute>,
    vis: Visibility,
    ident: Ident,
    ty: Path,
    ctor: Ident,
    args: TokenStream,
}

struct Decls(Vec<Decl>);

impl Parse for Decls {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut decls = Vec::new();
        while !input.is_empty() {
            let attrs = input.call(Attribute::parse_outer)?;
            let vis = input.parse()?;
            input.parse::<Token![static]>().map_err(|e| {
                const EXPECTED: &str = "expected a declaration: pub static NAME: CircuitBreaker = circuit_breaker(...);";
                // At the end of the input there is no token to point at: point at what came
                // before the missing declaration (its attributes or visibility) instead.
                if input.is_empty() {
                    if !matches!(vis, Visibility::Inherited) {
                        return syn::Error::new_spanned(&vis, EXPECTED);
                    }
                    if let Some(last) = attrs.last() {
                        return syn::Error::new_spanned(last, EXPECTED);
                    }
                }
                syn::Error::new(e.span(), EXPECTED)
            })?;
            let ident = input.parse()?;
            input.parse::<Token![:]>()?;
            let ty = input.parse()?;
            input.parse::<Token![=]>()?;
            let ctor: Ident = input.parse()?;
            let args = if input.peek(syn::token::Paren) {
                let content;
                syn::parenthesized!(content in input);
                content.parse()?
            } else {
                TokenStream::new()
            };
            input.parse::<Token![;]>()?;
            decls.push(Decl {
                attrs,
                vis,
                ident,
                ty,
                ctor,
                args,
            });
        }
        Ok(Decls(decls))
    }
}

const TYPES: [&str; 14] = [
    "CircuitBreaker",
    "Retry",
    "Timeout",
    "Bulkhead",
    "RateLimiter",
    "KeyedCircuitBreaker",
    "KeyedBulkhead",
    "KeyedRateLimiter",
    "RetryBudget",
    "Toggle",
    "Chaos",
    "Idempotency",
    "Cache",
    "Hedge",
];

/// The kinds a keyed family can be made of.
const KEYABLE: [Kind; 3] = [Kind::CircuitBreaker, Kind::Bulkhead, Kind::RateLimiter];
const CTORS: [&str; 11] = [
    "circuit_breaker",
    "retry",
    "timeout",
    "bulkhead",
    "rate_limiter",
    "retry_budget",
    "toggle",
    "chaos",
    "idempotent",
    "cache",
    "hedge",
];

/// Expands `policy! { ... }`.
pub fn policy(input: TokenStream) -> TokenStream {
    let decls: Decls = match syn::parse2(input) {
        Ok(d) => d,
        Err(e) => return e.into_compile_error(),
    };
    let mut out = TokenStream::new();
    for decl in &decls.0 {
        let mut cx = Ctxt::default();
        let ty_name = decl
            .ty
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        if ty_name == RetryBudget::TYPE || decl.ctor == RetryBudget::CTOR {
            out.extend(declared_only::<RetryBudget>(decl, &ty_name, cx));
            continue;
        }
        if ty_name == Toggle::TYPE || decl.ctor == Toggle::CTOR {
            out.extend(declared_only::<Toggle>(decl, &ty_name, cx));
            continue;
        }
        // `KeyedRateLimiter`: a family of the kind, one per key.
        let (keyed, kind_name) = match ty_name.strip_prefix("Keyed") {
            Some(rest) => (true, rest),
            None => (false, ty_name.as_str()),
        };
        let kind = Kind::ALL.into_iter().find(|k| {
            k.type_name() == kind_name && *k != Kind::Fallback && (!keyed || KEYABLE.contains(k))
        });
        if kind.is_none() {
            let hint = match did_you_mean(&ty_name, &TYPES) {
                Some(s) => format!("did you mean '{s}'?"),
                None => format!("a shared policy is one of {}", TYPES.join(", ")),
            };
            cx.error(
                decl.ty.span(),
                format!("unknown policy type '{ty_name}'; {hint}"),
            );
        }
        let ctor = decl.ctor.to_string();
        let ctor_kind = Kind::from_attr_name(&ctor).filter(|k| *k != Kind::Fallback);
        match (kind, ctor_kind) {
            (Some(k), Some(c)) if k != c => cx.error(
                decl.ctor.span(),
                format!(
                    "{ctor}(...) builds a {}, but {} is declared as a {}; write {} = {}(...)",
                    c.type_name(),
                    decl.ident,
                    k.type_name(),
                    k.type_name(),
                    k.attr_name()
                ),
            ),
            (_, None) => {
                let hint = match did_you_mean(&ctor, &CTORS) {
                    Some(s) => format!("did you mean '{s}'?"),
                    None => format!("write one of {}", CTORS.join(", ")),
                };
                cx.error(decl.ctor.span(), format!("unknown policy '{ctor}'; {hint}"));
            }
            _ => {}
        }
        let Some(kind) = kind else {
            out.extend(cx.finish().err().map(syn::Error::into_compile_error));
            continue;
        };
        let mut layer = match parse_args(decl.args.clone()) {
            Ok(args) if ctor_kind == Some(kind) => Some(validate::layer(
                kind,
                &args,
                decl.ctor.span(),
                Site::Declaration(&decl.ident),
                &mut cx,
            )),
            Ok(_) => None,
            Err(e) => {
                cx.push(e);
                None
            }
        };
        let krate = layer
            .as_ref()
            .and_then(|l| l.krate.clone())
            .map(|p| quote!(#p))
            .unwrap_or(quote!(::resilience));
        let private = quote!(#krate::__private);
        let name = match layer.as_ref().and_then(|l| l.name.clone()) {
            Some(name) => name,
            None => LitStr::new(&decl.ident.to_string(), decl.ident.span()),
        };
        let name = quote!(#name);
        if let Some(layer) = &mut layer {
            layer.keyed = keyed;
            keyed_rules(layer, &decl.ident, &mut cx);
        }
        let ok = cx.is_ok();
        // With an error, the static is still declared (with a valid configuration) so its uses
        // type-check and only the real error shows.
        let mut layer = match layer {
            Some(layer) if ok => layer,
            _ => placeholder(kind),
        };
        layer.keyed = keyed;
        let (Some(ty), Some(value)) = (
            builder::policy_type(&private, &layer, decl.ty.span()),
            builder::policy_value(&private, &layer, &name),
        ) else {
            continue;
        };
        let Decl {
            attrs, vis, ident, ..
        } = decl;
        let registration = builder::registration(&private, &layer, ident, ident.span(), true);
        let declared = quote! {
            #(#attrs)*
            #vis static #ident: #ty = #value;
            #registration
        };
        // A chaos layer is kept only with the `chaos` feature, as the attribute's is.
        out.extend(if kind == Kind::Chaos {
            quote!(#private::chaos! { items { #declared } })
        } else {
            declared
        });
        out.extend(cx.finish().err().map(syn::Error::into_compile_error));
    }
    out
}

/// `static NAME: RetryBudget = retry_budget(..);`, `static NAME: Toggle = toggle(..);`: a kind
/// declared by its constructor, which the policies that name it share.
fn declared_only<D: Declared>(decl: &Decl, ty_name: &str, mut cx: Ctxt) -> TokenStream {
    let ident = &decl.ident;
    let (ty, ctor) = (D::TYPE, D::CTOR);
    if ty_name != ty {
        cx.error(
            decl.ty.span(),
            format!("{ctor}(...) builds a {ty}, but {ident} is declared as a {ty_name}; write {ident}: {ty} = {ctor}(...)"),
        );
    } else if decl.ctor != ctor {
        cx.error(
            decl.ctor.span(),
            format!(
                "a {ty} is built by {ctor}(...), not {}(...): write {ident}: {ty} = {}",
                decl.ctor,
                D::EXAMPLE
            ),
        );
    }
    // The arguments of another constructor are not this kind's: the error above says so.
    let config: D = match parse_args(decl.args.clone()) {
        Ok(args) if decl.ctor == ctor => declared::parse(&args, true, &mut cx),
        Ok(_) => D::default(),
        Err(e) => {
            cx.push(e);
            D::default()
        }
    };
    let mut config = config;
    let (name, krate) = config.common();
    let krate = krate
        .clone()
        .map(|p| quote!(#p))
        .unwrap_or(quote!(::resilience));
    let name = match name {
        Some(name) => name.clone(),
        None => LitStr::new(&ident.to_string(), ident.span()),
    };
    let private = quote!(#krate::__private);
    // With an error, the static is still declared (with the defaults) so its uses type-check
    // and only the real error shows.
    let config = if cx.is_ok() { config } else { D::default() };
    let value = declared::value(&config, &private, &quote!(#name));
    let ty_ident = Ident::new(ty, decl.ty.span());
    let ty = quote_spanned!(decl.ty.span()=> #private::#ty_ident);
    let registration =
        builder::registration_of(&private, quote!(#ty_ident), ident, ident.span(), true);
    let Decl { attrs, vis, .. } = decl;
    let mut out = quote! {
        #(#attrs)*
        #vis static #ident: #ty = #value;
        #registration
    };
    out.extend(cx.finish().err().map(syn::Error::into_compile_error));
    out
}

/// What the declared type says of the family options: `max_keys` and `idle` need a `Keyed*`
/// type, and a keyed breaker cannot be `critical`.
fn keyed_rules(layer: &Layer, ident: &Ident, cx: &mut Ctxt) {
    let Some(options) = layer.config.keyed() else {
        return;
    };
    let ty = layer.kind.type_name();
    if !layer.keyed {
        for (option, span) in [
            ("max_keys", options.max_keys.map(|m| m.span)),
            ("idle", options.idle.map(|i| i.span)),
        ] {
            if let Some(span) = span {
                cx.error(
                    span,
                    format!(
                        "'{option}' bounds a keyed family, one policy per key: declare {ident}: Keyed{ty}, or remove {option}"
                    ),
                );
            }
        }
    }
    if let crate::kinds::Config::CircuitBreaker(cb) = &layer.config
        && layer.keyed
        && let Some(critical) = cb.critical.filter(|c| c.value)
    {
        cx.error(critical.span, crate::kinds::CRITICAL_KEYED);
    }
}

/// A valid configuration of `kind`, declared in place of one with errors.
fn placeholder(kind: Kind) -> Layer {
    let args: Args = syn::parse_str(match kind {
        Kind::Timeout => "1s",
        Kind::Bulkhead => "max = 1",
        Kind::RateLimiter => "1/s",
        Kind::Cache => "ttl = 1s",
        Kind::Hedge => "after = 1s",
        _ => "",
    })
    .unwrap_or(Args { items: Vec::new() });
    validate::layer(
        kind,
        &args,
        Span::call_site(),
        Site::Attribute,
        &mut Ctxt::default(),
    )
}
