//! `ui`: the local web app in headless Chromium, a conversation of 10,000 messages against
//! the same page with 50, both measured in the same run.
//!
//! Two data dirs are filled through accord-store's public API (as the `store` suite does),
//! each served by a real daemon whose web app is opened with `ui_open`. For each run, the
//! browser logs in to one of them (alternating) and loads the conversation page afresh:
//!
//! - first render: from navigation start to the `accord-chat-rendered` performance mark the
//!   page sets once the newest page of messages is on screen, median;
//! - JS heap: `performance.memory.usedJSHeapSize` after a forced garbage collection
//!   (Chromium runs with `--enable-precise-memory-info --js-flags=--expose-gc`), median;
//! - DOM nodes on the page (table only).
//!
//! The page loads one page of 50 messages and more only as the user scrolls up, so both
//! ratios should be about 1. Without Chromium and chromedriver the suite fails and says so:
//! it prints no figure it did not measure.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use fantoccini::{Client as Browser, ClientBuilder};
use serde_json::{Value, json};

use crate::e2e::{STEP_TIMEOUT, accord_binary};
use crate::measure::{Better, Row, median, report};
use crate::store::{Daemon, make_data_dir, peer};

/// Messages in the big conversation: the figure.
const BIG: u64 = 10_000;
/// Messages in the baseline: one page.
const SMALL: u64 = 50;
/// Nothing leaves the loopback interface.
const CONFIG: &str = "[network]\nmdns = false\ndht = false\n";
/// Chromium's flags: headless and offline, with a precise heap figure and a callable GC.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--enable-precise-memory-info",
    "--js-flags=--expose-gc",
    "--window-size=1200,800",
];

/// One page load's figures, and the daemon's own time for the page's `history` request.
struct Load {
    render_ms: f64,
    heap_mib: f64,
    dom_nodes: f64,
    history_ms: f64,
}

/// Runs the suite and prints its table and RESULT lines.
pub(crate) fn run(quick: bool, runtime: &tokio::runtime::Runtime) -> Result<()> {
    let (driver, chromium) = programs().context(
        "the ui suite needs Chromium and chromedriver (Debian: apt-get install chromium \
         chromium-driver); no figures were measured",
    )?;
    let runs = if quick { 3 } else { 9 };
    let accord = accord_binary()?;
    println!(
        "== ui: a conversation of {BIG} messages vs {SMALL} in headless Chromium, {runs} runs, median"
    );
    let dir = tempfile::tempdir().context("temp dir")?;
    let (big_dir, small_dir) = (dir.path().join("big"), dir.path().join("small"));
    make_data_dir(&accord, &big_dir, BIG, false)?;
    make_data_dir(&accord, &small_dir, SMALL, false)?;
    runtime.block_on(async {
        let (big, _) =
            Daemon::start(&accord, &big_dir, CONFIG, &dir.path().join("big.log")).await?;
        let (small, _) =
            Daemon::start(&accord, &small_dir, CONFIG, &dir.path().join("small.log")).await?;
        let session = Session::start(&driver, &chromium, dir.path()).await?;
        let measured = measure(&session.browser, &big, &small, runs).await;
        session.close().await;
        big.stop().await?;
        small.stop().await?;
        let (big_loads, small_loads) = measured?;
        print_rows(&big_loads, &small_loads);
        Ok(())
    })
}

async fn measure(
    browser: &Browser,
    big: &Daemon,
    small: &Daemon,
    runs: usize,
) -> Result<(Vec<Load>, Vec<Load>)> {
    let (mut big_loads, mut small_loads) = (Vec::new(), Vec::new());
    // One unmeasured load of each warms the browser's caches and the daemons' page caches.
    load_conversation(browser, big).await?;
    load_conversation(browser, small).await?;
    for _ in 0..runs {
        big_loads.push(load_conversation(browser, big).await?);
        small_loads.push(load_conversation(browser, small).await?);
    }
    Ok((big_loads, small_loads))
}

fn print_rows(big: &[Load], small: &[Load]) {
    let pick =
        |loads: &[Load], f: fn(&Load) -> f64| median(&loads.iter().map(f).collect::<Vec<_>>());
    let rows = [
        Row::key(
            "first_render",
            "navigation start to the newest page on screen",
            pick(big, |l| l.render_ms),
            pick(small, |l| l.render_ms),
            "ms",
            Better::Lower,
        ),
        Row::key(
            "js_heap",
            "the tab's JS heap after GC, conversation open",
            pick(big, |l| l.heap_mib),
            pick(small, |l| l.heap_mib),
            "MiB",
            Better::Lower,
        ),
        Row::info(
            "dom_nodes",
            "elements on the page",
            pick(big, |l| l.dom_nodes),
            pick(small, |l| l.dom_nodes),
            "nodes",
            Better::Lower,
        ),
        Row::info(
            "history_call",
            "the page's history request, on the control socket",
            pick(big, |l| l.history_ms),
            pick(small, |l| l.history_ms),
            "ms",
            Better::Lower,
        ),
    ];
    report(
        "ui",
        &format!("{BIG} msgs"),
        &format!("{SMALL} msgs"),
        &rows,
    );
}

/// Logs in to `daemon`'s web app with a fresh token and loads its conversation page afresh.
async fn load_conversation(browser: &Browser, daemon: &Daemon) -> Result<Load> {
    let login = daemon.client().await?.ui_open().await.context("ui_open")?;
    browser.goto(&login.url).await.context("log in")?;
    let origin = login
        .url
        .split("/login")
        .next()
        .unwrap_or_default()
        .to_owned();
    browser.goto("about:blank").await.context("blank page")?;
    browser
        .goto(&format!("{origin}/#/chat/{}", peer()))
        .await
        .context("open the conversation")?;
    let deadline = Instant::now() + STEP_TIMEOUT;
    let render_ms = loop {
        let mark = browser
            .execute("const m = performance.getEntriesByName('accord-chat-rendered'); return m.length ? m[0].startTime : null;", vec![])
            .await
            .context("read the render mark")?;
        if let Some(ms) = mark.as_f64() {
            break ms;
        }
        if Instant::now() > deadline {
            bail!("the conversation did not render within {STEP_TIMEOUT:?}");
        }
        // WebDriver has no event for a performance mark; the page is asked again shortly.
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let figures = browser
        .execute("if (window.gc) { gc(); } return [performance.memory.usedJSHeapSize, document.getElementsByTagName('*').length, document.querySelectorAll('.msg').length];", vec![])
        .await
        .context("read the heap")?;
    let number = |i: usize| figures.get(i).and_then(Value::as_f64).unwrap_or(0.0);
    if number(2) < 1.0 {
        bail!("the conversation page shows no message");
    }
    let history_ms = history_call(daemon).await?;
    Ok(Load {
        render_ms,
        heap_mib: number(0) / (1024.0 * 1024.0),
        dom_nodes: number(1),
        history_ms,
    })
}

/// The daemon's time for the request the page makes first: the newest page of 50.
async fn history_call(daemon: &Daemon) -> Result<f64> {
    let mut client = daemon.client().await?;
    let peer = peer().to_string();
    let start = Instant::now();
    client
        .history_page(&peer, Some(50), None)
        .await
        .context("history")?;
    Ok(start.elapsed().as_secs_f64() * 1e3)
}

/// chromedriver and Chromium on PATH.
fn programs() -> Result<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .find_map(|dir| names.iter().map(|n| dir.join(n)).find(|p| p.is_file()))
    };
    let driver = find(&["chromedriver"]).context("chromedriver is not on PATH")?;
    let chromium = find(&["chromium", "chromium-browser", "google-chrome"])
        .context("Chromium is not on PATH")?;
    Ok((driver, chromium))
}

/// chromedriver and one headless Chromium session.
struct Session {
    driver: Child,
    browser: Browser,
}

impl Session {
    async fn start(driver_path: &Path, chromium: &Path, scratch: &Path) -> Result<Session> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start chromedriver")?;
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + STEP_TIMEOUT;
        while TcpStream::connect(&addr).is_err() {
            if Instant::now() > deadline {
                let _ = driver.kill();
                bail!("chromedriver did not listen within {STEP_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!(
            "--user-data-dir={}",
            scratch.join("chromium").display()
        ));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({ "binary": chromium, "args": args }),
        );
        let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://{addr}"))
            .await;
        match browser {
            Ok(browser) => Ok(Session { driver, browser }),
            Err(err) => {
                let _ = driver.kill();
                let _ = driver.wait();
                bail!("cannot open a Chromium session: {err}")
            }
        }
    }

    async fn close(mut self) {
        let _ = self.browser.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
