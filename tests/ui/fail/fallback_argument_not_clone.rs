#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

struct Request {
    id: u64,
}

fn cached(request: Request, _failure: resilience::Failure<ApiError>) -> Result<u64, ApiError> {
    Ok(request.id)
}

#[resilience::fallback(cached)]
async fn call(request: Request) -> Result<u64, ApiError> {
    Ok(request.id)
}

fn main() {}
