//! `accord alias`: a local name for a connection. The Connect core owns the connection
//! records (it answers `connections` from memory and rewrites them on revocation), so the
//! alias is set here too: a name written behind its back would be shown stale, and lost at
//! the next write of that connection.

use std::str::FromStr;

use accord_api::{AliasInfo, ErrorCode, RemoteError};
use accord_identity::AccordId;

use super::ConnectCore;
use super::commands::reply;
use super::io::{ReplyToken, StoreOp};
use super::plan::{Noted, Step, Then};
use crate::connect::ConnectReply;

/// The longest alias, in characters.
const MAX_ALIAS_CHARS: usize = 64;

impl ConnectCore {
    /// Names the unrevoked connection `peer` (an ID or its current alias) `name`, unless
    /// another connection has that name.
    pub(super) fn alias(
        &mut self,
        token: ReplyToken,
        peer: &str,
        name: &str,
    ) -> Result<Vec<Step>, RemoteError> {
        let name = checked_alias(name)?;
        let peer = self.resolve_connection(peer)?;
        let mut connection = self.active_connection(&peer)?.clone();
        if self.memory.connections().any(|c| {
            c.peer != peer && c.revoked_at_ms.is_none() && c.alias.as_deref() == Some(&name)
        }) {
            return Err(invalid("another connection already has it"));
        }
        connection.alias = Some(name.clone());
        let info = AliasInfo {
            peer: peer.to_string(),
            alias: name,
        };
        Ok(vec![
            Step::Store(
                StoreOp::PutConnection(connection.clone()),
                Then::Note(Noted::Connection(connection)),
            ),
            reply(token, Ok(ConnectReply::Alias(info))),
        ])
    }

    /// The peer `text` names: an Accord ID, or the alias of an unrevoked connection.
    fn resolve_connection(&self, text: &str) -> Result<AccordId, RemoteError> {
        let text = text.trim();
        if let Ok(id) = AccordId::from_str(text) {
            return Ok(id);
        }
        self.memory
            .connections()
            .find(|c| c.revoked_at_ms.is_none() && c.alias.as_deref() == Some(text))
            .map(|c| c.peer)
            .ok_or_else(|| {
                RemoteError::new(
                    ErrorCode::InvalidParams,
                    format!("{text:?} is neither an Accord ID nor the alias of a connection"),
                )
            })
    }
}

fn invalid(why: &str) -> RemoteError {
    RemoteError::new(ErrorCode::InvalidParams, format!("invalid alias: {why}"))
}

/// The alias `name` trimmed, or why it cannot be one.
pub(super) fn checked_alias(name: &str) -> Result<String, RemoteError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_ALIAS_CHARS {
        return Err(invalid("it must be 1 to 64 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("it must not contain control characters"));
    }
    // Like a note, an alias may not reorder how it is shown (a "bob\u{202E}gpj.exe").
    if name
        .chars()
        .any(accord_handshake::is_directional_formatting)
    {
        return Err(invalid(
            "it must not contain bidirectional formatting characters",
        ));
    }
    if AccordId::from_str(name).is_ok() {
        return Err(invalid("it must not look like an Accord ID"));
    }
    Ok(name.to_owned())
}
