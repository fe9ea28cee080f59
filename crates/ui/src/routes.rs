//! The web app's routes: the page, its assets, the login exchange, and the JSON API the page
//! calls, each answered through the daemon's control socket.

use std::path::PathBuf;
use std::sync::Arc;

use accord_api::{Client, ClientError, Request};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Semaphore, watch};

use crate::auth::Auth;
use crate::guard::plain;
use crate::markdown::render_markdown;
use crate::{assets, avatar, events, guard, qr};

/// The largest request body: a 64 KiB message escaped as JSON, or a 64 KiB avatar as hex,
/// with room to spare.
const MAX_BODY_BYTES: usize = 512 * 1024;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    /// The daemon's control socket.
    pub(crate) control: Arc<PathBuf>,
    /// Tokens and sessions.
    pub(crate) auth: Arc<Auth>,
    /// The only `Host` accepted: the bound address.
    pub(crate) host: String,
    /// The only `Origin` accepted.
    pub(crate) origin: String,
    /// The session cookie's name. It holds the port: browsers send a host's cookies to every
    /// port, so two daemons' web apps on one machine would otherwise overwrite each other's.
    pub(crate) cookie: String,
    /// One per open event stream.
    pub(crate) event_slots: Arc<Semaphore>,
    /// One per API request in flight.
    pub(crate) api_slots: Arc<Semaphore>,
    /// True once the server is stopping.
    pub(crate) stopped: watch::Receiver<bool>,
}

/// Every route, behind the guard.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/{name}", get(assets::asset))
        .route("/login", get(login))
        .route("/api/call", post(call))
        .route("/api/qr", get(safety_number_qr))
        .route("/api/attestation", get(attestation_download))
        .route("/api/avatar", get(avatar::avatar))
        .route("/api/events", get(events::events))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), guard::guard))
        .with_state(state)
}

async fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "not found")
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    token: Option<String>,
}

/// `GET /login?token=…`: a fresh token becomes a session cookie, and the browser is sent on
/// to a URL without the token (so it stays out of history and bookmarks).
async fn login(State(state): State<AppState>, Query(query): Query<LoginQuery>) -> Response {
    match query.token.and_then(|token| state.auth.redeem(&token)) {
        Some(session) => {
            let cookie = format!(
                "{}={session}; HttpOnly; SameSite=Strict; Path=/",
                state.cookie
            );
            (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, "/".to_owned()),
                    (header::SET_COOKIE, cookie),
                ],
            )
                .into_response()
        }
        None => plain(
            StatusCode::UNAUTHORIZED,
            "this login link was used, revoked or has expired: run `accord ui` for a new one",
        ),
    }
}

/// Whether the page may make this request. Shutting the daemon down, subscribing (the page
/// has `/api/events`), dialling addresses and minting or revoking web logins stay with the
/// CLI.
fn allowed(request: &Request) -> bool {
    matches!(
        request,
        Request::Id
            | Request::Status
            | Request::Peers
            | Request::Connect { .. }
            | Request::Invites { .. }
            | Request::Accept { .. }
            | Request::Decline { .. }
            | Request::DeclineStrangers
            | Request::Withdraw { .. }
            | Request::Block { .. }
            | Request::Unblock { .. }
            | Request::Disconnect { .. }
            | Request::Connections
            | Request::Attestation { .. }
            | Request::Send { .. }
            | Request::History { .. }
            | Request::Inbox
            | Request::Alias { .. }
            | Request::Verify { .. }
            | Request::Profile { .. }
            | Request::ProfileSet { .. }
            | Request::People { .. }
            | Request::Suggestions
            | Request::Introduce { .. }
            | Request::Introductions
            | Request::Mailbox
            | Request::MailboxUse { .. }
            | Request::MailboxDrop { .. }
    )
}

/// `POST /api/call` with a control-API request (`{"method": …, "params": …}`): its result,
/// with every message's body also rendered as safe HTML (`html`).
async fn call(State(state): State<AppState>, Json(request): Json<Request>) -> Response {
    let Ok(_slot) = state.api_slots.try_acquire() else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "too many requests at once");
    };
    if !allowed(&request) {
        return plain(StatusCode::FORBIDDEN, "not available to the web app");
    }
    let is_history = matches!(request, Request::History { .. });
    match control_call(&state, request).await {
        Ok(mut value) => {
            if is_history && let Some(messages) = value.as_array_mut() {
                messages.iter_mut().for_each(add_html);
            }
            Json(value).into_response()
        }
        Err(err) => failure(err),
    }
}

/// Adds `html`, the rendered `body`, to a message object.
pub(crate) fn add_html(message: &mut Value) {
    let html = message
        .get("body")
        .and_then(Value::as_str)
        .map(render_markdown);
    if let (Some(html), Some(object)) = (html, message.as_object_mut()) {
        object.insert("html".to_owned(), Value::String(html));
    }
}

/// One request on a fresh control connection.
pub(crate) async fn control_call(state: &AppState, request: Request) -> Result<Value, ClientError> {
    Client::connect(state.control.as_ref())
        .await?
        .call(request)
        .await
}

/// A failed call as the page sees it: the daemon's refusal with its code and message (422),
/// or 502 when the daemon could not be asked.
fn failure(err: ClientError) -> Response {
    match err {
        ClientError::Remote(remote) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({ "error": remote })),
        )
            .into_response(),
        other => (
            StatusCode::BAD_GATEWAY,
            Json(serde_json::json!({ "error": { "code": 0, "message": other.to_string() } })),
        )
            .into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct PeerQuery {
    peer: String,
}

/// `GET /api/qr?peer=…`: the safety number with that peer as a QR code (SVG).
async fn safety_number_qr(
    State(state): State<AppState>,
    Query(query): Query<PeerQuery>,
) -> Response {
    let request = Request::Verify { peer: query.peer };
    let value = match control_call(&state, request).await {
        Ok(value) => value,
        Err(err) => return failure(err),
    };
    let svg = value
        .get("safety_number")
        .and_then(Value::as_str)
        .and_then(qr::safety_number_svg);
    match svg {
        Some(svg) => ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response(),
        None => plain(StatusCode::BAD_GATEWAY, "the daemon gave no safety number"),
    }
}

/// `GET /api/attestation?peer=…`: the connection's portable attestation, as a file download.
async fn attestation_download(
    State(state): State<AppState>,
    Query(query): Query<PeerQuery>,
) -> Response {
    let request = Request::Attestation { peer: query.peer };
    let value = match control_call(&state, request).await {
        Ok(value) => value,
        Err(err) => return failure(err),
    };
    let text = value
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // Accord IDs are base58, so the peer is safe in a file name; anything else is dropped.
    let peer: String = value
        .get("peer")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let disposition = format!("attachment; filename=\"accord-attestation-{peer}.txt\"");
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        text.to_owned(),
    )
        .into_response()
}
