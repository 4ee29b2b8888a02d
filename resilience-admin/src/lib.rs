//! An HTTP admin for the `resilience` registry, as an [axum] router: snapshots as JSON, health
//! probes, the event stream, Prometheus text, control behind a token, and a live dashboard.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let admin = resilience_admin::Admin::builder()
//!     .control(std::env::var("ADMIN_TOKEN").ok()) // POST endpoints only with a token
//!     .router();
//! let app = axum::Router::new().nest("/admin", admin);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! # Endpoints
//!
//! Relative to where the router is mounted (`/admin` above). A policy's name may hold `/`
//! and `::` (`shop::pay/circuit_breaker`): write it as it is.
//!
//! | request | answer |
//! |---|---|
//! | `GET /dashboard` (and `GET /`) | the live dashboard: one page, no external resources |
//! | `GET /policies` | every policy: `{"draining": false, "policies": [{"name", "kind", "state", "calls", "successes", "failures", "rejections", "slow", "failure_rate", "slow_rate", "retries", "in_use", "queued", "available", "keys", "settings": {..}}]}`, `null` where a kind has no such figure |
//! | `GET /policies/NAME` | one policy; 404 with the registry's message (and close matches) for a name it does not know |
//! | `GET /health/live` | 200 `{"status":"up"}` while the process answers |
//! | `GET /health/ready` | [`registry::health`](resilience_runtime::registry::health): 200 when up or degraded, 503 when a `critical` breaker is open, and 503 `draining` while [`registry::drain`](resilience_runtime::registry::drain) is on |
//! | `GET /health/startup` | 200 once [`AdminBuilder::startup`]'s check passes (at once without one), else 503 |
//! | `GET /events` | server-sent events: one `policy` event per decision (`{"policy", "key", "kind", "what", "at", ..}`), and `missed` (`{"missed": n}`) when this client fell more than [`event::CAPACITY`](resilience_runtime::event::CAPACITY) events behind and lost the oldest |
//! | `GET /transitions` | the breakers' transitions of the last ten minutes, oldest first |
//! | `GET /metrics` | Prometheus text (feature `metrics`, with [`AdminBuilder::prometheus`]) |
//! | `POST /policies/NAME/settings` | body `{"threshold": "25%", "open": "10s"}`: the settings changed together, as [`registry::set`](resilience_runtime::registry::set) would (all or none); 200 with the policy after |
//! | `POST /policies/NAME/reset` | [`registry::reset`](resilience_runtime::registry::reset) |
//! | `POST /policies/NAME/state` | body `{"state": "forced_open"}` (or `closed`, `disabled`, `metrics_only`): a circuit breaker's state by hand |
//!
//! The `POST` endpoints are off by default: without [`AdminBuilder::control`] they answer
//! 404 and change nothing. With it, a request without `Authorization: Bearer TOKEN`, or with
//! another token, is a 401 and changes nothing. Bad input is a 4xx with the message
//! `registry::set` gives (an unknown policy 404, anything else 400), and changes nothing.
//!
//! # Cost
//!
//! The router reads the policies' own atomics when asked. The event stream subscribes to the
//! events only while a client is connected (each client its own bounded buffer: a slow client
//! loses its oldest events and is told how many, calls never wait for it); with no client, an
//! event costs the calls one relaxed load, as before. Transitions are kept from the first
//! router built on (only a transition pays for it).
//!
//! [axum]: https://docs.rs/axum

mod control;
mod json;
mod sse;
mod transitions;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use resilience_runtime::registry::{self, RegistryError, RegistryErrorKind};
use serde_json::Value;

/// The dashboard page: one file, no build step, no external resources.
pub const DASHBOARD: &str = include_str!("dashboard.html");

/// The admin's settings; [`Admin::builder`] makes one.
#[derive(Clone, Default)]
pub struct AdminBuilder {
    token: Option<String>,
    startup: Option<Arc<dyn Fn() -> bool + Send + Sync>>,
    #[cfg(feature = "metrics")]
    prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl std::fmt::Debug for AdminBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminBuilder")
            .field("control", &self.token.is_some())
            .field("startup", &self.startup.is_some())
            .finish()
    }
}

/// The admin router's maker: see the [crate docs](crate).
#[derive(Debug)]
pub struct Admin;

impl Admin {
    /// Read-only, no startup check, no Prometheus text: change with the builder's methods.
    pub fn builder() -> AdminBuilder {
        AdminBuilder::default()
    }

    /// The read-only router (`Admin::builder().router()`).
    pub fn router() -> Router {
        Admin::builder().router()
    }

    /// How many clients read `GET /events` now.
    pub fn event_clients() -> usize {
        sse::clients()
    }

    /// How many events the clients of `GET /events` lost by falling behind, in total since the
    /// process started (each client is told its own in `missed` events).
    pub fn events_missed() -> u64 {
        sse::missed()
    }
}

impl AdminBuilder {
    /// Turns the `POST` endpoints on, behind `token` (`Authorization: Bearer TOKEN`). `None`
    /// (an unset environment variable) or an empty token leaves them off.
    pub fn control(mut self, token: Option<impl Into<String>>) -> Self {
        self.token = token.map(Into::into).filter(|t| !t.is_empty());
        self
    }

    /// What `GET /health/startup` asks: 503 until `check` returns `true` (a cache warmed,
    /// migrations run), 200 after.
    pub fn startup(mut self, check: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.startup = Some(Arc::new(check));
        self
    }

    /// Serves `GET /metrics` from `handle`'s recorder, after exporting the registry's counters
    /// and gauges to it ([`registry::metrics::export`](resilience_runtime::registry::metrics::export)).
    /// Install the recorder first (`PrometheusBuilder::new().install_recorder()`).
    #[cfg(feature = "metrics")]
    pub fn prometheus(mut self, handle: metrics_exporter_prometheus::PrometheusHandle) -> Self {
        self.prometheus = Some(handle);
        self
    }

    /// The router.
    pub fn router(self) -> Router {
        transitions::listen();
        let state = Arc::new(self);
        let router = Router::new()
            .route("/", get(|| async { Redirect::to("dashboard") }))
            .route("/dashboard", get(dashboard))
            .route("/policies", get(policies))
            .route("/policies/{*name}", get(policy).post(control::post))
            .route("/health/live", get(live))
            .route("/health/ready", get(ready))
            .route("/health/startup", get(startup))
            .route("/drain", post(control::drain))
            .route("/undrain", post(control::undrain))
            .route("/events", get(sse::events))
            .route(
                "/transitions",
                get(|| async { json_response(StatusCode::OK, &transitions::recent()) }),
            );
        #[cfg(feature = "metrics")]
        let router = router.route("/metrics", get(metrics));
        router.with_state(state)
    }
}

/// The builder, as the handlers see it.
type Shared = State<Arc<AdminBuilder>>;

async fn dashboard() -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Html(DASHBOARD)).into_response()
}

/// A JSON answer.
fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A registry error as its status and message: 404 for a policy it does not know, 400 for
/// anything else.
fn registry_error(error: &RegistryError) -> Response {
    let status = match error.kind() {
        RegistryErrorKind::UnknownPolicy => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    json_response(status, &json::error(error))
}

async fn policies() -> Response {
    json_response(
        StatusCode::OK,
        &json::snapshot(&registry::snapshot(), registry::is_draining()),
    )
}

/// One policy by name.
fn one(name: &str) -> Response {
    // The registry's own lookup, for its message and close matches.
    if let Err(e) = registry::get(name) {
        return registry_error(&e);
    }
    match registry::snapshot().get(name) {
        Some(p) => json_response(StatusCode::OK, &json::policy(p)),
        None => json_response(
            StatusCode::NOT_FOUND,
            &json::error(format!("no policy named `{name}`")),
        ),
    }
}

async fn policy(Path(name): Path<String>) -> Response {
    one(&name)
}

async fn live() -> Response {
    json_response(StatusCode::OK, &serde_json::json!({ "status": "up" }))
}

async fn ready() -> Response {
    if registry::is_draining() {
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({ "status": "draining", "reasons": [] }),
        );
    }
    let health = registry::health();
    let status = StatusCode::from_u16(health.http_status()).unwrap_or(StatusCode::OK);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        health.to_json(),
    )
        .into_response()
}

async fn startup(State(admin): Shared) -> Response {
    let started = admin.startup.as_ref().is_none_or(|check| check());
    let (status, body) = if started {
        (StatusCode::OK, "started")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting")
    };
    json_response(status, &serde_json::json!({ "status": body }))
}

#[cfg(feature = "metrics")]
async fn metrics(State(admin): Shared) -> Response {
    match &admin.prometheus {
        Some(handle) => {
            registry::metrics::export();
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                handle.render(),
            )
                .into_response()
        }
        None => json_response(
            StatusCode::NOT_FOUND,
            &json::error("no Prometheus recorder: build the admin with `.prometheus(handle)`"),
        ),
    }
}
