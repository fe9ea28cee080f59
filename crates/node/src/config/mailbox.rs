//! `[mailbox]`: holding mail for this node's connections while their recipients are offline.

use std::path::Path;

use accord_store::MailboxLimits;
use serde::Deserialize;

use super::ConfigError;

/// `[mailbox]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailboxSection {
    /// Hold mail for connections that chose this node as one of their mailboxes. Default:
    /// true. False refuses every deposit and registration (what is already held can still be
    /// fetched by its owner).
    pub serve: bool,
    /// The most bytes of mail held for everyone together. Default: 64 MiB.
    pub max_bytes: u64,
    /// How long an item is held before it is deleted unfetched, in days. Default: 14.
    pub max_days: u64,
    /// The share of `max_bytes` one recipient may fill, in percent (so that one busy
    /// recipient cannot take the whole budget from the others). Default: 25.
    pub recipient_share_percent: u8,
}

impl Default for MailboxSection {
    fn default() -> Self {
        MailboxSection {
            serve: true,
            max_bytes: 64 * 1024 * 1024,
            max_days: 14,
            recipient_share_percent: 25,
        }
    }
}

impl MailboxSection {
    /// The budget the store enforces.
    pub fn limits(&self) -> MailboxLimits {
        MailboxLimits {
            max_bytes: self.max_bytes,
            max_bytes_per_owner: self
                .max_bytes
                .saturating_mul(u64::from(self.recipient_share_percent))
                / 100,
            max_age_ms: self.max_days.saturating_mul(24 * 60 * 60 * 1000),
        }
    }

    /// Refuses a share outside 1–100 and an age of zero days.
    pub(super) fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        if !(1..=100).contains(&self.recipient_share_percent) {
            return Err(ConfigError::Value {
                path: path.to_path_buf(),
                key: "mailbox.recipient_share_percent",
                message: format!("{} is not between 1 and 100", self.recipient_share_percent),
            });
        }
        if self.max_days == 0 {
            return Err(ConfigError::Value {
                path: path.to_path_buf(),
                key: "mailbox.max_days",
                message: "mail must be kept at least a day".to_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests should fail loudly.
mod tests {
    use crate::Config;

    #[test]
    fn serving_is_on_by_default_with_a_budget_and_a_share() {
        let config = Config::default();
        assert!(config.mailbox.serve);
        let limits = config.mailbox.limits();
        assert_eq!(limits.max_bytes, 64 * 1024 * 1024);
        assert_eq!(limits.max_bytes_per_owner, 16 * 1024 * 1024);
        assert_eq!(limits.max_age_ms, 14 * 24 * 3600 * 1000);
        let config: Config =
            toml::from_str("[mailbox]\nserve = false\nmax_bytes = 1000\n").unwrap();
        assert!(!config.mailbox.serve);
        assert_eq!(config.mailbox.limits().max_bytes_per_owner, 250);
        assert!(toml::from_str::<Config>("[mailbox]\nservce = true\n").is_err());
    }
}
