use super::*;
use crate::check::calls::DEFAULT_BACKOFF_MAX;
use crate::kinds::Config;
use crate::model::{Backoff, Rate};

fn check(kind: Kind, src: &str) -> (Layer, Vec<String>) {
    let args: Args = syn::parse_str(src).expect("parses");
    let mut cx = Ctxt::default();
    let layer = layer(kind, &args, Span::call_site(), Site::Attribute, &mut cx);
    let errors = match cx.finish() {
        Ok(()) => Vec::new(),
        Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
    };
    (layer, errors)
}

fn errors(kind: Kind, src: &str) -> Vec<String> {
    check(kind, src).1
}

#[test]
fn misspelt_option_suggests_the_closest() {
    assert_eq!(
        errors(Kind::CircuitBreaker, "treshold = 50%"),
        ["unknown option 'treshold'; did you mean 'threshold'?"]
    );
}

#[test]
fn bare_lowercase_ident_close_to_an_option_is_a_misspelt_option() {
    assert_eq!(
        errors(Kind::Retry, "attemps"),
        ["unknown option 'attemps'; did you mean 'attempts'?"]
    );
    let (layer, errs) = check(Kind::Retry, "PAYMENTS_RETRY");
    assert!(errs.is_empty());
    assert!(layer.shared.is_some());
}

#[test]
fn every_error_is_collected() {
    let errs = errors(
        Kind::CircuitBreaker,
        "threshold = 150%, open = 30, window = 0",
    );
    assert_eq!(errs.len(), 3, "{errs:?}");
}

#[test]
fn durations_take_ms_s_m_h() {
    let (layer, errs) = check(Kind::Timeout, "1.5s");
    assert!(errs.is_empty());
    let Config::Timeout(t) = layer.config else {
        panic!()
    };
    assert_eq!(t.duration.map(|d| d.value), Some(1_500_000_000));
    assert_eq!(
        errors(Kind::Timeout, "30"),
        ["a duration needs a unit: write 30ms, 30s, 30m or 30h"]
    );
    assert!(errors(Kind::Timeout, "30sec")[0].starts_with("unknown unit 'sec'"));
}

#[test]
fn rates_and_ranges_are_checked() {
    let (layer, errs) = check(Kind::RateLimiter, "6000/m, burst = 10");
    assert!(errs.is_empty());
    let Config::RateLimiter(rl) = layer.config else {
        panic!()
    };
    assert_eq!(
        rl.rate.map(|r| r.value),
        Some(Rate {
            count: 6000,
            per: 60_000_000_000
        })
    );
    assert!(errors(Kind::RateLimiter, "0/s")[0].contains("at least 1"));
    assert!(errors(Kind::Retry, "attempts = 0")[0].contains("at least 1"));
    assert!(errors(Kind::CircuitBreaker, "threshold = 0%")[0].contains("more than 0%"));
}

#[test]
fn duplicates_and_conflicts_are_reported() {
    assert_eq!(
        errors(Kind::Retry, "attempts = 3, attempts = 4"),
        ["duplicate option 'attempts'; give it once"]
    );
    assert!(
        errors(Kind::CircuitBreaker, "threshold = 50%, failures = 5")[0]
            .contains("cannot be used together")
    );
    assert!(
        errors(Kind::Retry, "backoff = fixed(1s), jitter = decorrelated")[0]
            .contains("exponential")
    );
}

#[test]
fn required_options_are_asked_for() {
    assert!(errors(Kind::Timeout, "")[0].contains("needs a duration"));
    assert!(errors(Kind::Bulkhead, "queue = 2")[0].contains("max = 10"));
    assert!(errors(Kind::RateLimiter, "")[0].contains("needs a rate"));
}

#[test]
fn a_bulkhead_wait_needs_a_queue_and_a_length() {
    assert_eq!(
        errors(Kind::Bulkhead, "max = 10, wait = 500ms"),
        [
            "'wait' is the longest wait in the queue, so it needs a queue: add queue = 20 beside it, or remove wait"
        ]
    );
    assert!(
        errors(Kind::Bulkhead, "max = 10, queue = 0, wait = 500ms")[0].contains("needs a queue")
    );
    assert_eq!(
        errors(Kind::Bulkhead, "max = 10, queue = 5, wait = 0ms"),
        ["'wait' must be longer than 0: wait = 500ms"]
    );
    assert!(errors(Kind::Bulkhead, "max = 10, queue = 5, wait = 500ms").is_empty());
    assert!(errors(Kind::RateLimiter, "100/s, wait = 0ms").is_empty());
}

#[test]
fn counts_the_runtime_caps_are_capped_here_too() {
    assert_eq!(
        errors(Kind::CircuitBreaker, "half_open = 1001"),
        ["'half_open' must be at most 1000: half_open = 3"]
    );
    assert!(errors(Kind::CircuitBreaker, "half_open = 1000").is_empty());
    assert_eq!(
        errors(Kind::Bulkhead, "max = 1048576"),
        ["'max' must be at most 1048575: max = 10"]
    );
    assert!(errors(Kind::Bulkhead, "max = 1048575").is_empty());
}

#[test]
fn shared_policies_take_only_use_site_options() {
    let errs = errors(
        Kind::CircuitBreaker,
        "PAYMENTS, ignore = E::is_declined, threshold = 20%",
    );
    assert_eq!(errs.len(), 1);
    assert!(errs[0].contains("configure PAYMENTS where it is declared"));
}

#[test]
fn backoffs_parse_with_defaults() {
    let (layer, errs) = check(Kind::Retry, "backoff = exponential(100ms, factor = 3)");
    assert!(errs.is_empty(), "{errs:?}");
    let Config::Retry(r) = layer.config else {
        panic!()
    };
    assert_eq!(
        r.backoff.map(|b| b.value),
        Some(Backoff::Exponential {
            initial: 100_000_000,
            factor: Some(3.0),
            max: DEFAULT_BACKOFF_MAX
        })
    );
    assert!(errors(Kind::Retry, "backoff = linear(100ms)")[0].contains("max = 2s"));
}
