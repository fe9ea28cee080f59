//! The single-owner handle: the store on its own thread, reached through a bounded queue.
//!
//! The design rule is one owner per resource. [`Store::spawn`] moves the store onto a dedicated
//! OS thread, because sled's calls block and would stall an async runtime's workers. Callers
//! hold a cloneable [`StoreHandle`] whose async methods send a job over a bounded
//! `tokio::sync::mpsc` channel and await the answer on a `tokio::sync::oneshot`. The thread
//! sleeps in `blocking_recv` between jobs, so nothing polls. A full queue makes callers wait,
//! which is the back-pressure the bound exists for.
//!
//! The store thread itself, its group commit and its flusher live in `store_thread.rs`; the
//! typed methods are grouped by concern in `handle/peers.rs` (address book, meta, counts,
//! flushes), `handle/lifecycle.rs` (invites, connections, quota, blocks) and
//! `handle/messages.rs` (sessions, messages, outbox, receipts).

mod lifecycle;
mod messages;
mod peers;

use tokio::sync::{mpsc, oneshot};

use crate::store_thread::{Deferred, Job, Request};
use crate::{Store, StoreError};

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
    pub(crate) tx: mpsc::Sender<Request>,
}

impl StoreHandle {
    /// Runs `f` on the store thread, in the store's order, and returns its answer; whatever it
    /// wrote is flushed by the next group commit, which this does not wait for.
    ///
    /// This is how a caller hands the store a whole batch of steps (every send queued at
    /// once, every incoming message of every peer) as one job: one hop to the store thread
    /// and back for the batch, instead of one or two per message. `f` should be short: the
    /// store serves nothing else while it runs.
    ///
    /// # Errors
    ///
    /// `f`'s error, or [`StoreError::Closed`].
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        self.call(f).await
    }

    /// [`StoreHandle::run`], answered at once with a [`FlushTicket`] that resolves once what
    /// `f` wrote is on disk (after the flush shared by its batch) when `needs_flush` says so of
    /// the answer, and at once otherwise. Whatever must wait for durability (an
    /// acknowledgement, an envelope leaving) waits on the ticket, not the caller.
    ///
    /// # Errors
    ///
    /// `f`'s error, or [`StoreError::Closed`].
    pub async fn run_with_ticket<T, F, P>(
        &self,
        f: F,
        needs_flush: P,
    ) -> Result<(T, FlushTicket), StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
        P: FnOnce(&T) -> bool + Send + 'static,
    {
        self.call_with_ticket_if(f, needs_flush).await
    }

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
}
