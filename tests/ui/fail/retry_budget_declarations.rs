resilience::policy! {
    static BUILT_AS_A_RETRY: RetryBudget = retry(attempts = 3);
    static DECLARED_AS_A_RETRY: Retry = retry_budget(ratio = 20%);
    static TYPE_MISSPELT: RetryBugdet = retry(attempts = 3);
    static OPTION_OF_A_RETRY: RetryBudget = retry_budget(attempts = 3);
}

fn main() {}
