#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

struct Tenant;

#[resilience::rate_limiter(100/s, key = tenant)]
async fn search(tenant: Tenant) -> Result<u32, ApiError> {
    let _ = tenant;
    Ok(1)
}

fn main() {}