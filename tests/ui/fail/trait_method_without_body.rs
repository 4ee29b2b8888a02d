#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

trait Quotes {
    #[resilience::retry]
    async fn quote(&self) -> Result<u32, ApiError>;
}

fn main() {}
