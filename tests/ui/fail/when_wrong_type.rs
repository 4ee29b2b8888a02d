#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

fn is_transient(code: &u32) -> bool {
    *code > 500
}

#[resilience::retry(when = is_transient)]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
