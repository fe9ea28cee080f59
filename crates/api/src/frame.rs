//! The framing of the control API: newline-delimited JSON-RPC 2.0.
//!
//! Each frame is one JSON object on one line, terminated by `\n`, at most [`MAX_FRAME_LEN`]
//! bytes long including the newline. Requests carry a numeric `id`; responses echo it.
//! Event notifications have no `id` and the method `event`.
//!
//! ```text
//! → {"jsonrpc":"2.0","id":1,"method":"status"}
//! ← {"jsonrpc":"2.0","id":1,"result":{"id":"12D3KooW…","peers":2,…}}
//! → {"jsonrpc":"2.0","id":2,"method":"lookup","params":{"peer":"12D3KooWnope"}}
//! ← {"jsonrpc":"2.0","id":2,"error":{"code":-32602,"message":"…"}}
//! → {"jsonrpc":"2.0","id":3,"method":"subscribe"}
//! ← {"jsonrpc":"2.0","id":3,"result":{"subscribed":true}}
//! ← {"jsonrpc":"2.0","method":"event","params":{"event":"peer_connected",…}}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Event, RemoteError, Request};

/// The longest frame either side accepts, newline included. Longer lines are refused with
/// [`crate::ErrorCode::InvalidRequest`] and the connection is closed, so that a client cannot
/// make the daemon buffer without bound.
pub const MAX_FRAME_LEN: usize = 1024 * 1024;

/// The JSON-RPC version string every frame carries.
pub const JSONRPC_VERSION: &str = "2.0";

/// A request frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFrame {
    /// Always `"2.0"`.
    pub jsonrpc: String,
    /// The request id, echoed in the response.
    pub id: u64,
    /// The method and its parameters.
    #[serde(flatten)]
    pub request: Request,
}

impl RequestFrame {
    /// Wraps a request with the given id.
    pub fn new(id: u64, request: Request) -> Self {
        RequestFrame {
            jsonrpc: JSONRPC_VERSION.to_owned(),
            id,
            request,
        }
    }
}

/// A response frame: exactly one of `result` and `error` is present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseFrame {
    /// Always `"2.0"`.
    pub jsonrpc: String,
    /// The id of the request this answers; `null` when the request could not be parsed.
    pub id: Option<u64>,
    /// The result, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The error, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RemoteError>,
}

impl ResponseFrame {
    /// A successful response.
    pub fn ok(id: u64, result: Value) -> Self {
        ResponseFrame {
            jsonrpc: JSONRPC_VERSION.to_owned(),
            id: Some(id),
            result: Some(result),
            error: None,
        }
    }

    /// An error response.
    pub fn err(id: Option<u64>, error: RemoteError) -> Self {
        ResponseFrame {
            jsonrpc: JSONRPC_VERSION.to_owned(),
            id,
            result: None,
            error: Some(error),
        }
    }
}

/// An event notification frame, sent to subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFrame {
    /// Always `"2.0"`.
    pub jsonrpc: String,
    /// Always `"event"`.
    pub method: String,
    /// The event.
    pub params: Event,
}

impl EventFrame {
    /// Wraps an event.
    pub fn new(event: Event) -> Self {
        EventFrame {
            jsonrpc: JSONRPC_VERSION.to_owned(),
            method: "event".to_owned(),
            params: event,
        }
    }
}

/// Serialises a frame as one line, newline included.
pub fn encode_line<T: Serialize>(frame: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut line = serde_json::to_vec(frame)?;
    line.push(b'\n');
    Ok(line)
}

/// Why a request line could not be turned into a [`RequestFrame`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeRequestError {
    /// The line is not JSON at all.
    #[error("the request is not valid JSON: {0}")]
    NotJson(serde_json::Error),
    /// The line is JSON but not a request we understand. `id` is the request id when it could
    /// be read, so that the error response can echo it.
    #[error("{message}")]
    Invalid {
        /// The id of the request, if it had a readable one.
        id: Option<u64>,
        /// True when the method name itself is unknown.
        unknown_method: bool,
        /// What is wrong with it.
        message: String,
    },
}

/// Parses one request line (without its newline).
pub fn decode_request(line: &[u8]) -> Result<RequestFrame, DecodeRequestError> {
    let value: Value = serde_json::from_slice(line).map_err(DecodeRequestError::NotJson)?;
    let id = value.get("id").and_then(Value::as_u64);
    if value.get("jsonrpc").and_then(Value::as_str) != Some(JSONRPC_VERSION) {
        return Err(DecodeRequestError::Invalid {
            id,
            unknown_method: false,
            message: "the request must have \"jsonrpc\": \"2.0\"".to_owned(),
        });
    }
    serde_json::from_value(value.clone()).map_err(|err| {
        let unknown_method = err.to_string().contains("unknown variant");
        DecodeRequestError::Invalid {
            id,
            unknown_method,
            message: format!("invalid request: {err}"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_frames_round_trip() {
        for request in [
            Request::Id,
            Request::Status,
            Request::Peers,
            Request::Lookup {
                peer: "12D3KooW".into(),
            },
            Request::Dial {
                addr: "/ip4/127.0.0.1/tcp/1".into(),
            },
            Request::Subscribe,
            Request::Shutdown,
        ] {
            let frame = RequestFrame::new(7, request);
            let line = encode_line(&frame).unwrap_or_default();
            assert_eq!(line.last(), Some(&b'\n'));
            let decoded = decode_request(&line[..line.len() - 1]);
            assert_eq!(decoded.ok(), Some(frame));
        }
    }

    #[test]
    fn unknown_method_is_reported_with_its_id() {
        let line = br#"{"jsonrpc":"2.0","id":4,"method":"fly"}"#;
        match decode_request(line) {
            Err(DecodeRequestError::Invalid {
                id, unknown_method, ..
            }) => {
                assert_eq!(id, Some(4));
                assert!(unknown_method);
            }
            other => panic!("expected an invalid-request error, got {other:?}"),
        }
    }

    #[test]
    fn missing_version_and_garbage_are_refused() {
        assert!(decode_request(br#"{"id":1,"method":"status"}"#).is_err());
        assert!(matches!(
            decode_request(b"\xff\xfe"),
            Err(DecodeRequestError::NotJson(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode_request(&bytes);
        }
    }
}
