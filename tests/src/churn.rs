//! Identity churn: thousands of throw-away libp2p identities that each dial a daemon, complete
//! identify in both directions and hang up. Each one is a new peer the daemon has never seen,
//! so each costs it an identify event and an address-book entry: the load of issue 15 item 6.
//!
//! Every identity is its own small swarm (TCP, Noise, Yamux and identify, nothing else), so
//! that the daemon sees a different peer ID on every connection. A few run at once, on a
//! runtime of their own, so that the test thread stays free to drive daemons while the churn
//! goes on.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, Swarm, identify, noise, tcp, yamux};
use tokio::sync::Semaphore;

/// How long one identity may take from dial to hang-up before it counts as failed.
const PER_IDENTITY: Duration = Duration::from_secs(30);

/// Counts of what became of the identities so far.
#[derive(Debug, Default)]
struct Tally {
    identified: AtomicUsize,
    failed: AtomicUsize,
}

/// A churn under way. Dropping it stops the identities not yet started.
pub struct Churn {
    runtime: tokio::runtime::Runtime,
    tally: Arc<Tally>,
    total: usize,
    done: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Churn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Churn")
            .field("total", &self.total)
            .field("identified", &self.identified())
            .field("failed", &self.failed())
            .finish_non_exhaustive()
    }
}

impl Churn {
    /// Starts `total` fresh identities against the daemon at `addr` (ending in `/p2p/<id>`),
    /// at most `parallel` at a time, and returns at once.
    pub fn start(addr: &str, total: usize, parallel: usize) -> Churn {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|err| panic!("runtime: {err}"));
        let addr = Multiaddr::from_str(addr).unwrap_or_else(|err| panic!("bad {addr}: {err}"));
        let tally = Arc::new(Tally::default());
        let in_task = Arc::clone(&tally);
        let done = runtime.spawn(async move {
            let slots = Arc::new(Semaphore::new(parallel.max(1)));
            let mut running = Vec::with_capacity(total);
            for _ in 0..total {
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    break;
                };
                let addr = addr.clone();
                let tally = Arc::clone(&in_task);
                running.push(tokio::spawn(async move {
                    let outcome = tokio::time::timeout(PER_IDENTITY, identify_once(addr)).await;
                    let counter = match outcome {
                        Ok(Ok(())) => &tally.identified,
                        Ok(Err(_)) | Err(_) => &tally.failed,
                    };
                    counter.fetch_add(1, Ordering::SeqCst);
                    drop(slot);
                }));
            }
            for task in running {
                let _ = task.await;
            }
        });
        Churn {
            runtime,
            tally,
            total,
            done: Some(done),
        }
    }

    /// How many identities completed identify both ways and hung up so far.
    pub fn identified(&self) -> usize {
        self.tally.identified.load(Ordering::SeqCst)
    }

    /// How many identities failed (the dial, the handshake or identify) so far.
    pub fn failed(&self) -> usize {
        self.tally.failed.load(Ordering::SeqCst)
    }

    /// Whether every identity has finished, one way or the other.
    pub fn is_finished(&self) -> bool {
        self.identified() + self.failed() >= self.total
    }

    /// Waits for every identity to finish and returns how many were identified.
    pub fn wait(mut self) -> usize {
        if let Some(done) = self.done.take() {
            let _ = self.runtime.block_on(done);
        }
        self.identified()
    }
}

/// One fresh identity: dial, wait until identify has gone both ways (the daemon's request
/// answered, ours answered by the daemon), then close the connection cleanly, so that what we
/// sent is read before the connection goes.
async fn identify_once(addr: Multiaddr) -> Result<(), String> {
    let mut swarm = build_swarm()?;
    swarm.dial(addr).map_err(|err| err.to_string())?;
    let (mut received, mut sent) = (false, false);
    let mut daemon = None;
    while let Some(event) = swarm.next().await {
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => daemon = Some(peer_id),
            SwarmEvent::Behaviour(identify::Event::Received { .. }) => received = true,
            SwarmEvent::Behaviour(identify::Event::Sent { .. }) => sent = true,
            SwarmEvent::Behaviour(identify::Event::Error { error, .. }) => {
                return Err(format!("identify: {error}"));
            }
            SwarmEvent::OutgoingConnectionError { error, .. } => {
                return Err(format!("dial: {error}"));
            }
            SwarmEvent::ConnectionClosed { .. } => {
                return if received && sent {
                    Ok(())
                } else {
                    Err("the connection closed before identify completed".to_owned())
                };
            }
            _ => {}
        }
        if received
            && sent
            && let Some(peer) = daemon.take()
        {
            let _ = swarm.disconnect_peer_id(peer);
        }
    }
    Err("the swarm ended".to_owned())
}

/// TCP, Noise, Yamux and identify, under a new Ed25519 identity: an Accord ID as far as the
/// daemon can tell. It announces the protocol version Accord nodes announce.
fn build_swarm() -> Result<Swarm<identify::Behaviour>, String> {
    Ok(libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|err| format!("transport: {err}"))?
        .with_behaviour(|key| {
            identify::Behaviour::new(identify::Config::new(
                "/accord/1.0.0".to_owned(),
                key.public(),
            ))
        })
        .map_err(|err| format!("behaviour: {err}"))?
        .with_swarm_config(|config| config.with_idle_connection_timeout(PER_IDENTITY))
        .build())
}
