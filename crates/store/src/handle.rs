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

use std::thread::JoinHandle;

use accord_identity::AccordId;
use multiaddr::Multiaddr;
use tokio::sync::{mpsc, oneshot};

use crate::{
    Connection, IncomingInvite, InviteId, OutgoingInvite, PeerRecord, Store, StoreCounts,
    StoreError,
};

/// Work for the store thread. Jobs are closures so that adding an operation needs no new
/// message variant; the public API stays the typed methods on [`StoreHandle`].
type Job = Box<dyn FnOnce(&Store) + Send>;

/// What travels over the queue.
enum Request {
    /// Run this against the store.
    Job(Job),
    /// Stop accepting work, finish what is queued, flush and exit.
    Shutdown,
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

/// The store thread's loop. Returns the result of the final flush.
///
/// The store is dropped before this returns, so once the owner learns the result the database
/// is closed and may be reopened.
fn serve(store: Store, mut rx: mpsc::Receiver<Request>) -> Result<(), StoreError> {
    while let Some(request) = rx.blocking_recv() {
        match request {
            Request::Job(job) => job(&store),
            Request::Shutdown => {
                // Refuse new work, but run everything that was queued before the refusal.
                rx.close();
                while let Some(request) = rx.blocking_recv() {
                    if let Request::Job(job) = request {
                        job(&store);
                    }
                }
                break;
            }
        }
    }
    let result = store.flush();
    if let Err(e) = &result {
        tracing::error!(error = %e, "final store flush failed");
    }
    drop(store);
    result
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
        });
        self.tx
            .send(Request::Job(job))
            .await
            .map_err(|_| StoreError::Closed)?;
        reply_rx.await.map_err(|_| StoreError::Closed)?
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
        self.call(|s| s.flush()).await
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
    ) -> Result<bool, StoreError> {
        let (invite_id, connection) = (*invite_id, connection.clone());
        self.call(move |s| s.complete_outgoing(&invite_id, &connection, closed_at_ms))
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
    ) -> Result<(), StoreError> {
        let (updated, connection) = (updated.clone(), connection.clone());
        self.call(move |s| s.accept_incoming(&updated, &connection))
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
}
