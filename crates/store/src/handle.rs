//! The single-owner handle: the store on its own thread, reached through a bounded queue.
//!
//! The design rule is one owner per resource. [`Store::spawn`] moves the store onto a dedicated
//! OS thread, because sled's calls block and would stall an async runtime's workers. Callers
//! hold a cloneable [`StoreHandle`] whose async methods send a job over a bounded
//! `tokio::sync::mpsc` channel and await the answer on a `tokio::sync::oneshot`. The thread
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
//! is. Those requests are *durable jobs* (or answer at once with a [`FlushTicket`] that
//! resolves later). After waking for one request, the store thread also takes every request
//! already waiting (up to [`MAX_BATCH`]) and runs them all, then hands the durable answers to a
//! second thread, the *flusher*, and goes on serving. The flusher takes every batch handed to it
//! since its last flush, flushes once, and answers them all. The store thread thus never waits
//! for an fsync, and under load one fsync covers everything written during the previous one;
//! when idle, a durable request costs exactly one flush, as it would without batching. If the
//! shared flush fails, every durable request it covers gets the error, although its writes may
//! survive.

use std::thread::JoinHandle;

use accord_identity::AccordId;
use multiaddr::Multiaddr;
use tokio::sync::{mpsc, oneshot};

use zeroize::Zeroizing;

use crate::{
    Connection, ConversationRecord, Incoming, IncomingContext, IncomingInvite, InviteId, MessageId,
    MessageRecord, MessageState, OutboxEntry, OutgoingInvite, PeerRecord, SendingContext, Store,
    StoreCounts, StoreError,
};

/// The most requests the store thread runs before it commits (flushes, if a durable job ran)
/// and answers them.
const MAX_BATCH: usize = 256;

/// An answer held back until the batch's flush; it is given the flush's outcome.
type Deferred = Box<dyn FnOnce(Result<(), &sled::Error>) + Send>;

/// Work for the store thread. Jobs are closures so that adding an operation needs no new
/// message variant; the public API stays the typed methods on [`StoreHandle`]. A job answers
/// at once and returns `None`, or, if it is durable and succeeded, returns its answer to be
/// sent after the batch's flush.
type Job = Box<dyn FnOnce(&Store) -> Option<Deferred> + Send>;

/// What travels over the queue.
enum Request {
    /// Run this against the store.
    Job(Job),
    /// Stop accepting work, finish what is queued, flush and exit.
    Shutdown,
}

/// The promise that a write is on disk: [`FlushTicket::wait`] resolves after the flush that
/// covers it. Dropping a ticket does not undo or delay the write; it only gives up knowing
/// when it became durable.
#[derive(Debug)]
#[must_use = "a write answered with a ticket is not durable until the ticket resolves"]
pub struct FlushTicket {
    rx: oneshot::Receiver<Result<(), StoreError>>,
}

impl FlushTicket {
    /// Waits until the write is on disk.
    ///
    /// # Errors
    ///
    /// The flush's error (the write may or may not have survived), or [`StoreError::Closed`]
    /// if the store stopped before flushing.
    pub async fn wait(self) -> Result<(), StoreError> {
        self.rx.await.map_err(|_| StoreError::Closed)?
    }
}

/// A cloneable, async handle to a store running on its own thread.
///
/// Every method waits for queue space if the queue is full, then for the answer. If the store
/// thread has stopped, methods return [`StoreError::Closed`]. Dropping a method's future after
/// its request was queued does not cancel the request; only the answer is discarded.
#[derive(Debug, Clone)]
pub struct StoreHandle {
    tx: mpsc::Sender<Request>,
}

/// Ownership of the store thread, for shutting it down.
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

impl StoreHandle {
    /// Runs `f` on the store thread and returns its answer.
    async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply_tx, reply_rx) = oneshot::channel();
        let job: Job = Box::new(move |store| {
            // The caller may have given up waiting; the work is done either way.
            let _ = reply_tx.send(f(store));
            None
        });
        self.send(job).await?;
        reply_rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on the store thread and, if it succeeds, returns its answer only once what it
    /// wrote is on disk: after the flush shared by its batch (see the module docs). An error
    /// is returned at once. A failed flush turns a success into [`StoreError::Db`].
    async fn call_durable<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        self.call_durable_if(f, |_| true).await
    }

    /// [`StoreHandle::call_durable`] when `durable` says so of the answer; otherwise the answer
    /// is given at once, like [`StoreHandle::call`], and whatever `f` wrote is flushed later.
    async fn call_durable_if<T, F, P>(&self, f: F, durable: P) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
        P: FnOnce(&T) -> bool + Send + 'static,
    {
        let (value, ticket) = self.call_with_ticket_if(f, durable).await?;
        ticket.wait().await?;
        Ok(value)
    }

    /// Runs `f` on the store thread and returns its answer at once, with a [`FlushTicket`]
    /// that resolves once what it wrote is on disk (after the flush shared by its batch).
    ///
    /// This lets the caller go on — decrypt the next message, record the next send — while
    /// the flush is pending, so that consecutive writes share one fsync; whatever must wait
    /// for durability (an acknowledgement, an envelope going out) waits on the ticket. The
    /// store runs jobs in order, so the writes of later jobs are never durable before this
    /// one's.
    async fn call_with_ticket<T, F>(&self, f: F) -> Result<(T, FlushTicket), StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        self.call_with_ticket_if(f, |_| true).await
    }

    /// The one mechanism behind every durable call: runs `f`, answers at once, and, when
    /// `durable` says so of the answer, joins the batch's flush and resolves the ticket after
    /// it. Otherwise (an answer that wrote nothing worth an fsync) the ticket is resolved
    /// already and no flush is asked for.
    async fn call_with_ticket_if<T, F, P>(
        &self,
        f: F,
        durable: P,
    ) -> Result<(T, FlushTicket), StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
        P: FnOnce(&T) -> bool + Send + 'static,
    {
        let (reply_tx, reply_rx) = oneshot::channel();
        let (flushed_tx, flushed_rx) = oneshot::channel();
        let job: Job = Box::new(move |store| match f(store) {
            Ok(value) => {
                let needs_flush = durable(&value);
                // The caller may have given up waiting; the work is done either way.
                let _ = reply_tx.send(Ok(value));
                if needs_flush {
                    Some(Box::new(move |flushed: Result<(), &sled::Error>| {
                        let _ = flushed_tx.send(flushed.map_err(|e| StoreError::db(e.clone())));
                    }) as Deferred)
                } else {
                    let _ = flushed_tx.send(Ok(()));
                    None
                }
            }
            Err(e) => {
                let _ = reply_tx.send(Err(e));
                None
            }
        });
        self.send(job).await?;
        let value = reply_rx.await.map_err(|_| StoreError::Closed)??;
        Ok((value, FlushTicket { rx: flushed_rx }))
    }

    /// Queues a job, waiting for space.
    async fn send(&self, job: Job) -> Result<(), StoreError> {
        self.tx
            .send(Request::Job(job))
            .await
            .map_err(|_| StoreError::Closed)
    }

    /// See [`Store::record_peer`].
    ///
    /// # Errors
    ///
    /// As [`Store::record_peer`], plus [`StoreError::Closed`].
    pub async fn record_peer(
        &self,
        id: AccordId,
        addrs: &[Multiaddr],
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let addrs = addrs.to_vec();
        self.call(move |s| s.record_peer(id, &addrs, now_ms)).await
    }

    /// See [`Store::peer`].
    ///
    /// # Errors
    ///
    /// As [`Store::peer`], plus [`StoreError::Closed`].
    pub async fn peer(&self, id: &AccordId) -> Result<Option<PeerRecord>, StoreError> {
        let id = *id;
        self.call(move |s| s.peer(&id)).await
    }

    /// See [`Store::peers`].
    ///
    /// # Errors
    ///
    /// As [`Store::peers`], plus [`StoreError::Closed`].
    pub async fn peers(&self) -> Result<Vec<PeerRecord>, StoreError> {
        self.call(|s| s.peers()).await
    }

    /// See [`Store::forget_peer`].
    ///
    /// # Errors
    ///
    /// As [`Store::forget_peer`], plus [`StoreError::Closed`].
    pub async fn forget_peer(&self, id: &AccordId) -> Result<bool, StoreError> {
        let id = *id;
        self.call(move |s| s.forget_peer(&id)).await
    }

    /// See [`Store::set_meta`].
    ///
    /// # Errors
    ///
    /// As [`Store::set_meta`], plus [`StoreError::Closed`].
    pub async fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_vec());
        self.call(move |s| s.set_meta(&key, &value)).await
    }

    /// See [`Store::meta`].
    ///
    /// # Errors
    ///
    /// As [`Store::meta`], plus [`StoreError::Closed`].
    pub async fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_owned();
        self.call(move |s| s.meta(&key)).await
    }

    /// See [`Store::counts`].
    ///
    /// # Errors
    ///
    /// As [`Store::counts`], plus [`StoreError::Closed`].
    pub async fn counts(&self) -> Result<StoreCounts, StoreError> {
        self.call(|s| s.counts()).await
    }

    /// See [`Store::quota_used_since`].
    ///
    /// # Errors
    ///
    /// As [`Store::quota_used_since`], plus [`StoreError::Closed`].
    pub async fn quota_used_since(&self, since_ms: u64) -> Result<usize, StoreError> {
        self.call(move |s| s.quota_used_since(since_ms)).await
    }

    /// See [`Store::skipped_records`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Closed`].
    pub async fn skipped_records(&self) -> Result<u64, StoreError> {
        self.call(|s| Ok(s.skipped_records())).await
    }

    /// See [`Store::flush`]. When this returns `Ok`, everything written before it is durable.
    ///
    /// # Errors
    ///
    /// As [`Store::flush`], plus [`StoreError::Closed`].
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.flush_ticket().await?.wait().await
    }

    /// A [`FlushTicket`] that resolves once everything written before this call is durable,
    /// without waiting for it here (a durable job with nothing to write, in the next group
    /// commit).
    ///
    /// # Errors
    ///
    /// [`StoreError::Closed`].
    pub async fn flush_ticket(&self) -> Result<FlushTicket, StoreError> {
        Ok(self.call_with_ticket(|_| Ok(())).await?.1)
    }

    /// See [`Store::put_outgoing`].
    ///
    /// # Errors
    ///
    /// As [`Store::put_outgoing`], plus [`StoreError::Closed`].
    pub async fn put_outgoing(&self, invite: &OutgoingInvite) -> Result<(), StoreError> {
        let invite = invite.clone();
        self.call(move |s| s.put_outgoing(&invite)).await
    }

    /// See [`Store::outgoing`].
    ///
    /// # Errors
    ///
    /// As [`Store::outgoing`], plus [`StoreError::Closed`].
    pub async fn outgoing(&self, id: &InviteId) -> Result<Option<OutgoingInvite>, StoreError> {
        let id = *id;
        self.call(move |s| s.outgoing(&id)).await
    }

    /// See [`Store::outgoing_invites`].
    ///
    /// # Errors
    ///
    /// As [`Store::outgoing_invites`], plus [`StoreError::Closed`].
    pub async fn outgoing_invites(&self) -> Result<Vec<OutgoingInvite>, StoreError> {
        self.call(|s| s.outgoing_invites()).await
    }

    /// See [`Store::record_sent_invite`].
    ///
    /// # Errors
    ///
    /// As [`Store::record_sent_invite`], plus [`StoreError::Closed`].
    pub async fn record_sent_invite(
        &self,
        invite: &OutgoingInvite,
        high_water_ms: u64,
    ) -> Result<(), StoreError> {
        let invite = invite.clone();
        self.call(move |s| s.record_sent_invite(&invite, high_water_ms))
            .await
    }

    /// See [`Store::complete_outgoing`].
    ///
    /// # Errors
    ///
    /// As [`Store::complete_outgoing`], plus [`StoreError::Closed`].
    pub async fn complete_outgoing(
        &self,
        invite_id: &InviteId,
        connection: &Connection,
        closed_at_ms: u64,
        session_state: &[u8],
    ) -> Result<bool, StoreError> {
        let (invite_id, connection) = (*invite_id, connection.clone());
        let state = Zeroizing::new(session_state.to_vec());
        self.call(move |s| s.complete_outgoing(&invite_id, &connection, closed_at_ms, &state))
            .await
    }

    /// See [`Store::quota_sent_at`].
    ///
    /// # Errors
    ///
    /// As [`Store::quota_sent_at`], plus [`StoreError::Closed`].
    pub async fn quota_sent_at(&self) -> Result<Vec<u64>, StoreError> {
        self.call(|s| s.quota_sent_at()).await
    }

    /// See [`Store::clock_high_water_ms`].
    ///
    /// # Errors
    ///
    /// As [`Store::clock_high_water_ms`], plus [`StoreError::Closed`].
    pub async fn clock_high_water_ms(&self) -> Result<u64, StoreError> {
        self.call(|s| s.clock_high_water_ms()).await
    }

    /// See [`Store::note_clock`].
    ///
    /// # Errors
    ///
    /// As [`Store::note_clock`], plus [`StoreError::Closed`].
    pub async fn note_clock(&self, now_ms: u64) -> Result<(), StoreError> {
        self.call(move |s| s.note_clock(now_ms)).await
    }

    /// See [`Store::put_incoming`].
    ///
    /// # Errors
    ///
    /// As [`Store::put_incoming`], plus [`StoreError::Closed`].
    pub async fn put_incoming(&self, invite: &IncomingInvite) -> Result<(), StoreError> {
        let invite = invite.clone();
        self.call(move |s| s.put_incoming(&invite)).await
    }

    /// See [`Store::incoming`].
    ///
    /// # Errors
    ///
    /// As [`Store::incoming`], plus [`StoreError::Closed`].
    pub async fn incoming(&self, id: &InviteId) -> Result<Option<IncomingInvite>, StoreError> {
        let id = *id;
        self.call(move |s| s.incoming(&id)).await
    }

    /// See [`Store::incoming_invites`].
    ///
    /// # Errors
    ///
    /// As [`Store::incoming_invites`], plus [`StoreError::Closed`].
    pub async fn incoming_invites(&self) -> Result<Vec<IncomingInvite>, StoreError> {
        self.call(|s| s.incoming_invites()).await
    }

    /// See [`Store::remove_incoming`].
    ///
    /// # Errors
    ///
    /// As [`Store::remove_incoming`], plus [`StoreError::Closed`].
    pub async fn remove_incoming(&self, id: &InviteId) -> Result<bool, StoreError> {
        let id = *id;
        self.call(move |s| s.remove_incoming(&id)).await
    }

    /// See [`Store::accept_incoming`].
    ///
    /// # Errors
    ///
    /// As [`Store::accept_incoming`], plus [`StoreError::Closed`].
    pub async fn accept_incoming(
        &self,
        updated: &IncomingInvite,
        connection: &Connection,
        session_state: &[u8],
    ) -> Result<(), StoreError> {
        let (updated, connection) = (updated.clone(), connection.clone());
        let state = Zeroizing::new(session_state.to_vec());
        self.call(move |s| s.accept_incoming(&updated, &connection, &state))
            .await
    }

    /// See [`Store::put_connection`].
    ///
    /// # Errors
    ///
    /// As [`Store::put_connection`], plus [`StoreError::Closed`].
    pub async fn put_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let connection = connection.clone();
        self.call(move |s| s.put_connection(&connection)).await
    }

    /// See [`Store::connection`].
    ///
    /// # Errors
    ///
    /// As [`Store::connection`], plus [`StoreError::Closed`].
    pub async fn connection(&self, peer: &AccordId) -> Result<Option<Connection>, StoreError> {
        let peer = *peer;
        self.call(move |s| s.connection(&peer)).await
    }

    /// See [`Store::connections`].
    ///
    /// # Errors
    ///
    /// As [`Store::connections`], plus [`StoreError::Closed`].
    pub async fn connections(&self) -> Result<Vec<Connection>, StoreError> {
        self.call(|s| s.connections()).await
    }

    /// See [`Store::block`].
    ///
    /// # Errors
    ///
    /// As [`Store::block`], plus [`StoreError::Closed`].
    pub async fn block(&self, peer: &AccordId, at_ms: u64) -> Result<(), StoreError> {
        let peer = *peer;
        self.call(move |s| s.block(&peer, at_ms)).await
    }

    /// See [`Store::unblock`].
    ///
    /// # Errors
    ///
    /// As [`Store::unblock`], plus [`StoreError::Closed`].
    pub async fn unblock(&self, peer: &AccordId) -> Result<bool, StoreError> {
        let peer = *peer;
        self.call(move |s| s.unblock(&peer)).await
    }

    /// See [`Store::owed_receipts`].
    ///
    /// # Errors
    ///
    /// As [`Store::owed_receipts`], plus [`StoreError::Closed`].
    pub async fn owed_receipts(
        &self,
        peer: &AccordId,
        max: usize,
    ) -> Result<(Vec<MessageId>, u64), StoreError> {
        let peer = *peer;
        self.call(move |s| s.owed_receipts(&peer, max)).await
    }

    /// See [`Store::receipts_acknowledged`].
    ///
    /// # Errors
    ///
    /// As [`Store::receipts_acknowledged`], plus [`StoreError::Closed`].
    pub async fn receipts_acknowledged(
        &self,
        peer: &AccordId,
        up_to: u64,
    ) -> Result<(), StoreError> {
        let peer = *peer;
        self.call(move |s| s.receipts_acknowledged(&peer, up_to))
            .await
    }

    /// See [`Store::is_blocked`].
    ///
    /// # Errors
    ///
    /// As [`Store::is_blocked`], plus [`StoreError::Closed`].
    pub async fn is_blocked(&self, peer: &AccordId) -> Result<bool, StoreError> {
        let peer = *peer;
        self.call(move |s| s.is_blocked(&peer)).await
    }

    /// See [`Store::blocked`].
    ///
    /// # Errors
    ///
    /// As [`Store::blocked`], plus [`StoreError::Closed`].
    pub async fn blocked(&self) -> Result<Vec<(AccordId, u64)>, StoreError> {
        self.call(|s| s.blocked()).await
    }

    /// See [`Store::flush_count`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Closed`].
    pub async fn flush_count(&self) -> Result<u64, StoreError> {
        self.call(|s| Ok(s.flush_count())).await
    }

    // ----- messaging -----

    /// See [`Store::session`].
    ///
    /// # Errors
    ///
    /// As [`Store::session`], plus [`StoreError::Closed`].
    pub async fn session(&self, peer: &AccordId) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let peer = *peer;
        self.call(move |s| s.session(&peer)).await
    }

    /// See [`Store::put_session`]. Answers once the state is on disk (group commit).
    ///
    /// # Errors
    ///
    /// As [`Store::put_session`], plus [`StoreError::Closed`].
    pub async fn put_session(&self, peer: &AccordId, state: &[u8]) -> Result<(), StoreError> {
        let (peer, state) = (*peer, Zeroizing::new(state.to_vec()));
        self.call_durable(move |s| s.put_session(&peer, &state))
            .await
    }

    /// See [`Store::remove_session`]. Answers once the removal is on disk (group commit).
    ///
    /// # Errors
    ///
    /// As [`Store::remove_session`], plus [`StoreError::Closed`].
    pub async fn remove_session(&self, peer: &AccordId) -> Result<bool, StoreError> {
        let peer = *peer;
        self.call_durable(move |s| s.remove_session(&peer)).await
    }

    /// See [`Store::record_outgoing`]. Answers as soon as the transaction ran, with a
    /// [`FlushTicket`]: send the envelope only once the ticket resolves, so that a crash can
    /// never lose the ratchet state an envelope on the wire was made with.
    ///
    /// # Errors
    ///
    /// As [`Store::record_outgoing`], plus [`StoreError::Closed`].
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors Store::record_outgoing, one atomic step"
    )]
    pub async fn record_outgoing(
        &self,
        peer: &AccordId,
        session_state: &[u8],
        message_id: MessageId,
        body: &str,
        reply_to: Option<MessageId>,
        sent_at_ms: u64,
        envelope: &[u8],
        first_attempt_at_ms: u64,
    ) -> Result<((MessageRecord, OutboxEntry), FlushTicket), StoreError> {
        let peer = *peer;
        let session_state = Zeroizing::new(session_state.to_vec());
        let (body, envelope) = (body.to_owned(), envelope.to_vec());
        self.call_with_ticket(move |s| {
            s.record_outgoing(
                &peer,
                &session_state,
                message_id,
                &body,
                reply_to,
                sent_at_ms,
                &envelope,
                first_attempt_at_ms,
            )
        })
        .await
    }

    /// See [`Store::record_incoming`]. Answers as soon as the transaction ran, with a
    /// [`FlushTicket`]: acknowledge the message only once the ticket resolves. For a duplicate
    /// the ticket resolves after a flush too, so a duplicate is never acknowledged before the
    /// original is durable.
    ///
    /// # Errors
    ///
    /// As [`Store::record_incoming`], plus [`StoreError::Closed`].
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors Store::record_incoming, one atomic step"
    )]
    pub async fn record_incoming(
        &self,
        peer: &AccordId,
        session_state: &[u8],
        message_id: MessageId,
        sender_seq: u64,
        body: &str,
        reply_to: Option<MessageId>,
        sent_at_ms: u64,
        received_at_ms: u64,
    ) -> Result<(Incoming, FlushTicket), StoreError> {
        let peer = *peer;
        let session_state = Zeroizing::new(session_state.to_vec());
        let body = body.to_owned();
        // An early message wrote nothing: no flush for it.
        self.call_with_ticket_if(
            move |s| {
                s.record_incoming(
                    &peer,
                    &session_state,
                    message_id,
                    sender_seq,
                    &body,
                    reply_to,
                    sent_at_ms,
                    received_at_ms,
                )
            },
            |incoming: &Incoming| !matches!(incoming, Incoming::Early { .. }),
        )
        .await
    }

    /// See [`Store::is_seen`]. Answers without a flush: most lookups find nothing, and a new
    /// message is made durable by [`StoreHandle::record_incoming`]. A caller that acknowledges
    /// a duplicate found here must [`StoreHandle::flush`] first, so that the original is on
    /// disk before the sender stops retrying.
    ///
    /// # Errors
    ///
    /// As [`Store::is_seen`], plus [`StoreError::Closed`].
    pub async fn is_seen(
        &self,
        peer: &AccordId,
        message_id: &MessageId,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let (peer, message_id) = (*peer, *message_id);
        self.call(move |s| s.is_seen(&peer, &message_id)).await
    }

    /// See [`Store::outbox`].
    ///
    /// # Errors
    ///
    /// As [`Store::outbox`], plus [`StoreError::Closed`].
    pub async fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.call(|s| s.outbox()).await
    }

    /// See [`Store::outbox_for`].
    ///
    /// # Errors
    ///
    /// As [`Store::outbox_for`], plus [`StoreError::Closed`].
    pub async fn outbox_for(&self, peer: &AccordId) -> Result<Vec<OutboxEntry>, StoreError> {
        let peer = *peer;
        self.call(move |s| s.outbox_for(&peer)).await
    }

    /// See [`Store::outbox_peers`].
    ///
    /// # Errors
    ///
    /// As [`Store::outbox_peers`], plus [`StoreError::Closed`].
    pub async fn outbox_peers(&self) -> Result<Vec<AccordId>, StoreError> {
        self.call(|s| s.outbox_peers()).await
    }

    /// See [`Store::incoming_context`].
    ///
    /// # Errors
    ///
    /// As [`Store::incoming_context`], plus [`StoreError::Closed`].
    pub async fn incoming_context(
        &self,
        peer: &AccordId,
        message_id: &MessageId,
    ) -> Result<IncomingContext, StoreError> {
        let (peer, message_id) = (*peer, *message_id);
        self.call(move |s| s.incoming_context(&peer, &message_id))
            .await
    }

    /// See [`Store::sending_context`].
    ///
    /// # Errors
    ///
    /// As [`Store::sending_context`], plus [`StoreError::Closed`].
    pub async fn sending_context(
        &self,
        peer: &AccordId,
        count_up_to: usize,
    ) -> Result<SendingContext, StoreError> {
        let peer = *peer;
        self.call(move |s| s.sending_context(&peer, count_up_to))
            .await
    }

    /// See [`Store::active_outbox_head`].
    ///
    /// # Errors
    ///
    /// As [`Store::active_outbox_head`], plus [`StoreError::Closed`].
    pub async fn active_outbox_head(
        &self,
        peer: &AccordId,
        limit: usize,
    ) -> Result<Option<Vec<OutboxEntry>>, StoreError> {
        let peer = *peer;
        self.call(move |s| s.active_outbox_head(&peer, limit)).await
    }

    /// See [`Store::outbox_head`].
    ///
    /// # Errors
    ///
    /// As [`Store::outbox_head`], plus [`StoreError::Closed`].
    pub async fn outbox_head(
        &self,
        peer: &AccordId,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let peer = *peer;
        self.call(move |s| s.outbox_head(&peer, limit)).await
    }

    /// See [`Store::update_outbox`]. Not durable on its own: a lost update only means an
    /// earlier retry; the next flush (any durable request) makes it durable.
    ///
    /// # Errors
    ///
    /// As [`Store::update_outbox`], plus [`StoreError::Closed`].
    pub async fn update_outbox(&self, entry: &OutboxEntry) -> Result<bool, StoreError> {
        let entry = entry.clone();
        self.call(move |s| s.update_outbox(&entry)).await
    }

    /// See [`Store::complete_outbox`]. Answers at once, without waiting for a flush: a
    /// completion lost in a crash only sends the message again, and the recipient answers
    /// that it has it already, so waiting for the disk would only slow delivery down.
    ///
    /// # Errors
    ///
    /// As [`Store::complete_outbox`], plus [`StoreError::Closed`].
    pub async fn complete_outbox(
        &self,
        peer: &AccordId,
        message_id: &MessageId,
        new_state: MessageState,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let (peer, message_id) = (*peer, *message_id);
        self.call(move |s| s.complete_outbox(&peer, &message_id, new_state))
            .await
    }

    /// See [`Store::set_message_state`]. Answers once the change is on disk (group commit).
    ///
    /// # Errors
    ///
    /// As [`Store::set_message_state`], plus [`StoreError::Closed`].
    pub async fn set_message_state(
        &self,
        peer: &AccordId,
        message_id: &MessageId,
        state: MessageState,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let (peer, message_id) = (*peer, *message_id);
        self.call_durable(move |s| s.set_message_state(&peer, &message_id, state))
            .await
    }

    /// See [`Store::history`].
    ///
    /// # Errors
    ///
    /// As [`Store::history`], plus [`StoreError::Closed`].
    pub async fn history(
        &self,
        peer: &AccordId,
        limit: usize,
        before_local_seq: Option<u64>,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let peer = *peer;
        self.call(move |s| s.history(&peer, limit, before_local_seq))
            .await
    }

    /// See [`Store::conversations`].
    ///
    /// # Errors
    ///
    /// As [`Store::conversations`], plus [`StoreError::Closed`].
    pub async fn conversations(&self) -> Result<Vec<ConversationRecord>, StoreError> {
        self.call(|s| s.conversations()).await
    }

    /// See [`Store::conversation`].
    ///
    /// # Errors
    ///
    /// As [`Store::conversation`], plus [`StoreError::Closed`].
    pub async fn conversation(
        &self,
        peer: &AccordId,
    ) -> Result<Option<ConversationRecord>, StoreError> {
        let peer = *peer;
        self.call(move |s| s.conversation(&peer)).await
    }

    /// See [`Store::mark_read`]. When messages changed, answers once the change is on disk
    /// (group commit), so read receipts may be sent for them; when none did, answers at once.
    ///
    /// # Errors
    ///
    /// As [`Store::mark_read`], plus [`StoreError::Closed`].
    pub async fn mark_read(
        &self,
        peer: &AccordId,
        up_to_local_seq: u64,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let peer = *peer;
        // Opening a conversation that is already read changes nothing worth an fsync.
        self.call_durable_if(
            move |s| s.mark_read(&peer, up_to_local_seq),
            |changed: &Vec<MessageRecord>| !changed.is_empty(),
        )
        .await
    }
}
