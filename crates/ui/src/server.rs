//! Starting, opening, revoking and stopping the web app's server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::auth::Auth;
use crate::listener::BoundedListener;
use crate::routes::{self, AppState};

/// At most this many browser connections are served at once; more wait in the backlog.
const MAX_CONNECTIONS: usize = 64;
/// At most this many live event streams (browser tabs) at once; each holds one control
/// connection to the daemon.
const MAX_EVENT_STREAMS: usize = 8;
/// At most this many API requests are served at once; more are answered 503.
const MAX_API_REQUESTS: usize = 32;
/// How long a stopping server waits for its connections before it drops them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Why the web app could not start.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// The configured address is not a loopback address: the web app serves only this machine.
    #[error(
        "the web app listens only on a loopback address (127.0.0.1 or ::1), not {addr}: \
         anyone who can reach it could try to log in"
    )]
    NotLoopback {
        /// The refused address.
        addr: SocketAddr,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The operating system's random number generator failed, so no token can be minted.
    #[error("cannot mint a login token: {0}")]
    Random(getrandom::Error),
}

/// A running web app server. Dropping it leaves the server running until the runtime stops;
/// call [`UiServer::shutdown`] to stop it.
#[derive(Debug)]
pub struct UiServer {
    addr: SocketAddr,
    auth: Arc<Auth>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl UiServer {
    /// Binds `listen` (which must be a loopback address) and serves the web app, answering
    /// each request through the control socket at `control_socket`.
    pub async fn start(listen: SocketAddr, control_socket: PathBuf) -> Result<UiServer, UiError> {
        if !listen.ip().is_loopback() {
            return Err(UiError::NotLoopback { addr: listen });
        }
        let bind_error = |source| UiError::Bind {
            addr: listen,
            source,
        };
        let listener = TcpListener::bind(listen).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let auth = Arc::new(Auth::default());
        let (stop, stopped) = watch::channel(false);
        let state = AppState {
            control: Arc::new(control_socket),
            auth: Arc::clone(&auth),
            host: addr.to_string(),
            origin: format!("http://{addr}"),
            cookie: format!("accord_session_{}", addr.port()),
            event_slots: Arc::new(Semaphore::new(MAX_EVENT_STREAMS)),
            api_slots: Arc::new(Semaphore::new(MAX_API_REQUESTS)),
            stopped: stopped.clone(),
        };
        let app = routes::router(state);
        let listener = BoundedListener::new(listener, MAX_CONNECTIONS);
        let mut stopped = stopped;
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            });
            if let Err(err) = serve.await {
                tracing::warn!(%err, "the web app server stopped with an error");
            }
        });
        tracing::info!(%addr, "web app listening");
        Ok(UiServer {
            addr,
            auth,
            stop,
            task,
        })
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Mints a fresh one-time login token and returns the URL that redeems it.
    pub fn open(&self) -> Result<String, UiError> {
        let token = self.auth.mint_token().map_err(UiError::Random)?;
        Ok(format!("http://{}/login?token={token}", self.addr))
    }

    /// Ends every session (their event streams close) and forgets every unused token.
    /// Returns how many sessions and tokens there were.
    pub fn revoke(&self) -> (usize, usize) {
        self.auth.revoke()
    }

    /// Stops serving: open event streams end, connections get a short grace period.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}
