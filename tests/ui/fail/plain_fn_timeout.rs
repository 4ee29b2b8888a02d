// A plain `fn` takes #[circuit_breaker], #[retry], #[bulkhead], #[rate_limiter] and
// #[fallback]; a timeout cannot cancel blocking code, and the others are for `async fn`s.

#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

#[resilience::retry]
#[resilience::timeout(1s)]
fn call() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::circuit_breaker]
#[resilience::cache(ttl = 1m)]
fn cached() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::bulkhead(max = 2)]
fn no_result() {}

fn main() {}
