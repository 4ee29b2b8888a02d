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
    /// The parameter as a message shows it: `id: u64`.
    pub shown: String,
}

/// The receiver, if the function is a method.
pub struct Receiver {
    pub self_token: Token![self],
    /// The name the protected body and the fallback reach the receiver by: `self`, or the local
    /// it was moved into (`__self` in the `#[async_trait]` shape; a hygienic local where a retry
    /// gives each attempt its own clone, see [`rename_self`]).
    pub binding: TokenStream,
    /// The name each attempt's clone is bound to, where the receiver is cloned per attempt.
    pub per_attempt: Option<Ident>,
    /// `mut self`: kept on the per-attempt clone.
    pub mutable: bool,
    /// `self: Pin<&mut Self>`: not `Clone`, so each attempt gets a reborrow of it
    /// (`Pin::as_mut`) rather than a clone.
    pub pinned: bool,
    pub pass: Pass,
    /// The receiver as a message shows it: `&self`, `self: Arc<Self>`.
    pub shown: String,
}

/// How a receiver reaches the method: `&self`, `&mut self`, `self`, or by its type
/// (`self: &mut Self`, `self: Arc<Self>`).
pub fn receiver_pass(r: &syn::Receiver) -> Pass {
    match (&r.reference, r.mutability, r.colon_token) {
        (Some(_), Some(_), _) => Pass::Unique,
        (Some(_), None, _) => Pass::Shared,
        (None, _, Some(_)) => pass_of(&r.ty),
        (None, _, None) => Pass::Owned,
    }
}

/// Whether a receiver is `self: Pin<&mut Self>`: owned, but a unique borrow all the same.
pub fn is_pinned_receiver(r: &syn::Receiver) -> bool {
    r.reference.is_none() && r.colon_token.is_some() && is_pinned_ref(&r.ty)
}

pub fn pass_of(ty: &Type) -> Pass {
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
                let pass = receiver_pass(r);
                let shown = match (&r.reference, r.colon_token) {
                    (Some((and, lifetime)), _) => {
                        let mutability = r.mutability;
                        tokens_to_text(quote::quote!(#and #lifetime #mutability self))
                    }
                    (None, Some(_)) => format!("self: {}", tokens_to_text(r.ty.to_token_stream())),
                    (None, None) => "self".to_owned(),
                };
                let mutable = r.reference.is_none() && r.mutability.is_some();
                if strip_mut && pass == Pass::Owned && r.reference.is_none() {
                    r.mutability = None;
                }
                let self_token = r.self_token;
                let pinned = is_pinned_receiver(r);
                receiver = Some(Receiver {
                    self_token,
                    binding: quote::quote!(#self_token),
                    per_attempt: None,
                    mutable,
                    pinned,
                    pass,
                    shown,
                });
            }
            FnArg::Typed(pt) => {
                let pass = pass_of(&pt.ty);
                let span = pt.span();
                let shown = format!(
                    "{}: {}",
                    match &*pt.pat {
                        Pat::Ident(pi) => pi.ident.to_string(),
                        pat => tokens_to_text(pat.to_token_stream()),
                    },
                    tokens_to_text(pt.ty.to_token_stream())
                );
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
                            shown,
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
                            shown,
                        });
                    }
                    _ => {}
                }
            }
        }
    }
    (receiver, params)
}

/// Whether `ty` is `Pin<&mut T>` (any path ending in `Pin`).
fn is_pinned_ref(ty: &Type) -> bool {
    let Type::Path(p) = ty else { return false };
    let Some(last) = p.path.segments.last() else {
        return false;
    };
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return false;
    };
    last.ident == "Pin"
        && matches!(
            args.args.first(),
            Some(GenericArgument::Type(Type::Reference(r))) if r.mutability.is_some()
        )
}

/// Replaces the receiver `self` in a function body's statements with `ident`, so a retry can
/// bind each attempt's own clone of it (`self` itself cannot be rebound). Nested items keep
/// their own `self`; inside macro invocations, a `self` token not followed by `::` is the
/// receiver.
pub fn rename_self(stmts: &mut [Stmt], ident: &Ident) {
    use syn::visit_mut::VisitMut;
    struct Rename<'a>(&'a Ident);
    impl VisitMut for Rename<'_> {
        fn visit_item_mut(&mut self, _: &mut syn::Item) {}
        fn visit_expr_path_mut(&mut self, e: &mut syn::ExprPath) {
            if e.qself.is_none() && e.path.is_ident("self") {
                let span = e.path.segments[0].ident.span();
                e.path = Ident::new(&self.0.to_string(), self.0.span().located_at(span)).into();
            }
        }
        fn visit_macro_mut(&mut self, m: &mut syn::Macro) {
            m.tokens = rename_in_tokens(std::mem::take(&mut m.tokens), self.0);
        }
    }
    for stmt in stmts {
        Rename(ident).visit_stmt_mut(stmt);
    }
}

fn rename_in_tokens(tokens: TokenStream, ident: &Ident) -> TokenStream {
    use proc_macro2::TokenTree;
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = Vec::with_capacity(tokens.len());
    for (i, token) in tokens.iter().enumerate() {
        let path_follows = matches!(tokens.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == ':')
            && matches!(tokens.get(i + 2), Some(TokenTree::Punct(p)) if p.as_char() == ':');
        out.push(match token {
            TokenTree::Ident(id) if id == "self" && !path_follows => TokenTree::Ident(Ident::new(
                &ident.to_string(),
                ident.span().located_at(id.span()),
            )),
            TokenTree::Group(g) => {
                let mut group =
                    proc_macro2::Group::new(g.delimiter(), rename_in_tokens(g.stream(), ident));
                group.set_span(g.span());
                TokenTree::Group(group)
            }
            other => other.clone(),
        });
    }
    out.into_iter().collect()
}

/// The statements `#[async_trait]` puts before the body in its `async move` block, split from
/// the body: its return-type hint (`if let Some(__ret) = None::<R> { return __ret; }`) and the
/// moves of the arguments into locals (`let __self = self;`, `let x = x;`). They run once per
/// call, outside every policy; the rest (pattern arguments, the body) runs per attempt. Also
/// returns the name of the local the receiver was moved into, if any.
pub fn split_async_trait_prelude(stmts: &mut Vec<Stmt>) -> (Vec<Stmt>, Option<Ident>) {
    let mut prelude = Vec::new();
    let mut receiver = None;
    while let Some(first) = stmts.first() {
        let keep_outside = match first {
            Stmt::Expr(Expr::If(e), None) => matches!(&*e.cond, Expr::Let(_)),
            Stmt::Local(local) => match (&local.pat, &local.init) {
                (Pat::Ident(pi), Some(init)) if init.diverge.is_none() => match &*init.expr {
                    Expr::Path(p) if p.path.is_ident("self") => {
                        receiver = Some(pi.ident.clone());
                        true
                    }
                    Expr::Path(p) => p.path.is_ident(&pi.ident),
                    _ => false,
                },
                _ => false,
            },
            _ => false,
        };
        if !keep_outside {
            break;
        }
        prelude.push(stmts.remove(0));
    }
    (prelude, receiver)
}

/// Where the body to protect is.
pub enum Shape {
    /// An `async fn`: its own body; returns `Result` directly.
    Async,
    /// A `fn` rewritten by `#[async_trait]`: the body is the `async move` block in
    /// `Box::pin(async move { ... })`, the last expression; the result type is the boxed
    /// future's `Output`.
    AsyncTrait,
    /// A plain `fn`: its own body, run as an `async fn`'s would be, by
    /// `resilience::blocking::run` on the calling thread.
    Plain,
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

/// Whether `ty` may name a `Result` through an alias: a path whose last segment is not a
/// type known to be something else (`Res<u32>`, `io::Outcome`, but not `u32` or `Option<T>`).
pub fn may_be_result(ty: &Type) -> bool {
    const NOT_RESULTS: &[&str] = &[
        "Option", "Vec", "String", "Box", "Arc", "Rc", "HashMap", "HashSet", "BTreeMap", "bool",
        "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64",
        "i128", "isize", "f32", "f64", "Self",
    ];
    match ty {
        Type::Path(p) => {
            p.qself.is_some()
                || p.path
                    .segments
                    .last()
                    .is_some_and(|s| !NOT_RESULTS.contains(&s.ident.to_string().as_str()))
        }
        Type::Group(g) => may_be_result(&g.elem),
        Type::Paren(p) => may_be_result(&p.elem),
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

/// Tokens as a person writes them (`&'a mut Vec<u8>`, not `& 'a mut Vec < u8 >`), for messages.
pub fn tokens_to_text(tokens: TokenStream) -> String {
    let mut text = String::new();
    write_tokens(&mut text, tokens);
    text
}

fn write_tokens(text: &mut String, tokens: TokenStream) {
    use proc_macro2::{Delimiter, TokenTree};
    for token in tokens {
        match token {
            TokenTree::Ident(ident) => {
                let word = ident.to_string();
                if text.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '>') {
                    text.push(' ');
                }
                text.push_str(&word);
            }
            TokenTree::Literal(lit) => {
                if text.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                    text.push(' ');
                }
                text.push_str(&lit.to_string());
            }
            TokenTree::Punct(punct) => match punct.as_char() {
                ',' | ';' => {
                    text.push(punct.as_char());
                    text.push(' ');
                }
                ':' if punct.spacing() == proc_macro2::Spacing::Joint || text.ends_with(':') => {
                    text.push(':')
                }
                ':' => text.push_str(": "),
                '=' | '+' => {
                    if !text.ends_with(' ') {
                        text.push(' ');
                    }
                    text.push(punct.as_char());
                    text.push(' ');
                }
                '-' if punct.spacing() == proc_macro2::Spacing::Joint => text.push_str(" -"),
                '>' if text.ends_with(" -") => text.push_str("> "),
                c => text.push(c),
            },
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::Brace => ("{ ", " }"),
                    Delimiter::None => ("", ""),
                };
                text.push_str(open);
                write_tokens(text, group.stream());
                text.push_str(close);
            }
        }
    }
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
    fn tokens_read_as_written() {
        for src in [
            "&'a mut Vec<u8>",
            "std::collections::HashMap<String, (u8, [u8; 4])>",
            "impl Fn(u8) -> u8 + Send",
            "Box<dyn Future<Output = u8> + 'static>",
            "<T as Iterator>::Item",
            "for<'a> fn(&'a str)",
            "self: Arc<Self>",
        ] {
            let tokens: TokenStream = syn::parse_str(src).expect("tokens");
            assert_eq!(tokens_to_text(tokens), src);
        }
    }

    #[test]
    fn params_are_shown_as_a_signature_writes_them() {
        let mut sig: Signature =
            syn::parse_str("async fn f(&'a mut self, mut id: u64, (a, b): (u8, u8))")
                .expect("signature");
        let (receiver, params) = params(&mut sig, true, true);
        assert_eq!(receiver.map(|r| r.shown).as_deref(), Some("&'a mut self"));
        let shown: Vec<_> = params.iter().map(|p| p.shown.as_str()).collect();
        assert_eq!(shown, ["id: u64", "(a, b): (u8, u8)"]);
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
