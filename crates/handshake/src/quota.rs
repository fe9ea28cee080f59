//! Limits on inviting: the weekly quota, outstanding invites, the re-invite cool-down and
//! the bound on incoming invites.
//!
//! All times are Unix milliseconds. To survive a clock moved backwards, the node persists
//! `last_seen_ms`, the highest time it has ever observed, and every rule here runs at
//! [`effective_now`] = max(now, last_seen): turning the clock back reopens nothing.

use accord_identity::AccordId;

use crate::DAY_MS;
use crate::codec::INVITE_ID_LEN;

/// Why an invite may not be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    /// The weekly quota is used up.
    #[error(
        "weekly invite limit of {limit} reached; the next slot frees at {next_slot_at_ms} (Unix ms)"
    )]
    WeeklyLimit {
        /// The weekly limit.
        limit: u32,
        /// When the next slot frees (`u64::MAX` if never: the limit is 0).
        next_slot_at_ms: u64,
    },
    /// Too many invites are pending.
    #[error("at most {max} invites can be pending at once")]
    TooManyOutstanding {
        /// The most allowed.
        max: u32,
    },
    /// The pair is in its re-invite cool-down after a withdrawal or decline.
    #[error("cannot invite this identity again until {until_ms} (Unix ms)")]
    CoolDown {
        /// When the cool-down ends.
        until_ms: u64,
    },
}

/// The time the rules run at: the later of the clock and the highest time ever seen.
pub fn effective_now(now_ms: u64, last_seen_ms: u64) -> u64 {
    now_ms.max(last_seen_ms)
}

/// How far the clock high-water mark may move past the evidence of the real time: 1 day.
///
/// Without a bound, one forward clock jump followed by a correction would leave the mark (and
/// the quota ledger entries recorded at it) ahead for as long as the jump: the weekly quota
/// locked and the cool-downs judged as over. With it, a jump costs at most this much.
pub const MAX_MARK_LEAD_MS: u64 = DAY_MS;

/// What the node knows of the real time besides its wall clock, which bounds how far the
/// clock high-water mark may move ([`TimeEvidence::mark_reading`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEvidence {
    /// The high-water mark when the daemon started; on a first start (no mark yet), the clock
    /// then, since nothing better is known.
    pub mark_at_start_ms: u64,
    /// The latest time a verified frame from a peer reported (0 if none yet). A verified
    /// invite is never created more than the allowed clock skew after our own clock, so this
    /// can only raise the bound as far as honest peers' clocks reach.
    pub latest_peer_time_ms: u64,
}

/// The reading the clock high-water mark may be raised to, from [`TimeEvidence::mark_reading`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkReading {
    /// The time to record: the clock, capped at the bound.
    pub at_ms: u64,
    /// Whether the clock was beyond the bound (the node warns: the clock is far ahead).
    pub clock_ahead: bool,
}

impl TimeEvidence {
    /// Evidence at a daemon's start, from the stored mark (0 if none) and the clock.
    pub fn at_start(stored_mark_ms: u64, now_ms: u64) -> Self {
        Self {
            mark_at_start_ms: if stored_mark_ms == 0 {
                now_ms
            } else {
                stored_mark_ms
            },
            latest_peer_time_ms: 0,
        }
    }

    /// Takes in the time a verified peer frame reported.
    pub fn note_peer_time(&mut self, at_ms: u64) {
        self.latest_peer_time_ms = self.latest_peer_time_ms.max(at_ms);
    }

    /// The highest the mark may reach, `elapsed_ms` (on a monotonic clock) after the daemon
    /// started: [`MAX_MARK_LEAD_MS`] past the later of the start mark plus the elapsed time
    /// and the latest time a peer reported.
    pub fn ceiling(&self, elapsed_ms: u64) -> u64 {
        self.mark_at_start_ms
            .saturating_add(elapsed_ms)
            .max(self.latest_peer_time_ms)
            .saturating_add(MAX_MARK_LEAD_MS)
    }

    /// What the mark may be raised to when the clock reads `now_ms`, `elapsed_ms` after the
    /// daemon started.
    pub fn mark_reading(&self, now_ms: u64, elapsed_ms: u64) -> MarkReading {
        let ceiling = self.ceiling(elapsed_ms);
        MarkReading {
            at_ms: now_ms.min(ceiling),
            clock_ahead: now_ms > ceiling,
        }
    }
}

/// The sender's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaPolicy {
    /// At most this many invites in any window (default 100).
    pub weekly_limit: u32,
    /// At most this many pending at once (default 200).
    pub max_outstanding: u32,
    /// The rolling window (default 7 days).
    pub window_ms: u64,
}

impl Default for QuotaPolicy {
    fn default() -> Self {
        Self {
            weekly_limit: 100,
            max_outstanding: 200,
            window_ms: 7 * DAY_MS,
        }
    }
}

impl QuotaPolicy {
    /// May one more invite be sent? `sent_at` holds the send times of past invites (the
    /// node records [`effective_now`] for each, so the ledger is ascending; entries older
    /// than the window may be pruned); `outstanding` is how many are pending now.
    ///
    /// # Errors
    ///
    /// [`QuotaError::WeeklyLimit`] (with when the next slot frees: the moment the oldest
    /// invite in the window leaves it), [`QuotaError::TooManyOutstanding`].
    pub fn check(
        &self,
        sent_at: &[u64],
        outstanding: u32,
        now_ms: u64,
        last_seen_ms: u64,
    ) -> Result<(), QuotaError> {
        let now = effective_now(now_ms, last_seen_ms);
        let in_window = self.in_window(sent_at, now);
        let limit = usize::try_from(self.weekly_limit).unwrap_or(usize::MAX);
        if in_window.len() >= limit {
            // After the first `len - limit + 1` leave the window, one slot is free.
            let next_slot_at_ms = in_window
                .get(in_window.len() - limit)
                .map_or(u64::MAX, |t| t.saturating_add(self.window_ms));
            return Err(QuotaError::WeeklyLimit {
                limit: self.weekly_limit,
                next_slot_at_ms,
            });
        }
        if outstanding >= self.max_outstanding {
            return Err(QuotaError::TooManyOutstanding {
                max: self.max_outstanding,
            });
        }
        Ok(())
    }

    /// How many invites may still be sent in the current window.
    pub fn remaining(&self, sent_at: &[u64], now_ms: u64, last_seen_ms: u64) -> u32 {
        let used = self
            .in_window(sent_at, effective_now(now_ms, last_seen_ms))
            .len();
        self.weekly_limit
            .saturating_sub(u32::try_from(used).unwrap_or(u32::MAX))
    }

    /// The send times still in the window at `now`, ascending. An invite sent at `t` counts
    /// while `now < t + window`.
    fn in_window(&self, sent_at: &[u64], now: u64) -> Vec<u64> {
        let mut times: Vec<u64> = sent_at
            .iter()
            .copied()
            .filter(|t| t.saturating_add(self.window_ms) > now)
            .collect();
        times.sort_unstable();
        times
    }
}

/// When the re-invite cool-down of a pair ends: `closed_at_ms` (the withdrawal or decline)
/// plus `cooldown_days`.
pub fn cooldown_ends_at(closed_at_ms: u64, cooldown_days: u32) -> u64 {
    closed_at_ms.saturating_add(u64::from(cooldown_days).saturating_mul(DAY_MS))
}

/// Refuses a new invite to a pair whose last invite closed at `closed_at_ms` until the
/// cool-down has passed.
///
/// # Errors
///
/// [`QuotaError::CoolDown`].
pub fn check_cooldown(
    closed_at_ms: u64,
    cooldown_days: u32,
    now_ms: u64,
    last_seen_ms: u64,
) -> Result<(), QuotaError> {
    let until_ms = cooldown_ends_at(closed_at_ms, cooldown_days);
    if effective_now(now_ms, last_seen_ms) < until_ms {
        return Err(QuotaError::CoolDown { until_ms });
    }
    Ok(())
}

/// What the node knows of a pending incoming invite, for [`IncomingPolicy::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncomingInvite {
    /// The invite id.
    pub invite_id: [u8; INVITE_ID_LEN],
    /// Who sent it.
    pub inviter: AccordId,
    /// Its creation time.
    pub created_at_ms: u64,
    /// Its expiry.
    pub expires_at_ms: u64,
}

/// The verdict on a new incoming invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Store it, after dropping these stored invites.
    Admit {
        /// The invite ids to drop (an older invite from the same sender, and the
        /// ones with the earliest [`eviction_deadline`] if the store is full).
        evict: Vec<[u8; INVITE_ID_LEN]>,
    },
    /// It is already stored.
    Duplicate,
    /// The same sender has a newer (or equally new) invite stored: drop this one.
    Stale,
    /// The store is full and this invite has the earliest [`eviction_deadline`]: drop it.
    Full,
}

/// The lifetime an incoming invite counts for when the store is full: 14 days, the default
/// lifetime. A sender chooses its expiry (up to 90 days), so ranking by expiry alone would let
/// a flood of 90-day invites outrank every honest 14-day invite for months; capped, a flood
/// only outranks the invites that arrived before it, and must keep paying stamps to do so.
pub const COUNTED_LIFETIME_MS: u64 = 14 * DAY_MS;

/// When an incoming invite loses its place in a full store: at its expiry, or
/// [`COUNTED_LIFETIME_MS`] after its creation if that comes first. The creation time stands
/// for the arrival: a verified invite is never created more than the allowed clock skew after
/// it arrives, and a sender who backdates it only makes its own invite go sooner.
pub fn eviction_deadline(invite: &IncomingInvite) -> u64 {
    invite
        .expires_at_ms
        .min(invite.created_at_ms.saturating_add(COUNTED_LIFETIME_MS))
}

/// The bound on stored incoming invites: one per sender (the newest), at most
/// `max_incoming` in all, the one with the earliest [`eviction_deadline`] going first.
///
/// Every pending invite competes for the same places today. Once invites can carry a
/// verified introduction (or come from second-degree people), a share of the places is meant
/// to be reserved for them: that is a second, separate bound checked before this one, so
/// this rule need not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncomingPolicy {
    /// At most this many pending incoming invites (default 500).
    pub max_incoming: usize,
}

impl Default for IncomingPolicy {
    fn default() -> Self {
        Self { max_incoming: 500 }
    }
}

impl IncomingPolicy {
    /// Decides what to do with `new` given the pending incoming invites `existing`.
    /// "Newer" compares (created at, invite id); "goes first" compares
    /// ([`eviction_deadline`], created at, invite id), so the verdict is deterministic.
    pub fn admit(&self, existing: &[IncomingInvite], new: &IncomingInvite) -> Admission {
        if existing.iter().any(|e| e.invite_id == new.invite_id) {
            return Admission::Duplicate;
        }
        let mut evict = Vec::new();
        for old in existing.iter().filter(|e| e.inviter == new.inviter) {
            if (old.created_at_ms, old.invite_id) >= (new.created_at_ms, new.invite_id) {
                return Admission::Stale;
            }
            evict.push(old.invite_id);
        }
        let mut kept: Vec<&IncomingInvite> = existing
            .iter()
            .filter(|e| !evict.contains(&e.invite_id))
            .collect();
        let excess = (kept.len() + 1).saturating_sub(self.max_incoming);
        if excess > 0 {
            kept.push(new);
            kept.sort_by_key(|e| (eviction_deadline(e), e.created_at_ms, e.invite_id));
            for victim in kept.iter().take(excess) {
                if victim.invite_id == new.invite_id {
                    return Admission::Full;
                }
                evict.push(victim.invite_id);
            }
        }
        Admission::Admit { evict }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // Tests should fail loudly.
mod tests;
