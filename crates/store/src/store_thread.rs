//! The store thread and its flusher: the one owner of the database, serving jobs from a
//! bounded queue and committing them in groups.
//!
//! [`Store::spawn`] moves the store onto a dedicated OS thread, because sled's calls block and
//! would stall an async runtime's workers. The handle's methods send closures (jobs) over a
//! bounded `tokio::sync::mpsc` channel and await their answers on oneshots. The thread
//! sleeps in `blocking_recv` between jobs, so nothing polls. A full queue makes callers wait,
//! which is the back-pressure the bound exists for.
//!
//! [`StoreTask::shutdown`] stops the thread cleanly: jobs already queued still run, then the
//! store is flushed and dropped, and the thread is joined.
//!
//! # Group commit
//!
//! Some requests must be durable before they are answered: a received message is acknowledged
//! only once it is on disk, and a sent message's envelope goes out only once its ratchet state
//! is. Those requests are *durable jobs* (or answer at once with a ticket that
//! resolves later; see [`crate::FlushTicket`]). After waking for one request, the store thread also takes every request
//! already waiting (up to [`MAX_BATCH`]) and runs them all, then hands the durable answers to a
//! second thread, the *flusher*, and goes on serving. The flusher takes every batch handed to it
//! since its last flush, flushes once, and answers them all. The store thread thus never waits
//! for an fsync, and under load one fsync covers everything written during the previous one;
//! when idle, a durable request costs exactly one flush, as it would without batching. If the
//! shared flush fails, every durable request it covers gets the error, although its writes may
//! survive.

use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use crate::handle::StoreHandle;
use crate::{Store, StoreError};

/// The most requests the store thread runs before it commits (flushes, if a durable job ran)
/// and answers them.
const MAX_BATCH: usize = 256;

/// An answer held back until the batch's flush; it is given the flush's outcome.
pub(crate) type Deferred = Box<dyn FnOnce(Result<(), &sled::Error>) + Send>;

/// Work for the store thread. Jobs are closures so that adding an operation needs no new
/// message variant; the public API stays the typed methods on [`StoreHandle`]. A job answers
/// at once and returns `None`, or, if it is durable and succeeded, returns its answer to be
/// sent after the batch's flush.
pub(crate) type Job = Box<dyn FnOnce(&Store) -> Option<Deferred> + Send>;

/// What travels over the queue.
pub(crate) enum Request {
    /// Run this against the store.
    Job(Job),
    /// Stop accepting work, finish what is queued, flush and exit.
    Shutdown,
}

///
/// Dropping this without calling [`StoreTask::shutdown`] leaves the thread running until every
/// [`StoreHandle`] is dropped; it then flushes and exits on its own, unobserved.
#[derive(Debug)]
pub struct StoreTask {
    tx: mpsc::Sender<Request>,
    done: oneshot::Receiver<Result<(), StoreError>>,
    thread: JoinHandle<()>,
}

impl Store {
    /// Moves the store onto a dedicated thread and returns the handle to reach it and the task
    /// to stop it.
    ///
    /// `queue_capacity` bounds how many requests may wait; 0 is treated as 1.
    ///
    /// # Errors
    ///
    /// [`StoreError::Spawn`] when the operating system refuses to start the thread.
    pub fn spawn(self, queue_capacity: usize) -> Result<(StoreHandle, StoreTask), StoreError> {
        let (tx, rx) = mpsc::channel(queue_capacity.max(1));
        let (done_tx, done) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("accord-store".into())
            .spawn(move || {
                let result = serve(self, rx);
                // Nobody may be waiting for the result (the task was dropped); that is fine.
                let _ = done_tx.send(result);
            })
            .map_err(StoreError::Spawn)?;
        let handle = StoreHandle { tx: tx.clone() };
        Ok((handle, StoreTask { tx, done, thread }))
    }
}

/// The most batches whose answers may wait for the flusher at once. When the disk falls this
/// far behind, the store thread waits for it, which is the back-pressure the bound is for.
const MAX_BATCHES_AWAITING_FLUSH: usize = 1024;

/// The store thread's loop. Returns the result of the final flush.
///
/// The store is dropped before this returns, so once the owner learns the result the database
/// is closed and may be reopened.
fn serve(store: Store, mut rx: mpsc::Receiver<Request>) -> Result<(), StoreError> {
    let flusher = Flusher::spawn(&store);
    let mut deferred = Vec::new();
    // After a shutdown request the queue is closed: `blocking_recv` still yields the requests
    // queued before it, then `None`.
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        let mut ran = 0;
        while let Some(request) = next.take() {
            match request {
                Request::Job(job) => deferred.extend(job(&store)),
                // Refuse new work, but run everything that was queued before the refusal.
                Request::Shutdown => rx.close(),
            }
            ran += 1;
            if ran < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        tracing::trace!(jobs = ran, durable = deferred.len(), "store batch");
        commit(&store, flusher.as_ref(), &mut deferred);
    }
    // The flusher answers what it holds, then stops and lets go of the database.
    if let Some(flusher) = flusher {
        flusher.stop();
    }
    let result = store.flush();
    if let Err(e) = &result {
        tracing::error!(error = %e, "final store flush failed");
    }
    drop(store);
    result
}

/// Hands the batch's durable answers to the flusher, or flushes here if there is none.
fn commit(store: &Store, flusher: Option<&Flusher>, deferred: &mut Vec<Deferred>) {
    if deferred.is_empty() {
        return;
    }
    let answers = std::mem::take(deferred);
    let answers = match flusher {
        Some(flusher) => match flusher.tx.send(answers) {
            Ok(()) => return,
            // The flusher is gone (it panicked); flush here instead.
            Err(std::sync::mpsc::SendError(answers)) => answers,
        },
        None => answers,
    };
    let flushed = store.flush_engine();
    if let Err(e) = &flushed {
        log_flush_failure(e);
    }
    for answer in answers {
        answer(flushed.as_ref().map(|_| ()));
    }
}

/// Logs a failed flush, saying what to do when the disk is full: the engine refuses every
/// write from then on, so the daemon keeps only its reads until it is restarted.
fn log_flush_failure(e: &sled::Error) {
    if crate::error::is_disk_full(e) {
        tracing::error!(
            error = %e,
            "the disk is full: the store can save nothing more (reads still work); \
             free some space and restart the daemon"
        );
    } else {
        tracing::error!(error = %e, "store flush failed");
    }
}

/// The thread that runs the fsyncs, so that the store thread never waits for the disk.
///
/// While one flush runs, the store thread goes on running jobs (reads, and the writes of the
/// next messages); their durable answers pile up and are all covered by the next flush. That is
/// the group commit: under load one fsync answers everything written during the previous one.
/// A flush covers every write made before it started, and sled's log keeps writes in order, so
/// an answer is never given before its write, nor a later write made durable without an
/// earlier one.
struct Flusher {
    tx: std::sync::mpsc::SyncSender<Vec<Deferred>>,
    thread: JoinHandle<()>,
}

impl Flusher {
    /// Starts the flusher, or returns `None` (the store thread then flushes itself) if the
    /// operating system refuses a thread.
    fn spawn(store: &Store) -> Option<Flusher> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Deferred>>(MAX_BATCHES_AWAITING_FLUSH);
        let engine = store.engine_flusher();
        let spawned = std::thread::Builder::new()
            .name("accord-store-flush".into())
            .spawn(move || {
                while let Ok(mut answers) = rx.recv() {
                    // Everything that queued up during the previous flush shares this one.
                    while let Ok(more) = rx.try_recv() {
                        answers.extend(more);
                    }
                    // How many answers one fsync covers; read with `RUST_LOG=accord_store=trace`.
                    tracing::trace!(answers = answers.len(), "group commit");
                    let flushed = engine.flush();
                    if let Err(e) = &flushed {
                        log_flush_failure(e);
                    }
                    for answer in answers {
                        answer(flushed.as_ref().map(|_| ()));
                    }
                }
            });
        match spawned {
            Ok(thread) => Some(Flusher { tx, thread }),
            Err(e) => {
                tracing::warn!(error = %e, "no flusher thread; the store thread will flush");
                None
            }
        }
    }

    /// Lets the flusher answer what it holds, and waits for it to end.
    fn stop(self) {
        drop(self.tx);
        if self.thread.join().is_err() {
            tracing::error!("the store's flusher thread panicked");
        }
    }
}

impl StoreTask {
    /// Stops the store: refuses new requests, runs the ones already queued, flushes, closes
    /// the database and joins the thread.
    ///
    /// This is async so that it can be awaited from the runtime without blocking a worker;
    /// the final join runs on the runtime's blocking pool. Handles used afterwards get
    /// [`StoreError::Closed`].
    ///
    /// # Errors
    ///
    /// The final flush's error, or [`StoreError::Panicked`] if the store thread panicked.
    pub async fn shutdown(self) -> Result<(), StoreError> {
        // If the send fails, the thread has already stopped; the result below says how.
        let _ = self.tx.send(Request::Shutdown).await;
        drop(self.tx);
        let result = self.done.await;
        let thread = self.thread;
        let joined = tokio::task::spawn_blocking(move || thread.join()).await;
        match (result, joined) {
            (Ok(result), Ok(Ok(()))) => result,
            _ => Err(StoreError::Panicked),
        }
    }
}
