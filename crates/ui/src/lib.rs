//! Accord's local web app: an HTTP server on a loopback address that serves the messenger to
//! its owner's browser.
//!
//! The server is a client of the control API like the `accord` CLI: every page and action
//! becomes a request on the daemon's control socket ([`accord_api::Client`]), and live updates
//! come from the API's `subscribe` stream, forwarded to the browser as server-sent events. It
//! never reaches the store or the network itself.
//!
//! Only the owner gets in: [`UiServer::open`] mints a one-time login token that the browser
//! exchanges for an `HttpOnly`, `SameSite=Strict` session cookie; every other request without
//! a valid session is answered 401. `Host` must name the bound address (against DNS
//! rebinding), `Origin` must be the app's own on every state-changing request and on the event
//! stream (against cross-site requests), and every response carries a strict
//! Content-Security-Policy. Every asset is compiled into the binary.

mod assets;
mod auth;
mod avatar;
mod events;
mod guard;
mod listener;
mod markdown;
mod qr;
mod routes;
mod server;

pub use markdown::render_markdown;
pub use server::{UiError, UiServer};
