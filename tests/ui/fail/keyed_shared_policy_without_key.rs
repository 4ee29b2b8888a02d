#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

resilience::policy! {
    static PER_TENANT: KeyedRateLimiter = rate_limiter(100/s);
}

#[resilience::rate_limiter(PER_TENANT)]
async fn search(tenant: String) -> Result<String, ApiError> {
    Ok(tenant)
}

fn main() {}