#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

fn cached(id: String, failure: resilience::Failure<ApiError>) -> Result<u32, ApiError> {
    let _ = (id, failure);
    Ok(0)
}

#[resilience::fallback(cached)]
async fn call(id: u64) -> Result<u32, ApiError> {
    let _ = id;
    Ok(1)
}

fn main() {}
