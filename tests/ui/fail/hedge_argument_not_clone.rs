// Each attempt of a hedge gets its own clone of the owned arguments.

#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

struct Request {
    body: Vec<u8>,
}

#[resilience::hedge(after = 50ms)]
async fn send(request: Request) -> Result<usize, ApiError> {
    Ok(request.body.len())
}

fn main() {}
