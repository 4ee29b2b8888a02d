#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

#[resilience::rate_limiter(100/s, key = tenant, max_keys = 0)]
async fn search(tenant: String) -> Result<String, ApiError> {
    Ok(tenant)
}

fn main() {}