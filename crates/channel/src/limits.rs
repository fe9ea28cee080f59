//! The bounds a node may put on the work and memory a peer's headers can cause.
//!
//! The protocol fixes the largest values ([`MAX_SKIP`] keys skipped per header,
//! [`MAX_SKIPPED_KEYS`] keys kept): the serialised state holds at most that many keys, and a
//! peer may rely on a gap of up to [`MAX_SKIP`] being bridged. A node may choose smaller bounds
//! (trading tolerance of lost or reordered messages for less work per hostile header), never
//! larger ones. Lowering them is sound: a state saved under larger bounds still loads (the
//! format's bound is unchanged) and is trimmed to the smaller bound at its next skipped key,
//! oldest keys first, exactly as the full store always is.

use crate::ratchet::MAX_SKIP;
use crate::skipped::MAX_SKIPPED_KEYS;

/// How many keys one header may make a session skip, and how many skipped keys it keeps.
/// [`Default`] is the protocol's maximum of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkipLimits {
    max_skip: u32,
    max_skipped_keys: usize,
}

impl Default for SkipLimits {
    fn default() -> Self {
        SkipLimits {
            max_skip: MAX_SKIP,
            max_skipped_keys: MAX_SKIPPED_KEYS,
        }
    }
}

/// Why a pair of skip limits is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SkipLimitError {
    /// The keys one header may skip is 0 or above the protocol's [`MAX_SKIP`].
    #[error("{value} keys skipped per header is out of range 1–{MAX_SKIP}")]
    PerHeader {
        /// The value asked for.
        value: u32,
    },
    /// The keys kept is 0 or above what the stored state can hold ([`MAX_SKIPPED_KEYS`]).
    #[error("{value} skipped keys kept is out of range 1–{MAX_SKIPPED_KEYS}")]
    Kept {
        /// The value asked for.
        value: usize,
    },
    /// Fewer keys kept than one header may skip: the keys of one gap would evict each other.
    #[error("{kept} skipped keys kept is fewer than the {per_header} one header may skip")]
    KeptBelowPerHeader {
        /// The keys one header may skip.
        per_header: u32,
        /// The keys kept.
        kept: usize,
    },
}

impl SkipLimits {
    /// Limits of `max_skip` keys per header and `max_skipped_keys` kept.
    ///
    /// # Errors
    ///
    /// [`SkipLimitError`] when either is 0 or above the protocol's maximum, or fewer keys
    /// are kept than one header may skip.
    pub fn new(max_skip: u32, max_skipped_keys: usize) -> Result<Self, SkipLimitError> {
        if max_skip == 0 || max_skip > MAX_SKIP {
            return Err(SkipLimitError::PerHeader { value: max_skip });
        }
        if max_skipped_keys == 0 || max_skipped_keys > MAX_SKIPPED_KEYS {
            return Err(SkipLimitError::Kept {
                value: max_skipped_keys,
            });
        }
        if max_skipped_keys < max_skip as usize {
            return Err(SkipLimitError::KeptBelowPerHeader {
                per_header: max_skip,
                kept: max_skipped_keys,
            });
        }
        Ok(SkipLimits {
            max_skip,
            max_skipped_keys,
        })
    }

    /// The most keys one header may make the session skip in one chain.
    pub fn max_skip(&self) -> u32 {
        self.max_skip
    }

    /// The most skipped keys the session keeps.
    pub fn max_skipped_keys(&self) -> usize {
        self.max_skipped_keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bounds_within_the_protocol_are_accepted() {
        assert_eq!(
            SkipLimits::new(MAX_SKIP, MAX_SKIPPED_KEYS),
            Ok(SkipLimits::default())
        );
        assert!(SkipLimits::new(10, 20).is_ok());
        assert_eq!(
            SkipLimits::new(0, 20),
            Err(SkipLimitError::PerHeader { value: 0 })
        );
        assert_eq!(
            SkipLimits::new(MAX_SKIP + 1, MAX_SKIPPED_KEYS),
            Err(SkipLimitError::PerHeader {
                value: MAX_SKIP + 1
            })
        );
        assert_eq!(
            SkipLimits::new(10, MAX_SKIPPED_KEYS + 1),
            Err(SkipLimitError::Kept {
                value: MAX_SKIPPED_KEYS + 1
            })
        );
        assert_eq!(
            SkipLimits::new(10, 9),
            Err(SkipLimitError::KeptBelowPerHeader {
                per_header: 10,
                kept: 9
            })
        );
    }
}
