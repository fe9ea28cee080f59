//! What a test needs from the machine beyond an ordinary user account: root, `unshare`,
//! `setpriv`, network namespaces with nftables.
//!
//! Such tests are `#[ignore = "needs …"]`, so `cargo test --workspace` lists them as ignored
//! instead of passing them untested; `.ci/run` runs them with `--ignored` where it is root and
//! the tools exist. Asked to run where a capability is missing, a test fails through
//! [`require`] with the reason: it never passes without having tested anything.

/// The capability `available` stands for, or a failure of the test that says what `needs`
/// names and why it is missing here.
pub fn require<T>(needs: &str, available: Result<T, String>) -> T {
    available.unwrap_or_else(|reason| {
        panic!(
            "this test needs {needs}, which this machine lacks: {reason}. It is #[ignore]d for \
             that reason: run it with --ignored only on a machine that has them"
        )
    })
}

/// `Err` with the reason when `missing` holds one, for probes that answer "why not".
pub fn unless_missing(missing: Option<String>) -> Result<(), String> {
    missing.map_or(Ok(()), Err)
}
