//! The wall clock. The sans-IO crates never read it; the node reads it here and passes the
//! time in.
//!
//! A testing hook shifts it: `ACCORD_CLOCK_OFFSET_SECS` (a signed whole number of seconds),
//! read once when the node starts, is added to every reading. End-to-end tests use it to
//! restart daemons days later (expiry, cool-downs, a clock set back) without waiting, and it
//! reproduces a user's clock bug without changing the machine's clock.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// The environment variable that shifts the node's clock, in seconds (may be negative).
pub(crate) const CLOCK_OFFSET_ENV: &str = "ACCORD_CLOCK_OFFSET_SECS";

/// The offset in milliseconds, set once by [`init_offset_from_env`]; none means 0.
static OFFSET_MS: OnceLock<i64> = OnceLock::new();

/// Why `ACCORD_CLOCK_OFFSET_SECS` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockOffsetError {
    /// The value is not a signed whole number of seconds.
    #[error("{CLOCK_OFFSET_ENV}={value:?} is not a whole number of seconds (e.g. 86400 or -3600)")]
    NotANumber {
        /// The value as given.
        value: String,
    },
    /// The value is a number, but too large to be added to the clock in milliseconds.
    #[error("{CLOCK_OFFSET_ENV}={value} is out of range")]
    OutOfRange {
        /// The value as given.
        value: i64,
    },
}

/// Parses an offset in seconds into milliseconds.
pub(crate) fn parse_offset(text: &str) -> Result<i64, ClockOffsetError> {
    let secs: i64 = text
        .trim()
        .parse()
        .map_err(|_| ClockOffsetError::NotANumber {
            value: text.to_owned(),
        })?;
    secs.checked_mul(1000)
        .ok_or(ClockOffsetError::OutOfRange { value: secs })
}

/// Reads `ACCORD_CLOCK_OFFSET_SECS` (unset means no offset) and applies it to every later
/// [`now_ms`]; returns the offset in milliseconds. Only the first call in a process sets it, so
/// that the clock cannot jump while the node runs; later calls return the offset in effect.
pub(crate) fn init_offset_from_env() -> Result<i64, ClockOffsetError> {
    let offset = match std::env::var(CLOCK_OFFSET_ENV) {
        Ok(text) => parse_offset(&text)?,
        Err(std::env::VarError::NotPresent) => 0,
        Err(std::env::VarError::NotUnicode(raw)) => {
            return Err(ClockOffsetError::NotANumber {
                value: raw.to_string_lossy().into_owned(),
            });
        }
    };
    Ok(*OFFSET_MS.get_or_init(|| offset))
}

/// Milliseconds since the Unix epoch, shifted by the testing offset if one is set; 0 if the
/// clock is set before 1970.
pub fn now_ms() -> u64 {
    let real = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        });
    shifted(real, OFFSET_MS.get().copied().unwrap_or(0))
}

/// `real` moved by `offset_ms`, clamped to the range of a u64.
fn shifted(real: u64, offset_ms: i64) -> u64 {
    real.saturating_add_signed(offset_ms)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_as_signed_seconds() {
        assert_eq!(parse_offset("0"), Ok(0));
        assert_eq!(parse_offset("86400"), Ok(86_400_000));
        assert_eq!(parse_offset(" -3600 "), Ok(-3_600_000));
        assert_eq!(parse_offset("+15"), Ok(15_000));
    }

    #[test]
    fn malformed_offsets_are_errors() {
        for bad in ["", "1.5", "15d", "one", "0x10", "1e3"] {
            assert!(
                matches!(parse_offset(bad), Err(ClockOffsetError::NotANumber { .. })),
                "{bad:?} was accepted"
            );
        }
        assert_eq!(
            parse_offset(&i64::MAX.to_string()),
            Err(ClockOffsetError::OutOfRange { value: i64::MAX })
        );
    }

    #[test]
    fn the_offset_moves_the_clock_both_ways_and_saturates() {
        assert_eq!(shifted(1_000, 500), 1_500);
        assert_eq!(shifted(1_000, -500), 500);
        assert_eq!(shifted(1_000, -5_000), 0);
        assert_eq!(shifted(u64::MAX - 1, 10), u64::MAX);
    }
}
