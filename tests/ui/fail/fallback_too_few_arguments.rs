#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

struct Client;

impl Client {
    fn cached(failure: resilience::Failure<ApiError>) -> Result<u32, ApiError> {
        let _ = failure;
        Ok(0)
    }

    #[resilience::retry(attempts = 2, fallback = Self::cached)]
    async fn call(&self, id: u64, name: &str) -> Result<u32, ApiError> {
        let _ = (id, name);
        Ok(1)
    }
}

fn main() {}
