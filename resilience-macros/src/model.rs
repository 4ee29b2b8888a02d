//! The typed values of the attributes' options, as validated from their arguments, and the
//! kinds of attribute. Every value keeps the span of the token it came from, so code generation
//! can point rustc at it. Each kind's options are in its file under `crate::kinds`; one
//! attribute, validated, is a `crate::validate::Layer`.

use proc_macro2::Span;
use syn::Path;

/// The six attributes, and the kinds a `policy!` can declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `#[circuit_breaker]`.
    CircuitBreaker,
    /// `#[retry]`.
    Retry,
    /// `#[timeout]`.
    Timeout,
    /// `#[bulkhead]`.
    Bulkhead,
    /// `#[rate_limiter]`.
    RateLimiter,
    /// `#[fallback]`.
    Fallback,
    /// `#[chaos]`.
    Chaos,
    /// `#[idempotent]`.
    Idempotent,
    /// `#[cache]`.
    Cache,
    /// `#[hedge]`.
    Hedge,
}

impl Kind {
    /// Every kind, in the order they are listed in messages.
    pub const ALL: [Kind; 10] = [
        Kind::CircuitBreaker,
        Kind::Retry,
        Kind::Timeout,
        Kind::Bulkhead,
        Kind::RateLimiter,
        Kind::Fallback,
        Kind::Chaos,
        Kind::Idempotent,
        Kind::Cache,
        Kind::Hedge,
    ];

    /// The attribute's name (`circuit_breaker`), also the suffix of an inline policy's name.
    pub fn attr_name(self) -> &'static str {
        match self {
            Kind::CircuitBreaker => "circuit_breaker",
            Kind::Retry => "retry",
            Kind::Timeout => "timeout",
            Kind::Bulkhead => "bulkhead",
            Kind::RateLimiter => "rate_limiter",
            Kind::Fallback => "fallback",
            Kind::Chaos => "chaos",
            Kind::Idempotent => "idempotent",
            Kind::Cache => "cache",
            Kind::Hedge => "hedge",
        }
    }

    /// The runtime type's name (`CircuitBreaker`), as written in `policy!`.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::CircuitBreaker => "CircuitBreaker",
            Kind::Retry => "Retry",
            Kind::Timeout => "Timeout",
            Kind::Bulkhead => "Bulkhead",
            Kind::RateLimiter => "RateLimiter",
            Kind::Fallback => "Fallback",
            Kind::Chaos => "Chaos",
            Kind::Idempotent => "Idempotency",
            Kind::Cache => "Cache",
            Kind::Hedge => "Hedge",
        }
    }

    /// The kind whose attribute is named `name`.
    pub fn from_attr_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.attr_name() == name)
    }
}

/// A function given to an option (`when`, `record`, `ignore`, `fallback`): its path, or a
/// closure written in place.
#[derive(Clone)]
pub enum Callable {
    /// `ApiError::is_transient`, `Self::cached`.
    Path(Path),
    /// `|e: &ApiError| e.is_transient()`.
    Closure(syn::ExprClosure),
}

impl Callable {
    /// Where it is written: errors about it point here.
    pub fn span(&self) -> Span {
        use syn::spanned::Spanned;
        match self {
            Callable::Path(p) => p.span(),
            Callable::Closure(c) => c.span(),
        }
    }
}

impl Callable {
    /// A call of this predicate on `arg` (an `&E`): `path(arg)`, so a wrong signature is
    /// reported at the path; a closure goes through `predicate(arg, closure)`, whose bound gives
    /// the closure its parameter's type (`|e| matches!(e, ..)` needs no annotation).
    pub fn call(
        &self,
        private: &proc_macro2::TokenStream,
        arg: &syn::Ident,
    ) -> proc_macro2::TokenStream {
        self.call_through(private, "predicate", arg)
    }

    /// A call on `arg` as [`Callable::call`], a closure going through `private::helper`.
    pub fn call_through(
        &self,
        private: &proc_macro2::TokenStream,
        helper: &str,
        arg: &syn::Ident,
    ) -> proc_macro2::TokenStream {
        match self {
            Callable::Path(p) => quote::quote_spanned!(self.span()=> #p(#arg)),
            Callable::Closure(c) => {
                let helper = syn::Ident::new(helper, self.span());
                quote::quote_spanned!(self.span()=> #private::#helper(#arg, #c))
            }
        }
    }
}

impl quote::ToTokens for Callable {
    /// The callable as a value: its path, or the closure.
    fn to_tokens(&self, tokens: &mut proc_macro2::TokenStream) {
        match self {
            Callable::Path(p) => p.to_tokens(tokens),
            Callable::Closure(c) => c.to_tokens(tokens),
        }
    }
}

/// A value with the span of the tokens it was written with.
#[derive(Clone, Copy, Debug)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

/// A duration in nanoseconds.
pub type Nanos = u64;

/// How an adaptive bulkhead moves its limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Algorithm {
    Aimd,
    Gradient2,
}

/// When a hedge starts another attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Delay {
    /// This long after the last attempt started.
    Fixed(Nanos),
    /// This per-mille of recent calls' latencies (`950` for `p95`).
    Percentile(u32),
}

/// The window a circuit breaker computes its rates over.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Window {
    /// The last `n` calls.
    Calls(u32),
    /// The calls of the last `d`.
    Time(Nanos),
}

/// How long an open breaker waits before probing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Open {
    /// Always the same wait.
    Fixed(Nanos),
    /// Doubling each time a probe round fails, up to `max`.
    Exponential {
        /// The first wait.
        initial: Nanos,
        /// The longest wait.
        max: Nanos,
    },
}

/// A retry's backoff between attempts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Backoff {
    /// The same delay each time.
    Fixed(Nanos),
    /// `step` times the attempt number, up to `max`.
    Linear {
        /// Added for each attempt.
        step: Nanos,
        /// The longest delay.
        max: Nanos,
    },
    /// `initial` times `factor` to the attempt, up to `max`.
    Exponential {
        /// The first delay.
        initial: Nanos,
        /// The growth per attempt.
        factor: Option<f64>,
        /// The longest delay.
        max: Nanos,
    },
}

/// Randomisation of a retry's delays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly the backoff's delays.
    None,
    /// Uniform in `[0, delay]`.
    Full,
    /// Uniform in `[delay / 2, delay]`.
    Equal,
    /// AWS's decorrelated jitter (exponential backoff only).
    Decorrelated,
}

/// A rate: `count` calls per `per`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Calls admitted per period.
    pub count: u32,
    /// The period.
    pub per: Nanos,
}
