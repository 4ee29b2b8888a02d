// A method's fallback takes the receiver too: one without it is told the signature to write.
#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

struct Client;

impl Client {
    fn cached(id: u64, failure: resilience::Failure<ApiError>) -> Result<u32, ApiError> {
        let _ = (id, failure);
        Ok(0)
    }

    #[resilience::fallback(Self::cached)]
    async fn call(&self, id: u64) -> Result<u32, ApiError> {
        let _ = id;
        Ok(1)
    }
}

fn main() {}
