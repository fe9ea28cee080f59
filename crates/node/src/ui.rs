//! The node's hook for the local web app (`accord-ui`): it starts the server on demand (or at
//! start with `[ui] enabled`), mints login URLs, revokes sessions and stops the server with
//! the node. The server itself is a client of the control socket, like the CLI.

use std::net::SocketAddr;
use std::path::PathBuf;

use accord_api::{ErrorCode, RemoteError, UiRevoked, UiUrl};
use accord_ui::UiServer;
use tokio::sync::Mutex;

/// The web app of one node: not running until first asked for.
#[derive(Debug)]
pub(crate) struct WebApp {
    listen: SocketAddr,
    control_socket: PathBuf,
    server: Mutex<Option<UiServer>>,
}

impl WebApp {
    /// The web app for a node whose control socket is `control_socket`.
    pub(crate) fn new(listen: SocketAddr, control_socket: PathBuf) -> Self {
        WebApp {
            listen,
            control_socket,
            server: Mutex::new(None),
        }
    }

    /// Starts the server unless it runs already.
    pub(crate) async fn start(&self) -> Result<(), RemoteError> {
        let mut server = self.server.lock().await;
        if server.is_none() {
            let started = UiServer::start(self.listen, self.control_socket.clone())
                .await
                .map_err(|err| RemoteError::new(ErrorCode::Refused, err.to_string()))?;
            *server = Some(started);
        }
        Ok(())
    }

    /// `ui_open`: starts the server if needed and returns a login URL with a fresh token.
    pub(crate) async fn open(&self) -> Result<UiUrl, RemoteError> {
        self.start().await?;
        let server = self.server.lock().await;
        let url = server
            .as_ref()
            .map(UiServer::open)
            .transpose()
            .map_err(|err| RemoteError::new(ErrorCode::Internal, err.to_string()))?;
        url.map(|url| UiUrl { url })
            .ok_or_else(|| RemoteError::new(ErrorCode::Internal, "the web app did not start"))
    }

    /// `ui_revoke`: ends every session and forgets every unused token.
    pub(crate) async fn revoke(&self) -> UiRevoked {
        let (sessions, tokens) = self
            .server
            .lock()
            .await
            .as_ref()
            .map_or((0, 0), UiServer::revoke);
        UiRevoked { sessions, tokens }
    }

    /// Stops the server, if it runs.
    pub(crate) async fn shutdown(&self) {
        if let Some(server) = self.server.lock().await.take() {
            server.shutdown().await;
        }
    }
}
