// #[hedge]: when to start is required; a percentile goes from p50 to p99.9; `initial` goes
// with a percentile; at most 10 hedges; attempts run side by side, so nothing `&mut` is
// shared between them, and blocking code is not hedged.

#[derive(Debug, Clone)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

#[resilience::hedge(max = 2)]
async fn no_after() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::hedge(after = p100)]
async fn past_the_slowest() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::hedge(after = p99.95)]
async fn two_decimals() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::hedge(after = fast)]
async fn a_word() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::hedge(after = 50ms, initial = 100ms)]
async fn initial_with_a_fixed_delay() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::hedge(after = 0ms, max = 11)]
async fn zero_and_too_many() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::hedge(after = 50ms)]
async fn unique(buffer: &mut Vec<u8>) -> Result<usize, ApiError> {
    Ok(buffer.len())
}

struct Conn;

impl Conn {
    #[resilience::hedge(after = 50ms)]
    async fn query(&mut self) -> Result<u32, ApiError> {
        Ok(1)
    }

    #[resilience::hedge(after = 50ms)]
    async fn typed(self: &mut Self) -> Result<u32, ApiError> {
        Ok(1)
    }
}

#[resilience::hedge(after = p99.9ms)]
async fn percentile_with_a_unit() -> Result<u32, ApiError> {
    Ok(1)
}

#[resilience::hedge(after = 50ms)]
fn blocking() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
