//! The chat's two control connections to the daemon: one subscribed to events, whose frames
//! are moved into a channel, and one for requests, served one at a time on their own task.

use accord_api::{Client, ClientError, Event, MessageInfo, SendInfo};
use tokio::sync::mpsc;

use super::HISTORY_LIMIT;

/// Moves API events from the subscribed connection into a channel: reading a frame is not
/// cancel-safe, so it must not sit directly in the `select!`. The channel closes when the
/// stream ends; an error is passed on first.
pub(super) async fn forward_events(
    mut events: accord_api::EventStream,
    tx: mpsc::Sender<Result<Event, String>>,
) {
    loop {
        let item = match events.next().await {
            Ok(Some(event)) => Ok(event),
            Ok(None) => return,
            Err(err) => Err(err.to_string()),
        };
        let failed = item.is_err();
        if tx.send(item).await.is_err() || failed {
            return;
        }
    }
}

/// What the loop asks of the request connection.
#[derive(Debug)]
pub(super) enum ApiRequest {
    /// Send this body to the peer.
    Send(String),
    /// Mark the conversation read (the newest message is on screen).
    MarkRead,
    /// Read the newest history page again (after the event stream lagged, or to come back
    /// from far back).
    Reload,
    /// Read the page before this message id.
    Older(String),
}

/// What comes back.
#[derive(Debug)]
pub(super) enum ApiReply {
    /// The daemon's answer to a send, with the body (given back to the draft on failure).
    Sent {
        body: String,
        result: Result<SendInfo, String>,
    },
    /// A history page, for a reload.
    History(Result<Vec<MessageInfo>, String>),
    /// An older page, for scrolling back.
    Older(Result<Vec<MessageInfo>, String>),
}

/// Carries out requests one at a time on their own task, so that a slow daemon never freezes
/// typing. A broken connection is dropped and made afresh for the next request.
pub(super) async fn serve_requests(
    socket: std::path::PathBuf,
    client: Client,
    peer: String,
    mut requests: mpsc::Receiver<ApiRequest>,
    replies: mpsc::Sender<ApiReply>,
) {
    let mut client = Some(client);
    while let Some(request) = requests.recv().await {
        let connected = match client.take() {
            Some(client) => Ok(client),
            None => Client::connect(&socket).await,
        };
        let reply = match connected {
            Err(err) => unanswered(request, &err.to_string()),
            Ok(mut conn) => {
                let (reply, broken) = answer(&mut conn, &peer, request).await;
                if !broken {
                    client = Some(conn);
                }
                reply
            }
        };
        if let Some(reply) = reply
            && replies.send(reply).await.is_err()
        {
            return;
        }
    }
}

/// The reply to `request` when no connection to the daemon could be made.
fn unanswered(request: ApiRequest, error: &str) -> Option<ApiReply> {
    match request {
        ApiRequest::Send(body) => Some(ApiReply::Sent {
            body,
            result: Err(error.to_owned()),
        }),
        ApiRequest::Reload => Some(ApiReply::History(Err(error.to_owned()))),
        ApiRequest::Older(_) => Some(ApiReply::Older(Err(error.to_owned()))),
        ApiRequest::MarkRead => None,
    }
}

/// Carries out `request` on `conn`: the reply, if the loop wants one, and whether the
/// connection broke.
async fn answer(conn: &mut Client, peer: &str, request: ApiRequest) -> (Option<ApiReply>, bool) {
    match request {
        ApiRequest::Send(body) => {
            let result = conn.send(peer, &body, None).await;
            let broken = is_broken(&result);
            let result = result.map_err(|e| e.to_string());
            (Some(ApiReply::Sent { body, result }), broken)
        }
        ApiRequest::MarkRead => {
            // Reading the newest message marks the conversation read, which sends the read
            // receipt: the message is on screen.
            let result = conn.history(peer, Some(1)).await;
            (None, is_broken(&result))
        }
        ApiRequest::Reload => {
            let result = conn.history(peer, Some(HISTORY_LIMIT)).await;
            let broken = is_broken(&result);
            (
                Some(ApiReply::History(result.map_err(|e| e.to_string()))),
                broken,
            )
        }
        ApiRequest::Older(before) => {
            let result = conn
                .history_page(peer, Some(HISTORY_LIMIT), Some(&before))
                .await;
            let broken = is_broken(&result);
            (
                Some(ApiReply::Older(result.map_err(|e| e.to_string()))),
                broken,
            )
        }
    }
}

/// Whether an error means the connection is unusable (as opposed to the daemon refusing).
fn is_broken<T>(result: &Result<T, ClientError>) -> bool {
    matches!(
        result,
        Err(ClientError::Io(_) | ClientError::Protocol(_) | ClientError::NotRunning { .. })
    )
}
