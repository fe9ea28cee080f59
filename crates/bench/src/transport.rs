//! `transport`: our network layer (accord-net's `NetHandle::send_direct` on `/accord/dm/1`,
//! answered with `respond_direct`) against the bare libp2p ceiling: two swarms built with
//! libp2p's `SwarmBuilder` (TCP + Noise + Yamux, as accord-net builds them) running only a
//! request-response echo with a trivial length-prefixed codec, driven directly without any
//! task or queue in between.
//!
//! This raw echo is the ceiling the other network suites compare against; here it is also the
//! baseline of our own network layer, so the ratios are our overhead over bare libp2p. Both
//! pairs are set up first and measured in alternating rounds in the same process.

use std::io;
use std::time::{Duration, Instant};

use accord_net::{DirectProtocol, NetConfig, NetEvent, NetHandle};
use anyhow::{Context, Result, anyhow, bail};
use futures::stream::FuturesUnordered;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, identity::Keypair, noise, tcp, yamux};
use tokio::task::JoinHandle;

use crate::measure::{Better, Plan, Row, median, percentile, report};

/// The payload of every request (and so of every response).
pub(crate) const PAYLOAD: usize = 64;
/// Requests kept in flight in the throughput measurement.
pub(crate) const IN_FLIGHT: usize = 64;

pub(crate) const ECHO_PROTOCOL: StreamProtocol = StreamProtocol::new("/accord-bench/echo/1");
const MAX_FRAME: usize = 64 * 1024;

/// The trivial codec: a `u32` big-endian length, then the bytes.
#[derive(Debug, Clone, Default)]
pub(crate) struct EchoCodec;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut data = vec![0u8; len];
    io.read_exact(&mut data).await?;
    Ok(data)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, data: &[u8]) -> io::Result<()> {
    let len = u32::try_from(data.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(data).await?;
    io.close().await
}

impl request_response::Codec for EchoCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res).await
    }
}

type EchoBehaviour = request_response::Behaviour<EchoCodec>;

fn build_raw_swarm() -> Result<Swarm<EchoBehaviour>> {
    let swarm = libp2p::SwarmBuilder::with_existing_identity(Keypair::generate_ed25519())
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .context("raw swarm: TCP transport")?
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                EchoCodec,
                [(ECHO_PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
            )
        })
        .map_err(|err| anyhow!("raw swarm: behaviour: {err}"))?
        // Keep the connection between measurement rounds.
        .with_swarm_config(|config| config.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    Ok(swarm)
}

fn loopback() -> Result<Multiaddr> {
    "/ip4/127.0.0.1/tcp/0"
        .parse()
        .context("parse the loopback listen address")
}

/// The raw pair: the client swarm lives here and is polled by the measuring code itself; the
/// server swarm runs in its own task and echoes every request.
pub(crate) struct RawEcho {
    client: Swarm<EchoBehaviour>,
    server: PeerId,
    server_task: JoinHandle<()>,
    payload: Vec<u8>,
}

impl RawEcho {
    pub(crate) async fn start() -> Result<Self> {
        let mut server = build_raw_swarm()?;
        server
            .listen_on(loopback()?)
            .context("raw server: listen")?;
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = server.select_next_some().await {
                break address;
            }
        };
        let server_peer = *server.local_peer_id();
        let server_task = tokio::spawn(async move {
            loop {
                if let SwarmEvent::Behaviour(request_response::Event::Message {
                    message:
                        request_response::Message::Request {
                            request, channel, ..
                        },
                    ..
                }) = server.select_next_some().await
                {
                    // The echo: a refused response means the client went away.
                    let _ = server.behaviour_mut().send_response(channel, request);
                }
            }
        });
        let mut client = build_raw_swarm()?;
        client.dial(addr.clone()).context("raw client: dial")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let event = tokio::time::timeout_at(deadline.into(), client.select_next_some())
                .await
                .context("raw client: no connection within 10 s")?;
            match event {
                SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == server_peer => {
                    break;
                }
                SwarmEvent::OutgoingConnectionError { error, .. } => {
                    bail!("raw client: cannot connect to {addr}: {error}")
                }
                _ => {}
            }
        }
        Ok(RawEcho {
            client,
            server: server_peer,
            server_task,
            payload: vec![0xa5; PAYLOAD],
        })
    }

    /// Polls the client swarm until the response to `id` arrives.
    async fn wait_for(&mut self, pending: &mut Vec<OutboundRequestId>) -> Result<()> {
        loop {
            match self.client.select_next_some().await {
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message:
                        request_response::Message::Response {
                            request_id,
                            response,
                        },
                    ..
                }) => {
                    if let Some(i) = pending.iter().position(|id| *id == request_id) {
                        pending.swap_remove(i);
                        if response.len() != PAYLOAD {
                            bail!("raw echo: response of {} bytes", response.len());
                        }
                        return Ok(());
                    }
                }
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                    error, ..
                }) => {
                    bail!("raw echo: request failed: {error}")
                }
                SwarmEvent::ConnectionClosed { cause, .. } => {
                    bail!("raw echo: connection closed: {cause:?}")
                }
                _ => {}
            }
        }
    }

    /// One round trip.
    pub(crate) async fn round_trip(&mut self) -> Result<Duration> {
        let start = Instant::now();
        let id = self
            .client
            .behaviour_mut()
            .send_request(&self.server, self.payload.clone());
        let mut pending = vec![id];
        self.wait_for(&mut pending).await?;
        Ok(start.elapsed())
    }

    /// Keeps `depth` requests in flight until `until`; returns the responses counted.
    pub(crate) async fn pipelined(&mut self, depth: usize, until: Instant) -> Result<u64> {
        let mut pending = Vec::with_capacity(depth);
        for _ in 0..depth {
            let id = self
                .client
                .behaviour_mut()
                .send_request(&self.server, self.payload.clone());
            pending.push(id);
        }
        let mut done = 0u64;
        while !pending.is_empty() {
            self.wait_for(&mut pending).await?;
            done += 1;
            if Instant::now() < until {
                let id = self
                    .client
                    .behaviour_mut()
                    .send_request(&self.server, self.payload.clone());
                pending.push(id);
            }
        }
        Ok(done)
    }
}

impl Drop for RawEcho {
    fn drop(&mut self) {
        self.server_task.abort();
    }
}

/// Our pair: two accord-net nodes (loopback only, mDNS and DHT off); the server answers each
/// direct request from its event queue with `respond_direct`, one at a time, as the node's
/// message actor does.
pub(crate) struct OurEcho {
    client: NetHandle,
    server: PeerId,
    server_net: NetHandle,
    tasks: Vec<JoinHandle<()>>,
    payload: Vec<u8>,
}

fn net_config() -> Result<NetConfig> {
    let mut config = NetConfig::default()
        .with_listen(vec![loopback()?])
        .with_mdns(false)
        .with_dht(false);
    // The suite measures the transport, not the per-peer byte budget, which a long run at
    // full speed would reach.
    config.limits.direct_bytes_per_peer_per_minute = u32::MAX;
    Ok(config)
}

impl OurEcho {
    pub(crate) async fn start() -> Result<Self> {
        let (server_net, mut server_events, server_loop) =
            NetHandle::spawn(Keypair::generate_ed25519(), net_config()?).context("spawn server")?;
        let addr = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(event) = server_events.recv().await {
                if let NetEvent::Listening { addr } = event {
                    return Some(addr);
                }
            }
            None
        })
        .await
        .context("accord-net server: no listen address within 10 s")?
        .context("accord-net server stopped")?;
        let responder = {
            let net = server_net.clone();
            tokio::spawn(async move {
                while let Some(event) = server_events.recv().await {
                    if let NetEvent::DirectRequest {
                        protocol,
                        data,
                        channel,
                        ..
                    } = event
                        && net.respond_direct(protocol, channel, data).await.is_err()
                    {
                        break;
                    }
                }
            })
        };
        let server = server_net.local_peer_id();
        let (client, mut client_events, client_loop) =
            NetHandle::spawn(Keypair::generate_ed25519(), net_config()?).context("spawn client")?;
        // Nobody reads the client's events but they must not fill its queue.
        let drain = tokio::spawn(async move { while client_events.recv().await.is_some() {} });
        let dialled = tokio::time::timeout(
            Duration::from_secs(10),
            client.dial(accord_net::with_peer_id(&addr, server)),
        )
        .await
        .context("accord-net client: no connection within 10 s")?
        .context("accord-net client: dial")?;
        if dialled != server {
            bail!("accord-net client dialled {dialled}, expected {server}");
        }
        // Only a node's connections may send on `/accord/dm/1`.
        server_net
            .keep_peers(vec![client.local_peer_id()])
            .await
            .context("accord-net server: keep_peers")?;
        Ok(OurEcho {
            client,
            server,
            server_net,
            tasks: vec![server_loop, responder, client_loop, drain],
            payload: vec![0xa5; PAYLOAD],
        })
    }

    /// One round trip.
    pub(crate) async fn round_trip(&mut self) -> Result<Duration> {
        let start = Instant::now();
        let response = self
            .client
            .send_direct(DirectProtocol::Dm, self.server, self.payload.clone())
            .await
            .context("send_direct")?;
        if response.len() != PAYLOAD {
            bail!("accord-net echo: response of {} bytes", response.len());
        }
        Ok(start.elapsed())
    }

    /// Keeps `depth` requests in flight until `until`; returns the responses counted.
    pub(crate) async fn pipelined(&mut self, depth: usize, until: Instant) -> Result<u64> {
        let send = |net: NetHandle, peer: PeerId, data: Vec<u8>| async move {
            net.send_direct(DirectProtocol::Dm, peer, data).await
        };
        let mut pending = FuturesUnordered::new();
        for _ in 0..depth {
            pending.push(send(self.client.clone(), self.server, self.payload.clone()));
        }
        let mut done = 0u64;
        while let Some(result) = pending.next().await {
            let response = result.context("send_direct")?;
            if response.len() != PAYLOAD {
                bail!("accord-net echo: response of {} bytes", response.len());
            }
            done += 1;
            if Instant::now() < until {
                pending.push(send(self.client.clone(), self.server, self.payload.clone()));
            }
        }
        Ok(done)
    }

    pub(crate) async fn shutdown(self) {
        let _ = self.client.shutdown().await;
        let _ = self.server_net.shutdown().await;
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What one side measured, each list one entry per round.
#[derive(Debug, Default)]
pub(crate) struct Figures {
    /// Sequential round trips per second, per round.
    pub(crate) seq_rate: Vec<f64>,
    /// Median round-trip time of each round, in µs.
    pub(crate) rtt_p50: Vec<f64>,
    /// Every round-trip time, in µs.
    pub(crate) rtt_all: Vec<f64>,
    /// Round trips per second with [`IN_FLIGHT`] in flight, per round.
    pub(crate) pipelined_rate: Vec<f64>,
}

impl Figures {
    /// Records one round of sequential round trips (in µs) that took `elapsed`.
    fn sequential_round(&mut self, samples: Vec<f64>, elapsed: Duration) {
        self.seq_rate
            .push(samples.len() as f64 / elapsed.as_secs_f64());
        self.rtt_p50.push(median(&samples));
        self.rtt_all.extend(samples);
    }
}

/// Both pairs, ready to measure.
pub(crate) struct Rig {
    pub(crate) raw: RawEcho,
    pub(crate) ours: OurEcho,
}

impl Rig {
    pub(crate) async fn start() -> Result<Self> {
        Ok(Rig {
            raw: RawEcho::start().await.context("raw libp2p echo")?,
            ours: OurEcho::start().await.context("accord-net echo")?,
        })
    }

    /// Warm-up, then `plan.runs` rounds alternating which pair goes first. Returns (ours, raw).
    pub(crate) async fn measure(&mut self, plan: &Plan) -> Result<(Figures, Figures)> {
        let mut raw = Figures::default();
        let mut ours = Figures::default();
        // Warm-up: both pairs, both modes, at half a batch each; the figures are discarded.
        let warm = plan.batch / 2;
        self.raw_round(warm, &mut Figures::default()).await?;
        self.ours_round(warm, &mut Figures::default()).await?;
        for round in 0..plan.runs {
            if round % 2 == 0 {
                self.raw_round(plan.batch, &mut raw).await?;
                self.ours_round(plan.batch, &mut ours).await?;
            } else {
                self.ours_round(plan.batch, &mut ours).await?;
                self.raw_round(plan.batch, &mut raw).await?;
            }
        }
        Ok((ours, raw))
    }

    pub(crate) async fn raw_round(&mut self, batch: Duration, figures: &mut Figures) -> Result<()> {
        let start = Instant::now();
        let mut samples = Vec::new();
        while start.elapsed() < batch {
            samples.push(self.raw.round_trip().await?.as_secs_f64() * 1e6);
        }
        figures.sequential_round(samples, start.elapsed());
        let start = Instant::now();
        let done = self.raw.pipelined(IN_FLIGHT, start + batch).await?;
        figures
            .pipelined_rate
            .push(done as f64 / start.elapsed().as_secs_f64());
        Ok(())
    }

    async fn ours_round(&mut self, batch: Duration, figures: &mut Figures) -> Result<()> {
        let start = Instant::now();
        let mut samples = Vec::new();
        while start.elapsed() < batch {
            samples.push(self.ours.round_trip().await?.as_secs_f64() * 1e6);
        }
        figures.sequential_round(samples, start.elapsed());
        let start = Instant::now();
        let done = self.ours.pipelined(IN_FLIGHT, start + batch).await?;
        figures
            .pipelined_rate
            .push(done as f64 / start.elapsed().as_secs_f64());
        Ok(())
    }

    pub(crate) async fn shutdown(self) {
        self.ours.shutdown().await;
        drop(self.raw);
    }
}

/// The suite's rows from the two sides' figures.
pub(crate) fn rows(ours: &Figures, raw: &Figures) -> Vec<Row> {
    vec![
        Row::key(
            "seq_rps",
            "sequential round trips, 64 B",
            median(&ours.seq_rate),
            median(&raw.seq_rate),
            "req/s",
            Better::Higher,
        ),
        Row::key(
            "rtt_p50",
            "round-trip time p50, 64 B",
            median(&ours.rtt_p50),
            median(&raw.rtt_p50),
            "us",
            Better::Lower,
        ),
        Row::info(
            "rtt_p99",
            "round-trip time p99 (all rounds)",
            percentile(&ours.rtt_all, 99.0),
            percentile(&raw.rtt_all, 99.0),
            "us",
            Better::Lower,
        ),
        Row::key(
            "inflight64_rps",
            "64 requests in flight, 64 B",
            median(&ours.pipelined_rate),
            median(&raw.pipelined_rate),
            "req/s",
            Better::Higher,
        ),
    ]
}

/// Runs the suite and prints its table and RESULT lines.
pub(crate) async fn run(quick: bool) -> Result<()> {
    let plan = Plan::network(quick);
    println!(
        "== transport: accord-net send_direct/respond_direct vs raw libp2p request-response echo \
         (TCP+Noise+Yamux on 127.0.0.1), {PAYLOAD} B payloads, {} runs of ~{} ms per mode, median",
        plan.runs,
        plan.batch.as_millis()
    );
    let mut rig = Rig::start().await?;
    let (ours, raw) = rig.measure(&plan).await?;
    rig.shutdown().await;
    report("transport", "accord-net", "raw libp2p", &rows(&ours, &raw));
    println!(
        "(the raw libp2p echo is the ceiling: the baseline of this suite and of e2e; ratio < 1 is \
         accord-net's overhead over bare libp2p)"
    );
    Ok(())
}
