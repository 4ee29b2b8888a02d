#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

resilience::policy! {
    static ORDERS_ONCE: Idempotency = idempotent(ttl = 1h);
    static DECLARED_WITH_A_KEY: Idempotency = idempotent(key = id);
}

#[resilience::idempotent(ttl = 24h)]
async fn without_a_key(id: u64) -> Result<u32, ApiError> {
    let _ = id;
    Ok(1)
}

#[resilience::idempotent(ORDERS_ONCE)]
async fn shared_without_a_key(id: u64) -> Result<u32, ApiError> {
    let _ = id;
    Ok(1)
}

#[resilience::idempotent(key = id, ttl = 0s, capacity = 0)]
async fn zero_ttl_and_capacity(id: u64) -> Result<u32, ApiError> {
    let _ = id;
    Ok(1)
}

struct NotClone;

#[resilience::idempotent(key = id)]
async fn result_not_clone(id: u64) -> Result<NotClone, ApiError> {
    let _ = id;
    Ok(NotClone)
}

fn main() {}
