// An alias is accepted when it names a Result; one that does not is reported at the return type.
#[derive(Debug)]
struct ApiError;
impl From<resilience::Error> for ApiError {
    fn from(_: resilience::Error) -> Self {
        ApiError
    }
}

type Count = u32;

#[resilience::retry(attempts = 3)]
async fn call() -> Count {
    1
}

fn main() {}
