//! The control API server: a Unix socket that speaks newline-delimited JSON-RPC 2.0
//! (`accord_api::frame`), one task per client connection.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use accord_api::frame::{
    DecodeRequestError, EventFrame, MAX_FRAME_LEN, ResponseFrame, decode_request, encode_line,
};
use accord_api::{ErrorCode, Event, RemoteError, Request};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, broadcast, watch};

use crate::NodeError;
use crate::requests::NodeContext;

/// At most this many control connections are served at once; more wait in the kernel's
/// backlog.
pub(crate) const MAX_CONTROL_CONNECTIONS: usize = 64;

/// The bound control socket.
#[derive(Debug)]
pub(crate) struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
    owner_uid: u32,
    slots: Arc<Semaphore>,
}

impl ControlSocket {
    /// Binds `path`, replacing a stale socket left by a crashed daemon.
    ///
    /// The caller holds the data dir lock, so no live daemon can own an existing socket; we
    /// still probe it, and refuse if something answers, rather than cut off a live process.
    pub(crate) async fn bind(path: &Path) -> Result<ControlSocket, NodeError> {
        let err = |source| NodeError::ControlSocket {
            path: path.to_path_buf(),
            source,
        };
        if path.exists() {
            if UnixStream::connect(path).await.is_ok() {
                return Err(err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "another process is serving this socket",
                )));
            }
            tracing::warn!(path = %path.display(), "replacing a stale control socket");
            std::fs::remove_file(path).map_err(err)?;
        }
        let listener = UnixListener::bind(path).map_err(err)?;
        // The data dir is 0700, so nobody else can reach the socket in the instant before
        // this chmod; 0600 keeps it private even if the dir's mode is later loosened.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        let owner_uid = std::fs::metadata(path).map_err(err)?.uid();
        Ok(ControlSocket {
            listener,
            path: path.to_path_buf(),
            owner_uid,
            slots: Arc::new(Semaphore::new(MAX_CONTROL_CONNECTIONS)),
        })
    }

    /// Accepts the next client and serves it on its own task.
    pub(crate) async fn accept(
        &self,
        context: &NodeContext,
        stop: &watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        let permit = Arc::clone(&self.slots).acquire_owned().await;
        let (stream, _) = self.listener.accept().await?;
        let context = context.clone();
        let stop = stop.clone();
        let owner_uid = self.owner_uid;
        tokio::spawn(async move {
            let _permit = permit;
            serve(stream, context, stop, owner_uid).await;
        });
        Ok(())
    }

    /// Removes the socket file.
    pub(crate) fn remove(self) {
        drop(self.listener);
        if let Err(err) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), %err, "cannot remove the control socket");
        }
    }
}

async fn serve(stream: UnixStream, context: NodeContext, stop: watch::Receiver<bool>, owner: u32) {
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == owner => {}
        Ok(cred) => {
            tracing::warn!(
                uid = cred.uid(),
                owner,
                "refused a control connection from another user"
            );
            refuse_other_user(stream, cred.uid(), owner).await;
            return;
        }
        Err(err) => {
            tracing::warn!(%err, "cannot read the credentials of a control connection");
            return;
        }
    }
    let (read, write) = stream.into_split();
    let mut connection = Connection {
        reader: BufReader::new(read),
        writer: write,
        stop,
    };
    if let Err(err) = connection.run(&context).await {
        tracing::debug!(%err, "control connection ended with an error");
    }
}

/// How long a refused client has to send its request before the refusal is written anyway.
/// A client writes its request as soon as it connects, so this is ample; it is short because
/// a refused connection holds one of the [`MAX_CONTROL_CONNECTIONS`] slots meanwhile.
const REFUSAL_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// Tells a client of another user why it is refused, then hangs up.
///
/// The client's request is read first (bounded in size and time, and never acted on) so that
/// the client has finished writing when the refusal arrives: answering at once and closing
/// could fail the client's write with a broken pipe and hide the reason. Nothing the client
/// sent is parsed.
async fn refuse_other_user(stream: UnixStream, uid: u32, owner: u32) {
    let (read, write) = stream.into_split();
    let mut connection = Connection {
        reader: BufReader::new(read),
        writer: write,
        // Nothing stops this exchange early but its own time limits.
        stop: watch::channel(false).1,
    };
    let _ = tokio::time::timeout(REFUSAL_READ_TIMEOUT, read_line(&mut connection.reader)).await;
    let error = RemoteError::new(
        ErrorCode::Refused,
        format!(
            "permission denied: this Accord daemon serves only the user that runs it \
             (uid {owner}); you are uid {uid}"
        ),
    );
    if let Err(err) = connection.write(&ResponseFrame::err(None, error)).await {
        tracing::debug!(%err, "cannot tell a refused control client why");
    }
}

/// One client connection.
struct Connection {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    stop: watch::Receiver<bool>,
}

/// What reading one line gave.
enum Line {
    Frame(Vec<u8>),
    TooLong,
    Closed,
}

impl Connection {
    async fn run(&mut self, context: &NodeContext) -> std::io::Result<()> {
        loop {
            let line = tokio::select! {
                line = read_line(&mut self.reader) => line?,
                _ = self.stop.changed() => return Ok(()),
            };
            let line = match line {
                Line::Frame(line) => line,
                Line::Closed => return Ok(()),
                Line::TooLong => {
                    let error = RemoteError::new(
                        ErrorCode::InvalidRequest,
                        format!("request longer than {MAX_FRAME_LEN} bytes"),
                    );
                    self.write(&ResponseFrame::err(None, error)).await?;
                    return Ok(());
                }
            };
            let frame = match decode_request(&line) {
                Ok(frame) => frame,
                Err(err) => {
                    self.write(&decode_error_response(err)).await?;
                    continue;
                }
            };
            if frame.request == Request::Subscribe {
                let events = context.subscribe();
                let ok = serde_json::json!({ "subscribed": true });
                self.write(&ResponseFrame::ok(frame.id, ok)).await?;
                return self.stream_events(events, &context.store).await;
            }
            let response = match context.handle(frame.request).await {
                Ok(result) => ResponseFrame::ok(frame.id, result),
                Err(error) => ResponseFrame::err(Some(frame.id), error),
            };
            self.write(&response).await?;
        }
    }

    /// Forwards events until the client hangs up or the node stops.
    async fn stream_events(
        &mut self,
        mut events: broadcast::Receiver<Event>,
        store: &accord_store::StoreHandle,
    ) -> std::io::Result<()> {
        let mut scratch = [0u8; 256];
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                read = self.reader.read(&mut scratch) => match read {
                    // A subscriber has nothing more to say; anything it sends is ignored, and
                    // end of file means it has gone.
                    Ok(0) | Err(_) => return Ok(()),
                    Ok(_) => continue,
                },
                _ = self.stop.changed() => return Ok(()),
            };
            let event = match event {
                Ok(event) => event,
                Err(broadcast::error::RecvError::Lagged(missed)) => Event::Lagged { missed },
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            };
            // Every view shows the name: events about a peer carry it too.
            let event = crate::people::names::named_event(store, event).await;
            self.write(&EventFrame::new(event)).await?;
        }
    }

    async fn write<T: Serialize>(&mut self, frame: &T) -> std::io::Result<()> {
        let line = encode_line(frame).map_err(std::io::Error::other)?;
        // A client that stops reading must not pin this task forever.
        tokio::time::timeout(Duration::from_secs(10), self.writer.write_all(&line))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "client stalled"))?
    }
}

async fn read_line(reader: &mut BufReader<OwnedReadHalf>) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let read = (&mut *reader)
        .take(MAX_FRAME_LEN as u64)
        .read_until(b'\n', &mut line)
        .await?;
    if read == 0 {
        return Ok(Line::Closed);
    }
    if line.last() != Some(&b'\n') {
        return Ok(if read >= MAX_FRAME_LEN {
            Line::TooLong
        } else {
            Line::Closed
        });
    }
    line.pop();
    Ok(Line::Frame(line))
}

fn decode_error_response(err: DecodeRequestError) -> ResponseFrame {
    match err {
        DecodeRequestError::NotJson(err) => ResponseFrame::err(
            None,
            RemoteError::new(
                ErrorCode::ParseError,
                format!("the request is not JSON: {err}"),
            ),
        ),
        DecodeRequestError::Invalid {
            id,
            unknown_method,
            message,
        } => {
            let code = if unknown_method {
                ErrorCode::MethodNotFound
            } else {
                ErrorCode::InvalidRequest
            };
            ResponseFrame::err(id, RemoteError::new(code, message))
        }
    }
}
