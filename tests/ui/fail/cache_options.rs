#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

#[resilience::cache(key = sku)]
async fn without_a_ttl(sku: &str) -> Result<u32, ApiError> {
    let _ = sku;
    Ok(1)
}

#[resilience::cache(ttl = 30s, stale = 10s, key = sku)]
async fn stale_within_ttl(sku: &str) -> Result<u32, ApiError> {
    let _ = sku;
    Ok(1)
}

#[resilience::cache(ttl = 30s, refresh = 1m, key = sku)]
async fn refresh_after_expiry(sku: &str) -> Result<u32, ApiError> {
    let _ = sku;
    Ok(1)
}

#[resilience::cache(ttl = 30s, capacity = 0)]
async fn no_room() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
