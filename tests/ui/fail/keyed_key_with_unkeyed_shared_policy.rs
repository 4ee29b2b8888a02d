#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

resilience::policy! {
    static API: RateLimiter = rate_limiter(100/s);
}

#[resilience::rate_limiter(API, key = tenant)]
async fn search(tenant: String) -> Result<String, ApiError> {
    Ok(tenant)
}

fn main() {}