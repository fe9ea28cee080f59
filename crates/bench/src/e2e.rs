//! `e2e`: two real `accord daemon` processes on 127.0.0.1 (mDNS and DHT off, B bootstrapped to
//! A), connected by invite and acceptance through the `accord` CLI; then A's control socket is
//! driven directly with the accord-api client: `send` and the `message_delivered` events of a
//! `subscribe` stream.
//!
//! - latency: one message at a time, from calling `send` to its `message_delivered` event
//!   (encrypted, stored durably at B, acknowledged back to A), p50 and p99;
//! - throughput: [`SENDERS`] control connections sending at once, messages delivered per second.
//!
//! The baseline is the raw libp2p echo of the `transport` suite, measured in the same run in
//! alternating rounds: the round trip for the latency, 64 in flight for the throughput.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use accord_api::{Client, ClientError, ErrorCode, Event, EventStream, SOCKET_FILE_NAME};
use anyhow::{Context, Result, bail};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::measure::{Better, Plan, Row, median, percentile, report};
use crate::transport::{self, Figures, Rig};

/// Control connections sending at once in the throughput measurement: as many as the raw
/// baseline keeps requests in flight ([`transport::IN_FLIGHT`]), so that both sides are offered the
/// same concurrency. Each `send` still returns only once its message is durable, and a
/// message counts only once its `message_delivered` event arrives.
pub(crate) const SENDERS: usize = transport::IN_FLIGHT;
/// How long a sender pauses when the daemon refuses a send because the outbox is full.
const OUTBOX_FULL_PAUSE: Duration = Duration::from_millis(1);
/// How long any one step of the set-up may take.
pub(crate) const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// The node configuration: nothing leaves the loopback interface.
const CONFIG: &str = "[network]\nmdns = false\ndht = false\n";
/// The most `message_delivered` events the forwarder holds unread. The throughput round reads
/// none until its senders stop, so the bound must exceed what one round sends: a round lasts at
/// most 1 s and the daemon acknowledges well under 20 000 msg/s (docs/benchmarks.md), so 65 536
/// is over 3 times that. The forwarder never waits on a full channel (which would stamp later deliveries
/// late): it stops instead and the round fails loudly. Tokio allocates the buffer in blocks as
/// it fills, so the bound costs no memory up front.
const DELIVERED_BOUND: usize = 65_536;

/// A daemon we started; killed on drop if it did not shut down.
pub(crate) struct Daemon {
    dir: PathBuf,
    child: Child,
    pub(crate) id: String,
    pub(crate) tcp_addr: String,
}

impl Daemon {
    /// Starts `accord daemon` in `dir` with the e2e configuration (mDNS and DHT off).
    async fn start(accord: &Path, dir: PathBuf, bootstrap: Option<&str>) -> Result<Daemon> {
        Daemon::start_with(accord, dir, bootstrap, CONFIG).await
    }

    /// Starts `accord daemon` in `dir` with `config` as its config.toml, and waits until it
    /// answers `id` with at least one listen address.
    pub(crate) async fn start_with(
        accord: &Path,
        dir: PathBuf,
        bootstrap: Option<&str>,
        config: &str,
    ) -> Result<Daemon> {
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let mut child = spawn_daemon(accord, &dir, config, &dir.with_extension("log"), bootstrap)?;
        let deadline = Instant::now() + STEP_TIMEOUT;
        let info = loop {
            if let Some(status) = child.try_wait().context("daemon status")? {
                let log = std::fs::read_to_string(dir.with_extension("log")).unwrap_or_default();
                bail!("the daemon exited early ({status}): {log}");
            }
            if let Ok(mut client) = Client::connect(dir.join(SOCKET_FILE_NAME)).await
                && let Ok(info) = client.id().await
                && !info.addrs.is_empty()
            {
                break info;
            }
            if Instant::now() > deadline {
                bail!(
                    "the daemon in {} did not answer within {STEP_TIMEOUT:?}",
                    dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let tcp_addr = info
            .addrs
            .iter()
            .find(|addr| addr.starts_with("/ip4/127.0.0.1/tcp/"))
            .cloned()
            .with_context(|| format!("no loopback TCP address in {:?}", info.addrs))?;
        Ok(Daemon {
            dir,
            child,
            id: info.id,
            tcp_addr,
        })
    }

    /// The process id, while the daemon runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub(crate) async fn client(&self) -> Result<Client> {
        Client::connect(self.dir.join(SOCKET_FILE_NAME))
            .await
            .context("connect to the control socket")
    }

    /// Runs `accord --data-dir <dir> <args>` and checks that it succeeded.
    async fn cli(&self, accord: &Path, args: &[&str]) -> Result<()> {
        let output = Command::new(accord)
            .arg("--data-dir")
            .arg(&self.dir)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .with_context(|| format!("run accord {args:?}"))?;
        if !output.status.success() {
            bail!(
                "accord {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    pub(crate) async fn stop(mut self) {
        let _ = shut_down(&self.dir.join(SOCKET_FILE_NAME), &mut self.child).await;
    }
}

/// Writes `config` as the config.toml of `dir` and spawns `accord daemon` on it: loopback
/// TCP only, mDNS off, warnings to `log`, killed if dropped. Every suite starts its daemons
/// this way.
pub(crate) fn spawn_daemon(
    accord: &Path,
    dir: &Path,
    config: &str,
    log: &Path,
    bootstrap: Option<&str>,
) -> Result<Child> {
    std::fs::write(dir.join("config.toml"), config).context("write config.toml")?;
    let log = std::fs::File::create(log).context("daemon log file")?;
    let mut command = Command::new(accord);
    command
        .arg("--data-dir")
        .arg(dir)
        .args(["--log-level", "warn", "daemon", "--no-mdns"])
        .args(["--listen", "/ip4/127.0.0.1/tcp/0"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    if let Some(addr) = bootstrap {
        command.args(["--bootstrap", addr]);
    }
    command
        .spawn()
        .with_context(|| format!("start {}", accord.display()))
}

/// Asks the daemon on `socket` to stop and waits for `child` to exit, killing it after
/// [`STEP_TIMEOUT`].
///
/// # Errors
///
/// When it had to be killed.
pub(crate) async fn shut_down(socket: &Path, child: &mut Child) -> Result<()> {
    if let Ok(mut client) = Client::connect(socket).await {
        let _ = client.shutdown().await;
    }
    if tokio::time::timeout(STEP_TIMEOUT, child.wait())
        .await
        .is_err()
    {
        // Our own child: it did not stop in time.
        let _ = child.kill().await;
        bail!("the daemon did not stop within {STEP_TIMEOUT:?}");
    }
    Ok(())
}

/// Waits for the first event of `stream` that `check` accepts.
async fn wait_event(
    stream: &mut EventStream,
    what: &str,
    mut check: impl FnMut(&Event) -> bool,
) -> Result<()> {
    tokio::time::timeout(STEP_TIMEOUT, async {
        while let Some(event) = stream.next().await.context("event stream")? {
            if check(&event) {
                return Ok(());
            }
        }
        bail!("the daemon closed the event stream")
    })
    .await
    .with_context(|| format!("waiting for {what}"))?
}

/// The connected pair, A's send client and a task forwarding A's `message_delivered` ids.
struct Pair {
    a: Daemon,
    b: Daemon,
    peer_b: String,
    delivered: mpsc::Receiver<(String, Instant)>,
    forwarder: tokio::task::JoinHandle<()>,
}

impl Pair {
    async fn start(accord: PathBuf, root: &Path) -> Result<Pair> {
        let a = Daemon::start(&accord, root.join("a"), None)
            .await
            .context("daemon A")?;
        let b = Daemon::start(&accord, root.join("b"), Some(&a.tcp_addr))
            .await
            .context("daemon B")?;
        let mut a_events = a.client().await?.subscribe().await.context("subscribe A")?;
        let mut b_events = b.client().await?.subscribe().await.context("subscribe B")?;
        // B bootstrapped to A: wait for the connection, then invite and accept via the CLI.
        let deadline = Instant::now() + STEP_TIMEOUT;
        let mut a_client = a.client().await?;
        while !a_client.peers().await?.iter().any(|peer| peer.id == b.id) {
            if Instant::now() > deadline {
                bail!("B did not connect to A within {STEP_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        a.cli(&accord, &["connect", &b.id, "--note", "bench"])
            .await?;
        let a_id = a.id.clone();
        wait_event(
            &mut b_events,
            "B to receive the invite",
            |event| matches!(event, Event::InviteReceived { peer, .. } if *peer == a_id),
        )
        .await?;
        b.cli(&accord, &["accept", &a.id]).await?;
        let b_id = b.id.clone();
        wait_event(
            &mut a_events,
            "A to see the acceptance",
            |event| matches!(event, Event::InviteAccepted { peer, .. } if *peer == b_id),
        )
        .await?;
        drop(b_events);
        let (tx, delivered) = mpsc::channel(DELIVERED_BOUND);
        let forwarder = tokio::spawn(async move {
            while let Ok(Some(event)) = a_events.next().await {
                if let Event::MessageDelivered { message_id, .. } = event
                    && let Err(err) = tx.try_send((message_id, Instant::now()))
                {
                    // Ending the stream fails the round: a stamp taken after a wait would be wrong.
                    if matches!(err, mpsc::error::TrySendError::Full(_)) {
                        eprintln!(
                            "more than {DELIVERED_BOUND} deliveries unread; the round is void"
                        );
                    }
                    break;
                }
            }
        });
        let peer_b = b.id.clone();
        Ok(Pair {
            a,
            b,
            peer_b,
            delivered,
            forwarder,
        })
    }

    /// Waits until every id of `waiting` is delivered; returns the time of the last delivery.
    async fn wait_delivered(
        &mut self,
        waiting: &mut HashMap<String, Instant>,
        latencies: &mut Vec<f64>,
    ) -> Result<Option<Instant>> {
        let mut last = None;
        while !waiting.is_empty() {
            let (id, at) = tokio::time::timeout(STEP_TIMEOUT, self.delivered.recv())
                .await
                .context("waiting for message_delivered")?
                .context("A's event stream ended")?;
            if let Some(sent) = waiting.remove(&id) {
                latencies.push(at.saturating_duration_since(sent).as_secs_f64() * 1e6);
                last = Some(at);
            }
        }
        Ok(last)
    }

    /// One message at a time for `batch`: send→delivered latencies in µs.
    async fn latency_round(&mut self, client: &mut Client, batch: Duration) -> Result<Vec<f64>> {
        let start = Instant::now();
        let mut latencies = Vec::new();
        let mut n = 0u64;
        while start.elapsed() < batch || latencies.len() < 5 {
            n += 1;
            let sent = Instant::now();
            let info = client
                .send(&self.peer_b, &format!("latency probe {n}"), None)
                .await
                .context("send")?;
            let mut waiting = HashMap::from([(info.message_id, sent)]);
            self.wait_delivered(&mut waiting, &mut latencies).await?;
        }
        Ok(latencies)
    }

    /// [`SENDERS`] connections sending for `batch`, then waiting for every acknowledgement:
    /// messages delivered per second, from the first send to the last delivery.
    async fn throughput_round(&mut self, batch: Duration) -> Result<f64> {
        let start = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let mut senders = Vec::new();
        for s in 0..SENDERS {
            let mut client = self.a.client().await?;
            let peer = self.peer_b.clone();
            let stop = Arc::clone(&stop);
            senders.push(tokio::spawn(async move {
                let mut sent = Vec::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let at = Instant::now();
                    match client
                        .send(&peer, &format!("throughput {s}/{n}"), None)
                        .await
                    {
                        Ok(info) => sent.push((info.message_id, at)),
                        // The daemon's back-pressure: the senders outran delivery and the
                        // outbox is at its bound. Nothing was queued; wait for it to drain.
                        Err(ClientError::Remote(err)) if err.code == ErrorCode::Refused.code() => {
                            tokio::time::sleep(OUTBOX_FULL_PAUSE).await;
                        }
                        Err(err) => return Err(err).context("send"),
                    }
                }
                anyhow::Ok(sent)
            }));
        }
        tokio::time::sleep_until((start + batch).into()).await;
        stop.store(true, Ordering::Relaxed);
        let mut waiting = HashMap::new();
        for sender in senders {
            waiting.extend(sender.await.context("sender task")??);
        }
        let count = waiting.len();
        let last = self
            .wait_delivered(&mut waiting, &mut Vec::new())
            .await?
            .unwrap_or_else(Instant::now);
        Ok(count as f64 / last.saturating_duration_since(start).as_secs_f64())
    }

    async fn stop(self) {
        self.forwarder.abort();
        self.a.stop().await;
        self.b.stop().await;
    }
}

/// Where the `accord` binary is: next to this benchmark's own executable.
pub(crate) fn accord_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("find this executable")?;
    let dir = exe.parent().context("this executable has no directory")?;
    let accord = dir.join(format!("accord{}", std::env::consts::EXE_SUFFIX));
    if !accord.is_file() {
        bail!(
            "{} not found: build it first with `cargo build --release -p accord-cli`",
            accord.display()
        );
    }
    Ok(accord)
}

/// Runs the suite and prints its table and RESULT lines.
pub(crate) async fn run(quick: bool) -> Result<()> {
    let plan = Plan::network(quick);
    let accord = accord_binary()?;
    println!(
        "== e2e: two accord daemons on 127.0.0.1 ({}) vs the raw libp2p echo, {} runs of ~{} ms \
         per mode, median",
        accord.display(),
        plan.runs,
        plan.batch.as_millis()
    );
    let root = tempfile::tempdir().context("temp dir")?;
    let mut pair = Pair::start(accord, root.path()).await?;
    let mut rig = Rig::start().await?;
    let result = measure(&plan, &mut pair, &mut rig).await;
    pair.stop().await;
    rig.shutdown().await;
    let (latencies, p50s, rates, raw) = result?;
    let rows = vec![
        Row::key(
            "msgs_per_s",
            &format!("delivered msg/s, {SENDERS} senders vs raw 64 in flight"),
            median(&rates),
            median(&raw.pipelined_rate),
            "msg/s",
            Better::Higher,
        ),
        Row::key(
            "latency_p50",
            "send->delivered p50 vs raw round trip p50",
            median(&p50s),
            median(&raw.rtt_p50),
            "us",
            Better::Lower,
        ),
        Row::key(
            "latency_p99",
            "send->delivered p99 vs raw round trip p99",
            percentile(&latencies, 99.0),
            percentile(&raw.rtt_all, 99.0),
            "us",
            Better::Lower,
        ),
    ];
    report("e2e", "accord e2e", "raw libp2p", &rows);
    println!(
        "(ours: durable, encrypted, acknowledged messages through the control socket; baseline: \
         the bare libp2p request-response echo of the transport suite, same run, {} B)",
        transport::PAYLOAD
    );
    Ok(())
}

type Measured = (Vec<f64>, Vec<f64>, Vec<f64>, Figures);

async fn measure(plan: &Plan, pair: &mut Pair, rig: &mut Rig) -> Result<Measured> {
    let mut client = pair.a.client().await?;
    // Warm-up.
    pair.latency_round(&mut client, plan.batch / 2).await?;
    pair.throughput_round(plan.batch / 2).await?;
    let mut raw = Figures::default();
    let mut latencies = Vec::new();
    let mut p50s = Vec::new();
    let mut rates = Vec::new();
    rig.raw_round(plan.batch / 2, &mut Figures::default())
        .await?;
    for round in 0..plan.runs {
        if round % 2 == 0 {
            rig.raw_round(plan.batch, &mut raw).await?;
        }
        let samples = pair.latency_round(&mut client, plan.batch).await?;
        p50s.push(median(&samples));
        latencies.extend(samples);
        rates.push(pair.throughput_round(plan.batch).await?);
        if round % 2 == 1 {
            rig.raw_round(plan.batch, &mut raw).await?;
        }
    }
    Ok((latencies, p50s, rates, raw))
}
