#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

#[resilience::chaos(error = 5%)]
async fn error_without_its_maker() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::chaos(latency = 10%)]
async fn latency_without_a_delay() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::chaos(latency = 10%, delay = 2s..200ms)]
async fn delay_range_backwards() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::chaos(enabled = true)]
async fn enabled_in_the_code() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::chaos(error = 60%, outcome = 50%, error_with = make, outcome_with = make_ok)]
async fn rates_over_100_percent() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::chaos(error = 5%, error_with = make())]
async fn maker_called() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
