//! Every endpoint of the admin router, through the router itself: answers, bad input, auth, and
//! that a refused request changes nothing.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use resilience_admin::Admin;
use resilience_runtime::registry;
use resilience_runtime::{CircuitBreaker, Failure, State};
use serde_json::Value;
use tower::ServiceExt;

macro_rules! breaker {
    ($name:literal, $critical:expr) => {{
        static B: CircuitBreaker = match CircuitBreaker::builder($name)
            .consecutive_failures(2)
            .open(Duration::from_secs(30))
            .critical($critical)
            .build()
        {
            Ok(b) => b,
            Err(_) => panic!("invalid breaker"),
        };
        registry::register(&B);
        &B
    }};
}

/// Health answers depend on every breaker and the drain: these tests take turns.
static HEALTH: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, String) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn get(router: &Router, path: &str) -> (StatusCode, String) {
    send(router, Request::get(path).body(Body::empty()).unwrap()).await
}

async fn post(
    router: &Router,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, String) {
    let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    send(router, request.body(Body::from(body.to_owned())).unwrap()).await
}

/// A policy's `open` setting, as the registry shows it.
fn open_of(name: &str) -> String {
    registry::snapshot()
        .get(name)
        .unwrap()
        .setting("open")
        .unwrap()
        .to_owned()
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

async fn fail(breaker: &CircuitBreaker) {
    let _ = breaker
        .call(async { Err::<(), _>(Failure::Error("down")) })
        .await;
}

#[tokio::test]
async fn policies_are_listed_with_their_figures_and_settings() {
    let b = breaker!("admin::list/circuit_breaker", false);
    b.reset();
    let _ = b.call(async { Ok::<_, Failure<()>>(()) }).await;
    let router = Admin::router();
    let (status, body) = get(&router, "/policies").await;
    assert_eq!(status, StatusCode::OK);
    let all = json(&body);
    assert_eq!(all["draining"], false);
    let p = all["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "admin::list/circuit_breaker")
        .unwrap();
    assert_eq!(p["kind"], "circuit_breaker");
    assert_eq!(p["state"], "closed");
    assert_eq!(p["calls"], 1);
    assert_eq!(p["successes"], 1);
    assert_eq!(p["in_use"], Value::Null, "a breaker has no slots");
    assert_eq!(p["settings"]["open"], "30s");

    // One by name, slashes and all.
    let (status, body) = get(&router, "/policies/admin::list/circuit_breaker").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["name"], "admin::list/circuit_breaker");
}

#[tokio::test]
async fn an_unknown_policy_is_a_404_with_the_registrys_message() {
    let _ = breaker!("admin::known/circuit_breaker", false);
    let router = Admin::router();
    let (status, body) = get(&router, "/policies/admin::knwon/circuit_breaker").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let expected = registry::get("admin::knwon/circuit_breaker")
        .unwrap_err()
        .to_string();
    assert_eq!(json(&body)["error"], expected);
    assert!(
        expected.contains("admin::known/circuit_breaker"),
        "{expected}"
    );
}

#[tokio::test]
async fn probes_answer_liveness_readiness_and_startup() {
    let _turn = HEALTH.lock().await;
    let critical = breaker!("admin::critical/circuit_breaker", true);
    critical.reset();
    let started = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let router = {
        let started = std::sync::Arc::clone(&started);
        Admin::builder()
            .startup(move || started.load(std::sync::atomic::Ordering::Relaxed))
            .router()
    };
    assert_eq!(get(&router, "/health/live").await.0, StatusCode::OK);
    assert_eq!(
        get(&router, "/health/startup").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    started.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(get(&router, "/health/startup").await.0, StatusCode::OK);

    assert_eq!(get(&router, "/health/ready").await.0, StatusCode::OK);
    critical.force_open();
    let (status, body) = get(&router, "/health/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&body)["status"], "down");
    assert_eq!(
        get(&router, "/health/live").await.0,
        StatusCode::OK,
        "still alive"
    );
    critical.reset();
    assert_eq!(get(&router, "/health/ready").await.0, StatusCode::OK);
}

#[tokio::test]
async fn readiness_fails_while_the_program_drains() {
    let _turn = HEALTH.lock().await;
    let router = Admin::router();
    let report = registry::drain(Duration::from_millis(10)).await;
    assert!(report.is_complete());
    let (status, body) = get(&router, "/health/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&body)["status"], "draining");
    assert_eq!(json(&get(&router, "/policies").await.1)["draining"], true);
    registry::undrain();
    assert_eq!(get(&router, "/health/ready").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_drain_starts_and_ends_over_http_behind_the_token() {
    let _turn = HEALTH.lock().await;
    let router = Admin::builder().control(Some("s3cret")).router();
    // Without the token, or with a bad deadline: nothing starts.
    assert_eq!(
        post(&router, "/drain", None, "").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = post(&router, "/drain", Some("s3cret"), r#"{"deadline": "30"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        json(&body)["error"].as_str().unwrap().contains("deadline"),
        "{body}"
    );
    assert!(!registry::is_draining());
    // Nothing in flight here: it completes at once.
    let (status, body) = post(&router, "/drain", Some("s3cret"), r#"{"deadline": "50ms"}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report = json(&body);
    assert_eq!(report["draining"], true);
    assert_eq!(report["complete"], true);
    assert_eq!(
        get(&router, "/health/ready").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let (status, body) = post(&router, "/undrain", Some("s3cret"), "").await;
    assert_eq!(
        (status, json(&body)["draining"].clone()),
        (StatusCode::OK, Value::Bool(false))
    );
    assert!(!registry::is_draining());
    // Control off: no drain over HTTP at all.
    let read_only = Admin::router();
    assert_eq!(
        post(&read_only, "/drain", Some("s3cret"), "").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn control_is_off_by_default_and_changes_nothing() {
    let b = breaker!("admin::readonly/circuit_breaker", false);
    b.reset();
    let router = Admin::router();
    let (status, body) = post(
        &router,
        "/policies/admin::readonly/circuit_breaker/settings",
        Some("anything"),
        r#"{"open": "5s"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        json(&body)["error"]
            .as_str()
            .unwrap()
            .contains("control is off")
    );
    let (status, _) = post(
        &router,
        "/policies/admin::readonly/circuit_breaker/state",
        None,
        r#"{"state": "forced_open"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(open_of("admin::readonly/circuit_breaker"), "30s");
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_a_401_and_changes_nothing() {
    let b = breaker!("admin::guarded/circuit_breaker", false);
    b.reset();
    let router = Admin::builder().control(Some("s3cret")).router();
    for token in [None, Some("wrong"), Some("s3cre")] {
        let (status, _) = post(
            &router,
            "/policies/admin::guarded/circuit_breaker/state",
            token,
            r#"{"state": "forced_open"}"#,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
    }
    assert_eq!(b.state(), State::Closed);
    let (status, body) = post(
        &router,
        "/policies/admin::guarded/circuit_breaker/state",
        Some("s3cret"),
        r#"{"state": "forced_open"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(json(&body)["state"], "forced_open");
    assert_eq!(b.state(), State::ForcedOpen);
    let (status, body) = post(
        &router,
        "/policies/admin::guarded/circuit_breaker/reset",
        Some("s3cret"),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test]
async fn settings_change_together_and_bad_input_is_a_4xx_with_the_registrys_message() {
    let b = breaker!("admin::tuned/circuit_breaker", false);
    b.reset();
    let router = Admin::builder().control(Some("t")).router();
    let path = "/policies/admin::tuned/circuit_breaker/settings";

    let (status, body) = post(&router, path, Some("t"), r#"{"open": "5s", "failures": 4}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(json(&body)["settings"]["open"], "5s");
    assert_eq!(open_of("admin::tuned/circuit_breaker"), "5s");

    // A bad value next to a good one: the message `registry::set` gives, and neither applied.
    let (status, body) = post(
        &router,
        path,
        Some("t"),
        r#"{"open": "9s", "threshold": "150%"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let expected = registry::set("admin::tuned/circuit_breaker", "threshold", "150%")
        .unwrap_err()
        .to_string();
    assert_eq!(json(&body)["error"], expected);
    assert_eq!(
        open_of("admin::tuned/circuit_breaker"),
        "5s",
        "nothing changed"
    );

    // An unknown setting, with the close match.
    let (status, body) = post(&router, path, Some("t"), r#"{"opne": "9s"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let expected = registry::set("admin::tuned/circuit_breaker", "opne", "9s")
        .unwrap_err()
        .to_string();
    assert_eq!(json(&body)["error"], expected);

    // An unknown policy, a body that is not an object, an unknown action, a bad state.
    let (status, _) = post(
        &router,
        "/policies/admin::nothing/settings",
        Some("t"),
        r#"{"open": "9s"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = post(&router, path, Some("t"), "open=9s").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        json(&body)["error"]
            .as_str()
            .unwrap()
            .contains("JSON object")
    );
    let (status, _) = post(
        &router,
        "/policies/admin::tuned/circuit_breaker/explode",
        Some("t"),
        "{}",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = post(
        &router,
        "/policies/admin::tuned/circuit_breaker/state",
        Some("t"),
        r#"{"state": "ajar"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json(&body)["error"].as_str().unwrap().contains("`ajar`"));
    assert_eq!(b.state(), State::Closed);
    assert_eq!(open_of("admin::tuned/circuit_breaker"), "5s");
}

#[tokio::test]
async fn transitions_of_the_last_minutes_are_listed() {
    let router = Admin::router();
    let b = breaker!("admin::flapping/circuit_breaker", false);
    b.reset();
    fail(b).await;
    fail(b).await;
    assert_eq!(b.state(), State::Open);
    let (status, body) = get(&router, "/transitions").await;
    assert_eq!(status, StatusCode::OK);
    let all = json(&body);
    let t = all["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|t| t["policy"] == "admin::flapping/circuit_breaker")
        .unwrap();
    assert_eq!(
        (t["from"].as_str(), t["to"].as_str()),
        (Some("closed"), Some("open"))
    );
}

#[tokio::test]
async fn the_dashboard_is_one_page_without_external_resources() {
    let router = Admin::router();
    let (status, page) = get(&router, "/dashboard").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("<title>resilience dashboard</title>"),
        "the page"
    );
    for external in ["http://", "https://", "//cdn", "@import"] {
        assert!(
            !page.contains(external),
            "the page loads nothing from elsewhere: {external}"
        );
    }
    let root = router
        .clone()
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(root.status().is_redirection());
}

/// The event stream: one `policy` event per decision; a client that falls behind is told how
/// many events it lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_and_a_slow_client_is_told_what_it_missed() {
    let b = breaker!("admin::streamed/circuit_breaker", false);
    b.reset();
    let router = Admin::router();
    let response = router
        .oneshot(Request::get("/events").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    assert!(Admin::event_clients() >= 1);
    // More events than a client's buffer holds, before it reads any.
    for _ in 0..(resilience_runtime::event::CAPACITY + 100) {
        let _ = b.call(async { Ok::<_, Failure<()>>(()) }).await;
    }
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    let first = String::from_utf8(first.to_vec()).unwrap();
    assert!(first.starts_with("event: missed\n"), "{first}");
    let missed: Value = json(first.lines().nth(1).unwrap().trim_start_matches("data: "));
    assert!(missed["missed"].as_u64().unwrap() >= 100, "{missed}");
    assert!(Admin::events_missed() >= missed["missed"].as_u64().unwrap());
    let next = body.frame().await.unwrap().unwrap().into_data().unwrap();
    let next = String::from_utf8(next.to_vec()).unwrap();
    assert!(next.starts_with("event: policy\n"), "{next}");
    let event = json(next.lines().nth(1).unwrap().trim_start_matches("data: "));
    assert_eq!(event["kind"], "circuit_breaker");
    assert!(event["at"].as_u64().unwrap() > 0);
    drop(body);
    // Other tests' clients may come and go; this one is gone.
}

/// Prometheus text from the recorder the program installed, with the registry's counters
/// exported first.
#[cfg(feature = "metrics")]
#[tokio::test]
async fn metrics_are_prometheus_text() {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap();
    let b = breaker!("admin::scraped/circuit_breaker", false);
    b.reset();
    let _ = b.call(async { Ok::<_, Failure<()>>(()) }).await;
    let router = Admin::builder().prometheus(handle).router();
    let response = router
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("resilience4j_circuitbreaker_calls")
                && l.contains(r#"name="admin::scraped/circuit_breaker""#)
                && l.contains(r#"kind="successful""#)
        })
        .unwrap_or_else(|| panic!("no successful-calls series in:\n{text}"));
    assert!(line.ends_with(" 1"), "{line}");
    // Without a handle, a 404 that says what to do.
    let (status, body) = get(&Admin::router(), "/metrics").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains(".prometheus(handle)"));
}
