//! The node's configuration file, `<data-dir>/config.toml`.
//!
//! Every key is optional and has the default stated on its field. Unknown keys are an error
//! that names the key, so that a typo never silently falls back to a default.

use std::path::{Path, PathBuf};

use serde::Deserialize;

mod gossip;
mod limits;
mod mailbox;
mod profile;
mod ui;

pub use gossip::GossipConfig;
pub use limits::LimitsSection;
pub use mailbox::MailboxSection;
pub use profile::ProfileSection;
pub use ui::UiSection;

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[network]`: where to listen and whom to ask first.
    pub network: NetworkConfig,
    /// `[invites]`: the limits of the Connect half.
    pub invites: InvitesConfig,
    /// `[gossip]`: inbox topics.
    pub gossip: GossipConfig,
    /// `[messages]`: the limits of the Message half.
    pub messages: MessagesConfig,
    /// `[store]`: the on-disk database.
    pub store: StoreSection,
    /// `[relay]`: what this node grants others when it serves as a relay.
    pub relay: RelaySection,
    /// `[limits]`: every bound on what peers and the user can make this node hold.
    pub limits: LimitsSection,
    /// `[profile]`: what this node shares about its user's network.
    pub profile: ProfileSection,
    /// `[ui]`: the local web app.
    pub ui: UiSection,
    /// `[mailbox]`: mail held for connections.
    pub mailbox: MailboxSection,
}

/// `[network]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Multiaddrs to listen on. Default: `["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"]`.
    pub listen: Vec<String>,
    /// Multiaddrs (ending in `/p2p/<id>`) dialled at start and added to the DHT. Default: none.
    pub bootstrap: Vec<String>,
    /// Discover peers on the LAN with mDNS. Default: true.
    pub mdns: bool,
    /// Run the Kademlia DHT (find peers by ID, discover more peers). Default: true. Off, the
    /// node talks only to the peers it is told about; test networks use this for exact
    /// topologies.
    pub dht: bool,
    /// Answer other nodes' DHT queries (Kademlia server mode), and so appear in their routing
    /// tables. Default: true. A laptop that should only ask, never be asked, sets false.
    pub dht_server: bool,
    /// Circuit relay v2 servers (multiaddrs ending in `/p2p/<id>`) to dial at start and to
    /// reserve a slot on unless AutoNAT finds this node publicly reachable. `--relay` adds to
    /// them. Default: none.
    pub relays: Vec<String>,
    /// Serve relay reservations and circuits for others, within the `[relay]` limits; for a
    /// publicly reachable server. `--relay-server` turns it on. Default: false.
    pub relay_server: bool,
    /// AutoNAT asks and answers only peers seen at global IP addresses. Default: true. A test
    /// network on 127.0.0.1 sets false.
    pub autonat_global_only: bool,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            listen: vec![
                "/ip4/0.0.0.0/tcp/0".to_owned(),
                "/ip4/0.0.0.0/udp/0/quic-v1".to_owned(),
            ],
            bootstrap: Vec::new(),
            mdns: true,
            dht: true,
            dht_server: true,
            relays: Vec::new(),
            relay_server: false,
            autonat_global_only: true,
        }
    }
}

/// `[invites]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InvitesConfig {
    /// Invites allowed in any rolling 7 days. Default: 100. Range: 1–1000.
    pub weekly_limit: u32,
    /// Longest invite note, in Unicode scalar values. Default: 300. Range: 0–300.
    pub note_max_chars: u32,
    /// Days before an unanswered invite expires. Default: 14. Range: 1–90.
    pub expiry_days: u32,
    /// Days before the same pair may invite again after a withdrawal or decline.
    /// Default: 21. Range: 0–365.
    pub reinvite_cooldown_days: u32,
    /// The proof-of-work stamp every gossip frame carries (invites, acceptances, withdrawals
    /// and revocations alike, since a relay cannot tell them apart), in leading zero bits:
    /// this node mints its frames with this many, and as a relay and a recipient refuses
    /// frames with fewer. Each bit doubles the work. Default: 18 (about a quarter of a million
    /// hashes, tens of milliseconds on a laptop; see docs/benchmarks.md). Range: 1–28. A network must agree
    /// on it, or frames from nodes with a lower value are dropped; test networks use a low value
    /// to keep tests fast.
    pub stamp_bits: u32,
}

impl Default for InvitesConfig {
    fn default() -> Self {
        InvitesConfig {
            weekly_limit: 100,
            note_max_chars: 300,
            expiry_days: 14,
            reinvite_cooldown_days: 21,
            stamp_bits: accord_handshake::DEFAULT_STAMP_BITS,
        }
    }
}

/// `[messages]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessagesConfig {
    /// Largest message body in bytes. Default: 65536. Range: 1–65536.
    pub max_bytes: u32,
    /// Tell the sender when a message was read. Default: true.
    pub read_receipts: bool,
}

impl Default for MessagesConfig {
    fn default() -> Self {
        MessagesConfig {
            max_bytes: 65536,
            read_receipts: true,
        }
    }
}

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSection {
    /// The database's page cache, in MiB. Default: 64. Range: 1–4096.
    pub cache_mib: u64,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection { cache_mib: 64 }
    }
}

/// `[relay]`: the limits of a relay server (`network.relay_server = true`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelaySection {
    /// Reservations held at once. Default: 128. Range: 1–100000.
    pub max_reservations: u64,
    /// Relayed circuits open at once. Default: 16. Range: 1–100000.
    pub max_circuits: u64,
    /// Bytes relayed per circuit (both ways) before it is closed. Default: 1048576 (1 MiB).
    /// Range: 1024–1073741824.
    pub max_circuit_bytes: u64,
    /// Seconds a circuit may stay open. Default: 600. Range: 1–86400.
    pub max_circuit_duration_secs: u64,
}

impl Default for RelaySection {
    fn default() -> Self {
        RelaySection {
            max_reservations: 128,
            max_circuits: 16,
            max_circuit_bytes: 1 << 20,
            max_circuit_duration_secs: 600,
        }
    }
}

impl RelaySection {
    /// The limits in the network layer's terms.
    pub fn limits(&self) -> accord_net::RelayLimits {
        accord_net::RelayLimits {
            // Validated to at most 100000, which fits every usize.
            max_reservations: usize::try_from(self.max_reservations).unwrap_or(usize::MAX),
            max_circuits: usize::try_from(self.max_circuits).unwrap_or(usize::MAX),
            max_circuit_bytes: self.max_circuit_bytes,
            max_circuit_duration: std::time::Duration::from_secs(self.max_circuit_duration_secs),
        }
    }
}

impl Config {
    /// A config file that sets every key (most to values other than their defaults). The unit
    /// tests and the fuzz seed corpus both parse it, so a key added here is exercised in both.
    pub const EVERY_KEY_EXAMPLE: &str = r#"[network]
listen = ["/ip4/127.0.0.1/tcp/0"]
bootstrap = []
mdns = false
dht = true
dht_server = false
relays = ["/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWRBhwfeP2Y4TCx1SM6s9rUoHhR5STiGwxBhgFRcw3UERE"]
relay_server = true
autonat_global_only = false
[invites]
weekly_limit = 5
note_max_chars = 100
expiry_days = 7
reinvite_cooldown_days = 3
stamp_bits = 12
[gossip]
shards = 4
users_per_shard = 64
min_shard_level = 1
max_shard_level = 12
relay_all_shards = false
max_frames_per_peer_per_minute = 30
max_frames_per_prefix_per_minute = 90
store_kib_per_shard = 16
[messages]
max_bytes = 1024
read_receipts = false
[store]
cache_mib = 8
[relay]
max_reservations = 4
max_circuits = 1
max_circuit_bytes = 65536
max_circuit_duration_secs = 30
[limits]
inbox_frame_max_bytes = 4034
dm_frame_max_bytes = 73728
streams_per_protocol = 10
streams_per_connection = 64
connections_per_peer = 2
connections_total = 100
pending_connections = 16
pending_invites = 50
outbox_per_peer = 20
skipped_keys_per_header = 100
skipped_keys = 200
[ui]
enabled = true
listen = "127.0.0.1:8377"
"#;
}

/// Why the configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key or a value of the wrong type.
    #[error("invalid config file {}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said, naming the key and position.
        message: String,
    },
    /// A value is out of its documented range, or a multiaddr does not parse.
    #[error("invalid config file {}: {key}: {message}", path.display())]
    Value {
        /// The file.
        path: PathBuf,
        /// The key, as `section.key`.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Reads `path`; a missing file means every default.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Config::parse(&text, path)
    }

    /// Parses and validates the text of a config file; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: path.to_path_buf(),
            message: err.message().to_owned() + &location(text, err.span()),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let out_of_range = |key: &'static str, value: u64, min: u64, max: u64| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(ConfigError::Value {
                    path: path.to_path_buf(),
                    key,
                    message: format!("{value} is out of range {min}–{max}"),
                })
            }
        };
        out_of_range(
            "invites.weekly_limit",
            self.invites.weekly_limit.into(),
            1,
            1000,
        )?;
        out_of_range(
            "invites.note_max_chars",
            self.invites.note_max_chars.into(),
            0,
            300,
        )?;
        out_of_range(
            "invites.expiry_days",
            self.invites.expiry_days.into(),
            1,
            90,
        )?;
        out_of_range(
            "invites.reinvite_cooldown_days",
            self.invites.reinvite_cooldown_days.into(),
            0,
            365,
        )?;
        out_of_range(
            "invites.stamp_bits",
            self.invites.stamp_bits.into(),
            1,
            accord_handshake::MAX_STAMP_BITS.into(),
        )?;
        out_of_range(
            "messages.max_bytes",
            self.messages.max_bytes.into(),
            1,
            65536,
        )?;
        out_of_range("store.cache_mib", self.store.cache_mib, 1, 4096)?;
        out_of_range(
            "relay.max_reservations",
            self.relay.max_reservations,
            1,
            100_000,
        )?;
        out_of_range("relay.max_circuits", self.relay.max_circuits, 1, 100_000)?;
        out_of_range(
            "relay.max_circuit_bytes",
            self.relay.max_circuit_bytes,
            1024,
            1 << 30,
        )?;
        out_of_range(
            "relay.max_circuit_duration_secs",
            self.relay.max_circuit_duration_secs,
            1,
            86_400,
        )?;
        self.limits.validate(path)?;
        self.gossip.validate(path)?;
        self.ui.validate(path)?;
        self.mailbox.validate(path)?;
        for addr in &self.network.relays {
            if let Ok(parsed) = addr.parse::<accord_net::Multiaddr>()
                && accord_net::split_peer_id(&parsed).1.is_none()
            {
                return Err(ConfigError::Value {
                    path: path.to_path_buf(),
                    key: "network.relays",
                    message: format!("{addr:?} must end in /p2p/<relay id>"),
                });
            }
        }
        for (key, addrs) in [
            ("network.listen", &self.network.listen),
            ("network.bootstrap", &self.network.bootstrap),
            ("network.relays", &self.network.relays),
        ] {
            for addr in addrs {
                if let Err(err) = addr.parse::<accord_net::Multiaddr>() {
                    return Err(ConfigError::Value {
                        path: path.to_path_buf(),
                        key,
                        message: format!("{addr:?} is not a multiaddr: {err}"),
                    });
                }
            }
        }
        Ok(())
    }
}

/// " at line L, column C" for a byte span of `text`, or nothing.
fn location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else {
        return String::new();
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!(" (at line {line}, column {column})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/tmp/x/config.toml"))
    }

    #[test]
    fn empty_file_means_defaults() {
        assert_eq!(parse("").ok(), Some(Config::default()));
    }

    #[test]
    fn every_documented_key_is_accepted() {
        let text = Config::EVERY_KEY_EXAMPLE;
        let config = parse(text).unwrap_or_else(|err| panic!("{err}"));
        assert!(!config.network.mdns);
        assert_eq!(config.invites.weekly_limit, 5);
        assert_eq!(config.gossip.shards, Some(4));
        assert_eq!(config.gossip.users_per_shard, 64);
        assert_eq!(
            (config.gossip.min_shard_level, config.gossip.max_shard_level),
            (1, 12)
        );
        assert_eq!(config.invites.stamp_bits, 12);
        assert_eq!(config.gossip.max_frames_per_peer_per_minute, 30);
        assert_eq!(config.gossip.max_frames_per_prefix_per_minute, 90);
        assert_eq!(config.gossip.store_kib_per_shard, 16);
        assert!(!config.messages.read_receipts);
        assert!(config.network.relay_server);
        assert_eq!(config.network.relays.len(), 1);
        assert_eq!(config.relay.limits().max_circuits, 1);
        let net = config.limits.net();
        assert_eq!(
            (
                net.max_inbox_request,
                net.max_dm_request,
                net.max_yamux_streams
            ),
            (4034, 73728, 64)
        );
        assert_eq!(config.limits.outbox_per_peer, 20);
        assert!(config.ui.enabled);
        assert_eq!(config.ui.listen_addr().map(|a| a.port()), Some(8377));
        let skip = config.limits.skip().ok();
        assert_eq!(
            skip.map(|s| (s.max_skip(), s.max_skipped_keys())),
            Some((100, 200))
        );
        assert_eq!(
            config.relay.limits().max_circuit_duration,
            std::time::Duration::from_secs(30)
        );
    }

    #[test]
    fn relays_must_name_their_peer_and_limits_are_bounded() {
        let err = parse("[network]\nrelays = [\"/ip4/127.0.0.1/tcp/1\"]\n")
            .err()
            .map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("network.relays"));
        let err = parse("[relay]\nmax_circuits = 0\n")
            .err()
            .map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("relay.max_circuits"));
        let err = parse("[relay]\nmax_circs = 1\n")
            .err()
            .map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("max_circs"));
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = parse("[network]\nmdsn = false\n")
            .err()
            .map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains("mdsn"), "{err}");
        assert!(err.contains("/tmp/x/config.toml"), "{err}");
        let err = parse("[colour]\nx = 1\n").err().map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("colour"));
    }

    #[test]
    fn out_of_range_values_and_bad_multiaddrs_are_refused() {
        let err = parse("[gossip]\nshards = 0\n").err().map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("gossip.shards"));
        for text in [
            "[invites]\nstamp_bits = 0\n",
            "[invites]\nstamp_bits = 29\n",
        ] {
            let err = parse(text).err().map(|e| e.to_string());
            assert!(err.unwrap_or_default().contains("invites.stamp_bits"));
        }
        let err = parse("[gossip]\nmax_frames_per_peer_per_minute = 0\n")
            .err()
            .map(|e| e.to_string());
        assert!(
            err.unwrap_or_default()
                .contains("gossip.max_frames_per_peer_per_minute")
        );
        let err = parse("[network]\nlisten = [\"nope\"]\n")
            .err()
            .map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("network.listen"));
    }

    #[test]
    fn the_web_app_listens_only_on_loopback() {
        assert_eq!(
            Config::default().ui.listen_addr(),
            "127.0.0.1:0".parse().ok()
        );
        assert!(parse("[ui]\nlisten = \"[::1]:0\"\n").is_ok());
        for listen in ["0.0.0.0:8080", "192.168.1.2:80", "nope"] {
            let err = parse(&format!("[ui]\nlisten = \"{listen}\"\n"))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("ui.listen"), "{err}");
        }
        let err = parse("[ui]\nlisten = \"0.0.0.0:1\"\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("not a loopback address"), "{err}");
    }

    #[test]
    fn garbage_is_a_parse_error() {
        assert!(matches!(
            parse("\u{0}\u{1}garbage = = ="),
            Err(ConfigError::Parse { .. })
        ));
    }
}
