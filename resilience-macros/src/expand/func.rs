//! The annotated item: an `async fn` (free, inherent, trait impl or trait default method), or
//! the shape `#[async_trait]` leaves behind. Parsing, re-emission, and what code generation
//! needs to know about its arguments and return type.

use proc_macro2::{Span, TokenStream};
#[cfg(test)]
use quote::quote;
use quote::{ToTokens, TokenStreamExt, format_ident};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{
    Attribute, Block, Expr, FnArg, GenericArgument, Ident, Pat, PathArguments, ReturnType,
    Signature, Stmt, Token, Type, TypeParamBound, Visibility, token,
};

/// A function as written: the item the attribute is on.
pub struct Func {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub sig: Signature,
    pub body: Option<Body>,
    pub semi: Option<Token![;]>,
}

/// A function's body, with its inner attributes (`#![allow(...)]`) kept apart.
pub struct Body {
    pub brace: token::Brace,
    pub inner_attrs: Vec<Attribute>,
    pub stmts: Vec<Stmt>,
}

impl Parse for Func {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        if input.peek(Token![;]) {
            return Ok(Func {
                attrs,
                vis,
                sig,
                body: None,
                semi: Some(input.parse()?),
            });
        }
        let content;
        let brace = syn::braced!(content in input);
        let inner_attrs = content.call(Attribute::parse_inner)?;
        let stmts = content.call(Block::parse_within)?;
        Ok(Func {
            attrs,
            vis,
            sig,
            body: Some(Body {
                brace,
                inner_attrs,
                stmts,
            }),
            semi: None,
        })
    }
}

impl ToTokens for Func {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.append_all(&self.attrs);
        self.vis.to_tokens(tokens);
        self.sig.to_tokens(tokens);
        if let Some(body) = &self.body {
            body.brace.surround(tokens, |tokens| {
                tokens.append_all(&body.inner_attrs);
                tokens.append_all(&body.stmts);
            });
        }
        self.semi.to_tokens(tokens);
    }
}

/// How an argument reaches the function, which decides how a retry or a fallback passes it on.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// `x: T`, `self`, `self: Arc<Self>`: cloned for each attempt and for the fallback.
    Owned,
    /// `x: &T`, `&self`: copied.
    Shared,
    /// `x: &mut T`, `&mut self`: reborrowed.
    Unique,
}

/// One argument of the function, as generated code refers to it.
pub struct Param {
    /// The name generated code uses: the user's identifier, or a hygienic one for a pattern.
    pub ident: Ident,
    /// How it is passed.
    pub pass: Pass,
    /// `mut` on the binding, kept on per-attempt clones.
    pub mutable: bool,
    /// The pattern to destructure it with in the body, when the user wrote one (`(a, b): (u32, u32)`).
    pub pattern: Option<Pat>,
    /// The argument's span, where a missing `Clone` is reported.
    pub span: Span,
}

/// The receiver, if the function is a method.
pub struct Receiver {
    pub self_token: Token![self],
    pub pass: Pass,
}

fn pass_of(ty: &Type) -> Pass {
    match ty {
        Type::Reference(r) if r.mutability.is_some() => Pass::Unique,
        Type::Reference(_) => Pass::Shared,
        Type::Group(g) => pass_of(&g.elem),
        Type::Paren(p) => pass_of(&p.elem),
        _ => Pass::Owned,
    }
}

/// The receiver and the arguments of `sig`. With `rename_patterns`, arguments written as
/// patterns get a hygienic name in the signature (invisible to callers) and are destructured in
/// the body, so a retry can clone them; `strip_mut` drops `mut` from owned arguments whose
/// per-attempt clones carry it instead.
pub fn params(
    sig: &mut Signature,
    rename_patterns: bool,
    strip_mut: bool,
) -> (Option<Receiver>, Vec<Param>) {
    let mut receiver = None;
    let mut params = Vec::new();
    for (i, input) in sig.inputs.iter_mut().enumerate() {
        match input {
            FnArg::Receiver(r) => {
                let pass = if r.reference.is_some() {
                    if r.mutability.is_some() {
                        Pass::Unique
                    } else {
                        Pass::Shared
                    }
                } else if r.colon_token.is_some() {
                    pass_of(&r.ty)
                } else {
                    Pass::Owned
                };
                if strip_mut && pass == Pass::Owned && r.reference.is_none() {
                    r.mutability = None;
                }
                receiver = Some(Receiver {
                    self_token: r.self_token,
                    pass,
                });
            }
            FnArg::Typed(pt) => {
                let pass = pass_of(&pt.ty);
                let span = pt.span();
                match &mut *pt.pat {
                    Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                        let mutable = pi.mutability.is_some();
                        if strip_mut && pass == Pass::Owned {
                            pi.mutability = None;
                        }
                        params.push(Param {
                            ident: pi.ident.clone(),
                            pass,
                            mutable,
                            pattern: None,
                            span,
                        });
                    }
                    pat if rename_patterns => {
                        let ident =
                            format_ident!("__resilience_arg{}", i, span = Span::mixed_site());
                        let pattern = std::mem::replace(
                            pat,
                            Pat::Ident(syn::PatIdent {
                                attrs: Vec::new(),
                                by_ref: None,
                                mutability: None,
                                ident: ident.clone(),
                                subpat: None,
                            }),
                        );
                        params.push(Param {
                            ident,
                            pass,
                            mutable: false,
                            pattern: Some(pattern),
                            span,
                        });
                    }
                    _ => {}
                }
            }
        }
    }
    (receiver, params)
}

/// Where the body to protect is.
pub enum Shape {
    /// An `async fn`: its own body; returns `Result` directly.
    Async,
    /// A `fn` rewritten by `#[async_trait]`: the body is the `async move` block in
    /// `Box::pin(async move { ... })`, the last expression; the result type is the boxed
    /// future's `Output`.
    AsyncTrait,
}

/// Recognises the shape `#[async_trait]` leaves: a non-async fn returning
/// `Pin<Box<dyn Future<Output = R> + Send + 'async_trait>>` whose last expression is
/// `Box::pin(async move { ... })`.
pub fn async_trait_shape(func: &Func) -> Option<Type> {
    let body = func.body.as_ref()?;
    if func.sig.asyncness.is_some() {
        return None;
    }
    let Some(Stmt::Expr(Expr::Call(call), None)) = body.stmts.last() else {
        return None;
    };
    let Expr::Path(callee) = &*call.func else {
        return None;
    };
    let segments: Vec<String> = callee
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    if !segments.ends_with(&["Box".to_owned(), "pin".to_owned()]) || call.args.len() != 1 {
        return None;
    }
    let Some(Expr::Async(block)) = call.args.first() else {
        return None;
    };
    block.capture?;
    let ReturnType::Type(_, ty) = &func.sig.output else {
        return None;
    };
    future_output(ty)
}

/// The body statements of the `async move` block of the async-trait shape.
pub fn async_trait_block(body: &mut Body) -> Option<&mut Block> {
    let Some(Stmt::Expr(Expr::Call(call), None)) = body.stmts.last_mut() else {
        return None;
    };
    match call.args.first_mut() {
        Some(Expr::Async(block)) => Some(&mut block.block),
        _ => None,
    }
}

/// `R` in a type mentioning `dyn Future<Output = R>`.
fn future_output(ty: &Type) -> Option<Type> {
    match ty {
        Type::Path(p) => p.path.segments.iter().find_map(|seg| match &seg.arguments {
            PathArguments::AngleBracketed(args) => args.args.iter().find_map(|arg| match arg {
                GenericArgument::Type(t) => future_output(t),
                _ => None,
            }),
            _ => None,
        }),
        Type::TraitObject(obj) => obj.bounds.iter().find_map(|b| match b {
            TypeParamBound::Trait(t) => {
                let last = t.path.segments.last()?;
                if last.ident != "Future" {
                    return None;
                }
                match &last.arguments {
                    PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
                        GenericArgument::AssocType(at) if at.ident == "Output" => {
                            Some(at.ty.clone())
                        }
                        _ => None,
                    }),
                    _ => None,
                }
            }
            _ => None,
        }),
        Type::Group(g) => future_output(&g.elem),
        Type::Paren(p) => future_output(&p.elem),
        _ => None,
    }
}

/// Whether `ty` is a `Result`: a path whose last segment is `Result` (`io::Result<T>` counts).
pub fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => {
            p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == "Result")
        }
        Type::Group(g) => is_result(&g.elem),
        Type::Paren(p) => is_result(&p.elem),
        _ => false,
    }
}

/// Whether `ty` mentions `impl Trait`, which cannot be written in a `let` (so the fake return
/// edge is left out and inference does the work).
pub fn mentions_impl_trait(ty: &Type) -> bool {
    ty.to_token_stream()
        .into_iter()
        .any(|t| matches!(t, proc_macro2::TokenTree::Ident(i) if i == "impl"))
        || ty
            .to_token_stream()
            .into_iter()
            .any(|t| matches!(t, proc_macro2::TokenTree::Group(g) if mentions_impl(g.stream())))
}

fn mentions_impl(ts: TokenStream) -> bool {
    ts.into_iter().any(|t| match t {
        proc_macro2::TokenTree::Ident(i) => i == "impl",
        proc_macro2::TokenTree::Group(g) => mentions_impl(g.stream()),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_is_recognised_by_its_last_segment() {
        for src in [
            "Result<u32, E>",
            "io::Result<u32>",
            "anyhow::Result<()>",
            "std::result::Result<(), E>",
        ] {
            assert!(is_result(&syn::parse_str(src).expect("type")), "{src}");
        }
        for src in ["u32", "Option<u32>", "impl Future<Output = u32>"] {
            assert!(!is_result(&syn::parse_str(src).expect("type")), "{src}");
        }
    }

    #[test]
    fn async_trait_output_is_found() {
        let ty: Type = syn::parse_str(
            "::core::pin::Pin<Box<dyn ::core::future::Future<Output = Result<u32, E>> + ::core::marker::Send + 'async_trait>>",
        )
        .expect("type");
        let out = future_output(&ty).expect("output");
        assert_eq!(quote!(#out).to_string(), quote!(Result<u32, E>).to_string());
    }

    #[test]
    fn params_know_how_each_argument_is_passed() {
        let mut sig: Signature = syn::parse_str(
            "async fn f(&mut self, a: &str, mut b: Vec<u8>, (c, d): (u8, u8), e: &mut u8)",
        )
        .expect("signature");
        let (receiver, params) = params(&mut sig, true, true);
        assert!(matches!(receiver.map(|r| r.pass), Some(Pass::Unique)));
        let passes: Vec<_> = params.iter().map(|p| p.pass).collect();
        assert!(passes == [Pass::Shared, Pass::Owned, Pass::Owned, Pass::Unique]);
        assert!(params[1].mutable && params[2].pattern.is_some());
        assert!(!quote!(#sig).to_string().contains("mut b"));
    }

    #[test]
    fn impl_trait_is_seen_inside_generics() {
        assert!(mentions_impl_trait(
            &syn::parse_str("Result<impl Display, E>").expect("type")
        ));
        assert!(!mentions_impl_trait(
            &syn::parse_str("Result<u32, E>").expect("type")
        ));
    }
}
