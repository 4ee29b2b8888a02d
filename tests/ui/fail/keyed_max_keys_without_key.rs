#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

#[resilience::rate_limiter(100/s, max_keys = 1000)]
async fn search(tenant: String) -> Result<String, ApiError> {
    Ok(tenant)
}

fn main() {}