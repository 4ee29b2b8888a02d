//! The `POST` endpoints: settings, reset and a breaker's state, behind the token.

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

pub(crate) async fn post(
    State(admin): Shared,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let Some(token) = admin.token.as_deref() else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json::error(
                "control is off: build the admin with `.control(Some(token))` to change policies over HTTP",
            ),
        );
    };
    if !authorized(&headers, token) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            &json::error("missing or wrong token: send `Authorization: Bearer TOKEN`"),
        );
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
