//! Values as the tokens of a `const` expression, for the builder calls of each kind.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::model::Nanos;

/// `Duration::from_nanos(n)`.
pub fn duration(nanos: Nanos) -> TokenStream {
    let n = Literal::u64_suffixed(nanos);
    quote!(::core::time::Duration::from_nanos(#n))
}

/// `f` as an `f64` literal.
pub fn float(f: f64) -> Literal {
    Literal::f64_suffixed(f)
}
