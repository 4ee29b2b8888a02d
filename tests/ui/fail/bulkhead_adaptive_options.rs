// An adaptive bulkhead: `adaptive` names an algorithm; `min` and `initial` go with it, within
// `max` (the highest the limit goes).

#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

#[resilience::bulkhead(max = 100, adaptive = gradient)]
async fn misspelt() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::bulkhead(max = 100, adaptive = 2)]
async fn not_a_word() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::bulkhead(max = 100, min = 5, initial = 10)]
async fn bounds_without_adaptive() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::bulkhead(max = 10, adaptive = aimd, min = 20, initial = 0)]
async fn out_of_bounds() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::bulkhead(max = 10, adaptive = gradient2, initial = 11)]
async fn initial_above_max() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
