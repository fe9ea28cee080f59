//! Plain HTTP to a daemon's web app, for its security tests: each request is written byte
//! for byte on a fresh TCP connection, so a test can send any `Host`, `Origin` or cookie.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::Daemon;

/// A login URL of a daemon's web app, taken apart.
#[derive(Debug, Clone)]
pub struct WebLogin {
    /// The whole URL (`http://127.0.0.1:PORT/login?token=…`).
    pub url: String,
    /// `127.0.0.1:PORT`: the bound address, and so the only `Host` accepted.
    pub host: String,
    /// The one-time token.
    pub token: String,
}

impl WebLogin {
    /// Runs `accord ui --no-open --json` on `daemon` and parses the URL it prints.
    pub fn open(daemon: &Daemon) -> WebLogin {
        let answer = daemon.json(&["ui", "--no-open"]);
        let url = answer["url"].as_str().unwrap_or_default().to_owned();
        let rest = url
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("not an http URL: {answer}"));
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let token = path
            .strip_prefix("login?token=")
            .unwrap_or_else(|| panic!("no token in {url}"))
            .to_owned();
        WebLogin {
            host: host.to_owned(),
            url,
            token,
        }
    }

    /// The app's own origin.
    pub fn origin(&self) -> String {
        format!("http://{}", self.host)
    }
}

/// One HTTP request.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path and query.
    pub path: &'a str,
    /// The `Host` header.
    pub host: &'a str,
    /// The `Origin` header, if any.
    pub origin: Option<&'a str>,
    /// The session cookie (`name=value`), if any.
    pub session: Option<&'a str>,
    /// A JSON body, if any.
    pub json: Option<&'a str>,
}

/// An answer: status, headers (names lower-cased) and body.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// The headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body as text (read until the server closed the connection).
    pub body: String,
}

impl HttpAnswer {
    /// The first header called `name` (lower case), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Sends `request` to `addr` and reads the whole answer.
pub fn http(addr: &str, request: &HttpRequest<'_>) -> HttpAnswer {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        request.method, request.path, request.host
    );
    if let Some(origin) = request.origin {
        head.push_str(&format!("Origin: {origin}\r\n"));
    }
    if let Some(session) = request.session {
        head.push_str(&format!("Cookie: {session}\r\n"));
    }
    let body = request.json.unwrap_or_default();
    if request.json.is_some() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|err| panic!("connect {addr}: {err}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap_or_else(|err| panic!("timeout: {err}"));
    stream
        .write_all(head.as_bytes())
        .unwrap_or_else(|err| panic!("write to {addr}: {err}"));
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|err| panic!("read from {addr}: {err}"));
    parse_answer(&String::from_utf8_lossy(&raw))
}

fn parse_answer(raw: &str) -> HttpAnswer {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {raw:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    HttpAnswer {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Redeems `login`'s token as a browser would; the session cookie (`name=value`) when it
/// worked.
pub fn redeem(login: &WebLogin) -> (HttpAnswer, Option<String>) {
    let path = format!("/login?token={}", login.token);
    let answer = http(
        &login.host,
        &HttpRequest {
            method: "GET",
            path: &path,
            host: &login.host,
            ..HttpRequest::default()
        },
    );
    let session = answer
        .header("set-cookie")
        .and_then(|cookie| cookie.split(';').next())
        .filter(|pair| pair.starts_with("accord_session_"))
        .map(str::to_owned);
    (answer, session)
}
