//! `[profile]`: what this node shares about its user's network.

use serde::Deserialize;

/// `[profile]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProfileSection {
    /// Share the list of our connections (each an attestation they can check) with our
    /// connections, so that they see who they know through us, as LinkedIn lets connections
    /// see connections. Default: true. False shares nothing, and withdraws what was shared.
    pub share_connections: bool,
}

impl Default for ProfileSection {
    fn default() -> Self {
        ProfileSection {
            share_connections: true,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests should fail loudly.
mod tests {
    use crate::Config;

    #[test]
    fn sharing_is_on_by_default_and_can_be_turned_off() {
        assert!(Config::default().profile.share_connections);
        let config: Config = toml::from_str("[profile]\nshare_connections = false\n").unwrap();
        assert!(!config.profile.share_connections);
        assert!(toml::from_str::<Config>("[profile]\nshare = false\n").is_err());
    }
}
