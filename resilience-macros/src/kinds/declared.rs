//! The kinds no attribute is named after, declared in `policy!` by their constructor
//! (`static API_RETRIES: RetryBudget = retry_budget(..);`, `static DEGRADED: Toggle =
//! toggle(..);`) and used by another kind's option (`budget = ..`, `degraded = ..`). Their
//! arguments are all by name; this is what their parsing shares.

use std::collections::HashSet;

use proc_macro2::TokenStream;
use syn::{LitStr, Path};

use super::prelude::*;
use crate::attr::{Arg, Args};
use crate::check::options::did_you_mean;
use crate::check::values::{crate_path, string};
use resilience_syntax::options as table;

/// A kind declared by its constructor.
pub trait Declared: Default {
    /// The constructor (`retry_budget`), also its kind's name in the option table.
    const CTOR: &'static str;
    /// The runtime type, as written in `policy!` (`RetryBudget`).
    const TYPE: &'static str;
    /// The constructor written with its options, for the messages.
    const EXAMPLE: &'static str;
    /// What it is, for the messages ("a retry budget").
    const WHAT: &'static str;

    /// Takes option `key` of its own (not `name` or `crate`), checked as the table says.
    fn set(&mut self, key: &str, value: &Value, cx: &mut Ctxt);
    /// Where `name = ".."` and `crate = ..` go.
    fn common(&mut self) -> (&mut Option<LitStr>, &mut Option<Path>);
    /// The builder calls that set the options given.
    fn builder_calls(&self) -> TokenStream;
}

/// Validates `CTOR(args)`; `declared` in `policy!` (where `crate` may be given), else in place
/// (where the layer that holds it gives the crate).
pub fn parse<D: Declared>(args: &Args, declared: bool, cx: &mut Ctxt) -> D {
    let mut out = D::default();
    let mut seen = HashSet::new();
    let names: Vec<&str> = table::of(D::CTOR).map(|o| o.name).collect();
    for arg in &args.items {
        let (name, value) = match arg {
            Arg::Named { name, value } => (name, value),
            Arg::Positional(value) => {
                cx.error(
                    value.span(),
                    format!("{} takes its options by name: {}", D::WHAT, D::EXAMPLE),
                );
                continue;
            }
        };
        let key = name.to_string();
        if !names.contains(&key.as_str()) || (key == "crate" && !declared) {
            let message = if key == "crate" {
                format!("'crate' is given on the attribute that holds {}", D::WHAT)
            } else {
                match did_you_mean(&key, &names) {
                    Some(s) => {
                        format!("unknown option '{key}' of {}; did you mean '{s}'?", D::WHAT)
                    }
                    None => format!(
                        "unknown option '{key}' of {}; it takes {}: {}",
                        D::WHAT,
                        names
                            .iter()
                            .filter(|n| **n != "crate")
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", "),
                        D::EXAMPLE
                    ),
                }
            };
            cx.error(name.span(), message);
            continue;
        }
        if !seen.insert(key.clone()) {
            cx.error(
                name.span(),
                format!("duplicate option '{key}'; give it once"),
            );
            continue;
        }
        match key.as_str() {
            "name" => *out.common().0 = string(value, "name", cx),
            "crate" => *out.common().1 = crate_path(value, cx),
            _ => out.set(&key, value, cx),
        }
    }
    out
}

/// The `static` value of a declared kind: its builder, in a `const` context.
pub fn value<D: Declared>(config: &D, private: &TokenStream, name: &TokenStream) -> TokenStream {
    let ty = syn::Ident::new(D::TYPE, proc_macro2::Span::call_site());
    let calls = config.builder_calls();
    let message = format!(
        "the configuration of {} is invalid and the attribute did not catch it; please report this as a bug",
        D::WHAT
    );
    quote::quote! {
        match #private::#ty::builder(#name) #calls .build() {
            ::core::result::Result::Ok(policy) => policy,
            ::core::result::Result::Err(_) => ::core::panic!(#message),
        }
    }
}
