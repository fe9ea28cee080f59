//! Headless Chromium driven through chromedriver (WebDriver, with fantoccini), for the web
//! app's browser tests.
//!
//! Debian's `chromium` and `chromium-driver` packages provide both programs; `.ci/run`
//! installs them when it runs as root. Tests that need them are `#[ignore]`d, and
//! [`Browser::start`] fails with the reason where they are missing.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::capability::require;
use crate::wait_until;

/// How long the browser may take to show what a test waits for.
pub const SHOWN: Duration = Duration::from_secs(60);

/// The flags a reproducible, offline headless Chromium needs here.
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
];

/// The first of `names` found on `PATH`.
fn find_program(names: &[&str]) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(format!("none of {names:?} is on PATH"))
}

/// chromedriver and Chromium, or why not.
pub fn programs() -> Result<(PathBuf, PathBuf), String> {
    let driver = find_program(&["chromedriver"])?;
    let chromium = find_program(&["chromium", "chromium-browser", "google-chrome"])?;
    Ok((driver, chromium))
}

/// A headless Chromium with a fresh profile, and the chromedriver that drives it; both end
/// when this is dropped.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a session of a fresh headless Chromium.
    pub async fn start(window: (u32, u32)) -> Browser {
        let (driver_path, chromium) = require("chromium and chromedriver", programs());
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .unwrap_or_else(|err| panic!("no free port: {err}"));
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", driver_path.display()));
        let driver_addr = format!("127.0.0.1:{port}");
        wait_until("chromedriver to listen", SHOWN, || {
            TcpStream::connect(&driver_addr).ok()
        });
        let profile = tempfile::tempdir().unwrap_or_else(|err| panic!("profile dir: {err}"));
        let mut args: Vec<String> = CHROMIUM_FLAGS
            .iter()
            .map(|flag| (*flag).to_owned())
            .collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.push(format!("--window-size={},{}", window.0, window.1));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({ "binary": chromium, "args": args }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://{driver_addr}"))
            .await
            .unwrap_or_else(|err| panic!("cannot open a Chromium session: {err}"));
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Waits until an element matching `css` is on the page, and returns its text.
    pub async fn wait_text(&self, css: &str) -> String {
        let element = self
            .client
            .wait()
            .at_most(SHOWN)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("{css} never appeared: {err}"));
        element
            .text()
            .await
            .unwrap_or_else(|err| panic!("text of {css}: {err}"))
    }

    /// Waits until the script `condition` (a function body that returns a boolean) is true.
    pub async fn wait_true(&self, what: &str, condition: &str) {
        let deadline = tokio::time::Instant::now() + SHOWN;
        loop {
            let value = self.client.execute(condition, vec![]).await;
            if matches!(value, Ok(serde_json::Value::Bool(true))) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what} did not happen within {SHOWN:?} (last answer: {value:?})"
            );
            // The page changes on the browser's own schedule; WebDriver offers no event to
            // wait on, so it is asked again shortly.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        let element = self
            .client
            .wait()
            .at_most(SHOWN)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("{css} never appeared: {err}"));
        element
            .click()
            .await
            .unwrap_or_else(|err| panic!("click {css}: {err}"));
    }

    /// Saves a PNG screenshot of the page at `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|err| panic!("screenshot: {err}"));
        std::fs::write(path, png).unwrap_or_else(|err| panic!("write {}: {err}", path.display()));
    }

    /// Ends the session (Chromium exits) and chromedriver.
    pub async fn close(mut self) {
        if let Err(err) = self.client.clone().close().await {
            eprintln!("closing the browser session: {err}");
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
