#![deny(warnings)]

use resilience::{Failure, bulkhead, circuit_breaker, fallback, retry, timeout};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

#[retry(attempts = 2)]
#[timeout(1s)]
pub async fn free<'a, T>(name: &'a str, items: Vec<T>, extra: impl AsRef<str> + Clone) -> Result<&'a str, ApiError>
where
    T: Clone + Send,
{
    let _ = (items.len(), extra.as_ref());
    Ok(name)
}

#[timeout(1s, crate = ::resilience)]
pub async fn destructured((a, b): (u32, u32)) -> std::io::Result<u32> {
    Ok(a + b)
}

pub struct Client {
    hits: u32,
}

impl Client {
    #[retry]
    #[circuit_breaker(failures = 3)]
    pub async fn get(&self, id: u64) -> Result<u64, ApiError> {
        Ok(id + u64::from(self.hits))
    }

    #[retry(attempts = 3)]
    pub async fn bump(&mut self, by: u32) -> Result<u32, ApiError> {
        self.hits += by;
        Ok(self.hits)
    }

    #[bulkhead(max = 1)]
    pub async fn shared(self: Arc<Self>) -> Result<u32, ApiError> {
        Ok(self.hits)
    }

    fn cached(&self, _id: u64, _failure: Failure<ApiError>) -> Result<u64, ApiError> {
        Ok(0)
    }

    #[fallback(Self::cached)]
    #[timeout(1s)]
    pub async fn with_fallback(&self, id: u64) -> Result<u64, ApiError> {
        Ok(id)
    }
}

pub trait Quotes {
    fn quote(&self, sku: String) -> impl std::future::Future<Output = Result<u32, ApiError>> + Send;
}

impl Quotes for Client {
    #[retry(attempts = 2)]
    async fn quote(&self, sku: String) -> Result<u32, ApiError> {
        Ok(sku.len() as u32 + self.hits)
    }
}

#[async_trait::async_trait]
pub trait Stock {
    async fn level(&self, sku: String) -> Result<u32, ApiError>;
}

#[async_trait::async_trait]
impl Stock for Client {
    #[retry(attempts = 2)]
    #[timeout(1s)]
    async fn level(&self, sku: String) -> Result<u32, ApiError> {
        Ok(sku.len() as u32)
    }
}

fn main() {}
