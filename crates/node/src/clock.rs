//! The wall clock. The sans-IO crates never read it; the node reads it here and passes the
//! time in.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch; 0 if the clock is set before 1970.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// The monotonic instant at which a Unix-millisecond deadline falls, so that a loop can
/// `select!` on it without polling.
pub(crate) fn deadline_from_unix_ms(due_ms: u64) -> tokio::time::Instant {
    let wait = due_ms.saturating_sub(now_ms());
    tokio::time::Instant::now() + std::time::Duration::from_millis(wait)
}

/// Sleeps until `deadline`, or forever when there is none (a `select!` branch that never fires).
pub(crate) async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
