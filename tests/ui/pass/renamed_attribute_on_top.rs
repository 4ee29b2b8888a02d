// A renamed attribute on top of a stack expands first and takes the rest: that is fine.
use resilience::retry as with_retry;

#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

#[with_retry(attempts = 3)]
#[resilience::timeout(1s)]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {
    let _ = call();
}
