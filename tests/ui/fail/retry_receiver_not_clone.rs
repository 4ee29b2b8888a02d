// A receiver taken by value is cloned for each attempt; one that is not Clone is reported at
// the receiver, with what to write instead.
#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

struct Builder {
    body: String,
}

impl Builder {
    #[resilience::retry(attempts = 3)]
    async fn send(self) -> Result<usize, ApiError> {
        Ok(self.body.len())
    }
}

fn main() {}
