//! The checks every request passes before it reaches a handler, and the headers every
//! response carries.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::routes::AppState;

/// Everything the page may load comes from the app itself; nothing inline, nothing remote,
/// and no other site may frame it.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Refuses a request with a wrong `Host`, a foreign `Origin` or no session, and adds the
/// security headers to whatever the handler answers.
pub(crate) async fn guard(
    State(state): State<AppState>,
    request: Request<Body>,
    next: Next,
) -> Response {
    let response = match refusal(&state, &request) {
        Some(refused) => refused,
        None => next.run(request).await,
    };
    with_security_headers(response)
}

fn refusal(state: &AppState, request: &Request<Body>) -> Option<Response> {
    let headers = request.headers();
    // A page of another site that resolves its own name to 127.0.0.1 (DNS rebinding) sends
    // its own name as Host.
    if header_str(headers, header::HOST) != Some(state.host.as_str()) {
        return Some(plain(StatusCode::MISDIRECTED_REQUEST, "wrong Host"));
    }
    let path = request.uri().path();
    let changes_state = !matches!(*request.method(), Method::GET | Method::HEAD);
    if (changes_state || path == "/api/events") && !same_origin(state, headers, changes_state) {
        return Some(plain(StatusCode::FORBIDDEN, "cross-origin request refused"));
    }
    if path == "/login" {
        return None;
    }
    let has_session =
        session_cookie(headers, &state.cookie).is_some_and(|session| state.auth.check(session));
    if !has_session {
        return Some(plain(
            StatusCode::UNAUTHORIZED,
            "not logged in: run `accord ui` for a login link",
        ));
    }
    None
}

/// Whether the request comes from the app's own pages. State-changing requests must carry
/// the app's `Origin` (browsers always send one with them). A same-origin event stream may
/// carry none, so there a browser's `Sec-Fetch-Site` must say `same-origin` when `Origin` is
/// absent; a cross-site one always carries its foreign `Origin`.
fn same_origin(state: &AppState, headers: &HeaderMap, changes_state: bool) -> bool {
    match header_str(headers, header::ORIGIN) {
        Some(origin) => origin == state.origin,
        None if changes_state => false,
        None => header_str(headers, "sec-fetch-site").is_some_and(|site| site == "same-origin"),
    }
}

fn header_str<K: header::AsHeaderName>(headers: &HeaderMap, name: K) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The session id in the request's cookie called `cookie`, if any.
fn session_cookie<'a>(headers: &'a HeaderMap, cookie: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == cookie)
        .map(|(_, value)| value)
}

/// A short plain-text answer.
pub(crate) fn plain(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
