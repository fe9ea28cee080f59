//! The figures of running daemons: cold start, history through the control socket, idle RSS.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use accord_api::{Client, SOCKET_FILE_NAME};
use anyhow::{Context, Result, bail, ensure};
use tokio::process::Child;

use super::fill::peer;
use super::{CONFIG, CONFIG_SMALL_CACHE, PAGE};
use crate::e2e::{STEP_TIMEOUT, shut_down, spawn_daemon};
use crate::invite::rss_mib;
use crate::measure::Plan;

/// A daemon this suite started; killed on drop if it did not shut down.
pub(crate) struct Daemon {
    child: Child,
    socket: PathBuf,
}

impl Daemon {
    /// Writes `config` as the config.toml of `dir`, spawns `accord daemon` on it and waits
    /// until its control socket answers `id`; returns the daemon and the time from spawning to
    /// that answer.
    pub(crate) async fn start(
        accord: &Path,
        dir: &Path,
        config: &str,
        log: &Path,
    ) -> Result<(Daemon, Duration)> {
        let socket = dir.join(SOCKET_FILE_NAME);
        let start = Instant::now();
        let mut child = spawn_daemon(accord, dir, config, log, None)?;
        loop {
            if let Some(status) = child.try_wait().context("daemon status")? {
                bail!("the daemon on {} exited early ({status})", dir.display());
            }
            if let Ok(mut client) = Client::connect(&socket).await
                && client.id().await.is_ok()
            {
                break;
            }
            if start.elapsed() > STEP_TIMEOUT {
                bail!(
                    "the daemon on {} did not answer within {STEP_TIMEOUT:?}",
                    dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let took = start.elapsed();
        Ok((Daemon { child, socket }, took))
    }

    pub(crate) async fn client(&self) -> Result<Client> {
        Client::connect(&self.socket)
            .await
            .context("connect to the control socket")
    }

    /// The resident set size in MiB (`VmRSS` of /proc/<pid>/status).
    fn rss_mib(&self) -> Result<f64> {
        let pid = self.child.id().context("the daemon has exited")?;
        rss_mib(pid).with_context(|| format!("no VmRSS for process {pid}"))
    }

    /// Asks the daemon to stop and waits for it to exit (so its data dir is free again).
    pub(crate) async fn stop(mut self) -> Result<()> {
        shut_down(&self.socket, &mut self.child).await
    }
}

/// What a sampled request asks.
#[derive(Clone, Copy)]
enum Ask<'a> {
    /// The newest page of the conversation with this peer.
    Newest(&'a str),
    /// The page before this message id, in the conversation with this peer.
    Before(&'a str, &'a str),
    /// `id`: a bare round trip.
    Id,
}

/// Single-request latencies in µs on `client` for `batch` (at least 20 requests).
async fn sample_requests(batch: Duration, client: &mut Client, ask: Ask<'_>) -> Result<Vec<f64>> {
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < batch || samples.len() < 20 {
        let at = Instant::now();
        let before = match ask {
            Ask::Id => {
                client.id().await.context("id")?;
                None
            }
            Ask::Newest(peer) => Some((peer, None)),
            Ask::Before(peer, id) => Some((peer, Some(id))),
        };
        if let Some((peer, before)) = before {
            let page = client
                .history_page(peer, Some(PAGE), before)
                .await
                .context("history")?;
            ensure!(page.len() == PAGE, "a page of {} messages", page.len());
        }
        samples.push(at.elapsed().as_secs_f64() * 1e6);
    }
    Ok(samples)
}

/// The figures of the running daemons.
#[derive(Default)]
pub(super) struct Daemons {
    pub(super) start_big: Vec<f64>,
    pub(super) start_small: Vec<f64>,
    pub(super) rss_big: f64,
    pub(super) rss_small: f64,
    pub(super) rss_big_after: f64,
    pub(super) rss_small_after: f64,
    pub(super) rss_big_cache8: f64,
    pub(super) history_big: Vec<f64>,
    pub(super) history_small: Vec<f64>,
    /// `history` with `before` a message 90 % of the way back (900,000 deep in 1,000,000).
    pub(super) history_deep: Vec<f64>,
    pub(super) id_big: Vec<f64>,
}

pub(super) async fn daemons(
    plan: &Plan,
    quick: bool,
    accord: &Path,
    big: &Path,
    small: &Path,
    logs: &Path,
    deep_before: &str,
) -> Result<Daemons> {
    let mut figures = Daemons::default();
    let starts = if quick { 5 } else { 9 };
    // Cold starts, alternating which goes first; one of each first as a warm-up.
    for round in 0..=starts {
        let order = if round % 2 == 0 {
            [big, small]
        } else {
            [small, big]
        };
        for dir in order {
            let (daemon, took) =
                Daemon::start(accord, dir, CONFIG, &logs.join("start.log")).await?;
            daemon.stop().await?;
            if round == 0 {
                continue;
            }
            if dir == big {
                figures.start_big.push(took.as_secs_f64() * 1e3);
            } else {
                figures.start_small.push(took.as_secs_f64() * 1e3);
            }
        }
    }
    let (big_daemon, _) = Daemon::start(accord, big, CONFIG, &logs.join("big.log")).await?;
    let (small_daemon, _) = Daemon::start(accord, small, CONFIG, &logs.join("small.log")).await?;
    let pair = (&big_daemon, &small_daemon);
    let result = idle_and_history(plan, quick, pair, deep_before, &mut figures).await;
    big_daemon.stop().await?;
    small_daemon.stop().await?;
    result?;
    // The big daemon once more with an 8 MiB page cache: how much of its RSS is the cache.
    let (daemon, _) = Daemon::start(
        accord,
        big,
        CONFIG_SMALL_CACHE,
        &logs.join("big-cache8.log"),
    )
    .await?;
    tokio::time::sleep(idle_time(quick)).await;
    let rss = daemon.rss_mib();
    daemon.stop().await?;
    // Leave the cached data dir with the suite's usual configuration.
    std::fs::write(big.join("config.toml"), CONFIG).context("write config.toml")?;
    figures.rss_big_cache8 = rss?;
    Ok(figures)
}

/// How long a daemon idles before its RSS is read.
fn idle_time(quick: bool) -> Duration {
    if quick {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(5)
    }
}

async fn idle_and_history(
    plan: &Plan,
    quick: bool,
    (big, small): (&Daemon, &Daemon),
    deep_before: &str,
    figures: &mut Daemons,
) -> Result<()> {
    tokio::time::sleep(idle_time(quick)).await;
    figures.rss_big = big.rss_mib()?;
    figures.rss_small = small.rss_mib()?;
    let peer = peer().to_string();
    let mut big_client = big.client().await?;
    let mut small_client = small.client().await?;
    // Warm-up.
    sample_requests(plan.batch / 2, &mut big_client, Ask::Newest(&peer)).await?;
    sample_requests(plan.batch / 2, &mut big_client, Ask::Id).await?;
    sample_requests(plan.batch / 2, &mut small_client, Ask::Newest(&peer)).await?;
    for round in 0..plan.runs {
        if round % 2 == 0 {
            figures
                .history_big
                .extend(sample_requests(plan.batch, &mut big_client, Ask::Newest(&peer)).await?);
            figures
                .id_big
                .extend(sample_requests(plan.batch, &mut big_client, Ask::Id).await?);
        } else {
            figures
                .id_big
                .extend(sample_requests(plan.batch, &mut big_client, Ask::Id).await?);
            figures
                .history_big
                .extend(sample_requests(plan.batch, &mut big_client, Ask::Newest(&peer)).await?);
        }
        figures
            .history_small
            .extend(sample_requests(plan.batch / 2, &mut small_client, Ask::Newest(&peer)).await?);
        let deep = Ask::Before(&peer, deep_before);
        figures
            .history_deep
            .extend(sample_requests(plan.batch / 2, &mut big_client, deep).await?);
    }
    figures.rss_big_after = big.rss_mib()?;
    figures.rss_small_after = small.rss_mib()?;
    Ok(())
}
