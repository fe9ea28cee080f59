//! The operating system's random number generator, for the sans-IO crates that take an RNG.

/// A cryptographically secure RNG backed by the OS (`getrandom`).
///
/// `UnwrapErr` turns the fallible OS source into an infallible `CryptoRng`: if the kernel
/// cannot give us randomness there is no safe way to continue, so panicking there is the
/// intended behaviour.
pub fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}
