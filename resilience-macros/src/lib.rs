//! The attributes of the `resilience` framework. Use them through the `resilience` crate, whose
//! documentation describes every option; this crate holds the entry points only.
//!
//! The work is done in three stages, each in its own module: [`attr`] parses the arguments,
//! [`validate`] checks them (every error, at its token) into a typed layer, and [`expand`]
//! generates the whole stack of attributes in one expansion. What is particular to each kind
//! (its options, rules and builder calls) is in its own file under [`kinds`]; what the kinds
//! share is below them: [`check`] (one value's checks), [`model`] (the typed values) and
//! [`tokens`]. Each module imports only those below it.

mod attr;
mod check;
mod expand;
mod kinds;
mod model;
mod tokens;
mod validate;

#[cfg(test)]
mod hostile_input_tests;
#[cfg(test)]
mod options_agree_tests;

use model::Kind;
use proc_macro::TokenStream;

/// A circuit breaker around the function. See `resilience::circuit_breaker`.
#[proc_macro_attribute]
pub fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::CircuitBreaker, args.into(), item.into()).into()
}

/// Retries the function. See `resilience::retry`.
#[proc_macro_attribute]
pub fn retry(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Retry, args.into(), item.into()).into()
}

/// A timeout on the function. See `resilience::timeout`.
#[proc_macro_attribute]
pub fn timeout(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Timeout, args.into(), item.into()).into()
}

/// A bulkhead around the function. See `resilience::bulkhead`.
#[proc_macro_attribute]
pub fn bulkhead(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Bulkhead, args.into(), item.into()).into()
}

/// A rate limiter in front of the function. See `resilience::rate_limiter`.
#[proc_macro_attribute]
pub fn rate_limiter(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::RateLimiter, args.into(), item.into()).into()
}

/// A fallback for the function. See `resilience::fallback`.
#[proc_macro_attribute]
pub fn fallback(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Fallback, args.into(), item.into()).into()
}

/// Faults injected at this position of the stack, with the `chaos` feature. See
/// `resilience::chaos`.
#[proc_macro_attribute]
pub fn chaos(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Chaos, args.into(), item.into()).into()
}

/// A cache at this position of the stack. See `resilience::cache`.
#[proc_macro_attribute]
pub fn cache(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Cache, args.into(), item.into()).into()
}

/// An idempotency key: the first call with it runs, its duplicates get its result. See
/// `resilience::idempotent`.
#[proc_macro_attribute]
pub fn idempotent(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Idempotent, args.into(), item.into()).into()
}

/// Declares shared policies. See `resilience::policy`.
#[proc_macro]
pub fn policy(input: TokenStream) -> TokenStream {
    expand::policy(input.into()).into()
}

/// Another attempt beside a slow one, the first success wins. See `resilience::hedge`.
#[proc_macro_attribute]
pub fn hedge(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Hedge, args.into(), item.into()).into()
}
