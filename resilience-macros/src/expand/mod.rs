//! Code generation: one expansion for the whole stack of attributes.
//!
//! For `#[fallback(f)] #[retry(attempts = 3)] #[timeout(1s)] async fn get(id: Id) -> Result<T, E>`
//! the body becomes (names shortened):
//!
//! ```text
//! {
//!     static RETRY: Retry = match Retry::builder(concat!(module_path!(), "::get/retry")).attempts(3).build() { .. };
//!     static TIMEOUT: Timeout = match Timeout::builder(..).duration(1s).build() { .. };
//!     let id_for_fallback = id.clone();
//!     match async {                                   // retry: an inline loop
//!         let mut attempts = RETRY.start();
//!         loop {
//!             let outcome = {
//!                 let id = id.clone();                 // per attempt, spanned at `id: Id`
//!                 attempts.run(TIMEOUT.call(own_errors(async { // run: marks nested retries
//!                     <body>                           // under the same budget; the body's
//!                 }))).await                           // errors as Failure::Error
//!             };
//!             match attempts.next(&outcome, |_| true) { None => break outcome, Some(d) => attempts.wait(d).await }
//!         }
//!     }.await {
//!         Ok(v) => Ok(v),
//!         Err(failure) => fallback((id_for_fallback,), failure, f).await, // checked: see `fallback.rs`
//!     }
//! }
//! ```
//!
//! Without an outermost fallback, the last step is `Err(failure) => Err(into_error(failure))`,
//! which asks for `E: From<resilience::Error>` at the return type.

mod builder;
mod fallback;
mod func;
mod policy;
mod stack;

pub use policy::policy;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, ReturnType, Type};

use crate::attr::parse_args;
use crate::kinds::{self, Config};
use crate::model::Kind;
use crate::validate::{self, Ctxt, Layer, Site};
use func::{Func, Param, Pass, Receiver, Shape};

/// `#[kind(args)]` on `item`.
pub fn attribute(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    if args.to_string() == stack::STACKED {
        return TokenStream::new();
    }
    let call_site = Span::call_site();
    let mut func: Func = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            let e = syn::Error::new(
                call_site,
                format!(
                    "#[{}] goes on an `async fn` that returns a Result",
                    kind.attr_name()
                ),
            );
            return with_error(item, e);
        }
    };
    if let Some(body) = &mut func.body {
        let generated = stack::expanded(&body.stmts)
            || func::async_trait_block(body).is_some_and(|b| stack::expanded(&b.stmts));
        if generated {
            let attr = kind.attr_name();
            let e = syn::Error::new(
                call_site,
                format!(
                    "this #[{attr}] expands after the resilience stack above it was generated, so it would wrap the whole stack instead of taking its place in it: the stack did not recognise it as one of ours; name it by a path that ends in `{attr}` (`#[{attr}]`, `#[resilience::{attr}]`, or `#[res::{attr}]` after `use resilience as res;`) rather than a `use .. as` rename"
                ),
            );
            return with_error(item, e);
        }
    }
    let mut cx = Ctxt::default();
    let (mut sources, kept) = stack::collect(call_site, std::mem::take(&mut func.attrs), &mut cx);
    func.attrs = kept;
    let mut marks = stack::mark_used(&sources);
    marks.extend(stack::marker());
    sources.insert(
        0,
        stack::Source {
            kind,
            args,
            path: None,
            span: call_site,
        },
    );

    let layers: Vec<Layer> = sources
        .iter()
        .filter_map(|s| match parse_args(s.args.clone()) {
            Ok(args) => Some(validate::layer(
                s.kind,
                &args,
                s.span,
                Site::Attribute,
                &mut cx,
            )),
            Err(e) => {
                cx.push(e);
                None
            }
        })
        .collect();

    let shape = check_shape(&func, kind, &sources, &mut cx);
    match (cx.finish(), shape) {
        (Ok(()), Some((shape, ret))) => generate(func, &layers, shape, &ret, marks),
        (result, _) => {
            if let Some(body) = &mut func.body {
                body.stmts
                    .insert(0, syn::Stmt::Item(syn::Item::Verbatim(marks)));
            }
            match result {
                Err(e) => with_error(quote!(#func), e),
                Ok(()) => quote!(#func),
            }
        }
    }
}

/// The original item with the errors beside it (tokio-macros' `token_stream_with_error`), so
/// the rest of the crate still type-checks and only the real error shows.
fn with_error(mut item: TokenStream, error: syn::Error) -> TokenStream {
    item.extend(error.into_compile_error());
    item
}

/// Checks that the item is something a stack can wrap, and returns its shape and the type of
/// its result.
fn check_shape(
    func: &Func,
    kind: Kind,
    sources: &[stack::Source],
    cx: &mut Ctxt,
) -> Option<(Shape, Type)> {
    let attr = kind.attr_name();
    if func.body.is_none() {
        let span = func
            .semi
            .map(|s| s.span)
            .unwrap_or_else(|| func.sig.ident.span());
        cx.error(span, format!(
            "#[{attr}] needs a function body to protect: put it on the method in the `impl` block, not on the declaration in the trait"
        ));
        return None;
    }
    if sources.iter().any(|s| s.kind == Kind::Hedge) {
        check_hedged_args(func, cx);
    }
    if func.sig.asyncness.is_none() {
        if let Some(output) = func::async_trait_shape(func) {
            return check_result(output, func, attr, cx).map(|ty| (Shape::AsyncTrait, ty));
        }
        return check_plain(func, sources, cx);
    }
    match &func.sig.output {
        ReturnType::Type(_, ty) => {
            check_result((**ty).clone(), func, attr, cx).map(|ty| (Shape::Async, ty))
        }
        ReturnType::Default => {
            cx.error(func.sig.paren_token.span.close(), format!(
                "#[{attr}] needs the function to return a Result, so a failure can reach the caller: -> Result<T, E>"
            ));
            None
        }
    }
}

/// Attempts of a hedge run at the same time: none can hold the one `&mut` the function was
/// given.
fn check_hedged_args(func: &Func, cx: &mut Ctxt) {
    for input in &func.sig.inputs {
        let unique = match input {
            syn::FnArg::Receiver(r) => {
                func::receiver_pass(r) == Pass::Unique || func::is_pinned_receiver(r)
            }
            syn::FnArg::Typed(pt) => func::pass_of(&pt.ty) == Pass::Unique,
        };
        if unique {
            cx.error(input.span(), format!(
                "#[hedge] runs attempts side by side, and they cannot share `{}`: take it by `&` (with interior mutability where it must change) or by value (each attempt gets a clone)",
                func::tokens_to_text(quote!(#input))
            ));
        }
    }
}

/// A plain `fn`: every attribute of the stack must be one that goes on it (a timeout cannot
/// cancel blocking code; the others are for `async fn`s), and it must return a `Result`.
fn check_plain(func: &Func, sources: &[stack::Source], cx: &mut Ctxt) -> Option<(Shape, Type)> {
    let name = &func.sig.ident;
    let mut fits = true;
    for source in sources {
        let attr = source.kind.attr_name();
        match source.kind {
            Kind::CircuitBreaker
            | Kind::Retry
            | Kind::Bulkhead
            | Kind::RateLimiter
            | Kind::Fallback => {}
            Kind::Timeout => {
                fits = false;
                cx.error(source.span, format!(
                    "#[timeout] cannot go on a plain `fn`: blocking code cannot be cancelled, so a timeout could only report the overrun after `{name}` ended; make it `async fn {name}(..)` (a timeout cuts it at an `.await`), or bound the blocking call itself (a socket's read timeout, a query's statement timeout)"
                ));
            }
            Kind::Chaos | Kind::Idempotent | Kind::Cache | Kind::Hedge => {
                fits = false;
                cx.error(source.span, format!(
                    "#[{attr}] works on an `async fn`: write `async fn {name}(..)` (a plain `fn` takes #[circuit_breaker], #[retry], #[bulkhead], #[rate_limiter] and #[fallback])"
                ));
            }
        }
    }
    let attr = sources
        .first()
        .map_or("circuit_breaker", |s| s.kind.attr_name());
    let ty = match &func.sig.output {
        ReturnType::Type(_, ty) => check_result((**ty).clone(), func, attr, cx)?,
        ReturnType::Default => {
            cx.error(func.sig.paren_token.span.close(), format!(
                "#[{attr}] needs the function to return a Result, so a failure can reach the caller: -> Result<T, E>"
            ));
            return None;
        }
    };
    fits.then_some((Shape::Plain, ty))
}

fn check_result(ty: Type, _func: &Func, attr: &str, cx: &mut Ctxt) -> Option<Type> {
    // A path that may name a Result through an alias (`type Res<T> = Result<T, E>`) is left to
    // the type system, which reports a type that is not one at the return type.
    if func::is_result(&ty) || func::may_be_result(&ty) {
        Some(ty)
    } else {
        cx.error(ty.span(), format!(
            "#[{attr}] needs the function to return a Result (Result<T, E>, io::Result<T>, anyhow::Result<T>), so a failure can reach the caller"
        ));
        None
    }
}

/// A hygienic local: invisible to the user's body.
fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// A hygienic local whose errors are reported at `span`.
fn local_at(name: &str, span: Span) -> Ident {
    Ident::new(name, Span::mixed_site().located_at(span))
}

struct Gen<'a> {
    private: TokenStream,
    fn_name: String,
    /// Where the function's name is: orders same-named policies of different sites.
    fn_span: Span,
    layers: &'a [Layer],
    receiver: Option<&'a Receiver>,
    params: &'a [Param],
    /// The function's return type as a message shows it.
    ret_shown: String,
    statics: TokenStream,
    /// The children of the keyed layers, looked up once per call before anything runs: one
    /// `let` each.
    lookups: TokenStream,
    /// What `self` is called where the lookups run, when it was moved into a local there (the
    /// `#[async_trait]` shape).
    self_as: Option<Ident>,
}

impl Gen<'_> {
    /// The registry name of the layer `index`'s policy of `kind` (its own, or the fallback
    /// around it): `name = "..."`, or `module::fn/kind`; the second policy of a kind in one
    /// stack is `module::fn/kind#2`, the third `#3`, so every name in a stack differs.
    fn name(&self, index: usize, kind: Kind) -> TokenStream {
        let layer = &self.layers[index];
        match &layer.name {
            Some(name) if kind == layer.kind => quote!(#name),
            _ => {
                let defaulted = |l: &Layer| {
                    if kind == Kind::Fallback {
                        l.fallback.is_some() && !(l.kind == Kind::Fallback && l.name.is_some())
                    } else {
                        l.kind == kind && l.name.is_none() && l.shared.is_none()
                    }
                };
                let before = self.layers[..index].iter().filter(|l| defaulted(l)).count();
                let ordinal = if before == 0 {
                    String::new()
                } else {
                    format!("#{}", before + 1)
                };
                let suffix = format!("::{}/{}{ordinal}", self.fn_name, kind.attr_name());
                quote!(::core::concat!(::core::module_path!(), #suffix))
            }
        }
    }

    /// An expression of type `&Policy`: the static of an inline policy (declared here), or the
    /// shared one, checked to be of the right kind at its path.
    fn handle(&mut self, layer: &Layer, index: usize) -> TokenStream {
        let private = &self.private;
        if let Some(path) = &layer.shared {
            let check = if layer.keyed {
                format!("keyed_{}", layer.kind.attr_name())
            } else {
                layer.kind.attr_name().to_owned()
            };
            let check = Ident::new(&check, path.span());
            return quote_spanned!(path.span()=> #private::shared::#check(&#path));
        }
        let ident = format_ident!(
            "__RESILIENCE_{}_{}",
            layer.kind.attr_name().to_uppercase(),
            index,
            span = Span::mixed_site()
        );
        let name = self.name(index, layer.kind);
        let (Some(ty), Some(value)) = (
            builder::policy_type(private, layer, Span::call_site()),
            builder::policy_value(private, layer, &name),
        ) else {
            return TokenStream::new();
        };
        let registration = builder::registration(private, layer, &ident, self.fn_span, false);
        let statics = quote! {
            static #ident: #ty = #value;
            #registration
        };
        // A chaos layer's static is kept only with the `chaos` feature, as the layer is.
        self.statics.extend(if layer.kind == Kind::Chaos {
            quote!(#private::chaos! { items { #statics } })
        } else {
            statics
        });
        quote!(#ident)
    }

    /// The original body as a future of `Result<T, Failure<E>>`.
    fn innermost(&self, body: TokenStream, ret: Option<&Type>, plain: bool) -> TokenStream {
        let private = &self.private;
        let e = local("__resilience_error");
        let destructure = self.params.iter().filter_map(|p| {
            let pattern = p.pattern.as_ref()?;
            let ident = &p.ident;
            Some(quote!(let #pattern = #ident;))
        });
        let fake_return = ret.filter(|t| !func::mentions_impl_trait(t)).map(|ret| {
            let fake = local_at("__resilience_fake_return", ret.span());
            // Through an alias, whether it is a Result is the type system's to say, here.
            let is_result = (!func::is_result(ret))
                .then(|| quote_spanned!(ret.span()=> #private::returns_result::<#ret>();));
            quote_spanned! {ret.span()=>
                #is_result
                #[allow(
                    unknown_lints,
                    unreachable_code,
                    clippy::diverging_sub_expression,
                    clippy::empty_loop,
                    clippy::let_unit_value,
                    clippy::needless_return
                )]
                if false {
                    let #fake: #ret = loop {};
                    return #fake;
                }
            }
        });
        quote! {
            #private::own_errors(async { #(#destructure)* #fake_return #body }, |#e| {
                #[allow(unused_imports)]
                use #private::{HoldsNoRejection as _, HoldsRejection as _};
                (&#private::Probe(#e)).nested_rejection()
            }, #plain)
        }
    }

    /// A policy that wraps a future once: `policy.call(inner)`. With `in_place`, a retry is
    /// the block of its loop, to run in the function's own future, rather than a future.
    fn wrap(
        &mut self,
        layer: &Layer,
        index: usize,
        inner: TokenStream,
        in_place: bool,
    ) -> TokenStream {
        let private = self.private.clone();
        let handle = self.handle(layer, index);
        // A keyed layer runs through the child of the call's key, looked up before the body.
        let keyed = layer
            .config
            .keyed()
            .and_then(|k| k.key.as_ref())
            .filter(|_| layer.keyed);
        let child = local("__resilience_child");
        // An idempotent layer or a cache runs under the call's key, made owned before the body
        // (which may move what it was borrowed from) and lent to every attempt. A cache
        // without one keeps one entry for every call.
        let store_key = match &layer.config {
            Config::Idempotent(idempotent) => idempotent.key.as_ref(),
            Config::Cache(cache) => match &cache.key {
                Some(key) => Some(key),
                None => return quote!(#handle.call("", #inner)),
            },
            _ => None,
        };
        if let Some(key) = store_key {
            let lookup = local(&format!("__resilience_idempotency_key{index}"));
            let key = self.key_expr(key);
            let owned = quote_spanned!(key.span()=>
                #private::owned_key((&&#private::KeyExpr(&(#key))).key()));
            // A reference (the key itself lives to the end of the body), so an attempt of a
            // hedge, a future of its own, copies it.
            self.lookups.extend(quote! {
                let #lookup = &{
                    #[allow(unused_imports)]
                    use #private::{KeyByDeref as _, KeyByValue as _};
                    #owned
                };
            });
            return quote!(#handle.call(#lookup, #inner));
        }
        if let Some(key) = keyed {
            let lookup = local(&format!("__resilience_key{index}"));
            let key = self.key_expr(key);
            // Spanned at the key, so a key of the wrong type is reported there. A reference
            // (`host: &str`) is looked up as what it points to.
            let borrowed =
                quote_spanned!(key.span()=> #private::key((&&#private::KeyExpr(&(#key))).key()));
            self.lookups.extend(quote! {
                let #lookup = &{
                    #[allow(unused_imports)]
                    use #private::{KeyByDeref as _, KeyByValue as _};
                    #handle.child(#borrowed)
                };
            });
            let e = local("__resilience_rejection");
            let call = self.wrap_call(layer, quote!(#child), inner, in_place);
            return quote! {
                async {
                    match #private::keyed_child(#lookup) {
                        ::core::result::Result::Ok(#child) => #call.await,
                        ::core::result::Result::Err(#e) => {
                            ::core::result::Result::Err(#private::Failure::Rejected(#e))
                        }
                    }
                }
            };
        }
        self.wrap_call(layer, handle, inner, in_place)
    }

    /// A key's expression as the lookups before the body see it: with `self` renamed where it
    /// was moved into a local (the `#[async_trait]` shape).
    fn key_expr(&self, key: &syn::Expr) -> syn::Expr {
        let mut key = key.clone();
        if let Some(renamed) = &self.self_as {
            let mut stmts = [syn::Stmt::Expr(key.clone(), None)];
            func::rename_self(&mut stmts, renamed);
            if let [syn::Stmt::Expr(renamed, None)] = stmts {
                key = renamed;
            }
        }
        key
    }

    /// `policy.call(inner)`, or what the kind calls instead, on the policy `handle`.
    fn wrap_call(
        &mut self,
        layer: &Layer,
        handle: TokenStream,
        inner: TokenStream,
        in_place: bool,
    ) -> TokenStream {
        let private = self.private.clone();
        match &layer.config {
            Config::CircuitBreaker(cb) if cb.record.is_some() || cb.ignore.is_some() => {
                let e = local("__resilience_error");
                let ignored = cb.ignore.as_ref().map(|path| {
                    let e = local_at("__resilience_error", path.span());
                    let ignored = path.call(&private, &e);
                    quote_spanned!(path.span()=> if #ignored { #private::Classification::Ignored } else)
                });
                let recorded = match &cb.record {
                    Some(path) => {
                        let e = local_at("__resilience_error", path.span());
                        let recorded = path.call(&private, &e);
                        quote_spanned! {path.span()=>
                            if #recorded { #private::Classification::Failure } else { #private::Classification::Success }
                        }
                    }
                    None => quote!({ #private::Classification::Failure }),
                };
                quote!(#handle.call_classified(#inner, |#e| #ignored #recorded))
            }
            Config::Retry(retry) => {
                // A budget is known here for an inline retry; a shared one may have one.
                let budgeted = layer.shared.is_some() || retry.budget.is_some();
                let block = self.retry(handle, retry, budgeted, inner);
                if in_place {
                    block
                } else {
                    quote!(async #block)
                }
            }
            Config::Fallback => inner,
            Config::Hedge(_) => self.hedge(handle, inner),
            Config::Chaos(chaos) => {
                // Each maker as written, or nothing; `chaos!` makes `fn` pointers of them.
                let error_with = chaos.error_with.iter();
                let outcome_with = chaos.outcome_with.iter();
                // With the `chaos` feature, the layer; without it, the call as it is.
                quote! {
                    #private::chaos! { wrap (#handle) [#(#error_with)*] [#(#outcome_with)*] #inner }
                }
            }
            _ => quote!(#handle.call(#inner)),
        }
    }

    /// Hedge: `policy.call(|| attempt)`, each attempt a future of its own that owns its
    /// clones of the owned arguments (and receiver), and copies the references.
    fn hedge(&self, handle: TokenStream, inner: TokenStream) -> TokenStream {
        let private = &self.private;
        let receiver = self.receiver.and_then(|r| {
            let ident = r.per_attempt.as_ref()?;
            let binding = &r.binding;
            let mutable = r.mutable.then(|| quote!(mut));
            Some(quote_spanned! {r.self_token.span=>
                let #mutable #ident = #private::clone_for_hedge(&#binding);
            })
        });
        let clones = self
            .params
            .iter()
            .filter(|p| p.pass == Pass::Owned)
            .map(|p| {
                let ident = &p.ident;
                let mutable = p.mutable.then(|| quote!(mut));
                let cloned = quote_spanned!(p.span=> #private::clone_for_hedge(&#ident));
                quote!(let #mutable #ident = #cloned;)
            });
        quote! {
            #handle.call(|| {
                #receiver
                #(#clones)*
                async move { #inner.await }
            })
        }
    }

    /// Retry: an inline loop that awaits a fresh future each attempt, over per-attempt clones of
    /// the owned arguments. The block of the loop, whose value is the last outcome.
    fn retry(
        &self,
        handle: TokenStream,
        retry: &kinds::Retry,
        budgeted: bool,
        inner: TokenStream,
    ) -> TokenStream {
        let private = &self.private;
        let attempts = local("__resilience_attempts");
        let outcome = local("__resilience_outcome");
        let delay = local("__resilience_delay");
        let next = local("__resilience_next");
        let e = local("__resilience_error");
        // A receiver by value: each attempt gets its own clone; a `Pin<&mut Self>`, which
        // cannot be cloned, lends each attempt a reborrow of it instead.
        let pinned_self = local("__resilience_pinned_self");
        let mut hold_receiver = None;
        let receiver = self.receiver.and_then(|r| {
            let ident = r.per_attempt.as_ref()?;
            let binding = &r.binding;
            if r.pinned {
                hold_receiver = Some(quote!(let mut #pinned_self = #binding;));
                return Some(quote! {
                    let #ident = ::core::pin::Pin::as_mut(&mut #pinned_self);
                });
            }
            let mutable = r.mutable.then(|| quote!(mut));
            Some(quote_spanned! {r.self_token.span=>
                let #mutable #ident = #private::clone_receiver_for_retry(&#binding);
            })
        });
        // Owned arguments: each attempt but the last takes a clone and the original is kept
        // for the next one (`held`, moved back in only when another attempt follows); the last
        // attempt takes the original itself, so nothing is cloned that no attempt needs.
        let last = local("__resilience_last");
        let owned: Vec<&Param> = self
            .params
            .iter()
            .filter(|p| p.pass == Pass::Owned)
            .collect();
        // Spanned at the argument, so a missing `Clone` is reported there.
        let held: Vec<Ident> = owned
            .iter()
            .enumerate()
            .map(|(i, p)| local_at(&format!("__resilience_held{i}"), p.span))
            .collect();
        let now: Vec<Ident> = (0..owned.len())
            .map(|i| local(&format!("__resilience_now{i}")))
            .collect();
        let kept: Vec<Ident> = (0..owned.len())
            .map(|i| local(&format!("__resilience_kept{i}")))
            .collect();
        let hold = owned.iter().zip(&held).map(|(p, held)| {
            let ident = &p.ident;
            quote!(let mut #held = #ident;)
        });
        let split = owned.iter().zip(&held).zip(now.iter().zip(&kept)).map(|((p, held), (now, kept))| {
            quote_spanned!(p.span=> let (#now, #kept) = #private::split_for_retry(#held, #last);)
        });
        let bind = owned.iter().zip(&now).map(|(p, now)| {
            let ident = &p.ident;
            let mutable = p.mutable.then(|| quote!(mut));
            quote!(let #mutable #ident = #now;)
        });
        let clones = receiver.into_iter().chain(bind);
        let when = match &retry.when {
            Some(path) => {
                let e = local_at("__resilience_error", path.span());
                let called = path.call(private, &e);
                quote_spanned!(path.span()=> |#e| #called)
            }
            None => quote!(|#e| { let _ = #e; true }),
        };
        let when_ok = match &retry.when_ok {
            Some(path) => {
                let v = local_at("__resilience_value", path.span());
                let called = path.call(private, &v);
                quote_spanned!(path.span()=> |#v| #called)
            }
            None => quote!(#private::retry::never),
        };
        let retry_after = match &retry.retry_after {
            Some(path) => {
                let e = local_at("__resilience_error", path.span());
                let called = path.call_through(private, "hint", &e);
                quote_spanned!(path.span()=> |#e| #called)
            }
            None => quote!(#private::retry::no_hint),
        };
        let timeouts = retry.retry_timeouts.is_none_or(|t| t.value);
        // Under a budget, `run` marks the attempt so retries under the same budget inside it
        // do not deposit; without one, the attempt as it is.
        let attempt = if budgeted {
            quote!(#attempts.run(#inner).await)
        } else {
            quote!(#inner.await)
        };
        quote! {
            {
                let mut #attempts = #handle.start();
                #hold_receiver
                #(#hold)*
                loop {
                    let #last = #attempts.is_last();
                    #(#split)*
                    let #outcome = {
                        #(#clones)*
                        #attempt
                    };
                    #[allow(clippy::redundant_closure)]
                    let #next = #attempts.next_with(&#outcome, #when, #when_ok, #retry_after, #timeouts);
                    match (#next, #(#kept,)*) {
                        (::core::option::Option::Some(#delay), #(::core::option::Option::Some(#kept),)*) => {
                            #(#held = #kept;)*
                            #attempts.wait(#delay).await
                        }
                        // No attempt left, or the last one took the arguments themselves.
                        _ => break #outcome,
                    }
                }
            }
        }
    }
}

/// The function with its body replaced by the stack's code; `marks` (the [`stack::marker`] and
/// the imports' uses) are the first statements of the new body.
fn generate(
    mut func: Func,
    layers: &[Layer],
    shape: Shape,
    ret: &Type,
    marks: TokenStream,
) -> TokenStream {
    let krate = layers
        .iter()
        .find_map(|l| l.krate.as_ref())
        .map(|p| quote!(#p))
        .unwrap_or(quote!(::resilience));
    let private = quote!(#krate::__private);
    // A retry or a hedge runs the body again, each run with its own clones of the owned
    // arguments.
    let has_retry = layers
        .iter()
        .any(|l| matches!(l.kind, Kind::Retry | Kind::Hedge));
    let has_fallback = layers.iter().any(|l| l.fallback.is_some());
    // A plain `fn`'s stack is an `async fn`'s, run by `blocking::run`.
    let is_async = matches!(shape, Shape::Async | Shape::Plain);
    let (mut receiver, params) = func::params(
        &mut func.sig,
        is_async && (has_retry || has_fallback),
        is_async && has_retry,
    );
    let fn_name = func
        .sig
        .ident
        .to_string()
        .trim_start_matches("r#")
        .to_owned();
    let Some(mut body) = func.body.take() else {
        return quote!(#func);
    };

    // The user's statements: the whole body, or the async-trait shape's `async move` block
    // less its prelude, which moves the arguments into locals once per call.
    let mut prelude = Vec::new();
    let user_body = match &shape {
        Shape::Async | Shape::Plain => {
            let mut stmts = std::mem::take(&mut body.stmts);
            // `self` cannot be rebound, so the body of a method whose receiver is owned reaches
            // it by another name, bound per attempt to its own clone.
            if let Some(r) = receiver
                .as_mut()
                .filter(|r| has_retry && r.pass == Pass::Owned)
            {
                let renamed = local("__resilience_self");
                func::rename_self(&mut stmts, &renamed);
                r.per_attempt = Some(renamed);
            }
            quote!(#(#stmts)*)
        }
        Shape::AsyncTrait => match func::async_trait_block(&mut body) {
            Some(block) => {
                let mut stmts = std::mem::take(&mut block.stmts);
                let (outside, moved_self) = func::split_async_trait_prelude(&mut stmts);
                prelude = outside;
                if let (Some(r), Some(local)) = (receiver.as_mut(), moved_self) {
                    r.binding = quote!(#local);
                    if has_retry && r.pass == Pass::Owned {
                        r.per_attempt = Some(local);
                    }
                }
                quote!(#(#stmts)*)
            }
            None => return quote!(#func),
        },
    };

    let mut g = Gen {
        private: private.clone(),
        fn_name,
        fn_span: func.sig.ident.span(),
        layers,
        receiver: receiver.as_ref(),
        params: &params,
        ret_shown: func::tokens_to_text(quote!(#ret)),
        statics: TokenStream::new(),
        lookups: TokenStream::new(),
        self_as: match &shape {
            Shape::AsyncTrait => receiver
                .as_ref()
                .and_then(|r| syn::parse2::<Ident>(r.binding.clone()).ok())
                .filter(|i| i != "self"),
            Shape::Async | Shape::Plain => None,
        },
    };
    let fake_ret = if is_async { Some(ret) } else { None };
    let mut future = g.innermost(user_body, fake_ret, matches!(shape, Shape::Plain));
    let mut outermost_fallback = None;
    // An outermost retry without a fallback runs its loop in the function's own future: one
    // state machine less around every call.
    let in_place = layers
        .first()
        .is_some_and(|l| l.kind == Kind::Retry && l.fallback.is_none());
    for (index, layer) in layers.iter().enumerate().rev() {
        future = g.wrap(layer, index, future, in_place && index == 0);
        if let Some(path) = &layer.fallback {
            if index == 0 {
                outermost_fallback = Some((path, layer.degraded.as_ref()));
            } else {
                future = g.fallback(index, path, layer.degraded.as_ref(), future, false);
            }
        }
    }
    // Admission (see `resilience::drain`): outside every layer but the outermost fallback, so
    // a refused call reaches that fallback and no policy sees it.
    let site = local("__RESILIENCE_IN_FLIGHT");
    let site_name = format!("::{}", g.fn_name);
    g.statics.extend(quote! {
        #[#private::linkme::distributed_slice(#private::drain::CALLERS)]
        #[linkme(crate = #private::linkme)]
        static #site: #private::InFlight =
            #private::InFlight::new(::core::concat!(::core::module_path!(), #site_name));
    });
    future = if in_place {
        let entered = local("__resilience_entered");
        let outcome = local("__resilience_outcome");
        let e = local("__resilience_rejection");
        quote! {
            match #site.enter() {
                ::core::result::Result::Ok(#entered) => {
                    let #outcome = #future;
                    ::core::mem::drop(#entered);
                    #outcome
                }
                ::core::result::Result::Err(#e) => {
                    ::core::result::Result::Err(#private::Failure::Rejected(#e))
                }
            }
        }
    } else {
        quote!(#private::admitted(&#site, #future))
    };
    let finish = match outermost_fallback {
        Some((path, degraded)) => g.fallback(0, path, degraded, future, true),
        None => {
            let failure = local_at("__resilience_failure", ret.span());
            let value = local("__resilience_value");
            let into_error = quote_spanned!(ret.span()=> #private::into_error(#failure));
            let outcome = if in_place {
                future
            } else {
                quote!(#future.await)
            };
            quote! {
                match #outcome {
                    ::core::result::Result::Ok(#value) => ::core::result::Result::Ok(#value),
                    ::core::result::Result::Err(#failure) => ::core::result::Result::Err(#into_error),
                }
            }
        }
    };
    let statics = &g.statics;
    let lookups = &g.lookups;
    let generated = quote!({ #(#prelude)* #statics #lookups #finish });
    let generated = match &shape {
        // On the calling thread, parking it while a policy waits.
        Shape::Plain => quote!({ #private::blocking::run(async move #generated) }),
        _ => generated,
    };
    match &shape {
        Shape::Async | Shape::Plain => {
            body.stmts = vec![syn::Stmt::Expr(syn::Expr::Verbatim(generated), None)]
        }
        Shape::AsyncTrait => {
            if let Some(block) = func::async_trait_block(&mut body) {
                block.stmts = vec![syn::Stmt::Expr(syn::Expr::Verbatim(generated), None)];
            }
        }
    }
    body.stmts
        .insert(0, syn::Stmt::Item(syn::Item::Verbatim(marks)));
    func.body = Some(body);
    quote!(#func)
}
