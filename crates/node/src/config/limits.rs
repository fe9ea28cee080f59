//! `[limits]`: every bound on what peers and the user can make a node hold, in one place.

use std::path::Path;

use serde::Deserialize;

use super::ConfigError;

/// The smallest `inbox_frame_max_bytes`: room for the largest gossip frame (4,034 bytes).
// The frame's maximum is a small constant; the cast cannot truncate.
#[allow(clippy::cast_possible_truncation)]
const INBOX_FRAME_MIN: u32 = accord_handshake::GossipFrame::MAX_LEN as u32;
/// The largest (and default) `inbox_frame_max_bytes`: an inbox request is one gossip frame,
/// so nothing larger is ever honest, and 4 KiB is all a stranger can make each stream hold.
// 4096 fits a u32.
#[allow(clippy::cast_possible_truncation)]
const INBOX_FRAME_MAX: u32 = accord_net::MAX_INBOX_REQUEST as u32;
/// The smallest `dm_frame_max_bytes`: room for the largest message frame (a 64 KiB body).
const DM_FRAME_MIN: u32 = 73_728;

// A change to the message or invite encoding that outgrows these lower bounds fails to
// compile here, rather than letting a config disconnect honest peers.
const _: () = assert!(crate::message::wire::MAX_REQUEST <= DM_FRAME_MIN as usize);
const _: () = assert!(accord_handshake::GossipFrame::MAX_LEN <= accord_net::MAX_INBOX_REQUEST);

/// `[limits]`: the bounds on what peers (and the user) can make this node hold, in one
/// place. Each is enforced where the resource lives; docs/architecture.md ("Limits") says
/// where.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSection {
    /// Largest request frame on `/accord/inbox/1`, in bytes; a peer announcing more is
    /// disconnected. Default: 4096. Range: 4030–4096 (an inbox request is one gossip frame,
    /// at most 4,034 bytes).
    pub inbox_frame_max_bytes: u32,
    /// Largest request frame on `/accord/dm/1`, in bytes; a peer announcing more is
    /// disconnected. Default: 131072. Range: 73728–131072 (the largest message frame, a
    /// 64 KiB body with its envelope, is 69,649 bytes).
    pub dm_frame_max_bytes: u32,
    /// Requests each direct protocol (inbox, dm) serves at once on one connection; streams
    /// beyond it are reset. Default: 100. Range: 1–1000.
    pub streams_per_protocol: u32,
    /// Yamux substreams open at once on one connection; a peer opening more has its
    /// connection closed. Default: 512. Range: 16–4096 (Yamux's window allows no more).
    pub streams_per_connection: u32,
    /// Established connections to one peer. Default: 8. Range: 1–64.
    pub connections_per_peer: u32,
    /// Established connections in all. Default: 1024. Range: 16–65536.
    pub connections_total: u32,
    /// Incoming connections still in their handshake. Default: 128. Range: 1–4096.
    pub pending_connections: u32,
    /// Pending incoming invites kept; when full, the one that expires first is dropped.
    /// Default: 500. Range: 1–5000.
    pub pending_invites: u32,
    /// Messages waiting in the outbox for one peer; `accord send` to a peer whose outbox is
    /// full is refused, and nothing queued is dropped. Default: 1000. Range: 1–100000.
    pub outbox_per_peer: u32,
    /// Message keys one received header may make us skip in one chain. Default: 1000.
    /// Range: 1–1000 (the protocol's maximum, `accord_channel::MAX_SKIP`).
    pub skipped_keys_per_header: u32,
    /// Skipped message keys kept per conversation. Default: 2000. Range: 1–2000 (what the
    /// stored ratchet state can hold, `accord_channel::MAX_SKIPPED_KEYS`), and at least
    /// `skipped_keys_per_header`.
    pub skipped_keys: u32,
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            inbox_frame_max_bytes: INBOX_FRAME_MAX,
            dm_frame_max_bytes: 128 * 1024,
            streams_per_protocol: 100,
            streams_per_connection: 512,
            connections_per_peer: 8,
            connections_total: 1024,
            pending_connections: 128,
            pending_invites: 500,
            outbox_per_peer: 1000,
            skipped_keys_per_header: accord_channel::MAX_SKIP,
            // 2000 fits a u32.
            skipped_keys: accord_channel::MAX_SKIPPED_KEYS as u32,
        }
    }
}

impl LimitsSection {
    /// The network layer's share of the limits.
    pub fn net(&self) -> accord_net::NetLimits {
        // Every value is validated to a range that fits a usize on any supported target.
        let size = |value: u32| usize::try_from(value).unwrap_or(usize::MAX);
        accord_net::NetLimits {
            max_inbox_request: size(self.inbox_frame_max_bytes),
            max_dm_request: size(self.dm_frame_max_bytes),
            max_concurrent_streams: size(self.streams_per_protocol),
            max_yamux_streams: size(self.streams_per_connection),
            max_connections_per_peer: self.connections_per_peer,
            max_connections: self.connections_total,
            max_pending_incoming: self.pending_connections,
            // The direct protocols' per-peer rate and byte budget are not user settings:
            // their defaults sit far above what an honest peer sends.
            ..accord_net::NetLimits::default()
        }
    }

    /// The channel's share: how much skipped-key work and memory a peer can cause.
    pub fn skip(&self) -> Result<accord_channel::SkipLimits, accord_channel::SkipLimitError> {
        accord_channel::SkipLimits::new(
            self.skipped_keys_per_header,
            usize::try_from(self.skipped_keys).unwrap_or(usize::MAX),
        )
    }

    /// Checks every key against its documented range.
    pub(super) fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let ranges: [(&'static str, u32, u32, u32); 11] = [
            (
                "limits.inbox_frame_max_bytes",
                self.inbox_frame_max_bytes,
                INBOX_FRAME_MIN,
                INBOX_FRAME_MAX,
            ),
            (
                "limits.dm_frame_max_bytes",
                self.dm_frame_max_bytes,
                DM_FRAME_MIN,
                131_072,
            ),
            (
                "limits.streams_per_protocol",
                self.streams_per_protocol,
                1,
                1000,
            ),
            (
                "limits.streams_per_connection",
                self.streams_per_connection,
                16,
                4096,
            ),
            (
                "limits.connections_per_peer",
                self.connections_per_peer,
                1,
                64,
            ),
            (
                "limits.connections_total",
                self.connections_total,
                16,
                65_536,
            ),
            (
                "limits.pending_connections",
                self.pending_connections,
                1,
                4096,
            ),
            ("limits.pending_invites", self.pending_invites, 1, 5000),
            ("limits.outbox_per_peer", self.outbox_per_peer, 1, 100_000),
            (
                "limits.skipped_keys_per_header",
                self.skipped_keys_per_header,
                1,
                accord_channel::MAX_SKIP,
            ),
            ("limits.skipped_keys", self.skipped_keys, 1, 2000),
        ];
        for (key, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                return Err(ConfigError::Value {
                    path: path.to_path_buf(),
                    key,
                    message: format!("{value} is out of range {min}–{max}"),
                });
            }
        }
        self.skip().map_err(|err| ConfigError::Value {
            path: path.to_path_buf(),
            key: "limits.skipped_keys",
            message: err.to_string(),
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_frame_limits_lower_bounds_are_stated_in_the_errors() {
        // The lower bounds of the frame keys, as validated.
        let smallest = |key: &str| {
            let text = format!("[limits]\n{key} = 1\n");
            let err = Config::parse(&text, Path::new("/x"))
                .err()
                .map(|e| e.to_string());
            err.unwrap_or_default()
        };
        assert!(smallest("dm_frame_max_bytes").contains("73728–131072"));
        assert!(smallest("inbox_frame_max_bytes").contains("4030–4096"));
    }

    #[test]
    fn limits_stay_within_what_the_protocols_allow() {
        let defaults = LimitsSection::default();
        assert_eq!(defaults.net(), accord_net::NetLimits::default());
        assert_eq!(
            defaults.skip().ok(),
            Some(accord_channel::SkipLimits::default())
        );
        for (text, key) in [
            ("dm_frame_max_bytes = 4096", "limits.dm_frame_max_bytes"),
            (
                "inbox_frame_max_bytes = 4097",
                "limits.inbox_frame_max_bytes",
            ),
            (
                "streams_per_connection = 5000",
                "limits.streams_per_connection",
            ),
            ("outbox_per_peer = 0", "limits.outbox_per_peer"),
            (
                "skipped_keys_per_header = 1001",
                "limits.skipped_keys_per_header",
            ),
            ("skipped_keys = 2001", "limits.skipped_keys"),
            ("skipped_keys = 10", "limits.skipped_keys"),
            ("outbox = 3", "outbox"),
        ] {
            let err = Config::parse(
                &format!("[limits]\n{text}\n"),
                Path::new("/tmp/x/config.toml"),
            )
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
            assert!(err.contains(key), "{text}: {err}");
        }
    }
}
