#[derive(Debug)]
struct PlainError;

#[resilience::timeout(1s)]
async fn call() -> Result<u32, PlainError> {
    Ok(1)
}

fn main() {}
