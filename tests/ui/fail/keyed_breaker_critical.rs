#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

#[resilience::circuit_breaker(threshold = 50%, key = host, critical = true)]
async fn fetch(host: &str) -> Result<u32, ApiError> {
    Ok(host.len() as u32)
}

fn main() {}