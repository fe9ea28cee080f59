//! The web app's files, compiled into the binary: nothing is fetched at run time and nothing
//! is built with Node.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::guard::plain;

/// Every asset: its name under `/assets/`, its content type and its text.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../assets/style.css"),
    ),
    ("app.js", JS, include_str!("../assets/app.js")),
    ("api.js", JS, include_str!("../assets/api.js")),
    ("dom.js", JS, include_str!("../assets/dom.js")),
    ("inbox.js", JS, include_str!("../assets/inbox.js")),
    ("chat.js", JS, include_str!("../assets/chat.js")),
    ("invites.js", JS, include_str!("../assets/invites.js")),
    ("people.js", JS, include_str!("../assets/people.js")),
    ("profile.js", JS, include_str!("../assets/profile.js")),
    ("mailbox.js", JS, include_str!("../assets/mailbox.js")),
    ("notify.js", JS, include_str!("../assets/notify.js")),
    (
        "icon.svg",
        "image/svg+xml",
        include_str!("../assets/icon.svg"),
    ),
];

const JS: &str = "text/javascript; charset=utf-8";

/// The page itself.
pub(crate) const INDEX_HTML: &str = include_str!("../assets/index.html");

/// `GET /`: the page.
pub(crate) async fn index() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        INDEX_HTML,
    )
        .into_response()
}

/// `GET /assets/{name}`.
pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(known, _, _)| *known == name) {
        Some((_, content_type, text)) => {
            ([(header::CONTENT_TYPE, *content_type)], *text).into_response()
        }
        None => plain(StatusCode::NOT_FOUND, "no such asset"),
    }
}
