//! The node's transports (TCP with Noise and Yamux, and QUIC), wrapped so that every byte read
//! from or written to a substream is counted.
//!
//! libp2p's own bandwidth metrics need its `metrics` feature and a Prometheus registry whose
//! totals can only be read back by encoding the registry as text; two atomic counters do the
//! same job here. The counts are of substream payload (what the protocols read and write),
//! without Noise, Yamux or QUIC framing. Relayed connections are not counted a second time:
//! their bytes already cross the counted connection to the relay.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use futures::{AsyncRead, AsyncWrite};
use libp2p::core::muxing::{StreamMuxer, StreamMuxerBox, StreamMuxerEvent, SubstreamBox};
use libp2p::core::transport::Boxed;
use libp2p::core::upgrade::Version;
use libp2p::identity::Keypair;
use libp2p::{PeerId, Swarm, Transport, noise, quic, tcp, yamux};

use crate::behaviour::Behaviour;
use crate::{NetConfig, NetError};

/// Bytes carried by every connection's substreams since start, both ways. Shared between
/// the transport (which adds to it) and whoever reads the totals.
#[derive(Debug, Default)]
pub struct ByteCounters {
    inbound: AtomicU64,
    outbound: AtomicU64,
}

impl ByteCounters {
    /// Bytes read from peers so far.
    pub fn inbound(&self) -> u64 {
        self.inbound.load(Ordering::Relaxed)
    }

    /// Bytes written to peers so far.
    pub fn outbound(&self) -> u64 {
        self.outbound.load(Ordering::Relaxed)
    }

    fn add(counter: &AtomicU64, bytes: usize) {
        counter.fetch_add(u64::try_from(bytes).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// How often an idle QUIC connection sends a keep-alive.
const QUIC_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);
/// How long a QUIC connection may stay silent before it is dropped, in milliseconds.
const QUIC_IDLE_TIMEOUT_MS: u32 = 45_000;

/// TCP (Noise, Yamux configured by `yamux_config`) or QUIC, every connection counted in
/// `counters`: the transports of an Accord node. Public so that a benchmark's raw libp2p
/// swarm counts its bytes exactly as a node does.
///
/// # Errors
///
/// When Noise cannot derive its static key from `keypair`.
pub fn counted_transport(
    keypair: &Keypair,
    yamux_config: impl Fn() -> yamux::Config,
    counters: Arc<ByteCounters>,
) -> Result<Boxed<(PeerId, StreamMuxerBox)>, noise::Error> {
    let tcp = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
        .upgrade(Version::V1Lazy)
        .authenticate(noise::Config::new(keypair)?)
        .multiplex(yamux_config())
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)));
    let mut quic_config = quic::Config::new(keypair);
    // QUIC's defaults send a keep-alive every 5 s and drop a connection silent for 10 s, a
    // wake-up per peer every few seconds. 15 s still refreshes the shortest common NAT UDP
    // mappings (30 s); a connection is dropped after three missed keep-alives.
    quic_config.keep_alive_interval = QUIC_KEEP_ALIVE;
    quic_config.max_idle_timeout = QUIC_IDLE_TIMEOUT_MS;
    let quic = quic::tokio::Transport::new(quic_config)
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)));
    Ok(tcp
        .or_transport(quic)
        .map(move |either, _| {
            let (peer, muxer) = either.into_inner();
            let counted = CountingMuxer {
                inner: muxer,
                counters: Arc::clone(&counters),
            };
            (peer, StreamMuxerBox::new(counted))
        })
        .boxed())
}

/// A connection whose substreams count their bytes.
struct CountingMuxer {
    inner: StreamMuxerBox,
    counters: Arc<ByteCounters>,
}

impl CountingMuxer {
    fn wrap(&self, inner: SubstreamBox) -> CountingStream {
        CountingStream {
            inner,
            counters: Arc::clone(&self.counters),
        }
    }
}

impl StreamMuxer for CountingMuxer {
    type Substream = CountingStream;
    type Error = io::Error;

    fn poll_inbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let inner = ready!(Pin::new(&mut self.inner).poll_inbound(cx))?;
        Poll::Ready(Ok(self.wrap(inner)))
    }

    fn poll_outbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let inner = ready!(Pin::new(&mut self.inner).poll_outbound(cx))?;
        Poll::Ready(Ok(self.wrap(inner)))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        Pin::new(&mut self.inner).poll(cx)
    }
}

/// A substream that adds what it reads and writes to its connection's counters.
struct CountingStream {
    inner: SubstreamBox,
    counters: Arc<ByteCounters>,
}

impl AsyncRead for CountingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let read = ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        ByteCounters::add(&self.counters.inbound, read);
        Poll::Ready(Ok(read))
    }
}

impl AsyncWrite for CountingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        ByteCounters::add(&self.counters.outbound, written);
        Poll::Ready(Ok(written))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// Builds the swarm: the counted transports, the relay client on top of them, and
/// [`Behaviour`] for `config`.
pub(crate) fn build_swarm(
    keypair: Keypair,
    config: &NetConfig,
    counters: Arc<ByteCounters>,
) -> Result<Swarm<Behaviour>, NetError> {
    let idle = config.idle_connection_timeout;
    // Yamux asserts that its 1 GiB connection window covers 256 KiB per stream; a larger
    // limit would panic while building the connection, so it is capped here as in the docs.
    let max_streams = config
        .limits
        .max_yamux_streams
        .clamp(1, crate::MAX_YAMUX_STREAMS);
    let yamux_config = move || {
        let mut yamux = yamux::Config::default();
        yamux.set_max_num_streams(max_streams);
        yamux
    };
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_other_transport(|keypair| {
            counted_transport(keypair, yamux_config, counters)
                .map_err(|err| -> Box<dyn std::error::Error + Send + Sync> { Box::new(err) })
        })
        .map_err(|err| NetError::Transport(err.to_string()))?
        .with_relay_client(noise::Config::new, yamux_config)
        .map_err(|err| NetError::Transport(err.to_string()))?
        .with_behaviour(|keypair, relay_client| {
            Behaviour::new(keypair, relay_client, config)
                .map_err(|err| -> Box<dyn std::error::Error + Send + Sync> { Box::new(err) })
        })
        .map_err(|err| NetError::Behaviour(err.to_string()))?
        .with_swarm_config(|swarm_config| swarm_config.with_idle_connection_timeout(idle))
        .build();
    Ok(swarm)
}
