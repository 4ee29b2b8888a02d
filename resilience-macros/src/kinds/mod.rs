//! Each kind of attribute in a file of its own: its options (`set`, checked as the option table
//! `resilience_syntax::options` says), the options it cannot do without (`required`), those
//! that go together or not at all (`combinations`), and the runtime builder calls that make its
//! policy (`builder_calls`). The stages (`validate`, `expand`) call these through [`Config`],
//! whose one dispatch per stage is below: a new kind is its file and a line in each.

mod bulkhead;
mod cache;
mod chaos;
mod circuit_breaker;
pub mod declared;
mod hedge;
mod idempotent;
mod keyed;
mod prelude;
mod rate_limiter;
mod retry;
mod retry_budget;
mod timeout;
mod toggle;

pub use bulkhead::Bulkhead;
pub use cache::Cache;
pub use chaos::Chaos;
pub use circuit_breaker::CircuitBreaker;
pub use hedge::Hedge;
pub use idempotent::Idempotent;
pub use keyed::{CRITICAL_KEYED, Keyed};
pub use rate_limiter::RateLimiter;
pub use retry::Retry;
pub use retry_budget::{Budget, RetryBudget};
pub use timeout::Timeout;
pub use toggle::Toggle;

use proc_macro2::{Span, TokenStream};

use crate::attr::Value;
use crate::check::{Ctxt, Site};
use crate::model::Kind;

/// The kind-specific part of one layer: each kind's options, in its file under `kinds/`.
pub enum Config {
    CircuitBreaker(CircuitBreaker),
    Retry(Retry),
    Timeout(Timeout),
    Bulkhead(Bulkhead),
    RateLimiter(RateLimiter),
    Chaos(Chaos),
    Idempotent(Idempotent),
    Cache(Cache),
    Hedge(Hedge),
    /// `#[fallback(f)]`: nothing beyond the common `fallback` path.
    Fallback,
}

impl Config {
    /// A kind's options, none given yet.
    pub fn new(kind: Kind) -> Config {
        match kind {
            Kind::CircuitBreaker => Config::CircuitBreaker(Default::default()),
            Kind::Retry => Config::Retry(Default::default()),
            Kind::Timeout => Config::Timeout(Default::default()),
            Kind::Bulkhead => Config::Bulkhead(Default::default()),
            Kind::RateLimiter => Config::RateLimiter(Default::default()),
            Kind::Chaos => Config::Chaos(Default::default()),
            Kind::Idempotent => Config::Idempotent(Default::default()),
            Kind::Cache => Config::Cache(Default::default()),
            Kind::Hedge => Config::Hedge(Default::default()),
            Kind::Fallback => Config::Fallback,
        }
    }

    /// Takes option `key` of the layer's kind (the common ones are the layer's).
    pub fn set(&mut self, key: &str, value: &Value, cx: &mut Ctxt) {
        match self {
            Config::CircuitBreaker(c) => c.set(key, value, cx),
            Config::Retry(c) => c.set(key, value, cx),
            Config::Timeout(c) => c.set(key, value, cx),
            Config::Bulkhead(c) => c.set(key, value, cx),
            Config::RateLimiter(c) => c.set(key, value, cx),
            Config::Chaos(c) => c.set(key, value, cx),
            Config::Idempotent(c) => c.set(key, value, cx),
            Config::Cache(c) => c.set(key, value, cx),
            Config::Hedge(c) => c.set(key, value, cx),
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
            Config::Chaos(c) => c.required(span, site, cx),
            Config::Idempotent(c) => c.required(span, site, cx),
            Config::Cache(c) => c.required(span, site, cx),
            Config::Hedge(c) => c.required(span, site, cx),
            Config::Fallback => {}
        }
    }

    /// Reports options that cannot be used together, or only together.
    pub fn combinations(&self, site: Site, cx: &mut Ctxt) {
        match self {
            Config::CircuitBreaker(c) => c.combinations(site, cx),
            Config::Retry(c) => c.combinations(cx),
            Config::Timeout(c) => c.combinations(cx),
            Config::Bulkhead(c) => c.combinations(site, cx),
            Config::RateLimiter(c) => c.combinations(site, cx),
            Config::Chaos(c) => c.combinations(site, cx),
            Config::Idempotent(_) => {}
            Config::Cache(c) => c.combinations(cx),
            Config::Hedge(c) => c.combinations(cx),
            Config::Fallback => {}
        }
    }

    /// The options of a keyed family, for the kinds that can be keyed.
    pub fn keyed(&self) -> Option<&Keyed> {
        match self {
            Config::CircuitBreaker(c) => Some(&c.keyed),
            Config::Bulkhead(c) => Some(&c.keyed),
            Config::RateLimiter(c) => Some(&c.keyed),
            Config::Retry(_)
            | Config::Timeout(_)
            | Config::Chaos(_)
            | Config::Idempotent(_)
            | Config::Cache(_)
            | Config::Hedge(_)
            | Config::Fallback => None,
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
            Config::Chaos(c) => c.builder_calls(private),
            Config::Idempotent(c) => c.builder_calls(private),
            Config::Cache(c) => c.builder_calls(private),
            Config::Hedge(c) => c.builder_calls(private),
            Config::Fallback => return None,
        })
    }
}
