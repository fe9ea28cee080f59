//! The local web app (`accord ui`): who gets in (plain HTTP, always run), and the whole app in
//! a real headless Chromium against two real daemons (`#[ignore]`d where Chromium and
//! chromedriver are missing; `.ci/run` installs them as root and runs these with --ignored).

use std::time::Duration;

use accord_tests::browser::Browser;
use accord_tests::conversation::{str_of, wait_connected, wait_incoming_invite};
use accord_tests::web::{HttpAnswer, HttpRequest, WebLogin, http, redeem};
use accord_tests::{ARRIVAL, Daemon, NO_DHT, TestDir, chain, stderr, wait_exit};
use event_watch::EventWatch;

// Shared with tests/people.rs, which uses all of it; this file uses a part.
#[allow(dead_code)]
mod event_watch;

/// `POST /api/call` with `json`, as the page would send it unless a test changes a header.
fn api<'a>(login: &'a WebLogin, session: Option<&'a str>, json: &'a str) -> HttpRequest<'a> {
    HttpRequest {
        method: "POST",
        path: "/api/call",
        host: &login.host,
        origin: None,
        session,
        json: Some(json),
    }
}

fn get<'a>(login: &'a WebLogin, path: &'a str, session: Option<&'a str>) -> HttpRequest<'a> {
    HttpRequest {
        method: "GET",
        path,
        host: &login.host,
        session,
        ..HttpRequest::default()
    }
}

fn assert_security_headers(answer: &HttpAnswer) {
    let csp = answer.header("content-security-policy").unwrap_or_default();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "CSP {csp:?} lacks {directive}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(answer.header("referrer-policy"), Some("no-referrer"));
}

#[test]
fn only_the_owner_gets_in() {
    let net = TestDir::new();
    let node = Daemon::start_with_config(&net.path("a"), NO_DHT, &[]);
    let login = WebLogin::open(&node);
    assert!(login.host.starts_with("127.0.0.1:"), "{}", login.url);

    // Nothing without a session, not even the page; and every answer carries the headers.
    let answer = http(&login.host, &get(&login, "/", None));
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_security_headers(&answer);
    let status = r#"{"method":"status"}"#;
    let origin = login.origin();
    let with_origin = |session| HttpRequest {
        origin: Some(&origin),
        ..api(&login, session, status)
    };
    assert_eq!(http(&login.host, &with_origin(None)).status, 401);
    assert_eq!(
        http(&login.host, &get(&login, "/login?token=0000", None)).status,
        401
    );

    // A foreign Host (DNS rebinding) is refused before the token is even looked at.
    let path = format!("/login?token={}", login.token);
    let rebound = HttpRequest {
        host: "evil.example",
        ..get(&login, &path, None)
    };
    assert_eq!(http(&login.host, &rebound).status, 421);

    // The token works once, for a cookie only scripts cannot read and other sites cannot send.
    let (answer, session) = redeem(&login);
    assert_eq!(answer.status, 303, "{answer:?}");
    assert_eq!(answer.header("location"), Some("/"));
    let cookie = answer.header("set-cookie").unwrap_or_default();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = session.unwrap_or_else(|| panic!("no session cookie: {answer:?}"));
    let (again, none) = redeem(&login);
    assert_eq!((again.status, none), (401, None), "a used token is refused");

    // With the session: the page (scripts from files only), and the API.
    let page = http(&login.host, &get(&login, "/", Some(&session)));
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains(r#"<script type="module" src="/assets/app.js">"#)
    );
    assert!(!page.body.contains("<script>"), "no inline script");
    assert_security_headers(&page);
    let answer = http(&login.host, &with_origin(Some(&session)));
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.body.contains(&node.id), "{}", answer.body);

    refusals_with_a_session(&node, &login, &session);
    revocation(&node, &login, &session);
}

/// A valid session is not enough: the Host, the Origin and the method must be right too.
fn refusals_with_a_session(node: &Daemon, login: &WebLogin, session: &str) {
    let origin = login.origin();
    let status = r#"{"method":"status"}"#;
    let foreign_origin = HttpRequest {
        origin: Some("http://evil.example"),
        ..api(login, Some(session), status)
    };
    assert_eq!(http(&login.host, &foreign_origin).status, 403);
    let no_origin = api(login, Some(session), status);
    assert_eq!(http(&login.host, &no_origin).status, 403);
    for host in ["evil.example", "localhost"] {
        let host = format!(
            "{host}:{}",
            login.host.rsplit(':').next().unwrap_or_default()
        );
        let rebound = HttpRequest {
            host: &host,
            origin: Some(&origin),
            ..api(login, Some(session), status)
        };
        assert_eq!(http(&login.host, &rebound).status, 421, "Host {host}");
    }
    let events = HttpRequest {
        origin: Some("http://evil.example"),
        ..get(login, "/api/events", Some(session))
    };
    assert_eq!(
        http(&login.host, &events).status,
        403,
        "a cross-site event stream"
    );
    let shutdown = HttpRequest {
        origin: Some(&origin),
        ..api(login, Some(session), r#"{"method":"shutdown"}"#)
    };
    assert_eq!(
        http(&login.host, &shutdown).status,
        403,
        "the page cannot stop the daemon"
    );
    assert_eq!(
        node.json(&["id"])["id"],
        node.id.as_str(),
        "the daemon still runs"
    );
}

/// `accord ui --revoke` ends every session and every unused token; a new login works.
fn revocation(node: &Daemon, login: &WebLogin, session: &str) {
    let unused = WebLogin::open(node);
    let revoked = node.json(&["ui", "--revoke"]);
    assert_eq!(revoked["sessions"], 1, "{revoked}");
    assert_eq!(revoked["tokens"], 1, "{revoked}");
    let origin = login.origin();
    let request = HttpRequest {
        origin: Some(&origin),
        ..api(login, Some(session), r#"{"method":"status"}"#)
    };
    assert_eq!(http(&login.host, &request).status, 401, "a revoked session");
    assert_eq!(redeem(&unused).0.status, 401, "a revoked token");
    let fresh = WebLogin::open(node);
    assert_eq!(fresh.host, login.host, "the server keeps its address");
    let (answer, session) = redeem(&fresh);
    assert_eq!(answer.status, 303);
    let request = HttpRequest {
        origin: Some(&origin),
        ..api(&fresh, session.as_deref(), r#"{"method":"inbox"}"#)
    };
    assert_eq!(http(&fresh.host, &request).status, 200);
}

#[test]
fn a_web_app_address_that_is_not_loopback_is_refused() {
    let net = TestDir::new();
    let dir = net.path("a");
    std::fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("{err}"));
    let config = format!("{NO_DHT}[ui]\nenabled = true\nlisten = \"0.0.0.0:0\"\n");
    std::fs::write(dir.join("config.toml"), config).unwrap_or_else(|err| panic!("{err}"));
    let mut child = Daemon::spawn(&dir, &[]);
    let status = wait_exit(&mut child, Duration::from_secs(60));
    assert!(!status.success());
    let log = std::fs::read_to_string(dir.with_extension("log")).unwrap_or_default();
    assert!(
        log.contains("ui.listen") && log.contains("loopback"),
        "{log}"
    );
}

#[test]
fn an_enabled_web_app_starts_with_the_daemon() {
    let net = TestDir::new();
    let config = format!("{NO_DHT}[ui]\nenabled = true\n");
    let node = Daemon::start_with_config(&net.path("a"), &config, &[]);
    let login = WebLogin::open(&node);
    let answer = http(&login.host, &get(&login, "/", None));
    assert_eq!(answer.status, 401);
    let output = node.run(&["ui", "--no-open"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed
            .trim()
            .starts_with(&format!("http://{}/login?token=", login.host)),
        "{printed}"
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|err| panic!("runtime: {err}"))
}

/// Where `ACCORD_UI_SCREENSHOTS` points, screenshots of the app are saved.
fn screenshot_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("ACCORD_UI_SCREENSHOTS").map(std::path::PathBuf::from)
}

/// Hostile bodies a peer sends: each would set `window.__accordPwned` if it ran.
const HOSTILE: [&str; 3] = [
    "<script>window.__accordPwned = 1</script>",
    "<img src=x onerror=\"window.__accordPwned = 2\">",
    "[click](javascript:window.__accordPwned=3) <svg onload=\"window.__accordPwned=4\">",
];

#[test]
#[ignore = "needs chromium and chromedriver"]
fn the_app_in_a_browser_accepts_an_invite_and_chats_live() {
    let net = TestDir::new();
    let mut nodes = chain(&net, "n", 2, NO_DHT);
    let friend = nodes.pop().unwrap_or_else(|| panic!("two nodes"));
    let owner = nodes.pop().unwrap_or_else(|| panic!("two nodes"));
    let avatar = net.path("bo.png");
    write_png(&avatar, 32, 32);
    friend.json(&[
        "profile",
        "set",
        "--name",
        "Bo Climber",
        "--headline",
        "Climbs on Saturdays",
        "--avatar",
        &avatar.to_string_lossy(),
    ]);
    let note = "Hi, it is Bo from the climbing club";
    let sent = friend.json(&["connect", &owner.id, "--note", note]);
    wait_incoming_invite(&owner, &str_of(&sent, "invite_id"));

    let rt = runtime();
    let browser = rt.block_on(Browser::start((1200, 800)));
    let login = WebLogin::open(&owner);
    let mut owner_watch = EventWatch::start(&owner.data_dir);
    rt.block_on(accept_in_the_browser(&browser, &login, &friend.id, note));
    wait_connected(&owner, &friend.id);
    wait_connected(&friend, &owner.id);
    // Bo's whole profile, avatar included, follows over the channel once connected.
    owner_watch.wait("profile_updated", ARRIVAL, |e| {
        e["peer"] == friend.id.as_str() && e["avatar_bytes"].as_u64() > Some(0)
    });
    let mut friend_watch = EventWatch::start(&friend.data_dir);
    rt.block_on(set_the_profile_in_the_browser(&browser, &login, &net));
    // It reaches the connection: its event first, then `accord profile <ID>` says so.
    let event = friend_watch.wait("profile_updated", ARRIVAL, |e| {
        e["peer"] == owner.id.as_str()
    });
    assert_eq!(event["name"], "Olive Owner", "{event}");
    let known = friend.json(&["profile", &owner.id]);
    assert_eq!(known["name"], "Olive Owner", "{known}");
    assert_eq!(known["headline"], "Belays on Saturdays", "{known}");
    assert!(known["avatar_bytes"].as_u64() > Some(0), "{known}");
    assert_eq!(known["version"], event["version"]);
    // A change on Bo's side renames Bo on the open page, live.
    rt.block_on(names_and_avatars_show(&browser, &login, &friend.id));
    friend.json(&["profile", "set", "--name", "Bo B. Climber"]);
    rt.block_on(renamed_live(&browser, &friend.id, "Bo B. Climber"));

    let body = "Hello **Bo**, see you *Saturday*";
    rt.block_on(send_and_see_it_delivered(
        &browser, &login, &friend.id, body,
    ));
    assert_eq!(friend.wait_history(&owner.id, 1)[0]["body"], body);

    friend.json(&["send", &owner.id, "Great, **bring the rope**"]);
    rt.block_on(async {
        assert_eq!(
            browser.wait_text(".msg.in .body strong").await,
            "bring the rope"
        );
    });
    for body in HOSTILE {
        friend.json(&["send", &owner.id, body]);
    }
    rt.block_on(hostile_bodies_run_nothing(&browser));
    rt.block_on(async {
        browser
            .client
            .goto(&format!("{}/#/inbox", login.origin()))
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        let row = format!("main[data-shown='inbox'] a[data-peer='{}'] .who", friend.id);
        assert_eq!(browser.wait_text(&row).await, "Bo B. Climber");
        browser
            .wait_true("Bo's avatar in the inbox", &shows_avatar(&friend.id))
            .await;
    });
    if let Some(dir) = screenshot_dir() {
        rt.block_on(screenshots(&browser, &login, &friend.id, &dir));
    }
    rt.block_on(browser.close());
}

fn write_png(path: &std::path::Path, width: u32, height: u32) {
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([200, (x * 7) as u8, (y * 7) as u8])
    });
    picture
        .save(path)
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
}

/// Whether the page shows `peer`'s avatar picture (loaded, not the initials).
fn shows_avatar(peer: &str) -> String {
    format!(
        "const img = document.querySelector(\"main[data-shown] img[data-avatar='{peer}']\"); \
         return !!img && img.complete && img.naturalWidth > 0 && \
         img.parentElement.classList.contains('has-picture');"
    )
}

/// The people view names Bo, gives the degree and shows Bo's picture.
async fn names_and_avatars_show(browser: &Browser, login: &WebLogin, peer: &str) {
    browser
        .client
        .goto(&format!("{}/#/people", login.origin()))
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let row = format!("main[data-shown='people'] .person[data-peer='{peer}']");
    assert_eq!(
        browser.wait_text(&format!("{row} .who")).await,
        "Bo Climber"
    );
    assert_eq!(browser.wait_text(&format!("{row} .degree")).await, "1st");
    browser
        .wait_true("Bo's avatar in the people view", &shows_avatar(peer))
        .await;
}

/// Opens the profile editor: a name that is too long and a file that is too large are
/// refused inline, in the CLI's words; then name, headline and avatar are saved.
async fn set_the_profile_in_the_browser(browser: &Browser, login: &WebLogin, net: &TestDir) {
    let client = &browser.client;
    client
        .goto(&format!("{}/#/profile", login.origin()))
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    browser.wait_text("main[data-shown='profile'] h2").await;
    let field = |css: &'static str| async move {
        client
            .find(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("{css}: {err}"))
    };
    let error_says = |words: &'static str| {
        format!(
            "const e = document.getElementById('profile-error'); \
             return !e.hidden && e.textContent.includes('{words}');"
        )
    };
    let name = field("#profile-name").await;
    name.send_keys(&"n".repeat(65))
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    browser.click("form.profile-form button[type=submit]").await;
    browser
        .wait_true("the name's refusal", &error_says("at most 64"))
        .await;

    let big = net.path("big.png");
    std::fs::write(&big, vec![0u8; 70_000]).unwrap_or_else(|err| panic!("{err}"));
    name.clear().await.unwrap_or_else(|err| panic!("{err}"));
    name.send_keys("Olive Owner")
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let file = field("#profile-avatar").await;
    file.send_keys(&big.to_string_lossy())
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    browser.click("form.profile-form button[type=submit]").await;
    browser
        .wait_true(
            "the file's refusal",
            &error_says("at most 65536 are allowed"),
        )
        .await;

    let picture = net.path("olive.png");
    write_png(&picture, 40, 40);
    client
        .execute(
            "document.getElementById('profile-avatar').value = '';",
            vec![],
        )
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    file.send_keys(&picture.to_string_lossy())
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let headline = field("#profile-headline").await;
    headline
        .send_keys("Belays on Saturdays")
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    browser.click("form.profile-form button[type=submit]").await;
    browser
        .wait_true(
            "the profile to be saved",
            "const f = document.querySelector('form.profile-form'); \
             return Number(f.dataset.version) > 0 && document.getElementById('profile-error').hidden;",
        )
        .await;
    browser
        .wait_true("our own avatar in the editor", &shows_avatar(""))
        .await;
}

/// The open people view renames `peer` when its `profile_updated` arrives.
async fn renamed_live(browser: &Browser, peer: &str, name: &str) {
    let script = format!(
        "const w = document.querySelector(\"main[data-shown='people'] [data-name-of='{peer}']\"); \
         return !!w && w.textContent === '{name}';"
    );
    browser
        .wait_true("the new name to show live", &script)
        .await;
}

/// Logs in with the token, finds the invite with its note, and accepts it.
async fn accept_in_the_browser(browser: &Browser, login: &WebLogin, inviter: &str, note: &str) {
    let client = &browser.client;
    client
        .goto(&login.url)
        .await
        .unwrap_or_else(|err| panic!("goto: {err}"));
    let url = client
        .current_url()
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(url.path(), "/", "the token left the address bar");
    assert!(url.query().is_none(), "{url}");
    let invites = format!("{}/#/invites", login.origin());
    client
        .goto(&invites)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let invite = format!(".invite[data-peer='{inviter}']");
    assert_eq!(browser.wait_text(&format!("{invite} .note")).await, note);
    // The invite names the inviter, with the headline sealed in it.
    assert_eq!(
        browser.wait_text(&format!("{invite} .who")).await,
        "Bo Climber"
    );
    assert_eq!(
        browser.wait_text(&format!("{invite} .headline")).await,
        "Climbs on Saturdays"
    );
    browser.click(&format!("{invite} button.accept")).await;
}

/// Types `body` in the conversation with `peer`, sends it with Enter, and waits until the
/// page shows it rendered and acknowledged.
async fn send_and_see_it_delivered(browser: &Browser, login: &WebLogin, peer: &str, body: &str) {
    let chat = format!("{}/#/chat/{peer}", login.origin());
    browser
        .client
        .goto(&chat)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let compose = browser
        .client
        .wait()
        .at_most(accord_tests::browser::SHOWN)
        .for_element(fantoccini::Locator::Css("#compose"))
        .await
        .unwrap_or_else(|err| panic!("no composer: {err}"));
    compose
        .send_keys(body)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let enter = fantoccini::key::Key::Enter.to_string();
    compose
        .send_keys(&enter)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(browser.wait_text(".msg.out .body strong").await, "Bo");
    browser
        .wait_true(
            "the message to reach delivered",
            "const s = document.querySelector('.msg.out .state'); \
             return !!s && (s.dataset.state === 'delivered' || s.dataset.state === 'read');",
        )
        .await;
}

/// The hostile bodies show as text, and none of them ran or left markup in the page.
async fn hostile_bodies_run_nothing(browser: &Browser) {
    let client = &browser.client;
    browser
        .wait_true(
            "the hostile messages to show",
            "return document.querySelectorAll('.msg.in').length >= 4;",
        )
        .await;
    let script = "return [...document.querySelectorAll('.msg.in .body')].map(b => b.textContent);";
    let texts = client.execute(script, vec![]).await;
    let texts = texts.unwrap_or_else(|err| panic!("{err}")).to_string();
    assert!(
        texts.contains("window.__accordPwned = 1</script>"),
        "shown as text: {texts}"
    );
    assert!(texts.contains("onerror"), "{texts}");
    for css in [
        "a[href^='javascript']",
        ".msg img",
        ".msg script",
        ".msg svg",
    ] {
        let found = client.find_all(fantoccini::Locator::Css(css)).await;
        let found = found.unwrap_or_else(|err| panic!("{err}"));
        assert!(found.is_empty(), "{css} made it into the page");
    }
    let untouched = client
        .execute("return window.__accordPwned === undefined;", vec![])
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(
        untouched,
        serde_json::Value::Bool(true),
        "a message body ran script"
    );
}

/// Screenshots of the inbox, a conversation and the invites, at desktop width and at 360 px.
async fn screenshots(browser: &Browser, login: &WebLogin, peer: &str, dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap_or_else(|err| panic!("{err}"));
    for (width, height) in [(1200, 760), (360, 740)] {
        browser
            .client
            .set_window_size(width, height)
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        for (name, hash) in [
            ("inbox", "#/inbox".to_owned()),
            ("chat", format!("#/chat/{peer}")),
            ("invites", "#/invites".to_owned()),
            ("people", "#/people".to_owned()),
            ("connect", "#/connect".to_owned()),
            ("verify", format!("#/verify/{peer}")),
            ("profile", "#/profile".to_owned()),
            ("mailbox", "#/mailbox".to_owned()),
        ] {
            browser
                .client
                .goto(&format!("{}/{hash}", login.origin()))
                .await
                .unwrap_or_else(|err| panic!("{err}"));
            let view = hash
                .trim_start_matches("#/")
                .split('/')
                .next()
                .unwrap_or_default();
            browser
                .wait_text(&format!("main[data-shown='{view}'] h2"))
                .await;
            browser
                .screenshot(&dir.join(format!("{name}-{width}.png")))
                .await;
        }
    }
}

/// The mailbox view: the owner picks a connection as a mailbox in the browser, the daemon
/// says so, and the owner stops using it again.
#[test]
#[ignore = "needs chromium and chromedriver"]
fn the_app_shows_and_changes_the_mailboxes() {
    let net = TestDir::new();
    let (owner, friend) = accord_tests::connected_pair(&net, NO_DHT);
    let rt = runtime();
    let browser = rt.block_on(Browser::start((1200, 800)));
    let login = WebLogin::open(&owner);
    rt.block_on(async {
        let client = &browser.client;
        client
            .goto(&login.url)
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        client
            .goto(&format!("{}/#/mailbox", login.origin()))
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        browser
            .wait_text("main[data-shown='mailbox'] #no-mailbox")
            .await;
        assert_eq!(
            browser
                .wait_text("#mailbox-serving [data-field='messages']")
                .await,
            "0"
        );
        let choice = format!("#mailbox-choice option[value='{}']", friend.id);
        browser.wait_text(&choice).await;
        browser.click(".mailbox-form button[type='submit']").await;
        let row = format!(
            "main[data-shown='mailbox'] .mailbox[data-peer='{}']",
            friend.id
        );
        browser.wait_text(&format!("{row} .badge")).await;
    });
    let mine = owner.json(&["mailbox"]);
    assert_eq!(mine["mine"][0]["id"], friend.id.as_str(), "{mine}");
    assert_eq!(mine["mine"][0]["pinned"], true, "{mine}");
    rt.block_on(async {
        let row = format!(
            "main[data-shown='mailbox'] .mailbox[data-peer='{}']",
            friend.id
        );
        browser.click(&format!("{row} button.drop")).await;
        browser
            .wait_text("main[data-shown='mailbox'] #no-mailbox")
            .await;
    });
    let mine = owner.json(&["mailbox"]);
    assert_eq!(mine["mine"], serde_json::json!([]), "{mine}");
    rt.block_on(browser.close());
}

/// Messages in the scroll-back test: more than two pages of 50.
const SCROLLBACK_MESSAGES: usize = 120;

#[test]
#[ignore = "needs chromium and chromedriver"]
fn the_app_scrolls_back_to_the_first_message() {
    let net = TestDir::new();
    let (owner, friend) = accord_tests::connected_pair(&net, NO_DHT);
    for i in 0..SCROLLBACK_MESSAGES {
        owner.json(&["send", &friend.id, &format!("message {i}")]);
    }
    let rt = runtime();
    let browser = rt.block_on(Browser::start((1200, 800)));
    let login = WebLogin::open(&owner);
    rt.block_on(async {
        let client = &browser.client;
        client
            .goto(&login.url)
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        let chat = format!("{}/#/chat/{}", login.origin(), friend.id);
        client
            .goto(&chat)
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        browser.wait_text("main[data-shown='chat'] .msg").await;
        let shown = "return document.querySelectorAll('.msg').length;";
        let first_page = client.execute(shown, vec![]).await;
        let first_page = first_page.unwrap_or_else(|err| panic!("{err}"));
        assert!(
            first_page.as_u64().is_some_and(|n| n < 120),
            "one page at first: {first_page}"
        );
        // Each poll scrolls to the top, as a reader would, until the first message is there.
        let scroll_to_start = format!(
            "const s = document.querySelector('.scroller'); s.scrollTop = 0; \
             return !document.querySelector('.start').hidden && \
             document.querySelectorAll('.msg').length === {SCROLLBACK_MESSAGES};"
        );
        browser
            .wait_true("scrolling back to the first message", &scroll_to_start)
            .await;
        let bodies =
            "return [...document.querySelectorAll('.msg .body')].map(b => b.textContent.trim());";
        let bodies = client
            .execute(bodies, vec![])
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        let expected: Vec<String> = (0..SCROLLBACK_MESSAGES)
            .map(|i| format!("message {i}"))
            .collect();
        assert_eq!(
            bodies,
            serde_json::json!(expected),
            "every message once, in order"
        );
    });
    rt.block_on(browser.close());
}
