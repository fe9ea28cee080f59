//! Proptest strategies shared by the record codecs' tests.

use accord_identity::{AccordId, Identity};
use proptest::prelude::*;
use zeroize::Zeroizing;

/// A valid Accord ID from a random seed.
pub(crate) fn arb_id() -> impl Strategy<Value = AccordId> {
    any::<[u8; 32]>().prop_map(|seed| Identity::from_seed(Zeroizing::new(seed)).id())
}

/// Random bytes, fewer than `max`.
pub(crate) fn arb_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}
