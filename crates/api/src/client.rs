//! An async client for the control socket.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use crate::frame::{EventFrame, MAX_FRAME_LEN, RequestFrame, ResponseFrame, encode_line};
use crate::{
    AliasInfo, AttestationText, BlockInfo, ClientError, ConnectionInfo, ConversationInfo,
    DeclinedInfo, Event, IdInfo, InviteDirection, InviteInfo, InviteSummary, LookupInfo,
    MessageInfo, PeerInfo, Request, SafetyNumberInfo, SendInfo, ShutdownInfo, StatsInfo,
    StatusInfo, UiRevoked, UiUrl,
};

/// A connection to a daemon's control socket. Requests are answered in order, one at a time.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
}

impl Client {
    /// Connects to the socket at `socket_path`.
    ///
    /// A missing socket, or one nobody listens on, gives [`ClientError::NotRunning`] naming the
    /// socket's directory (the data dir).
    pub async fn connect(socket_path: impl AsRef<Path>) -> Result<Client, ClientError> {
        let socket_path = socket_path.as_ref();
        let stream = match UnixStream::connect(socket_path).await {
            Ok(stream) => stream,
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::NotFound | ErrorKind::ConnectionRefused
                ) =>
            {
                let data_dir = socket_path
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from("."));
                return Err(ClientError::NotRunning { data_dir });
            }
            Err(err) => return Err(ClientError::Io(err)),
        };
        let (read, write) = stream.into_split();
        Ok(Client {
            reader: BufReader::new(read),
            writer: write,
            next_id: 1,
        })
    }

    /// Sends one request and returns its raw JSON result.
    pub async fn call(&mut self, request: Request) -> Result<serde_json::Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = encode_line(&RequestFrame::new(id, request))
            .map_err(|err| ClientError::Protocol(format!("cannot encode request: {err}")))?;
        self.writer.write_all(&line).await?;
        let response: ResponseFrame = self.read_frame().await?;
        if response.id != Some(id) {
            if let Some(error) = response.error {
                return Err(ClientError::Remote(error));
            }
            return Err(ClientError::Protocol(format!(
                "response id {:?} does not match request id {id}",
                response.id
            )));
        }
        match (response.result, response.error) {
            (_, Some(error)) => Err(ClientError::Remote(error)),
            (Some(result), None) => Ok(result),
            (None, None) => Err(ClientError::Protocol(
                "response has neither result nor error".to_owned(),
            )),
        }
    }

    pub(crate) async fn call_typed<T: DeserializeOwned>(
        &mut self,
        request: Request,
    ) -> Result<T, ClientError> {
        let method = request.method();
        let value = self.call(request).await?;
        serde_json::from_value(value)
            .map_err(|err| ClientError::Protocol(format!("unexpected result for {method}: {err}")))
    }

    async fn read_frame<T: DeserializeOwned>(&mut self) -> Result<T, ClientError> {
        let mut line = Vec::new();
        let read = (&mut self.reader)
            .take(MAX_FRAME_LEN as u64)
            .read_until(b'\n', &mut line)
            .await?;
        if read == 0 {
            return Err(ClientError::Protocol(
                "the daemon closed the connection".to_owned(),
            ));
        }
        if line.last() != Some(&b'\n') {
            return Err(ClientError::Protocol(
                "a frame from the daemon is too long or cut short".to_owned(),
            ));
        }
        serde_json::from_slice(&line)
            .map_err(|err| ClientError::Protocol(format!("invalid frame from the daemon: {err}")))
    }

    /// `accord id`: the node's identity and addresses.
    pub async fn id(&mut self) -> Result<IdInfo, ClientError> {
        self.call_typed(Request::Id).await
    }

    /// `accord status`: the node's counters.
    pub async fn status(&mut self) -> Result<StatusInfo, ClientError> {
        self.call_typed(Request::Status).await
    }

    /// `accord peers`: the peers connected right now.
    pub async fn peers(&mut self) -> Result<Vec<PeerInfo>, ClientError> {
        self.call_typed(Request::Peers).await
    }

    /// `accord lookup`: a peer's addresses from its ID, through the DHT.
    pub async fn lookup(&mut self, peer: &str) -> Result<LookupInfo, ClientError> {
        self.call_typed(Request::Lookup {
            peer: peer.to_owned(),
        })
        .await
    }

    /// Dials an address and waits for the connection.
    pub async fn dial(&mut self, addr: &str) -> Result<PeerInfo, ClientError> {
        self.call_typed(Request::Dial {
            addr: addr.to_owned(),
        })
        .await
    }

    /// `accord connect`: sends an invite with a note.
    pub async fn connect_peer(
        &mut self,
        peer: &str,
        note: &str,
    ) -> Result<InviteSummary, ClientError> {
        let request = Request::Connect {
            peer: peer.to_owned(),
            note: note.to_owned(),
            via: None,
        };
        self.call_typed(request).await
    }

    /// `accord connect --via`: sends an invite that carries the introduction `via` (a
    /// connection's ID or alias) made of us and the invitee.
    pub async fn connect_peer_via(
        &mut self,
        peer: &str,
        note: &str,
        via: Option<&str>,
    ) -> Result<InviteSummary, ClientError> {
        let request = Request::Connect {
            peer: peer.to_owned(),
            note: note.to_owned(),
            via: via.map(str::to_owned),
        };
        self.call_typed(request).await
    }

    /// `accord invites`.
    pub async fn invites(
        &mut self,
        direction: Option<InviteDirection>,
    ) -> Result<Vec<InviteInfo>, ClientError> {
        self.call_typed(Request::Invites { direction }).await
    }

    /// `accord accept`.
    pub async fn accept(&mut self, target: &str) -> Result<InviteSummary, ClientError> {
        self.call_typed(Request::Accept {
            target: target.to_owned(),
        })
        .await
    }

    /// `accord decline`.
    pub async fn decline(&mut self, target: &str) -> Result<InviteSummary, ClientError> {
        self.call_typed(Request::Decline {
            target: target.to_owned(),
        })
        .await
    }

    /// `accord decline --all-from-strangers`.
    pub async fn decline_strangers(&mut self) -> Result<DeclinedInfo, ClientError> {
        self.call_typed(Request::DeclineStrangers).await
    }

    /// `accord withdraw`.
    pub async fn withdraw(&mut self, target: &str) -> Result<InviteSummary, ClientError> {
        self.call_typed(Request::Withdraw {
            target: target.to_owned(),
        })
        .await
    }

    /// `accord block`.
    pub async fn block(&mut self, peer: &str) -> Result<BlockInfo, ClientError> {
        self.call_typed(Request::Block {
            peer: peer.to_owned(),
        })
        .await
    }

    /// `accord unblock`.
    pub async fn unblock(&mut self, peer: &str) -> Result<BlockInfo, ClientError> {
        self.call_typed(Request::Unblock {
            peer: peer.to_owned(),
        })
        .await
    }

    /// `accord disconnect`.
    pub async fn disconnect(&mut self, peer: &str) -> Result<ConnectionInfo, ClientError> {
        self.call_typed(Request::Disconnect {
            peer: peer.to_owned(),
        })
        .await
    }

    /// `accord connections`.
    pub async fn connections(&mut self) -> Result<Vec<ConnectionInfo>, ClientError> {
        self.call_typed(Request::Connections).await
    }

    /// `accord attestation`.
    pub async fn attestation(&mut self, peer: &str) -> Result<AttestationText, ClientError> {
        self.call_typed(Request::Attestation {
            peer: peer.to_owned(),
        })
        .await
    }

    /// `accord send`.
    pub async fn send(
        &mut self,
        peer: &str,
        body: &str,
        reply_to: Option<&str>,
    ) -> Result<SendInfo, ClientError> {
        let request = Request::Send {
            peer: peer.to_owned(),
            body: body.to_owned(),
            reply_to: reply_to.map(str::to_owned),
        };
        self.call_typed(request).await
    }

    /// `accord history`: opening a conversation also marks it read.
    pub async fn history(
        &mut self,
        peer: &str,
        limit: Option<usize>,
    ) -> Result<Vec<MessageInfo>, ClientError> {
        self.history_page(peer, limit, None).await
    }

    /// `accord history --before <message id>`: the page of messages older than `before`
    /// (or the newest page without it), oldest first.
    pub async fn history_page(
        &mut self,
        peer: &str,
        limit: Option<usize>,
        before: Option<&str>,
    ) -> Result<Vec<MessageInfo>, ClientError> {
        self.call_typed(Request::History {
            peer: peer.to_owned(),
            limit,
            before: before.map(str::to_owned),
        })
        .await
    }

    /// `accord inbox`.
    pub async fn inbox(&mut self) -> Result<Vec<ConversationInfo>, ClientError> {
        self.call_typed(Request::Inbox).await
    }

    /// `accord alias`.
    pub async fn alias(&mut self, peer: &str, name: &str) -> Result<AliasInfo, ClientError> {
        let request = Request::Alias {
            peer: peer.to_owned(),
            name: name.to_owned(),
        };
        self.call_typed(request).await
    }

    /// `accord verify`.
    pub async fn verify(&mut self, peer: &str) -> Result<SafetyNumberInfo, ClientError> {
        self.call_typed(Request::Verify {
            peer: peer.to_owned(),
        })
        .await
    }

    /// `accord stats`.
    pub async fn stats(&mut self) -> Result<StatsInfo, ClientError> {
        self.call_typed(Request::Stats).await
    }

    /// Asks the daemon to shut down gracefully.
    pub async fn shutdown(&mut self) -> Result<ShutdownInfo, ClientError> {
        self.call_typed(Request::Shutdown).await
    }

    /// `accord ui`: starts the web app if needed and returns a login URL with a fresh
    /// one-time token.
    pub async fn ui_open(&mut self) -> Result<UiUrl, ClientError> {
        self.call_typed(Request::UiOpen).await
    }

    /// `accord ui --revoke`: ends every web app session.
    pub async fn ui_revoke(&mut self) -> Result<UiRevoked, ClientError> {
        self.call_typed(Request::UiRevoke).await
    }

    /// Turns this connection into an event stream.
    pub async fn subscribe(mut self) -> Result<EventStream, ClientError> {
        self.call(Request::Subscribe).await?;
        Ok(EventStream { client: self })
    }
}

/// The events of a subscribed connection, in the order the daemon sent them.
#[derive(Debug)]
pub struct EventStream {
    client: Client,
}

impl EventStream {
    /// The next event; `Ok(None)` when the daemon closed the stream (it is shutting down).
    pub async fn next(&mut self) -> Result<Option<Event>, ClientError> {
        match self.client.read_frame::<EventFrame>().await {
            Ok(frame) => Ok(Some(frame.params)),
            Err(ClientError::Protocol(message)) if message.contains("closed the connection") => {
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connecting_without_a_daemon_says_none_is_running() {
        let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("tempdir: {err}"));
        let socket = dir.path().join(crate::SOCKET_FILE_NAME);
        match Client::connect(&socket).await {
            Err(ClientError::NotRunning { data_dir }) => assert_eq!(data_dir, dir.path()),
            other => panic!("expected NotRunning, got {other:?}"),
        }
    }
}
