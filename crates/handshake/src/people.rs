//! Degrees and mutual connections, computed from what a node knows: its own connections and
//! the lists its connections shared (each entry an attestation that verified on arrival).
//!
//! - degree 1: a connection of ours;
//! - degree 2: a connection of one of our connections, proven by two attestations (ours with
//!   the middle person, and the middle person's with them, from the list they shared);
//! - degree 3: anyone else ("3rd or further": we cannot see further than our connections'
//!   lists, and do not try to).
//!
//! A list counts only while its owner is our connection, and an entry only while its
//! attestation is not known to be revoked: a revocation stops counting the moment the node
//! learns of it, because nothing here is cached.

use std::collections::{BTreeMap, BTreeSet};

use accord_identity::AccordId;

use crate::attestation::AttestationId;
use crate::connection_list::SharedList;

/// How far someone is from us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Degree {
    /// A connection.
    First,
    /// A connection of a connection.
    Second,
    /// Anyone else.
    ThirdOrFurther,
}

impl Degree {
    /// 1, 2 or 3, as the API reports it.
    pub fn number(self) -> u8 {
        match self {
            Self::First => 1,
            Self::Second => 2,
            Self::ThirdOrFurther => 3,
        }
    }
}

/// Where someone stands: their degree and the mutual connections that prove it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// Their degree.
    pub degree: Degree,
    /// Our connections who are also theirs, in ID order.
    pub mutual: Vec<AccordId>,
}

/// What a node knows of its network: the inputs of the degree computation.
#[derive(Debug, Clone, Copy)]
pub struct KnownNetwork<'a> {
    /// Our own ID.
    pub me: AccordId,
    /// Our connections (unrevoked attestations).
    pub connections: &'a BTreeSet<AccordId>,
    /// The lists our connections shared, by owner.
    pub lists: &'a BTreeMap<AccordId, SharedList>,
    /// Attestations known to be revoked.
    pub revoked: &'a BTreeSet<AttestationId>,
}

impl KnownNetwork<'_> {
    /// The connections in `owner`'s list that still count: the owner must be our connection
    /// and the attestation must not be known to be revoked.
    fn counted(&self, owner: &AccordId) -> impl Iterator<Item = &AccordId> {
        self.connections
            .get(owner)
            .and_then(|owner| self.lists.get(owner))
            .into_iter()
            .flat_map(|list| list.entries.iter())
            .filter(|(id, _)| !self.revoked.contains(id))
            .map(|(_, other)| other)
    }

    /// `target`'s degree and our mutual connections with them.
    pub fn standing(&self, target: &AccordId) -> Standing {
        let mut mutual: BTreeSet<AccordId> = self
            .connections
            .iter()
            .filter(|middle| *middle != target)
            .filter(|middle| self.counted(middle).any(|other| other == target))
            .copied()
            .collect();
        // A connection's own list also names the people we both know.
        mutual.extend(
            self.counted(target)
                .filter(|other| self.connections.contains(*other) && *other != target),
        );
        let degree = if self.connections.contains(target) {
            Degree::First
        } else if mutual.is_empty() {
            Degree::ThirdOrFurther
        } else {
            Degree::Second
        };
        Standing {
            degree,
            mutual: mutual.into_iter().collect(),
        }
    }

    /// Everyone at degree 2 with the number of mutual connections, most first (ties in ID
    /// order).
    pub fn suggestions(&self) -> Vec<(AccordId, usize)> {
        let mut counts: BTreeMap<AccordId, BTreeSet<AccordId>> = BTreeMap::new();
        for middle in self.connections {
            for other in self.counted(middle) {
                if *other != self.me && !self.connections.contains(other) {
                    counts.entry(*other).or_default().insert(*middle);
                }
            }
        }
        let mut ranked: Vec<(AccordId, usize)> = counts
            .into_iter()
            .map(|(id, middles)| (id, middles.len()))
            .collect();
        ranked.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        ranked
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests {
    use super::*;
    use crate::test_rng::TestRng;
    use accord_identity::Identity;

    fn ids(n: usize) -> Vec<AccordId> {
        let mut rng = TestRng::new(9);
        (0..n).map(|_| Identity::generate(&mut rng).id()).collect()
    }

    fn list(entries: &[(u8, AccordId)]) -> SharedList {
        SharedList {
            version: 1,
            entries: entries
                .iter()
                .map(|(n, id)| (AttestationId([*n; 32]), *id))
                .collect(),
        }
    }

    #[test]
    fn degrees_and_mutuals() {
        let p = ids(6);
        let (a, b, c, d, e) = (p[0], p[1], p[2], p[3], p[4]);
        // A–B, A–D; B–C, D–C, B–A; C knows nobody A knows directly.
        let connections = BTreeSet::from([b, d]);
        let lists = BTreeMap::from([(b, list(&[(1, c), (2, a), (6, d)])), (d, list(&[(3, c)]))]);
        let revoked = BTreeSet::new();
        let net = KnownNetwork {
            me: a,
            connections: &connections,
            lists: &lists,
            revoked: &revoked,
        };
        let mut both = vec![b, d];
        both.sort();
        assert_eq!(
            net.standing(&c),
            Standing {
                degree: Degree::Second,
                mutual: both
            }
        );
        assert_eq!(net.standing(&b).degree, Degree::First);
        assert_eq!(net.standing(&b).mutual, vec![d]);
        assert_eq!(net.standing(&e).degree, Degree::ThirdOrFurther);
        assert_eq!(net.suggestions(), vec![(c, 2)]);
    }

    #[test]
    fn revoked_entries_and_former_connections_stop_counting() {
        let p = ids(4);
        let (a, b, c, d) = (p[0], p[1], p[2], p[3]);
        let lists = BTreeMap::from([(b, list(&[(1, c)])), (d, list(&[(2, c)]))]);
        let connections = BTreeSet::from([b]);
        // B–C is revoked: C is no longer 2nd degree through B.
        let revoked = BTreeSet::from([AttestationId([1; 32])]);
        let net = KnownNetwork {
            me: a,
            connections: &connections,
            lists: &lists,
            revoked: &revoked,
        };
        assert_eq!(
            net.standing(&c),
            Standing {
                degree: Degree::ThirdOrFurther,
                mutual: vec![]
            }
        );
        // D's list is still held, but D is not our connection: it proves nothing.
        assert!(net.suggestions().is_empty());
    }

    #[test]
    fn suggestions_rank_by_mutuals_and_skip_known_people() {
        let p = ids(6);
        let (a, b, c, d, x, y) = (p[0], p[1], p[2], p[3], p[4], p[5]);
        let connections = BTreeSet::from([b, c, d]);
        let lists = BTreeMap::from([
            (b, list(&[(1, x), (2, y), (3, a), (4, c)])),
            (c, list(&[(5, y)])),
            (d, list(&[(6, y)])),
        ]);
        let revoked = BTreeSet::new();
        let net = KnownNetwork {
            me: a,
            connections: &connections,
            lists: &lists,
            revoked: &revoked,
        };
        assert_eq!(net.suggestions(), vec![(y, 3), (x, 1)]);
        assert_eq!(Degree::Second.number(), 2);
    }
}
