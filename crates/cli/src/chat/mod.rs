//! `accord chat`: an interactive terminal chat with one connection.
//!
//! The pieces: [`state`] holds the conversation and reacts to API events, [`draft`] edits the
//! message being typed from keys, both without doing any I/O; [`markdown`] turns message bodies
//! into styled lines; [`view`] draws the state. The I/O: [`daemon_link`] talks to the daemon
//! over two control connections (one subscribed to events, one for requests), [`terminal`]
//! sets the terminal up and restores it on every way out, and this module runs the loop that
//! joins them.

mod daemon_link;
mod draft;
mod markdown;
mod state;
mod terminal;
mod view;

use std::io::{self, IsTerminal, Stdout};
use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use accord_api::{Client, Event, MessageInfo, SOCKET_FILE_NAME};
use anyhow::{Context, bail};
use crossterm::event::{Event as TermEvent, EventStream as TermEvents};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use daemon_link::{ApiReply, ApiRequest, forward_events, serve_requests};
use state::{ChatAction, ChatState, short_id};
use terminal::TerminalGuard;

/// How many of the newest messages the chat opens with (and reloads after a lag).
const HISTORY_LIMIT: usize = 200;
/// Rows of the screen that are not conversation: the input box (3) and the status bar (1),
/// plus some overlap so that a page turn keeps a little context.
const PAGE_OVERLAP: u16 = 6;

/// `accord chat <ID|ALIAS>`.
pub(crate) async fn run(data_dir: &Path, peer: &str) -> anyhow::Result<ExitCode> {
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        bail!(
            "accord chat needs an interactive terminal; use accord send / accord history in \
             scripts"
        );
    }
    let socket = data_dir.join(SOCKET_FILE_NAME);
    // Subscribe before reading the history, so that nothing arriving in between is missed
    // (the state drops the duplicates).
    let events = Client::connect(&socket).await?.subscribe().await?;
    let mut client = Client::connect(&socket).await?;
    let me = client.id().await?;
    let history = client
        .history(peer, Some(HISTORY_LIMIT))
        .await
        .with_context(|| format!("cannot open the conversation with {peer}"))?;
    let (peer_id, peer_name) = resolve_peer(&mut client, peer, &me.id, &history).await;
    let online = client
        .peers()
        .await
        .map(|peers| peers.iter().any(|p| p.id == peer_id))
        .ok();

    let mut state = ChatState::new(peer_id, peer_name, me.id);
    state.load_history(history, HISTORY_LIMIT);
    if let Some(online) = online {
        state.link = if online {
            state::Link::Online
        } else {
            state::Link::Offline
        };
    }

    let (api_events_tx, api_events) = mpsc::channel(64);
    tokio::spawn(forward_events(events, api_events_tx));
    let (requests, requests_rx) = mpsc::channel(16);
    let (replies_tx, replies) = mpsc::channel(16);
    tokio::spawn(serve_requests(
        socket,
        client,
        peer.to_owned(),
        requests_rx,
        replies_tx,
    ));

    let guard = TerminalGuard::enter().context("cannot set up the terminal")?;
    let mut terminal =
        Terminal::new(CrosstermBackend::new(io::stdout())).context("cannot set up the terminal")?;
    let result = event_loop(&mut terminal, &mut state, api_events, requests, replies).await;
    drop(terminal);
    drop(guard);
    result?;
    Ok(ExitCode::SUCCESS)
}

/// The peer's Accord ID (events name peers by ID, while the user may have typed an alias) and
/// the name to show for it. Best effort: the daemon already accepted `peer` for the history.
async fn resolve_peer(
    client: &mut Client,
    peer: &str,
    me: &str,
    history: &[MessageInfo],
) -> (String, String) {
    let connections = client.connections().await.unwrap_or_default();
    let connection = connections
        .iter()
        .find(|c| c.peer == peer || c.alias.as_deref() == Some(peer));
    let id = match connection {
        Some(c) => c.peer.clone(),
        None => history
            .iter()
            .map(|m| if m.from == me { &m.to } else { &m.from })
            .next()
            .cloned()
            .unwrap_or_else(|| peer.to_owned()),
    };
    // The daemon's name is the alias, else the name in the peer's profile.
    let name = match connection.and_then(|c| c.name.clone().or_else(|| c.alias.clone())) {
        Some(name) => name,
        None if peer != id => peer.to_owned(),
        None => short_id(&id),
    };
    (id, name)
}

async fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    state: &mut ChatState,
    mut api_events: mpsc::Receiver<Result<Event, String>>,
    requests: mpsc::Sender<ApiRequest>,
    mut replies: mpsc::Receiver<ApiReply>,
) -> anyhow::Result<()> {
    let mut keys = TermEvents::new();
    let mut api_open = true;
    // In raw mode Ctrl-C is a key, but a closed terminal or `kill` still arrive as signals;
    // leaving through the loop restores the terminal.
    let mut hangup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    loop {
        let size = terminal.size().context("cannot read the terminal size")?;
        state.page = usize::from(size.height.saturating_sub(PAGE_OVERLAP).max(1));
        terminal
            .draw(|frame| view::draw(frame, state))
            .context("cannot draw the chat")?;

        let action = tokio::select! {
            event = keys.next() => on_terminal_event(state, event)?,
            event = api_events.recv(), if api_open => match event {
                Some(Ok(event)) => state.on_event(event),
                Some(Err(err)) => {
                    state.status = format!("event stream failed: {err}");
                    None
                }
                None => {
                    api_open = false;
                    state.on_stream_closed();
                    None
                }
            },
            Some(reply) = replies.recv() => {
                apply_reply(state, reply);
                None
            },
            _ = hangup.recv() => Some(ChatAction::Quit),
            _ = terminate.recv() => Some(ChatAction::Quit),
        };

        let request = match action {
            None => continue,
            Some(ChatAction::Quit) => return Ok(()),
            Some(ChatAction::Send(body)) => {
                state.status = "sending…".to_owned();
                ApiRequest::Send(body)
            }
            Some(ChatAction::MarkRead) => ApiRequest::MarkRead,
            Some(ChatAction::Reload) => ApiRequest::Reload,
            Some(ChatAction::LoadOlder(before)) => {
                state.status = "loading older messages…".to_owned();
                ApiRequest::Older(before)
            }
        };
        // The request task only ends if the loop's receiver is gone, which cannot happen here.
        if requests.send(request).await.is_err() {
            bail!("the request task stopped");
        }
    }
}

/// A key, a paste or a resize from the terminal; the end of its stream leaves the chat.
fn on_terminal_event(
    state: &mut ChatState,
    event: Option<io::Result<TermEvent>>,
) -> anyhow::Result<Option<ChatAction>> {
    match event {
        Some(Ok(TermEvent::Key(key))) => Ok(state.handle_key(key)),
        Some(Ok(TermEvent::Paste(text))) => {
            state.handle_paste(&text);
            Ok(None)
        }
        // Resizes and the rest only need the redraw at the top of the loop.
        Some(Ok(_)) => Ok(None),
        Some(Err(err)) => Err(err).context("cannot read from the terminal"),
        None => Ok(Some(ChatAction::Quit)),
    }
}

/// Applies the daemon's answer to one of the loop's requests.
fn apply_reply(state: &mut ChatState, reply: ApiReply) {
    match reply {
        ApiReply::Sent {
            body,
            result: Ok(info),
        } => state.on_sent(info, body, now_rfc3339()),
        ApiReply::Sent {
            body,
            result: Err(err),
        } => state.on_send_failed(body, &err),
        ApiReply::History(Ok(history)) => state.load_history(history, HISTORY_LIMIT),
        ApiReply::History(Err(err)) => {
            state.status = format!("cannot reload the history: {err}");
        }
        ApiReply::Older(Ok(page)) => {
            state.status.clear();
            state.prepend_older(page, HISTORY_LIMIT);
        }
        ApiReply::Older(Err(err)) => state.older_failed(&err),
    }
}

/// Now, in the API's time format: `send` does not return the time it stamped, and the clock
/// here is the same one the daemon reads.
fn now_rfc3339() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    accord_api::format_rfc3339_ms(ms)
}
