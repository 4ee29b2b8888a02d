// A unit after a space is one error that says to write them together.
#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}
impl ApiError {
    #[allow(dead_code)]
    fn is_transient(&self) -> bool {
        true
    }
}

#[resilience::timeout(500 ms)]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
