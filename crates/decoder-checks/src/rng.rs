//! The deterministic RNG the fixtures are built with.

use rand_core::{Infallible, TryCryptoRng, TryRng};
use sha2::{Digest, Sha256};

/// SHA-256 in counter mode: the same seed gives the same bytes on every machine and every
/// run, so the committed seed corpus always matches the fixtures it was written from.
///
/// `accord_identity::test_rng::TestRng` does the same, but it sits behind that crate's
/// `test-support` feature, which must never be enabled in a normal build of the workspace;
/// this crate is a normal workspace member, so it keeps its own. It claims `CryptoRng` only
/// because the handshake's API requires one: its output is public and it must never make a
/// real key.
pub struct FixtureRng {
    seed: u64,
    counter: u64,
}

impl FixtureRng {
    /// A generator whose whole output is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { seed, counter: 0 }
    }
}

impl TryRng for FixtureRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(32) {
            let block = Sha256::new()
                .chain_update(b"accord/fuzz/fixture-rng")
                .chain_update(self.seed.to_le_bytes())
                .chain_update(self.counter.to_le_bytes())
                .finalize();
            self.counter += 1;
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for FixtureRng {}
