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

#[resilience::retry(attempts = 3)]
async fn call(request: Request) -> Result<u64, ApiError> {
    Ok(request.id)
}

fn main() {}
