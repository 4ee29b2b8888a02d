// `shared` names what a fleet shares: a rate limiter or a breaker, not a keyed family, and
// not the other kinds.

#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

#[resilience::rate_limiter(10/s, key = tenant, shared = "partner-api")]
async fn keyed(tenant: u64) -> Result<u64, ApiError> {
    Ok(tenant)
}

#[resilience::retry(attempts = 3, shared = "partner-api")]
async fn retried() -> Result<u64, ApiError> {
    Ok(1)
}

#[resilience::circuit_breaker(shared = "")]
async fn empty() -> Result<u64, ApiError> {
    Ok(1)
}

#[resilience::circuit_breaker(quorum = 2)]
async fn no_fleet() -> Result<u64, ApiError> {
    Ok(1)
}

#[resilience::circuit_breaker(shared = "payments", quorum = 0)]
async fn no_replica() -> Result<u64, ApiError> {
    Ok(1)
}

fn main() {}
