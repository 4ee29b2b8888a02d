//! A fallback at one position of the stack: on any failure, call the user's function with the
//! arguments and the failure, sync or `async`, and check its signature where it is named.
//!
//! The call goes through two traits generated beside it, so each mistake gets its own error at
//! the fallback's path: one implemented for every function taking the arguments then the
//! failure (a wrong argument is rustc's "expected function signature"), and one implemented for
//! `Result<T, E>` and for any future of it (a wrong return type is our message, naming the
//! fallback and the signature to write). They are generated rather than in `__private` so the
//! message can say the fallback's name and the function's parameters. Which of the two return
//! shapes applies is found by the trait solver through a marker type, not by the user.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned as _;

use super::func::{Pass, tokens_to_text};
use super::{Gen, local, local_at};
use crate::model::{Callable, Kind};

impl Gen<'_> {
    /// A fallback at this position: on any failure, calls `path` with the arguments (owned ones
    /// cloned before the call) and the failure. Outermost, it yields the function's own result.
    /// With `degraded`, while that toggle is on the fallback is called at once with its
    /// `Degraded` rejection, and nothing below runs.
    pub(super) fn fallback(
        &self,
        index: usize,
        path: &Callable,
        degraded: Option<&syn::Path>,
        inner: TokenStream,
        outermost: bool,
    ) -> TokenStream {
        let private = &self.private;
        let span = path.span();
        let outcome = local("__resilience_outcome");
        let value = local("__resilience_value");
        let expects = local("__resilience_expects");
        let failure = local_at("__resilience_failure", span);
        let mut clones = Vec::new();
        let mut args = Vec::new();
        if let Some(receiver) = self.receiver {
            let this = &receiver.binding;
            match receiver.pass {
                Pass::Shared => args.push(quote!(#this)),
                Pass::Unique => args.push(quote!(&mut *#this)),
                Pass::Owned => {
                    let copy = local_at("__resilience_fallback_self", span);
                    let at = receiver.self_token.span;
                    clones.push(
                        quote_spanned!(at=> let #copy = #private::clone_for_fallback(&#this);),
                    );
                    args.push(quote!(#copy));
                }
            }
        }
        for (i, p) in self.params.iter().enumerate() {
            let ident = &p.ident;
            match p.pass {
                Pass::Shared => args.push(quote!(#ident)),
                Pass::Unique => args.push(quote!(&mut *#ident)),
                Pass::Owned => {
                    let copy = local_at(&format!("__resilience_fallback_arg{i}"), span);
                    clones.push(
                        quote_spanned!(p.span=> let #copy = #private::clone_for_fallback(&#ident);),
                    );
                    args.push(quote!(#copy));
                }
            }
        }
        let name = self.name(index, Kind::Fallback);
        let checks = self.checks(path, args.len());
        let call_fallback = local_at("__resilience_call_fallback", span);
        // A path is taken as a fn pointer of the arity the function calls it with, so the
        // signature check is a trait of fn pointers (our message when the types differ) rather
        // than an `FnOnce` bound (rustc's E0631 naming our internals). A closure, which may
        // capture, keeps the `FnOnce` route.
        let fallback = match path {
            Callable::Path(p) => {
                let holes = (0..args.len()).map(|_| quote!(_));
                let pointer = local_at("__resilience_fallback_fn", span);
                quote_spanned! {span=>
                    {
                        let #pointer: fn(#(#holes,)* #private::Failure<_>) -> _ = #p;
                        #pointer
                    }
                }
            }
            Callable::Closure(_) => quote!(#path),
        };
        let called = quote_spanned! {span=>
            #call_fallback(#expects, (#(#args,)*), #failure, #fallback).await
        };
        let result = if outermost {
            called
        } else {
            quote_spanned!(span=> ::core::result::Result::map_err(#called, #private::Failure::Error))
        };
        let run = match degraded {
            // At the toggle's path: a policy of another kind is a type error there.
            Some(toggle) => quote_spanned! {toggle.span()=>
                match #private::Toggle::degrade(&#toggle) {
                    ::core::option::Option::Some(#value) => {
                        ::core::result::Result::Err(#private::Failure::Rejected(#value))
                    }
                    ::core::option::Option::None => #inner.await,
                }
            },
            None => quote!(#inner.await),
        };
        let body = quote! {
            #(#clones)*
            let #outcome = #run;
            let #expects = #private::fallback_expects(&#outcome);
            match #outcome {
                ::core::result::Result::Ok(#value) => ::core::result::Result::Ok(#value),
                ::core::result::Result::Err(#failure) => {
                    #private::fallback_used(#name, &#failure);
                    #checks
                    #result
                }
            }
        };
        if outermost {
            body
        } else {
            quote!(async { #body })
        }
    }

    /// The traits and the function through which the fallback `path`, given `arity` arguments
    /// before the failure, is called (see the module's documentation).
    fn checks(&self, path: &Callable, arity: usize) -> TokenStream {
        let private = &self.private;
        let call_trait = local("__ResilienceFallbackCall");
        let return_trait = local("__ResilienceFallbackReturn");
        let call_fallback = local("__resilience_call_fallback");
        let arg_types: Vec<_> = (0..arity).map(|i| format_ident!("A{i}")).collect();
        let arg_values: Vec<_> = (0..arity).map(|i| format_ident!("a{i}")).collect();

        let (shown, fn_name) = match path {
            Callable::Path(p) => {
                let shown = escape(&tokens_to_text(quote!(#p)));
                let fn_name = p
                    .segments
                    .last()
                    .map_or_else(|| shown.clone(), |s| s.ident.to_string());
                (shown, fn_name)
            }
            Callable::Closure(_) => ("closure".to_owned(), "fallback".to_owned()),
        };
        let params: String = self
            .receiver
            .map(|r| r.shown.as_str())
            .into_iter()
            .chain(self.params.iter().map(|p| p.shown.as_str()))
            .map(|p| format!("{}, ", escape(p)))
            .collect();
        let message = format!(
            "the fallback `{shown}` returns `{{Self}}`, but it must return `Result<{{T}}, {{E}}>` (the annotated function's return type), or a future of it"
        );
        let label = "this fallback returns `{Self}`";
        let note = format!(
            "a fallback takes the function's parameters, then the failure, and returns the function's result, sync or async: `fn {fn_name}({params}failure: resilience::Failure<{{E}}>) -> Result<{{T}}, {{E}}>`"
        );

        let call_message = format!(
            "the fallback `{shown}` does not take the parameters it is given: the annotated function's parameters, then the failure"
        );
        let call_label = "this fallback's parameters differ from the function's";
        let call_note = format!(
            "write it as `fn {fn_name}({params}failure: resilience::Failure<{{E}}>) -> {ret}` (sync or async; the receiver included, with the same types)",
            ret = escape(&self.ret_shown),
        );

        let call_body = quote! {
            type Output = R;
            #[inline]
            fn call_fallback(
                self,
                (#(#arg_values,)*): (#(#arg_types,)*),
                failure: #private::Failure<E>,
            ) -> R {
                self(#(#arg_values,)* failure)
            }
        };
        let call_impl = match path {
            Callable::Path(_) => quote! {
                impl<R, E, #(#arg_types),*> #call_trait<(#(#arg_types,)*), E>
                    for fn(#(#arg_types,)* #private::Failure<E>) -> R
                {
                    #call_body
                }
            },
            Callable::Closure(_) => quote! {
                impl<F, R, E, #(#arg_types),*> #call_trait<(#(#arg_types,)*), E> for F
                where
                    F: ::core::ops::FnOnce(#(#arg_types,)* #private::Failure<E>) -> R,
                {
                    #call_body
                }
            },
        };

        quote! {
            #[diagnostic::on_unimplemented(message = #call_message, label = #call_label, note = #call_note)]
            trait #call_trait<A, E> {
                type Output;
                fn call_fallback(self, args: A, failure: #private::Failure<E>) -> Self::Output;
            }
            #call_impl
            #[diagnostic::on_unimplemented(message = #message, label = #label, note = #note)]
            trait #return_trait<T, E, Shape> {
                type Future: ::core::future::Future<Output = ::core::result::Result<T, E>>;
                fn into_fallback_future(self) -> Self::Future;
            }
            #[diagnostic::do_not_recommend]
            impl<T, E, F> #return_trait<T, E, #private::AsyncFallback> for F
            where
                F: ::core::future::Future<Output: #private::FallbackOutput<::core::result::Result<T, E>>>,
            {
                type Future = #private::AwaitFallback<F, ::core::result::Result<T, E>>;
                #[inline]
                fn into_fallback_future(self) -> Self::Future {
                    #private::await_fallback(self)
                }
            }
            #[diagnostic::do_not_recommend]
            impl<T, E, R> #return_trait<T, E, #private::SyncFallback> for R
            where
                R: #private::FallbackOutput<::core::result::Result<T, E>>,
            {
                type Future = ::core::future::Ready<::core::result::Result<T, E>>;
                #[inline]
                fn into_fallback_future(self) -> Self::Future {
                    #private::ready_fallback(#private::FallbackOutput::into_result(self))
                }
            }
            #[inline]
            fn #call_fallback<T, E, A, Shape, F, R>(
                expects: ::core::marker::PhantomData<fn() -> ::core::result::Result<T, E>>,
                args: A,
                failure: #private::Failure<E>,
                fallback: F,
            ) -> <R as #return_trait<T, E, Shape>>::Future
            where
                F: #call_trait<A, E, Output = R>,
                R: #return_trait<T, E, Shape>,
            {
                let _ = expects;
                #return_trait::into_fallback_future(F::call_fallback(fallback, args, failure))
            }
        }
    }
}

/// `text` as a literal part of a `#[diagnostic]` format string.
fn escape(text: &str) -> String {
    text.replace('{', "{{").replace('}', "}}")
}
