#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

#[resilience::timeout(2s, key = tenant)]
async fn search(tenant: String) -> Result<String, ApiError> {
    Ok(tenant)
}

fn main() {}