//! Each kind of attribute in a file of its own: its options (`set`, checked as the option table
//! `resilience_syntax::options` says), the options it cannot do without (`required`), those
//! that go together or not at all (`combinations`), and the runtime builder calls that make its
//! policy (`builder_calls`). The stages (`validate`, `expand`) call these through [`Config`],
//! whose one dispatch per stage is below: a new kind is its file and a line in each.

mod bulkhead;
mod circuit_breaker;
mod rate_limiter;
mod retry;
mod timeout;

pub use bulkhead::Bulkhead;
pub use circuit_breaker::CircuitBreaker;
pub use rate_limiter::RateLimiter;
pub use retry::Retry;
pub use timeout::Timeout;

use proc_macro2::{Span, TokenStream};

use crate::attr::Value;
use crate::model::Config;
use crate::validate::{Ctxt, Site};

/// What the kinds' files use.
mod prelude {
    pub(crate) use crate::attr::Value;
    pub(crate) use crate::expand::tokens;
    pub(crate) use crate::model::{
        Backoff, Callable, Jitter, Kind, Nanos, Open, Rate, Spanned, Spanned as S, Window,
    };
    pub(crate) use crate::validate::kinds::{
        backoff, boolean, callable, count, duration, in_range, jitter, open, percent, positive,
        window,
    };
    pub(crate) use crate::validate::{Ctxt, Site};
}

impl Config {
    /// Takes option `key` of the layer's kind (the common ones are the layer's).
    pub fn set(&mut self, key: &str, value: &Value, cx: &mut Ctxt) {
        match self {
            Config::CircuitBreaker(c) => c.set(key, value, cx),
            Config::Retry(c) => c.set(key, value, cx),
            Config::Timeout(c) => c.set(key, value, cx),
            Config::Bulkhead(c) => c.set(key, value, cx),
            Config::RateLimiter(c) => c.set(key, value, cx),
            Config::Fallback => {}
        }
    }

    /// Reports the options the kind cannot do without.
    pub fn required(&self, span: Span, site: Site, cx: &mut Ctxt) {
        match self {
            Config::CircuitBreaker(c) => c.required(span, site, cx),
            Config::Retry(c) => c.required(span, site, cx),
            Config::Timeout(c) => c.required(span, site, cx),
            Config::Bulkhead(c) => c.required(span, site, cx),
            Config::RateLimiter(c) => c.required(span, site, cx),
            Config::Fallback => {}
        }
    }

    /// Reports options that cannot be used together, or only together.
    pub fn combinations(&self, cx: &mut Ctxt) {
        match self {
            Config::CircuitBreaker(c) => c.combinations(cx),
            Config::Retry(c) => c.combinations(cx),
            Config::Timeout(c) => c.combinations(cx),
            Config::Bulkhead(c) => c.combinations(cx),
            Config::RateLimiter(c) => c.combinations(cx),
            Config::Fallback => {}
        }
    }

    /// The runtime builder calls that set the options given; `None` for a fallback, which
    /// holds no state.
    pub fn builder_calls(&self, private: &TokenStream) -> Option<TokenStream> {
        Some(match self {
            Config::CircuitBreaker(c) => c.builder_calls(private),
            Config::Retry(c) => c.builder_calls(private),
            Config::Timeout(c) => c.builder_calls(private),
            Config::Bulkhead(c) => c.builder_calls(private),
            Config::RateLimiter(c) => c.builder_calls(private),
            Config::Fallback => return None,
        })
    }
}
