// An async fallback whose future gives the wrong type: one error, at the fallback.
#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

async fn cached(failure: resilience::Failure<ApiError>) -> Option<u32> {
    let _ = failure;
    None
}

#[resilience::timeout(1s, fallback = cached)]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
