// Duration::from_secs(2) is Rust code; the attribute has its own units.
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

#[resilience::timeout(Duration::from_secs(2))]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
