//! `[ui]`: the local web app (`accord ui`).

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

use super::ConfigError;

/// `[ui]`: the local web app, served to the owner's browser.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiSection {
    /// Start the web app with the daemon (`accord ui` starts it on demand either way).
    /// Default: false.
    pub enabled: bool,
    /// The address the web app listens on: a loopback address, since anyone who can reach
    /// it could try to log in; port 0 picks a free port. Default: `"127.0.0.1:0"`.
    pub listen: String,
}

impl Default for UiSection {
    fn default() -> Self {
        UiSection {
            enabled: false,
            listen: "127.0.0.1:0".to_owned(),
        }
    }
}

impl UiSection {
    /// The listen address; [`UiSection::validate`] has checked that it parses.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen.parse().ok()
    }

    /// Refuses an address that does not parse or is not loopback.
    pub(super) fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let error = |message: String| ConfigError::Value {
            path: path.to_path_buf(),
            key: "ui.listen",
            message,
        };
        let addr: SocketAddr = self.listen.parse().map_err(|err| {
            error(format!(
                "{:?} is not an address and port (like \"127.0.0.1:0\"): {err}",
                self.listen
            ))
        })?;
        if !addr.ip().is_loopback() {
            return Err(error(format!(
                "{addr} is not a loopback address: the web app listens only on 127.0.0.1 or \
                 [::1], since anyone who can reach it could try to log in"
            )));
        }
        Ok(())
    }
}
