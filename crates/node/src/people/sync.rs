//! What each connection is owed of ours, decided without I/O: our profile, then our shared
//! list (changes since what it acknowledged, or all of it), then introductions we made.
//!
//! A connection's marks ([`PeopleSync`]) move only when it answers `stored`, after its flush:
//! so whatever a crash or a lost answer costs is a resend, which the receiver recognises
//! (an older or equal profile version, a list step its copy already took) and acknowledges
//! without applying twice.

use accord_store::PeopleSync;

/// The versions of what we have to share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Own {
    /// Our profile's version (0: no profile set).
    pub(crate) profile_version: u64,
    /// Our list's version (0: never changed).
    pub(crate) list_version: u64,
}

/// What to send a connection next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Our profile: it has an older one or none.
    Profile,
    /// The changes of our list after version `after`, which its copy is at.
    ListChanges { after: u64 },
    /// Our whole list from scratch: it has none yet (or our log no longer reaches back to
    /// its copy).
    WholeList,
    /// Introductions owed to it, if any; nothing else.
    Introductions,
}

/// The next thing owed, in priority order: the profile, then the list, then introductions.
pub(crate) fn next(own: Own, acked: PeopleSync) -> Next {
    if own.profile_version > acked.profile_acked {
        Next::Profile
    } else if own.list_version > acked.list_acked {
        if acked.list_acked == 0 {
            Next::WholeList
        } else {
            Next::ListChanges {
                after: acked.list_acked,
            }
        }
    } else {
        Next::Introductions
    }
}

/// The version a new profile of ours gets: later than the last one, and at least the clock,
/// so that a profile set again from a restored identity (whose old versions we no longer
/// know) still replaces what connections hold.
pub(crate) fn next_profile_version(previous: u64, now_ms: u64) -> u64 {
    previous.saturating_add(1).max(now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acked(profile_acked: u64, list_acked: u64) -> PeopleSync {
        PeopleSync {
            profile_acked,
            list_acked,
        }
    }

    #[test]
    fn profile_first_then_list_then_introductions() {
        let own = Own {
            profile_version: 5,
            list_version: 3,
        };
        assert_eq!(next(own, acked(0, 0)), Next::Profile);
        assert_eq!(next(own, acked(4, 3)), Next::Profile);
        assert_eq!(next(own, acked(5, 0)), Next::WholeList);
        assert_eq!(next(own, acked(5, 1)), Next::ListChanges { after: 1 });
        assert_eq!(next(own, acked(5, 3)), Next::Introductions);
        // A connection ahead of us (our store was restored from an old backup) is owed
        // nothing until we move past it.
        assert_eq!(next(own, acked(9, 9)), Next::Introductions);
        let nothing = Own {
            profile_version: 0,
            list_version: 0,
        };
        assert_eq!(next(nothing, acked(0, 0)), Next::Introductions);
    }

    #[test]
    fn profile_versions_only_grow() {
        assert_eq!(next_profile_version(0, 1_000), 1_000);
        assert_eq!(next_profile_version(5_000, 1_000), 5_001);
        assert_eq!(next_profile_version(u64::MAX, 0), u64::MAX);
    }
}
