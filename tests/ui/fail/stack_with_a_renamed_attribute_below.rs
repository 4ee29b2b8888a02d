// A `use .. as` rename cannot be recognised as part of the stack above it: expanding after the
// stack, it would wrap all of it (the 1s total budget would be ignored). It is an error instead.
use resilience::retry as with_retry;
use resilience::timeout;

#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

#[timeout(1s)]
#[with_retry(attempts = 3)]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
