//! A raw libp2p peer for hostile tests: TCP, Noise and Yamux and nothing above them, so that it
//! can open substreams on any protocol and write any bytes, framed or not. Unlike
//! [`crate::peer::TestPeer`] it speaks none of Accord's protocols properly; it is the peer that
//! sends garbage, oversize frames, endless streams and floods of substreams.
//!
//! It records what the daemon did to it (connections opened and closed) and what became of
//! each stream ([`StreamOutcome`]), which is how a test observes a penalty from the outside.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::core::upgrade::Version;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, noise, tcp, yamux};
use libp2p_stream::{Control, OpenStreamError};
use tokio::sync::watch;

/// How long a raw stream waits for the daemon to answer or end it before the test calls it
/// hanging. Generous: the daemon resets a silent stream after its 10 s request timeout.
pub const STREAM_VERDICT: Duration = Duration::from_secs(60);

/// What became of one raw stream, seen from the raw peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamOutcome {
    /// The daemon wrote this many bytes back and then ended the stream.
    Answered(Vec<u8>),
    /// The daemon ended the stream without writing anything.
    Ended,
    /// The stream was reset or the connection closed (the error kind), or it could not be
    /// opened at all.
    Failed(String),
    /// Nothing happened within [`STREAM_VERDICT`]: the daemon neither answered nor ended it.
    Hanging,
}

impl StreamOutcome {
    /// Whether the daemon refused the stream: reset, ended without an answer, or the stream or
    /// connection failed.
    pub fn is_refused(&self) -> bool {
        matches!(self, StreamOutcome::Ended | StreamOutcome::Failed(_))
    }
}

/// A raw peer connected to one daemon. Dropping it closes the connection.
pub struct RawPeer {
    runtime: tokio::runtime::Runtime,
    control: Control,
    daemon: PeerId,
    connected: watch::Receiver<usize>,
    closed: Arc<AtomicUsize>,
}

impl std::fmt::Debug for RawPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawPeer")
            .field("daemon", &self.daemon)
            .field("closed", &self.connections_closed())
            .finish_non_exhaustive()
    }
}

impl RawPeer {
    /// Connects to the daemon at `addr` (ending in `/p2p/<id>`) and waits for the connection.
    /// Streams are negotiated lazily (multistream-select `V1Lazy`), so that opening thousands
    /// of them does not wait a round trip each: the flood arrives at once.
    pub fn connect(addr: &str) -> RawPeer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|err| panic!("runtime: {err}"));
        let addr = Multiaddr::from_str(addr).unwrap_or_else(|err| panic!("bad {addr}: {err}"));
        let daemon = match addr.iter().last() {
            Some(libp2p::multiaddr::Protocol::P2p(peer)) => peer,
            _ => panic!("{addr} does not end in /p2p/<id>"),
        };
        let (count_tx, connected) = watch::channel(0usize);
        let closed = Arc::new(AtomicUsize::new(0));
        let closed_in_task = Arc::clone(&closed);
        let control = runtime.block_on(async move {
            let mut swarm = build_swarm();
            let control = swarm.behaviour().new_control();
            swarm
                .dial(addr.clone())
                .unwrap_or_else(|err| panic!("dial {addr}: {err}"));
            tokio::spawn(async move {
                let mut open = 0usize;
                while let Some(event) = swarm.next().await {
                    match event {
                        SwarmEvent::ConnectionEstablished { .. } => {
                            open += 1;
                            let _ = count_tx.send(open);
                        }
                        SwarmEvent::ConnectionClosed { .. } => {
                            open = open.saturating_sub(1);
                            closed_in_task.fetch_add(1, Ordering::SeqCst);
                            let _ = count_tx.send(open);
                        }
                        _ => {}
                    }
                }
            });
            control
        });
        let peer = RawPeer {
            runtime,
            control,
            daemon,
            connected,
            closed,
        };
        crate::wait_until("the raw peer to connect", crate::ARRIVAL, || {
            peer.is_connected().then_some(())
        });
        peer
    }

    /// Whether a connection to the daemon is open now.
    pub fn is_connected(&self) -> bool {
        *self.connected.borrow() > 0
    }

    /// How many of our connections have closed so far (by either side).
    pub fn connections_closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }

    /// Opens a stream on `protocol`, writes `bytes`, closes our side and reads whatever the
    /// daemon answers until it ends the stream.
    pub fn send(&self, protocol: &'static str, bytes: Vec<u8>) -> StreamOutcome {
        let control = self.control.clone();
        let daemon = self.daemon;
        self.runtime
            .block_on(send_on(control, daemon, protocol, bytes, true))
    }

    /// Opens a stream on `protocol`, writes `first`, then keeps writing `chunk` every `pause`
    /// without ever ending the frame, until the daemon stops it (or `STREAM_VERDICT`).
    pub fn trickle(
        &self,
        protocol: &'static str,
        first: Vec<u8>,
        chunk: Vec<u8>,
        pause: Duration,
    ) -> StreamOutcome {
        let mut control = self.control.clone();
        let daemon = self.daemon;
        self.runtime.block_on(async move {
            let attempt = async {
                let mut stream = match open(&mut control, daemon, protocol).await {
                    Ok(stream) => stream,
                    Err(failed) => return failed,
                };
                if let Err(err) = stream.write_all(&first).await {
                    return StreamOutcome::Failed(format!("{:?}", err.kind()));
                }
                loop {
                    if let Err(err) = async {
                        stream.write_all(&chunk).await?;
                        stream.flush().await
                    }
                    .await
                    {
                        return StreamOutcome::Failed(format!("{:?}", err.kind()));
                    }
                    tokio::time::sleep(pause).await;
                }
            };
            tokio::time::timeout(STREAM_VERDICT, attempt)
                .await
                .unwrap_or(StreamOutcome::Hanging)
        })
    }

    /// Opens `count` streams on `protocol` at once, writes `bytes` on each (leaving it open,
    /// as a request that never ends would) and returns what became of every one.
    pub fn flood(&self, protocol: &'static str, count: usize, bytes: &[u8]) -> Vec<StreamOutcome> {
        let daemon = self.daemon;
        let control = self.control.clone();
        let bytes = bytes.to_vec();
        self.runtime.block_on(async move {
            let tasks: Vec<_> = (0..count)
                .map(|_| {
                    let control = control.clone();
                    let bytes = bytes.clone();
                    tokio::spawn(send_on(control, daemon, protocol, bytes, false))
                })
                .collect();
            let mut outcomes = Vec::with_capacity(count);
            for task in tasks {
                outcomes.push(
                    task.await
                        .unwrap_or_else(|err| StreamOutcome::Failed(err.to_string())),
                );
            }
            outcomes
        })
    }
}

/// One stream: open, write, optionally close our side, then read to the end.
async fn send_on(
    mut control: Control,
    daemon: PeerId,
    protocol: &'static str,
    bytes: Vec<u8>,
    close: bool,
) -> StreamOutcome {
    let attempt = async {
        let mut stream = match open(&mut control, daemon, protocol).await {
            Ok(stream) => stream,
            Err(failed) => return failed,
        };
        let written = async {
            stream.write_all(&bytes).await?;
            if close {
                stream.close().await?;
            } else {
                stream.flush().await?;
            }
            Ok::<(), std::io::Error>(())
        }
        .await;
        if let Err(err) = written {
            return StreamOutcome::Failed(format!("{:?}", err.kind()));
        }
        let mut answer = Vec::new();
        match stream.read_to_end(&mut answer).await {
            Ok(_) if answer.is_empty() => StreamOutcome::Ended,
            Ok(_) => StreamOutcome::Answered(answer),
            Err(err) => StreamOutcome::Failed(format!("{:?}", err.kind())),
        }
    };
    tokio::time::timeout(STREAM_VERDICT, attempt)
        .await
        .unwrap_or(StreamOutcome::Hanging)
}

/// Opens a stream on `protocol`; a stream that cannot be opened is already an outcome.
async fn open(
    control: &mut Control,
    daemon: PeerId,
    protocol: &'static str,
) -> Result<libp2p::Stream, StreamOutcome> {
    control
        .open_stream(daemon, StreamProtocol::new(protocol))
        .await
        .map_err(|err| {
            StreamOutcome::Failed(match err {
                OpenStreamError::UnsupportedProtocol(protocol) => format!("unsupported {protocol}"),
                OpenStreamError::Io(err) => format!("{:?}", err.kind()),
                other => other.to_string(),
            })
        })
}

/// TCP, Noise, Yamux with room for more streams than any daemon allows (so that the limit
/// met is the daemon's, not ours), and the stream behaviour alone.
fn build_swarm() -> Swarm<libp2p_stream::Behaviour> {
    let yamux_config = || {
        let mut config = yamux::Config::default();
        config.set_max_num_streams(accord_net::MAX_YAMUX_STREAMS);
        config
    };
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux_config,
        )
        .unwrap_or_else(|err| panic!("raw peer transport: {err}"))
        .with_behaviour(|_| libp2p_stream::Behaviour::new())
        .unwrap_or_else(|err| panic!("raw peer behaviour: {err}"))
        .with_swarm_config(|config| {
            config
                .with_idle_connection_timeout(Duration::from_secs(600))
                .with_substream_upgrade_protocol_override(Version::V1Lazy)
        })
        .build()
}
