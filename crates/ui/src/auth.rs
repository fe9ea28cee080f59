//! Login tokens and sessions.
//!
//! Only SHA-256 digests of tokens and session ids are kept, so the memory of the daemon holds
//! nothing a browser could replay. Both are 32 random bytes from the operating system.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::watch;

/// A login token not redeemed within this time is refused.
const TOKEN_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// At most this many unused tokens are kept; minting another forgets the oldest.
const MAX_TOKENS: usize = 8;
/// A session unused for this long ends.
const SESSION_IDLE_LIFETIME: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// At most this many sessions are kept; a new one ends the least recently used.
const MAX_SESSIONS: usize = 16;

type Hash = [u8; 32];

/// The web app's tokens and sessions.
#[derive(Debug)]
pub(crate) struct Auth {
    state: Mutex<AuthState>,
    /// Bumped by every revocation, so that open event streams end.
    revocations: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct AuthState {
    tokens: VecDeque<(Hash, Instant)>,
    sessions: HashMap<Hash, Instant>,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            state: Mutex::default(),
            revocations: watch::channel(0).0,
        }
    }
}

impl Auth {
    fn state(&self) -> MutexGuard<'_, AuthState> {
        // Every critical section leaves the maps consistent, so a panic elsewhere while the
        // lock was held leaves nothing half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh one-time login token (64 hex digits).
    pub(crate) fn mint_token(&self) -> Result<String, getrandom::Error> {
        let token = random_hex()?;
        let mut state = self.state();
        if state.tokens.len() >= MAX_TOKENS {
            state.tokens.pop_front();
        }
        state.tokens.push_back((digest(&token), Instant::now()));
        Ok(token)
    }

    /// Redeems a token: a new session id when the token is known, unused and fresh.
    pub(crate) fn redeem(&self, token: &str) -> Option<String> {
        let hash = digest(token);
        let now = Instant::now();
        let mut state = self.state();
        let position = state.tokens.iter().position(|(known, _)| *known == hash)?;
        let (_, minted) = state.tokens.remove(position)?;
        if now.duration_since(minted) > TOKEN_LIFETIME {
            return None;
        }
        state
            .sessions
            .retain(|_, used| now.duration_since(*used) <= SESSION_IDLE_LIFETIME);
        if state.sessions.len() >= MAX_SESSIONS {
            let oldest = state
                .sessions
                .iter()
                .min_by_key(|(_, used)| **used)
                .map(|(hash, _)| *hash);
            if let Some(oldest) = oldest {
                state.sessions.remove(&oldest);
            }
        }
        let session = random_hex().ok()?;
        state.sessions.insert(digest(&session), now);
        Some(session)
    }

    /// Whether `session` is a live session; using it keeps it alive.
    pub(crate) fn check(&self, session: &str) -> bool {
        let hash = digest(session);
        let now = Instant::now();
        let mut state = self.state();
        match state.sessions.get_mut(&hash) {
            Some(used) if now.duration_since(*used) <= SESSION_IDLE_LIFETIME => {
                *used = now;
                true
            }
            Some(_) => {
                state.sessions.remove(&hash);
                false
            }
            None => false,
        }
    }

    /// Ends every session and forgets every token: (sessions, tokens) there were.
    pub(crate) fn revoke(&self) -> (usize, usize) {
        let mut state = self.state();
        let counts = (state.sessions.len(), state.tokens.len());
        state.sessions.clear();
        state.tokens.clear();
        drop(state);
        self.revocations.send_modify(|generation| *generation += 1);
        counts
    }

    /// Changes whenever sessions are revoked.
    pub(crate) fn revocations(&self) -> watch::Receiver<u64> {
        self.revocations.subscribe()
    }
}

fn digest(text: &str) -> Hash {
    Sha256::digest(text.as_bytes()).into()
}

fn random_hex() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_works_once_and_revocation_ends_sessions() {
        let auth = Auth::default();
        let mint = || auth.mint_token().unwrap_or_default();
        let token = mint();
        let session = auth.redeem(&token);
        assert!(session.is_some());
        assert!(
            auth.redeem(&token).is_none(),
            "a token is good for one login"
        );
        let session = session.unwrap_or_default();
        assert!(auth.check(&session));
        assert!(!auth.check("not a session"));
        let unused = mint();
        assert_eq!(auth.revoke(), (1, 1));
        assert!(!auth.check(&session));
        assert!(auth.redeem(&unused).is_none());
    }

    #[test]
    fn tokens_and_sessions_are_bounded() {
        let auth = Auth::default();
        let mint = || auth.mint_token().unwrap_or_default();
        let first = mint();
        for _ in 0..MAX_TOKENS {
            mint();
        }
        assert!(
            auth.redeem(&first).is_none(),
            "the oldest token was forgotten"
        );
        let sessions: Vec<String> = (0..=MAX_SESSIONS)
            .filter_map(|_| auth.redeem(&mint()))
            .collect();
        assert_eq!(auth.state().sessions.len(), MAX_SESSIONS);
        assert!(sessions.last().is_some_and(|last| auth.check(last)));
    }
}
