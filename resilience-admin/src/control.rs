//! The `POST` endpoints: settings, reset and a breaker's state by name, and the process's
//! drain, behind the token.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use resilience_runtime::registry::{self, ChangeSet};
use serde_json::Value;

use crate::{Shared, json, json_response, one, registry_error};

/// What a `POST /policies/NAME/ACTION` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Settings,
    Reset,
    State,
}

/// `NAME/ACTION`, split at the last `/` (a name may hold `/` itself).
fn action(path: &str) -> Option<(&str, Action)> {
    let (name, action) = path.rsplit_once('/')?;
    let action = match action {
        "settings" => Action::Settings,
        "reset" => Action::Reset,
        "state" => Action::State,
        _ => return None,
    };
    (!name.is_empty()).then_some((name, action))
}

/// Whether `headers` carry `Authorization: Bearer TOKEN` with the admin's token, compared in
/// time that does not depend on where they differ.
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (given, token) = (given.trim().as_bytes(), token.as_bytes());
    given.len() == token.len()
        && given
            .iter()
            .zip(token)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// The answer to a control request that may not go on: control off (404), or a missing or
/// wrong token (401).
fn refused(admin: &crate::AdminBuilder, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = admin.token.as_deref() else {
        return Some(json_response(
            StatusCode::NOT_FOUND,
            &json::error(
                "control is off: build the admin with `.control(Some(token))` to change policies over HTTP",
            ),
        ));
    };
    if !authorized(headers, token) {
        return Some(json_response(
            StatusCode::UNAUTHORIZED,
            &json::error("missing or wrong token: send `Authorization: Bearer TOKEN`"),
        ));
    }
    None
}

/// The deadline of a drain asked for without one.
const DRAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// `POST /drain`, body `{"deadline": "30s"}` (or none: 30 s): refuses new calls, waits for
/// the calls in flight up to the deadline, and answers with what did not finish.
pub(crate) async fn drain(State(admin): Shared, headers: HeaderMap, body: String) -> Response {
    if let Some(refused) = refused(&admin, &headers) {
        return refused;
    }
    let deadline = if body.trim().is_empty() {
        DRAIN_DEADLINE
    } else {
        let Some(map) = object(&body) else {
            return not_an_object(r#"{"deadline": "30s"}"#);
        };
        match map.get("deadline") {
            None => DRAIN_DEADLINE,
            Some(Value::String(d)) => match resilience_syntax::duration::parse(d) {
                Ok(d) => d,
                Err(e) => {
                    return json_response(
                        StatusCode::BAD_REQUEST,
                        &json::error(format!("`deadline`: {e}")),
                    );
                }
            },
            Some(_) => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &json::error("`deadline` is a duration with its unit, as `\"30s\"`"),
                );
            }
        }
    };
    let report = registry::drain(deadline).await;
    let running: Vec<Value> = report
        .running
        .iter()
        .map(|(name, calls)| serde_json::json!({ "name": name, "calls": calls }))
        .collect();
    json_response(
        StatusCode::OK,
        &serde_json::json!({
            "draining": registry::is_draining(),
            "complete": report.is_complete(),
            "waited_ms": report.waited.as_millis() as u64,
            "running": running,
            "message": report.to_string(),
        }),
    )
}

/// `POST /undrain`: admits calls again.
pub(crate) async fn undrain(State(admin): Shared, headers: HeaderMap) -> Response {
    if let Some(refused) = refused(&admin, &headers) {
        return refused;
    }
    registry::undrain();
    json_response(StatusCode::OK, &serde_json::json!({ "draining": false }))
}

pub(crate) async fn post(
    State(admin): Shared,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(refused) = refused(&admin, &headers) {
        return refused;
    }
    let Some((name, action)) = action(&path) else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json::error(format!(
                "no such action: POST to `policies/NAME/settings`, `policies/NAME/reset` or `policies/NAME/state`, not `policies/{path}`"
            )),
        );
    };
    match action {
        Action::Settings => settings(name, &body),
        Action::Reset => match registry::reset(name) {
            Ok(()) => one(name),
            Err(e) => registry_error(&e),
        },
        Action::State => state(name, &body),
    }
}

/// The body as a JSON object.
fn object(body: &str) -> Option<serde_json::Map<String, Value>> {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// The 400 for a body that is not a JSON object.
fn not_an_object(example: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &json::error(format!("the body must be a JSON object, as `{example}`")),
    )
}

/// Every setting of the body, changed together or not at all.
fn settings(name: &str, body: &str) -> Response {
    let Some(map) = object(body) else {
        return not_an_object(r#"{"threshold": "25%", "open": "10s"}"#);
    };
    if let Err(e) = registry::get(name) {
        return registry_error(&e);
    }
    let mut changes = ChangeSet::new();
    for (key, value) in &map {
        // Numbers and booleans as written (`"attempts": 3`, `"on": true`).
        let value = match value {
            Value::String(s) => s.clone(),
            Value::Number(_) | Value::Bool(_) => value.to_string(),
            _ => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &json::error(format!(
                        "the value of `{key}` must be a string, as in the attributes (`\"25%\"`, `\"10s\"`)"
                    )),
                );
            }
        };
        if let Err(e) = changes.set(name, key, &value) {
            return registry_error(&e);
        }
    }
    match changes.apply() {
        Ok(()) => one(name),
        Err(e) => registry_error(&e),
    }
}

/// A circuit breaker's state by hand.
fn state(name: &str, body: &str) -> Response {
    let Some(map) = object(body) else {
        return not_an_object(r#"{"state": "forced_open"}"#);
    };
    let breaker = match registry::circuit_breaker(name) {
        Ok(breaker) => breaker,
        Err(e) => return registry_error(&e),
    };
    match map.get("state").and_then(Value::as_str) {
        Some("forced_open" | "open") => breaker.force_open(),
        Some("closed") => breaker.close(),
        Some("disabled") => breaker.disable(),
        Some("metrics_only") => breaker.metrics_only(),
        other => {
            let given = other.map_or_else(|| "nothing".to_owned(), |s| format!("`{s}`"));
            return json_response(
                StatusCode::BAD_REQUEST,
                &json::error(format!(
                    "`state` must be one of `forced_open`, `closed`, `disabled`, `metrics_only`; got {given}"
                )),
            );
        }
    }
    one(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_action_is_the_last_segment_of_a_name_with_slashes() {
        assert_eq!(
            action("shop::pay/circuit_breaker/reset"),
            Some(("shop::pay/circuit_breaker", Action::Reset))
        );
        assert_eq!(
            action("PAYMENTS/settings"),
            Some(("PAYMENTS", Action::Settings))
        );
        assert_eq!(action("PAYMENTS/state"), Some(("PAYMENTS", Action::State)));
        assert_eq!(action("PAYMENTS/explode"), None);
        assert_eq!(action("/reset"), None);
        assert_eq!(action("PAYMENTS"), None);
    }

    #[test]
    fn only_the_exact_bearer_token_is_authorized() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::AUTHORIZATION,
                value.parse().unwrap_or_else(|_| unreachable!()),
            );
            headers
        };
        assert!(authorized(&with("Bearer s3cret"), "s3cret"));
        assert!(!authorized(&with("Bearer s3cre"), "s3cret"));
        assert!(!authorized(&with("Bearer s3cret!"), "s3cret"));
        assert!(!authorized(&with("Bearer S3cret"), "s3cret"));
        assert!(!authorized(&with("s3cret"), "s3cret"));
        assert!(!authorized(&HeaderMap::new(), "s3cret"));
    }
}
