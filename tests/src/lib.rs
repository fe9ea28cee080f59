//! A harness for multi-node end-to-end tests: it runs the real `accord` binary as daemons on
//! 127.0.0.1 with mDNS off, and drives them through the CLI exactly as a user or script would.
//!
//! The binary is found next to the test executable (`target/<profile>/accord`), which
//! `cargo test --workspace` builds because the CLI crate has integration tests of its own; set
//! `ACCORD_BIN` to test another build.
//!
//! ```no_run
//! let net = accord_tests::TestDir::new();
//! let a = accord_tests::Daemon::start(&net.path("a"), &[]);
//! let peers = a.json(&["peers"]);
//! assert!(peers.as_array().is_some());
//! ```

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod browser;
pub mod capability;
pub mod churn;
pub mod conversation;
pub mod peer;
pub mod raw;
pub mod tmpfs;
pub mod web;

/// The wall clock in Unix milliseconds, as the daemons read it.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// The operating system's random number generator, for tests that craft their own keys.
pub fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// How long a daemon may take to answer on its socket after it is started.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long anything sent between daemons may take to arrive. Generous: the tests run many
/// debug daemons at once on a shared machine.
pub const ARRIVAL: Duration = Duration::from_secs(60);

/// The configuration for exact topologies: only the links a test builds (no mDNS, no DHT).
pub const NO_DHT: &str = "[network]\nmdns = false\ndht = false\n";

/// Starts `n` daemons named `<prefix>0…` with `config`, each bootstrapped to the one before,
/// and waits for every link of the chain.
pub fn chain(dir: &TestDir, prefix: &str, n: usize, config: &str) -> Vec<Daemon> {
    let mut nodes: Vec<Daemon> = Vec::new();
    for i in 0..n {
        let extra: Vec<String> = match nodes.last() {
            Some(prev) => vec!["--bootstrap".into(), prev.tcp_addr()],
            None => vec![],
        };
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let node = Daemon::start_with_config(&dir.path(&format!("{prefix}{i}")), config, &extra);
        if let Some(prev) = nodes.last() {
            node.wait_for_peer(&prev.id, ARRIVAL);
        }
        nodes.push(node);
    }
    nodes
}

/// Two daemons `a` and `b` in `dir`, with `config`, that are connections: `b` bootstraps to
/// `a`, then `a` invites `b` and `b` accepts, through the CLI. Returns `(a, b)`.
pub fn connected_pair(dir: &TestDir, config: &str) -> (Daemon, Daemon) {
    let a = Daemon::start_with_config(&dir.path("a"), config, &[]);
    let b = Daemon::start_with_config(&dir.path("b"), config, &["--bootstrap", &a.tcp_addr()]);
    b.wait_for_peer(&a.id, ARRIVAL);
    conversation::invite_and_accept(&a, &b, "let's talk");
    (a, b)
}

/// The `accord` binary under test.
pub fn accord_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("ACCORD_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().unwrap_or_else(|err| panic!("current_exe: {err}"));
    // target/<profile>/deps/<test> → target/<profile>/accord
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("unexpected test binary location {}", exe.display()));
    let bin = profile_dir.join("accord");
    assert!(
        bin.exists(),
        "{} does not exist; build it with `cargo build -p accord-cli` or run `cargo test --workspace`",
        bin.display()
    );
    bin
}

/// A `Command` for `accord --data-dir <dir> <args…>`, with the caller's environment cleaned of
/// variables that would change what the test means.
pub fn accord(data_dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(accord_bin());
    command
        .env_remove("ACCORD_DATA_DIR")
        .env_remove("ACCORD_PASSPHRASE")
        .env_remove("RUST_LOG")
        // A stray clock offset in the caller's environment would shift every daemon's clock.
        .env_remove("ACCORD_CLOCK_OFFSET_SECS")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .stdin(Stdio::null());
    command
}

/// Runs `accord --data-dir <dir> <args…>` to completion.
pub fn run(data_dir: &Path, args: &[&str]) -> Output {
    accord(data_dir, args)
        .output()
        .unwrap_or_else(|err| panic!("cannot run accord {args:?}: {err}"))
}

/// Stdout of a finished command as a string.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stderr of a finished command as a string.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Calls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(20);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

/// Sends a signal by name (`INT`, `TERM`, `KILL`) to a process.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap_or_else(|err| panic!("cannot run kill: {err}"));
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// Waits for a child to exit, killing it and panicking after `timeout`.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap_or_else(|err| panic!("wait: {err}")) {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("process {} did not exit within {timeout:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Creates an identity in `data_dir` with `accord init` (without starting a daemon) and
/// returns its Accord ID.
pub fn init_identity(data_dir: &Path) -> String {
    let output = run(data_dir, &["--json", "init"]);
    assert!(
        output.status.success(),
        "accord init failed: {}",
        stderr(&output)
    );
    let info: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("accord init printed invalid JSON ({err})"));
    let id = info["id"].as_str().unwrap_or_default().to_owned();
    assert!(!id.is_empty(), "accord init printed no ID: {info}");
    id
}

/// A temporary directory for one test's data dirs, removed at the end.
#[derive(Debug)]
pub struct TestDir {
    dir: tempfile::TempDir,
}

impl TestDir {
    /// A new, empty directory. Kept short: Unix socket paths are limited to ~100 bytes.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("acc")
            .tempdir_in("/tmp")
            .unwrap_or_else(|err| panic!("tempdir: {err}"));
        TestDir { dir }
    }

    /// A path inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Default for TestDir {
    fn default() -> Self {
        TestDir::new()
    }
}

/// How [`Daemon::spawn_with`] starts a daemon, beyond its arguments.
#[derive(Debug, Default)]
pub struct Launch<'a> {
    /// Extra environment variables (such as `ACCORD_CLOCK_OFFSET_SECS`).
    pub env: &'a [(&'a str, &'a str)],
    /// The `RUST_LOG` filter; `info,libp2p=debug` when none.
    pub log_filter: Option<&'a str>,
    /// Append to `<data_dir>.log` instead of starting it afresh, so that one log covers
    /// restarts.
    pub append_log: bool,
}

/// A running `accord daemon`, killed when dropped.
#[derive(Debug)]
pub struct Daemon {
    /// Its data dir.
    pub data_dir: PathBuf,
    /// Its Accord ID.
    pub id: String,
    /// Its addresses, each ending in `/p2p/<id>`.
    pub addrs: Vec<String>,
    child: Child,
}

impl Daemon {
    /// Starts `accord daemon --no-mdns --listen /ip4/127.0.0.1/tcp/0 <extra…>` on `data_dir`
    /// (no `--listen` when `extra` has `--no-listen`) and waits until it answers `accord id`
    /// with at least one address (for a `--no-listen` node: its relayed address).
    pub fn start(data_dir: &Path, extra: &[&str]) -> Daemon {
        let child = Daemon::spawn(data_dir, extra);
        Daemon::wait_ready(data_dir, child)
    }

    /// Writes `config` as the data dir's `config.toml`, then starts the daemon.
    pub fn start_with_config(data_dir: &Path, config: &str, extra: &[&str]) -> Daemon {
        std::fs::create_dir_all(data_dir).unwrap_or_else(|err| panic!("data dir: {err}"));
        std::fs::write(data_dir.join("config.toml"), config)
            .unwrap_or_else(|err| panic!("config: {err}"));
        Daemon::start(data_dir, extra)
    }

    /// Spawns the daemon process without waiting for it. Its stderr goes to
    /// `<data_dir>.log` (outside the data dir, so that tests can corrupt the dir freely).
    pub fn spawn(data_dir: &Path, extra: &[&str]) -> Child {
        Daemon::spawn_with(data_dir, extra, &Launch::default())
    }

    /// As [`Daemon::spawn`], with `launch`'s environment and log handling.
    pub fn spawn_with(data_dir: &Path, extra: &[&str], launch: &Launch<'_>) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(launch.append_log)
            .truncate(!launch.append_log)
            .open(data_dir.with_extension("log"))
            .unwrap_or_else(|err| panic!("log file: {err}"));
        let mut args = vec!["daemon", "--no-mdns"];
        if !extra.contains(&"--listen") && !extra.contains(&"--no-listen") {
            args.extend_from_slice(&["--listen", "/ip4/127.0.0.1/tcp/0"]);
        }
        args.extend_from_slice(extra);
        let mut command = accord(data_dir, &args);
        command.env("RUST_LOG", launch.log_filter.unwrap_or("info,libp2p=debug"));
        for (name, value) in launch.env {
            command.env(name, value);
        }
        command
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start daemon: {err}"))
    }

    /// Waits until a spawned daemon answers, returning it.
    pub fn wait_ready(data_dir: &Path, child: Child) -> Daemon {
        // Killed if the wait panics (a timeout, an early exit), so no daemon outlives its test.
        let mut starting = KillOnDrop(Some(child));
        let info = wait_until("the daemon to answer `accord id`", READY_TIMEOUT, || {
            if let Some(child) = starting.0.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                let log = std::fs::read_to_string(data_dir.with_extension("log"));
                panic!(
                    "daemon exited early ({status}): {}",
                    log.unwrap_or_default()
                );
            }
            let output = run(data_dir, &["--json", "id"]);
            if !output.status.success() {
                return None;
            }
            let info: Value = serde_json::from_slice(&output.stdout).ok()?;
            let addrs = info["addrs"].as_array()?;
            (!addrs.is_empty()).then_some(info)
        });
        Daemon {
            data_dir: data_dir.to_path_buf(),
            id: info["id"].as_str().unwrap_or_default().to_owned(),
            addrs: info["addrs"]
                .as_array()
                .map(|addrs| {
                    addrs
                        .iter()
                        .filter_map(|a| a.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            // Taken only here, once the daemon is ready; nothing took it before.
            #[allow(clippy::expect_used, reason = "see the comment above")]
            child: starting
                .0
                .take()
                .expect("the child is only taken here, once the daemon is ready"),
        }
    }

    /// The daemon's loopback TCP address, ending in `/p2p/<id>`: what others bootstrap to.
    pub fn tcp_addr(&self) -> String {
        self.addrs
            .iter()
            .find(|addr| addr.starts_with("/ip4/127.0.0.1/tcp/"))
            .cloned()
            .unwrap_or_else(|| panic!("no loopback TCP address in {:?}", self.addrs))
    }

    /// The daemon's loopback QUIC address, ending in `/p2p/<id>`: what others bootstrap to
    /// when the daemon listens on QUIC only.
    pub fn quic_addr(&self) -> String {
        self.addrs
            .iter()
            .find(|addr| addr.starts_with("/ip4/127.0.0.1/udp/") && addr.contains("/quic-v1/"))
            .cloned()
            .unwrap_or_else(|| panic!("no loopback QUIC address in {:?}", self.addrs))
    }

    /// The daemon's log so far (its stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.with_extension("log")).unwrap_or_default()
    }

    /// The daemon's Accord ID, parsed.
    pub fn accord_id(&self) -> accord_identity::AccordId {
        self.id
            .parse()
            .unwrap_or_else(|err| panic!("bad id {}: {err:?}", self.id))
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The daemon's resident memory (`VmRSS` of /proc/<pid>/status), in KiB; panics if the
    /// process is gone, which is itself a failure for every caller.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .unwrap_or_else(|err| panic!("daemon {} is gone: {err}", self.pid()));
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no VmRSS in /proc/{}/status", self.pid()))
    }

    /// Runs a client command against this daemon.
    pub fn run(&self, args: &[&str]) -> Output {
        run(&self.data_dir, args)
    }

    /// Runs a client command with `--json` and parses its output; panics if it fails.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let output = self.run(&all);
        assert!(
            output.status.success(),
            "accord {args:?} failed: {}",
            stderr(&output)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
            panic!(
                "accord {args:?} printed invalid JSON ({err}): {}",
                stdout(&output)
            )
        })
    }

    /// How many inbound frames `accord stats` says were dropped for `reason` (0 if none).
    pub fn dropped(&self, reason: &str) -> u64 {
        self.json(&["stats"])["dropped"][reason]
            .as_u64()
            .unwrap_or(0)
    }

    /// The IDs of the peers this daemon is connected to.
    pub fn peer_ids(&self) -> Vec<String> {
        self.json(&["peers"])
            .as_array()
            .map(|peers| {
                peers
                    .iter()
                    .filter_map(|p| p["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until this daemon lists `peer` among its connected peers.
    pub fn wait_for_peer(&self, peer: &str, timeout: Duration) {
        wait_until(&format!("{} to see {peer}", self.id), timeout, || {
            self.peer_ids().iter().any(|id| id == peer).then_some(())
        });
    }

    /// `accord history <peer> --limit 1000`: the conversation, oldest first.
    pub fn history(&self, peer: &str) -> Vec<Value> {
        json_array(self.json(&["history", peer, "--limit", "1000"]))
    }

    /// Waits until the conversation with `peer` holds at least `len` messages, and returns it.
    pub fn wait_history(&self, peer: &str, len: usize) -> Vec<Value> {
        wait_until(
            &format!("{} to hold {len} messages with {peer}", self.id),
            ARRIVAL,
            || {
                let messages = self.history(peer);
                (messages.len() >= len).then_some(messages)
            },
        )
    }

    /// `accord connections`.
    pub fn connections(&self) -> Vec<Value> {
        json_array(self.json(&["connections"]))
    }

    /// `accord invites <direction>` (`--incoming` or `--outgoing`).
    pub fn invites(&self, direction: &str) -> Vec<Value> {
        json_array(self.json(&["invites", direction]))
    }

    /// Waits until `accord --json <args>` gives a document that `check` accepts, and returns
    /// what `check` returned.
    pub fn wait_json<T>(
        &self,
        what: &str,
        args: &[&str],
        timeout: Duration,
        mut check: impl FnMut(&Value) -> Option<T>,
    ) -> T {
        wait_until(what, timeout, || check(&self.json(args)))
    }

    /// Restarts the daemon (graceful stop, then start with `extra`) on the same loopback TCP
    /// port, so that peers redialling it find it again.
    pub fn restart(self, extra: &[&str]) -> Daemon {
        let data_dir = self.data_dir.clone();
        let listen = self
            .tcp_addr()
            .split("/p2p/")
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(self.stop().success(), "daemon did not stop cleanly");
        let mut args = vec!["--listen", listen.as_str()];
        args.extend_from_slice(extra);
        Daemon::start(&data_dir, &args)
    }

    /// The daemon's loopback TCP listen address, without the `/p2p/<id>` suffix: what to pass
    /// to `--listen` to start it again on the same port.
    pub fn listen_addr(&self) -> String {
        self.tcp_addr()
            .split("/p2p/")
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// Kills the daemon with SIGKILL, as a crash would, then starts it again with `extra` on
    /// the same loopback TCP port, so that peers redialling it find it again.
    pub fn crash_and_restart(self, extra: &[&str]) -> Daemon {
        let data_dir = self.data_dir.clone();
        let listen = self.listen_addr();
        self.crash();
        let mut args = vec!["--listen", listen.as_str()];
        args.extend_from_slice(extra);
        Daemon::start(&data_dir, &args)
    }

    /// Sends a signal to the daemon and waits for it to exit.
    pub fn signal_and_wait(mut self, name: &str) -> ExitStatus {
        signal(self.child.id(), name);
        wait_exit(&mut self.child, Duration::from_secs(20))
    }

    /// Asks the daemon to stop with `accord stop` and waits for it to exit.
    pub fn stop(mut self) -> ExitStatus {
        let output = self.run(&["stop"]);
        assert!(
            output.status.success(),
            "accord stop failed: {}",
            stderr(&output)
        );
        wait_exit(&mut self.child, Duration::from_secs(20))
    }

    /// Kills the daemon with SIGKILL, as a crash would.
    pub fn crash(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads one line from a child's piped stdout, waiting at most `timeout`.
pub fn read_line_with_timeout(
    reader: BufReader<std::process::ChildStdout>,
    timeout: Duration,
) -> (String, BufReader<std::process::ChildStdout>) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = reader;
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send((line, reader));
    });
    rx.recv_timeout(timeout)
        .unwrap_or_else(|_| panic!("no line on stdout within {timeout:?}"))
}

/// A daemon process that is killed and reaped when dropped, unless taken out first.
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The elements of a JSON array (none if it is not one).
pub fn json_array(value: Value) -> Vec<Value> {
    value.as_array().cloned().unwrap_or_default()
}
