#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

resilience::policy! {
    static API_RETRIES: RetryBudget = retry_budget(ratio = 20%, min = 10/s, window = 10s);
    static FETCH: Retry = retry(attempts = 3);
}

#[resilience::retry(FETCH, budget = API_RETRIES)]
async fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
