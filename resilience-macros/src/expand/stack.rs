//! Stacking: the first of our attributes to expand takes the contiguous run of our attributes
//! directly below it and generates the whole stack, so the top attribute is the outermost layer.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Attribute, Meta};

use crate::model::Kind;
use crate::validate::Ctxt;

/// The argument of an attribute taken into a stack, re-invoked on a dummy item so the import
/// that named it counts as used; that invocation expands to nothing.
pub const STACKED: &str = "__resilience_stacked";

/// Items that invoke each attribute of the run once more, marked [`STACKED`], so imports such
/// as `use resilience::timeout;` count as used although the stack took the attribute over.
pub fn mark_used(run: &[Source]) -> TokenStream {
    let marker = syn::Ident::new(STACKED, Span::call_site());
    run.iter()
        .filter_map(|s| s.path.as_ref())
        .map(|path| quote::quote!(#[#path(#marker)] const _: () = ();))
        .collect()
}

/// One attribute of the stack, not yet validated.
pub struct Source {
    pub kind: Kind,
    pub args: TokenStream,
    /// The attribute's path as written (`retry`, `resilience::retry`), `None` for the expanding one.
    pub path: Option<syn::Path>,
    /// The attribute's span, for errors about it as a whole.
    pub span: Span,
}

/// Our attribute's kind, if `attr`'s path ends in one of our six names: `retry`,
/// `resilience::retry`, `::resilience::retry`, `res::retry` after `use resilience as res`, or
/// `infra::resilience::retry` through a re-export. Only attributes directly below one of ours
/// are asked, so a path ending in our name there is taken to be ours; one we cannot recognise
/// (a `use resilience::retry as with_retry` rename) is caught by [`MARKER`] when it expands.
pub fn ours(attr: &Attribute) -> Option<Kind> {
    let last = attr.path().segments.last()?;
    Kind::from_attr_name(&last.ident.to_string())
}

/// The name of an item that every generated stack leaves first in the function's body. One of
/// our attributes that expands on a function already holding it was not recognised as part of
/// the stack above it (a `use .. as` rename), and would wrap the whole stack instead of taking
/// its place in it: it reports an error instead of reordering the stack silently.
pub const MARKER: &str = "__resilience_stack_expanded";

/// The item named [`MARKER`].
pub fn marker() -> TokenStream {
    let marker = syn::Ident::new(MARKER, Span::call_site());
    quote::quote!(#[allow(dead_code, non_camel_case_types)] struct #marker;)
}

/// Whether a stack was already generated in `stmts`, a function body's statements.
pub fn expanded(stmts: &[syn::Stmt]) -> bool {
    stmts.iter().any(|stmt| match stmt {
        syn::Stmt::Item(syn::Item::Struct(s)) => s.ident == MARKER,
        syn::Stmt::Item(syn::Item::Verbatim(tokens)) => tokens
            .clone()
            .into_iter()
            .any(|t| matches!(t, proc_macro2::TokenTree::Ident(i) if i == MARKER)),
        _ => false,
    })
}

/// Line and column of a span, when the compiler can tell (inside a procedural macro).
fn position(span: Span) -> Option<(usize, usize)> {
    if !proc_macro::is_available() {
        return None;
    }
    let span = span.unwrap();
    Some((span.line(), span.column()))
}

/// Splits `attrs` (the item's attributes, without the expanding one at `call_site`) into the
/// run of our attributes directly below the expanding one, and the attributes to keep.
///
/// Inert attributes written above the expanding one (`///` docs, `#[inline]`) are in `attrs`
/// too; source positions tell them apart. Where positions are unknown (generated code), the
/// attributes before the first of ours count as above.
pub fn collect(
    call_site: Span,
    attrs: Vec<Attribute>,
    cx: &mut Ctxt,
) -> (Vec<Source>, Vec<Attribute>) {
    let me = position(call_site);
    let positions: Option<Vec<(usize, usize)>> =
        attrs.iter().map(|a| position(a.pound_token.span)).collect();
    let below: Vec<bool> = match (me, positions) {
        (Some(me), Some(ps)) if ps.iter().all(|p| *p != me) => ps.iter().map(|p| *p > me).collect(),
        _ => {
            let first = attrs
                .iter()
                .position(|a| ours(a).is_some())
                .unwrap_or(attrs.len());
            (0..attrs.len()).map(|i| i >= first).collect()
        }
    };

    let mut run = Vec::new();
    let mut kept = Vec::new();
    let mut in_run = true;
    let mut separator: Option<String> = None;
    for (attr, below) in attrs.into_iter().zip(below) {
        if !below {
            kept.push(attr);
            continue;
        }
        match ours(&attr) {
            Some(kind) if in_run => match &attr.meta {
                Meta::Path(p) => run.push(Source {
                    kind,
                    args: TokenStream::new(),
                    path: Some(p.clone()),
                    span: attr.span(),
                }),
                Meta::List(list) => run.push(Source {
                    kind,
                    args: list.tokens.clone(),
                    path: Some(list.path.clone()),
                    span: attr.span(),
                }),
                Meta::NameValue(nv) => {
                    cx.error(
                        nv.eq_token.span,
                        format!(
                            "#[{} = ...] is not an attribute form; write #[{}(...)]",
                            kind.attr_name(),
                            kind.attr_name()
                        ),
                    );
                }
            },
            Some(kind) => {
                let other = separator.clone().unwrap_or_default();
                let span = attr
                    .path()
                    .segments
                    .last()
                    .map_or_else(|| attr.span(), |s| s.ident.span());
                cx.error(span, format!(
                    "#[{}] is separated from the resilience attributes above it by #[{other}]; write them together, one directly below the other, and move #[{other}] above them",
                    kind.attr_name()
                ));
            }
            None => {
                if in_run {
                    separator = Some(
                        attr.path()
                            .segments
                            .iter()
                            .map(|s| s.ident.to_string())
                            .collect::<Vec<_>>()
                            .join("::"),
                    );
                }
                in_run = false;
                kept.push(attr);
            }
        }
    }
    (run, kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn the_run_stops_at_the_first_other_attribute() {
        let attrs: Vec<Attribute> = vec![
            parse_quote!(#[doc = "docs"]),
            parse_quote!(#[resilience::timeout(1s)]),
            parse_quote!(#[::resilience::retry]),
            parse_quote!(#[inline]),
        ];
        let mut cx = Ctxt::default();
        let (run, kept) = collect(Span::call_site(), attrs, &mut cx);
        assert!(cx.is_ok());
        assert_eq!(
            run.iter().map(|s| s.kind).collect::<Vec<_>>(),
            [Kind::Timeout, Kind::Retry]
        );
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn an_attribute_of_ours_after_another_is_an_error() {
        let attrs: Vec<Attribute> = vec![
            parse_quote!(#[timeout(1s)]),
            parse_quote!(#[inline]),
            parse_quote!(#[bulkhead(max = 1)]),
        ];
        let mut cx = Ctxt::default();
        let (run, _) = collect(Span::call_site(), attrs, &mut cx);
        assert_eq!(run.len(), 1);
        assert!(!cx.is_ok());
    }

    #[test]
    fn any_path_ending_in_one_of_our_names_is_ours() {
        for attr in [
            parse_quote!(#[res::retry(attempts = 2)]),
            parse_quote!(#[infra::resilience::retry]),
            parse_quote!(#[::resilience::retry]),
            parse_quote!(#[retry]),
        ] {
            assert_eq!(ours(&attr), Some(Kind::Retry));
        }
        let attr: Attribute = parse_quote!(#[tracing::instrument]);
        assert!(ours(&attr).is_none());
        let attr: Attribute = parse_quote!(#[with_retry]);
        assert!(ours(&attr).is_none());
    }
}
