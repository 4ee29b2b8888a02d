//! The operators' files against the library: every metric the Grafana dashboard
//! (`docs/grafana/resilience.json`) and the alerting rules (`docs/prometheus/alerts.yml`) query
//! is one the library publishes, as `metrics-exporter-prometheus` renders it; every series the
//! library publishes is named in the runbook (`docs/runbook.md`); and every runbook section the
//! rules link to is a heading of the runbook.

#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use resilience_runtime::bulkhead::adaptive::Algorithm;
use resilience_runtime::registry;
use resilience_runtime::{
    Backoff, Bulkhead, Cache, Chaos, CircuitBreaker, Failure, Hedge, Idempotency,
    KeyedCircuitBreaker, KeyedRateLimiter, RateLimiter, Retry, RetryBudget, Timeout, Toggle,
};

/// A policy from its builder, in a `static`.
macro_rules! built {
    ($builder:expr) => {
        match $builder.build() {
            Ok(policy) => policy,
            Err(_) => panic!("invalid policy"),
        }
    };
}

/// A policy whose builder is checked first (keyed families, caches, idempotency stores).
macro_rules! checked {
    ($builder:expr) => {
        match $builder.check() {
            Ok(checked) => checked.build(),
            Err(_) => panic!("invalid policy"),
        }
    };
}

const MS: Duration = Duration::from_millis(1);
const SECOND: Duration = Duration::from_secs(1);

static CRITICAL: CircuitBreaker = built!(
    CircuitBreaker::builder("ops::CRITICAL")
        .slow(Duration::from_millis(10))
        .critical(true)
);
static BREAKER: CircuitBreaker = built!(CircuitBreaker::builder("ops::BREAKER").threshold(50.0));
static HOSTS: KeyedCircuitBreaker = checked!(
    CircuitBreaker::builder("ops::HOSTS")
        .threshold(50.0)
        .keyed()
);
static TENANTS: KeyedRateLimiter = checked!(
    RateLimiter::builder("ops::TENANTS")
        .rate(10, SECOND)
        .keyed()
);
static BUDGET: RetryBudget = built!(RetryBudget::builder("ops::BUDGET"));
static RETRY: Retry = built!(
    Retry::builder("ops::RETRY")
        .attempts(2)
        .backoff(Backoff::fixed(MS))
        .budget(&BUDGET)
);
static TIMEOUT: Timeout = built!(Timeout::builder("ops::TIMEOUT").duration(SECOND));
static SLOTS: Bulkhead = built!(Bulkhead::builder("ops::SLOTS").max(4).queue(2));
static ADAPTIVE: Bulkhead = built!(
    Bulkhead::builder("ops::ADAPTIVE")
        .adaptive(Algorithm::Gradient2)
        .min(5)
        .max(100)
);
static LIMITER: RateLimiter = built!(RateLimiter::builder("ops::LIMITER").rate(100, SECOND));
static HEDGE: Hedge = built!(
    Hedge::builder("ops::HEDGE")
        .after(Duration::from_millis(50))
        .budget(&BUDGET)
);
static CACHE: Cache = checked!(
    Cache::builder("ops::CACHE")
        .ttl(Duration::from_secs(30))
        .stale(Some(Duration::from_secs(300)))
);
static ONCE: Idempotency = checked!(Idempotency::builder("ops::ONCE"));
static DEGRADED: Toggle = built!(Toggle::builder("ops::DEGRADED"));
static FAULTS: Chaos = built!(Chaos::builder("ops::FAULTS").error(Some(10.0)));

type Outcome<T> = Result<T, Failure<()>>;

/// One policy of every kind registered, a few calls through them in virtual time (a slow call
/// and a retry, so that both histograms are recorded), then the registry exported: the
/// Prometheus text a scrape would get.
fn rendered() -> String {
    for name in [
        registry::register(&CRITICAL),
        registry::register(&BREAKER),
        registry::register(&HOSTS),
        registry::register(&TENANTS),
        registry::register(&BUDGET),
        registry::register(&RETRY),
        registry::register(&TIMEOUT),
        registry::register(&SLOTS),
        registry::register(&ADAPTIVE),
        registry::register(&LIMITER),
        registry::register(&HEDGE),
        registry::register(&CACHE),
        registry::register(&ONCE),
        registry::register(&DEGRADED),
        registry::register(&FAULTS),
    ] {
        assert!(name.starts_with("ops::"), "{name}");
    }
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            // A slow call (virtual time: the clock jumps, nothing waits).
            let slow: Outcome<()> = CRITICAL
                .call(async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok(())
                })
                .await;
            slow.unwrap();
            // A failed first attempt and a retry after 1 ms, from the budget.
            let mut attempt = 0;
            let retried: Outcome<()> = RETRY
                .call(|| {
                    attempt += 1;
                    let fail = attempt == 1;
                    async move {
                        if fail {
                            Err(Failure::Error(()))
                        } else {
                            Ok(())
                        }
                    }
                })
                .await;
            retried.unwrap();
            let ok: Outcome<()> = BREAKER.call(async { Ok(()) }).await;
            ok.unwrap();
            let ok: Outcome<()> = HOSTS.call("api.example.com", async { Ok(()) }).await;
            ok.unwrap();
            let ok: Outcome<()> = TENANTS.call("acme", async { Ok(()) }).await;
            ok.unwrap();
            let ok: Outcome<()> = TIMEOUT.call(async { Ok(()) }).await;
            ok.unwrap();
            let ok: Outcome<()> = SLOTS.call(async { Ok(()) }).await;
            ok.unwrap();
            let ok: Outcome<()> = ADAPTIVE.call(async { Ok(()) }).await;
            ok.unwrap();
            let ok: Outcome<()> = LIMITER.call(async { Ok(()) }).await;
            ok.unwrap();
            let ok: Outcome<()> = HEDGE.call(|| async { Ok(()) }).await;
            ok.unwrap();
            for _ in 0..2 {
                let price: Outcome<u32> = CACHE.call("sku-1", async { Ok(7) }).await;
                assert_eq!(price.unwrap(), 7);
            }
            let receipt: Outcome<u32> = ONCE.call("key-1", async { Ok(1) }).await;
            assert_eq!(receipt.unwrap(), 1);
        });
        registry::metrics::export();
    });
    handle.render()
}

/// Every metric name of the Prometheus text: each family of a `# TYPE` line and each sample's
/// name (so a histogram's or summary's `_sum` and `_count`, and a histogram's `_bucket`), with
/// the family's type.
fn published(text: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                names.insert(name.to_owned(), kind.to_owned());
            }
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|family| names.contains_key(*family))
                .unwrap_or(name);
            let kind = names.get(family).cloned().unwrap_or_default();
            names.insert(name.to_owned(), kind);
        }
    }
    names
}

/// The families of the text: every `# TYPE` line's name.
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Every identifier of a PromQL expression that starts with `resilience` (the metric names;
/// label names and functions do not).
fn identifiers(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in expr.chars().chain([' ']) {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            if word.starts_with("resilience") {
                out.push(std::mem::take(&mut word));
            }
            word.clear();
        }
    }
    out
}

fn read(path: &str) -> String {
    let path = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// The queries of a Grafana dashboard: every `expr` (panels' targets), and the templating
/// variables' `query` and `definition`.
fn dashboard_queries(json: &serde_json::Value, out: &mut Vec<String>) {
    match json {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr" | "query" | "definition", serde_json::Value::String(s)) => {
                        out.push(s.clone());
                    }
                    _ => dashboard_queries(value, out),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                dashboard_queries(item, out);
            }
        }
        _ => {}
    }
}

/// The `expr` of every rule of a Prometheus rules file: `expr: ...` on one line, or a block
/// scalar (`expr: |`, `expr: >-`) of the lines indented below it.
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start().trim_start_matches("- ");
        i += 1;
        let Some(rest) = trimmed.strip_prefix("expr:") else {
            continue;
        };
        let rest = rest.trim();
        if rest.starts_with('|') || rest.starts_with('>') {
            let mut block = Vec::new();
            while i < lines.len() {
                let next = lines[i];
                let next_indent = next.len() - next.trim_start().len();
                if !next.trim().is_empty() && next_indent <= indent {
                    break;
                }
                block.push(next.trim());
                i += 1;
            }
            out.push(block.join("\n"));
        } else {
            out.push(rest.trim_matches(['"', '\'']).to_owned());
        }
    }
    out
}

/// GitHub's anchor of a heading: lowercase, spaces to `-`, punctuation other than `-` and `_`
/// dropped; a repeated anchor gets `-1`, `-2`, ...
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen = BTreeMap::<String, usize>::new();
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let text = line.trim_start_matches('#');
        if !text.starts_with(' ') {
            continue;
        }
        let anchor: String = text
            .trim()
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let n = seen.entry(anchor.clone()).or_insert(0);
        out.insert(if *n == 0 {
            anchor
        } else {
            format!("{anchor}-{n}")
        });
        *n += 1;
    }
    out
}

/// The anchors of every `docs/runbook.md#anchor` link in `text`.
fn runbook_links(text: &str) -> Vec<String> {
    text.match_indices("docs/runbook.md#")
        .map(|(at, link)| {
            text[at + link.len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn the_dashboard_and_the_alerts_name_only_published_metrics_and_existing_runbook_sections() {
    let text = rendered();
    let published = published(&text);

    // Counters are rendered under their own name: the exporter appends no `_total`.
    assert_eq!(
        published
            .get("resilience4j_circuitbreaker_calls")
            .map(String::as_str),
        Some("counter"),
        "{text}"
    );
    assert!(
        published.keys().all(|name| !name.ends_with("_total")),
        "{text}"
    );
    // Both histograms were recorded (as summaries, the exporter's default).
    for histogram in [
        "resilience4j_circuitbreaker_slow_call_duration",
        "resilience4j_retry_wait_duration",
    ] {
        assert!(
            published.contains_key(&format!("{histogram}_count")),
            "{histogram} not recorded:\n{text}"
        );
    }

    let mut queries = Vec::new();
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("docs/grafana/resilience.json")).unwrap();
    dashboard_queries(&dashboard, &mut queries);
    let alerts = read("docs/prometheus/alerts.yml");
    let rules = rule_exprs(&alerts);
    assert!(
        rules.len() >= 5,
        "expected at least five rules, found {rules:?}"
    );
    assert!(
        queries.len() >= 20,
        "expected the dashboard's queries, found {queries:?}"
    );
    queries.extend(rules);

    let named: BTreeSet<String> = queries.iter().flat_map(|q| identifiers(q)).collect();
    assert!(named.len() >= 20, "{named:?}");
    let missing: Vec<&String> = named
        .iter()
        .filter(|n| !published.contains_key(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "named in the dashboard or the alerts but not published: {missing:?}\n\npublished: {:?}",
        published.keys().collect::<Vec<_>>()
    );

    // The runbook names every family the library publishes.
    let runbook = read("docs/runbook.md");
    let undocumented: Vec<String> = families(&text)
        .into_iter()
        .filter(|family| !runbook.contains(&format!("`{family}`")))
        .collect();
    assert!(
        undocumented.is_empty(),
        "published but not in docs/runbook.md: {undocumented:?}"
    );

    // Every alert says what it is and links to a runbook section that exists.
    let sections = anchors(&runbook);
    let links = runbook_links(&alerts);
    let broken: Vec<&String> = links.iter().filter(|a| !sections.contains(*a)).collect();
    assert!(
        broken.is_empty(),
        "alerts.yml links to runbook sections that do not exist: {broken:?}\n\nsections: {sections:?}"
    );
    for rule in alerts.split("- alert:").skip(1) {
        let name = rule.lines().next().unwrap_or_default().trim();
        for needed in ["summary:", "description:", "docs/runbook.md#"] {
            assert!(rule.contains(needed), "alert {name} has no {needed}");
        }
    }
}

#[test]
fn the_checks_find_what_they_look_for() {
    assert_eq!(
        identifiers(
            r#"sum by (name) (rate(resilience4j_retry_calls{kind="retried"}[5m])) / resilience_ready"#
        ),
        ["resilience4j_retry_calls", "resilience_ready"]
    );
    let yaml = "      - alert: A\n        expr: |\n          resilience_ready\n            == 0\n        for: 1m\n      - alert: B\n        expr: resilience_draining == 1\n";
    assert_eq!(
        rule_exprs(yaml),
        ["resilience_ready\n== 0", "resilience_draining == 1"]
    );
    let md = "# Runbook\n## When a breaker opens\n```\n# not a heading\n```\n### The `/policies/NAME` answer\n## When an adaptive bulkhead's limit collapses\n## Overview\n## Overview\n";
    let found = anchors(md);
    for anchor in [
        "runbook",
        "when-a-breaker-opens",
        "the-policiesname-answer",
        "when-an-adaptive-bulkheads-limit-collapses",
        "overview",
        "overview-1",
    ] {
        assert!(found.contains(anchor), "{anchor} not in {found:?}");
    }
    assert!(!found.contains("not-a-heading"));
    assert_eq!(
        runbook_links("see docs/runbook.md#when-a-breaker-opens."),
        ["when-a-breaker-opens"]
    );
}
