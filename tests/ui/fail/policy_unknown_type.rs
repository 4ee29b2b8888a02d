resilience::policy! {
    static LIMIT: Bulkhed = bulkhead(max = 10);
}

fn main() {}
