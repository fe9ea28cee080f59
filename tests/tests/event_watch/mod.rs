//! A daemon's event stream (`subscribe`, what `accord --json watch` prints), read on a thread
//! of its own, for tests that wait on events instead of asking again and again.
//!
//! Unlike running `accord watch`, [`EventWatch::start`] returns only once the daemon has
//! answered the subscription, so every event after that is seen: no pause is needed.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use accord_api::Client;
use serde_json::Value;

/// The events of one subscription, as the API's JSON objects, in order.
pub(crate) struct EventWatch {
    events: mpsc::Receiver<Value>,
    /// Every event read so far.
    pub(crate) seen: Vec<Value>,
    /// The events read but not yet returned by [`EventWatch::wait`], oldest first.
    skipped: Vec<Value>,
}

impl EventWatch {
    /// Subscribes to the daemon whose data dir is `data_dir`, and returns once it is in place.
    pub(crate) fn start(data_dir: &Path) -> EventWatch {
        let socket = data_dir.join(accord_api::SOCKET_FILE_NAME);
        let (ready_tx, ready) = mpsc::channel();
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|err| panic!("runtime: {err}"));
            runtime.block_on(async move {
                let stream = async { Client::connect(&socket).await?.subscribe().await };
                let mut stream = match stream.await {
                    Ok(stream) => stream,
                    Err(err) => {
                        let _ = ready_tx.send(Err(err.to_string()));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                // Ends when the daemon closes the stream or the test drops the watch.
                while let Ok(Some(event)) = stream.next().await {
                    let value = serde_json::to_value(&event).unwrap_or(Value::Null);
                    if tx.send(value).is_err() {
                        return;
                    }
                }
            });
        });
        match ready.recv() {
            Ok(Ok(())) => EventWatch {
                events,
                seen: Vec::new(),
                skipped: Vec::new(),
            },
            Ok(Err(err)) => panic!("cannot subscribe to {}: {err}", data_dir.display()),
            Err(_) => panic!("the watch thread of {} ended", data_dir.display()),
        }
    }

    /// The first event named `name` for which `check` holds and that no earlier call
    /// returned: one already read, or the next to come within `timeout`.
    pub(crate) fn wait(
        &mut self,
        name: &str,
        timeout: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let matches = |event: &Value| event["event"] == name && check(event);
        if let Some(at) = self.skipped.iter().position(matches) {
            return self.skipped.remove(at);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) => {
                    self.seen.push(event.clone());
                    if matches(&event) {
                        return event;
                    }
                    self.skipped.push(event);
                }
                Err(_) => panic!("no matching {name} within {timeout:?}; saw {:?}", self.seen),
            }
        }
    }

    /// Reads every event left, until the daemon ends the stream (it stopped) or `timeout`
    /// passes.
    pub(crate) fn read_to_end(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) => {
                    self.seen.push(event.clone());
                    self.skipped.push(event);
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("the event stream did not end within {timeout:?}")
                }
            }
        }
    }

    /// The events named `name` read so far.
    pub(crate) fn seen_named(&self, name: &str) -> Vec<&Value> {
        self.seen.iter().filter(|e| e["event"] == name).collect()
    }
}
