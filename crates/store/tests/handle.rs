//! The single-owner handle, used from async code.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot set up its fixture should fail loudly"
)]

mod common;

use accord_store::{Store, StoreConfig, StoreError};
use common::{addr, id};

#[tokio::test]
async fn handle_serves_requests_and_shutdown_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap();
    let (handle, task) = store.spawn(4).unwrap();

    // Clones share the same store, and many requests can be in flight at once.
    let mut writers = Vec::new();
    for n in 1..=20u8 {
        let handle = handle.clone();
        writers.push(tokio::spawn(async move {
            handle
                .record_peer(id(n), &[addr(n.into())], u64::from(n))
                .await
        }));
    }
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    handle.set_meta("k", b"v").await.unwrap();
    assert_eq!(handle.meta("k").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(handle.counts().await.unwrap().peers, 20);
    assert_eq!(
        handle.peer(&id(3)).await.unwrap().unwrap().addrs,
        vec![addr(3)]
    );
    assert!(matches!(
        handle.set_meta("schema_version", b"x").await,
        Err(StoreError::InvalidMetaKey { .. })
    ));

    task.shutdown().await.unwrap();
    assert!(matches!(handle.counts().await, Err(StoreError::Closed)));

    // Shutdown flushed and closed the database: it reopens with everything in it.
    let store = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap();
    assert_eq!(store.counts().unwrap().peers, 20);
    assert_eq!(store.meta("k").unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test]
async fn shutdown_finishes_queued_requests() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap();
    let (handle, task) = store.spawn(64).unwrap();
    let mut queued = Vec::new();
    for n in 1..=30u8 {
        let handle = handle.clone();
        queued.push(tokio::spawn(async move {
            handle.record_peer(id(n), &[], u64::from(n)).await
        }));
    }
    // Let every request reach the queue before asking for shutdown.
    tokio::task::yield_now().await;
    task.shutdown().await.unwrap();
    // On this single-threaded runtime every request was queued before the shutdown request,
    // so every one of them must have run.
    for request in queued {
        request.await.unwrap().unwrap();
    }
    let store = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap();
    assert_eq!(store.counts().unwrap().peers, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_and_the_task_stops_the_thread() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default(), &common::key()).unwrap();
    let (handle, task) = store.spawn(1).unwrap();
    handle.record_peer(id(1), &[], 1).await.unwrap();
    drop(handle);
    drop(task);
    // The thread flushes and releases the database on its own; wait for the lock to go.
    let mut reopened = None;
    for _ in 0..100 {
        match Store::open(dir.path(), &StoreConfig::default(), &common::key()) {
            Ok(store) => {
                reopened = Some(store);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    let store = reopened.expect("store thread never released the database");
    assert!(store.peer(&id(1)).unwrap().is_some());
}
