//! Safety numbers: what two people compare to be sure they talk to each other.

use std::fmt;

use sha2::{Digest, Sha512};

use crate::id::AccordId;

/// Domain separation for safety-number hashing.
const DOMAIN: &[u8] = b"accord/v1/safety-number";

/// How many times each half is hashed. As in Signal, the iteration makes it costly to search
/// for a second key whose 30 digits match someone's (a 100-bit target).
const ITERATIONS: usize = 5200;

/// Digits contributed by each identity.
const HALF_DIGITS: usize = 30;

/// Digits in one displayed group.
const GROUP: usize = 5;

/// The safety number of a pair of identities: 60 decimal digits, shown as 12 groups of 5
/// (`"12345 67890 …"`), like Signal's.
///
/// It is the same whichever side computes it, so two people can read theirs to each other
/// (or scan each other's QR code of [`SafetyNumber::digits`]); if they match, each holds the
/// other's real key. Each identity contributes 30 digits derived from its key alone:
///
/// ```text
/// h = SHA-512("accord/v1/safety-number" ‖ 0x00 ‖ key), then 5199 times h = SHA-512(h ‖ key)
/// digits = for each of the first six 5-byte chunks of h: (big-endian u40) mod 100000, 5 digits
/// ```
///
/// and the two 30-digit halves are concatenated smaller first.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SafetyNumber(String);

impl SafetyNumber {
    /// The 60 digits without separators (e.g. for a QR code or a comparison).
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// The 12 groups of 5 digits, in display order.
    pub fn groups(&self) -> impl Iterator<Item = &str> {
        // The string is ASCII digits only, so every 5-byte chunk is valid UTF-8.
        self.0
            .as_bytes()
            .chunks(GROUP)
            .map(|chunk| std::str::from_utf8(chunk).unwrap_or_default())
    }
}

impl fmt::Display for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, group) in self.groups().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(group)?;
        }
        Ok(())
    }
}

impl fmt::Debug for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SafetyNumber({self})")
    }
}

/// The safety number of the pair `a`, `b`; `safety_number(a, b) == safety_number(b, a)`.
pub fn safety_number(a: &AccordId, b: &AccordId) -> SafetyNumber {
    let (x, y) = (half(a), half(b));
    let (first, second) = if x <= y { (x, y) } else { (y, x) };
    SafetyNumber(first + &second)
}

/// The 30 digits one identity contributes.
fn half(id: &AccordId) -> String {
    let key = id.public_key_bytes();
    let mut hash = Sha512::new()
        .chain_update(DOMAIN)
        .chain_update([0u8])
        .chain_update(key)
        .finalize();
    for _ in 1..ITERATIONS {
        hash = Sha512::new()
            .chain_update(hash)
            .chain_update(key)
            .finalize();
    }
    let mut digits = String::with_capacity(HALF_DIGITS);
    for chunk in hash[..HALF_DIGITS].chunks(GROUP) {
        let value = chunk
            .iter()
            .fold(0u64, |acc, &byte| (acc << 8) | u64::from(byte));
        digits.push_str(&format!("{:05}", value % 100_000));
    }
    digits
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use crate::Identity;
    use crate::test_rng::TestRng;

    fn id(seed: u64) -> AccordId {
        Identity::generate(&mut TestRng::new(seed)).id()
    }

    #[test]
    fn symmetric() {
        let (a, b) = (id(1), id(2));
        assert_eq!(safety_number(&a, &b), safety_number(&b, &a));
    }

    #[test]
    fn differs_for_different_pairs() {
        let (a, b, c) = (id(1), id(2), id(3));
        assert_ne!(safety_number(&a, &b), safety_number(&a, &c));
        assert_ne!(safety_number(&a, &b), safety_number(&b, &c));
        assert_ne!(safety_number(&a, &c), safety_number(&b, &c));
    }

    #[test]
    fn shape() {
        let number = safety_number(&id(4), &id(5));
        assert_eq!(number.digits().len(), 60);
        assert!(number.digits().bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(number.groups().count(), 12);
        assert!(number.groups().all(|g| g.len() == 5));
        let shown = number.to_string();
        assert_eq!(shown.len(), 60 + 11);
        assert_eq!(shown.replace(' ', ""), number.digits());
    }

    #[test]
    fn with_oneself_is_well_defined() {
        let a = id(6);
        let number = safety_number(&a, &a);
        assert_eq!(&number.digits()[..30], &number.digits()[30..]);
    }
}
