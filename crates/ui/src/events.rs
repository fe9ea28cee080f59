//! `GET /api/events`: the control API's event stream, forwarded to the page as server-sent
//! events.

use std::convert::Infallible;

use accord_api::{Client, ClientError, Event, EventStream};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, watch};

use crate::guard::plain;
use crate::routes::{AppState, add_html};

/// What one open stream holds: its slot, the daemon's events, and the two signals that end it.
struct Feed {
    _slot: OwnedSemaphorePermit,
    events: EventStream,
    revoked: watch::Receiver<u64>,
    stopped: watch::Receiver<bool>,
}

/// Streams the daemon's events until the page goes away, the sessions are revoked or the
/// server stops. Each event is the API's JSON object; a received message also carries its
/// body rendered as safe HTML.
pub(crate) async fn events(State(state): State<AppState>) -> Response {
    let Ok(slot) = std::sync::Arc::clone(&state.event_slots).try_acquire_owned() else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "too many open tabs");
    };
    let events = match subscribe(&state).await {
        Ok(events) => events,
        Err(err) => {
            tracing::debug!(%err, "the web app cannot subscribe to the daemon's events");
            return plain(StatusCode::BAD_GATEWAY, "cannot reach the daemon");
        }
    };
    let feed = Feed {
        _slot: slot,
        events,
        revoked: state.auth.revocations(),
        stopped: state.stopped.clone(),
    };
    let stream = stream::unfold(feed, |mut feed| async move {
        let event = next_event(&mut feed).await?;
        Some((Ok::<_, Infallible>(SseEvent::default().data(event)), feed))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn subscribe(state: &AppState) -> Result<EventStream, ClientError> {
    Client::connect(state.control.as_ref())
        .await?
        .subscribe()
        .await
}

/// The next event as JSON text, or `None` when the stream is to end.
async fn next_event(feed: &mut Feed) -> Option<String> {
    loop {
        let next = tokio::select! {
            next = feed.events.next() => next,
            _ = feed.revoked.changed() => return None,
            _ = feed.stopped.changed() => return None,
        };
        match next {
            Ok(Some(event)) => return Some(event_json(&event)),
            Ok(None) | Err(ClientError::Io(_)) => return None,
            // An event this build does not know (from a newer daemon) is skipped; the line
            // it came on has been read, so the stream goes on.
            Err(err) => tracing::debug!(%err, "skipped an event the web app cannot read"),
        }
    }
}

fn event_json(event: &Event) -> String {
    let mut value = serde_json::to_value(event).unwrap_or(Value::Null);
    if matches!(event, Event::MessageReceived { .. }) {
        add_html(&mut value);
    }
    value.to_string()
}
