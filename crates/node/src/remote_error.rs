//! The control-API errors both actors answer with, in one place so that neither actor reaches
//! into the other for them.

use accord_api::{ErrorCode, RemoteError};

/// A command the rules refuse (exit 1 at the CLI), with the reason in the user's words.
pub(crate) fn refused(message: impl Into<String>) -> RemoteError {
    RemoteError::new(ErrorCode::Refused, message)
}

/// A failure of the node itself (the store, the network), not of the user's input.
pub(crate) fn internal(err: impl std::fmt::Display) -> RemoteError {
    RemoteError::new(ErrorCode::Internal, err.to_string())
}
