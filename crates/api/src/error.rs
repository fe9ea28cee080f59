//! Errors: what the daemon reports to a client, and what can go wrong in the client itself.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The error codes the daemon uses in JSON-RPC error objects.
///
/// The negative codes are JSON-RPC 2.0's own; the positive ones are Accord's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The line was not valid JSON.
    ParseError,
    /// The JSON was not a valid request object, or the line was too long.
    InvalidRequest,
    /// The method does not exist.
    MethodNotFound,
    /// The parameters did not validate (an ID or multiaddr that does not parse, say).
    InvalidParams,
    /// The daemon failed while serving the request.
    Internal,
    /// The request was well formed but refused (for example, a lookup that found nothing).
    Refused,
    /// The request ran out of time (for example, a dial that never completed).
    Timeout,
}

impl ErrorCode {
    /// The numeric code on the wire.
    pub fn code(self) -> i64 {
        match self {
            ErrorCode::ParseError => -32700,
            ErrorCode::InvalidRequest => -32600,
            ErrorCode::MethodNotFound => -32601,
            ErrorCode::InvalidParams => -32602,
            ErrorCode::Internal => -32603,
            ErrorCode::Refused => 1,
            ErrorCode::Timeout => 2,
        }
    }

    /// The code for a number received on the wire, if it is one we know.
    pub fn from_code(code: i64) -> Option<Self> {
        [
            ErrorCode::ParseError,
            ErrorCode::InvalidRequest,
            ErrorCode::MethodNotFound,
            ErrorCode::InvalidParams,
            ErrorCode::Internal,
            ErrorCode::Refused,
            ErrorCode::Timeout,
        ]
        .into_iter()
        .find(|known| known.code() == code)
    }
}

/// A JSON-RPC error object as sent by the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct RemoteError {
    /// The numeric code; see [`ErrorCode`].
    pub code: i64,
    /// A message meant for the user, complete enough to act on.
    pub message: String,
}

impl RemoteError {
    /// Builds an error with a known code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        RemoteError {
            code: code.code(),
            message: message.into(),
        }
    }

    /// The known code of this error, if any.
    pub fn kind(&self) -> Option<ErrorCode> {
        ErrorCode::from_code(self.code)
    }
}

/// What can go wrong for a client of the control API.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the socket: no daemon runs for that data dir (or it crashed and left a
    /// stale socket behind).
    #[error("no Accord node is running for {}; start one with: accord daemon", data_dir.display())]
    NotRunning {
        /// The data dir whose socket we tried.
        data_dir: PathBuf,
    },
    /// Reading from or writing to the socket failed.
    #[error("control socket I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The daemon sent something that is not a valid response, or closed the connection early.
    #[error("the daemon broke the control protocol: {0}")]
    Protocol(String),
    /// The daemon answered with an error. Its message is shown as it is, once.
    #[error(transparent)]
    Remote(#[from] RemoteError),
}
