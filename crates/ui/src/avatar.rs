//! `GET /api/avatar?peer=…`: a profile's avatar as an image, so the page can show it with a
//! plain `<img src>` under the Content-Security-Policy's `img-src 'self'`.
//!
//! The bytes are the node's own encoding (it decodes and re-encodes every avatar it takes in),
//! served only as PNG or JPEG by their signature, never with a type the sender chose.

use accord_api::Request;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use crate::guard::plain;
use crate::routes::{AppState, control_call};

/// The largest avatar the daemon keeps, as hex (64 KiB of bytes).
const AVATAR_HEX_MAX: usize = 2 * 64 * 1024;

#[derive(Debug, Deserialize)]
pub(crate) struct AvatarQuery {
    /// Whose avatar (an Accord ID or alias); ours when absent.
    peer: Option<String>,
}

/// The avatar of `peer` (or ours), or 404 when there is none or none is known.
pub(crate) async fn avatar(
    State(state): State<AppState>,
    Query(query): Query<AvatarQuery>,
) -> Response {
    let Ok(_slot) = state.api_slots.try_acquire() else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "too many requests at once");
    };
    let request = Request::Profile {
        peer: query.peer.filter(|peer| !peer.is_empty()),
        with_avatar: true,
    };
    let Ok(profile) = control_call(&state, request).await else {
        return plain(StatusCode::NOT_FOUND, "no such profile");
    };
    let Some(bytes) = avatar_bytes(&profile) else {
        return plain(StatusCode::NOT_FOUND, "no avatar");
    };
    match image_type(&bytes) {
        Some(content_type) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        None => plain(StatusCode::NOT_FOUND, "no avatar"),
    }
}

/// The avatar in a `profile` result, decoded from its hex.
fn avatar_bytes(profile: &Value) -> Option<Vec<u8>> {
    let text = profile.get("avatar_hex")?.as_str()?;
    if text.is_empty() || text.len() > AVATAR_HEX_MAX || !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The content type by the image's signature: PNG or JPEG, nothing else.
fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else {
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests should fail loudly.
mod tests {
    use super::*;

    #[test]
    fn only_png_and_jpeg_are_served() {
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(image_type(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(image_type(b"<svg onload=alert(1)>"), None);
        assert_eq!(image_type(b"GIF89a"), None);
    }

    #[test]
    fn the_hex_of_a_profile_decodes() {
        let profile = serde_json::json!({ "avatar_hex": "89504e47" });
        assert_eq!(avatar_bytes(&profile).unwrap(), b"\x89PNG");
        for bad in ["", "8", "zz", "é1"] {
            let profile = serde_json::json!({ "avatar_hex": bad });
            assert_eq!(avatar_bytes(&profile), None, "{bad:?}");
        }
        assert_eq!(
            avatar_bytes(&serde_json::json!({ "avatar_bytes": 0 })),
            None
        );
    }
}
