//! The Message half of the CLI: send, history, inbox, alias and verify.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use accord_api::{Client, Event, EventStream, SOCKET_FILE_NAME};
use anyhow::{Context, bail};

use crate::client_commands::connect;
use crate::output::{print_json, qr_code};
use crate::terminal_text::{multi_line, single_line};

/// The most bytes read from standard input or a file for one message; the daemon enforces
/// `messages.max_bytes` (at most 64 KiB) and says so clearly, this only bounds the read.
const MAX_INPUT: u64 = 1024 * 1024;

/// Where the body of `accord send` comes from.
#[derive(Debug)]
pub(crate) enum BodySource<'a> {
    /// The argument itself.
    Text(&'a str),
    /// Standard input (`-`).
    Stdin,
    /// A file (`--file F`).
    File(&'a Path),
}

fn read_body(source: BodySource<'_>) -> anyhow::Result<String> {
    let mut body = String::new();
    match source {
        BodySource::Text(text) => body.push_str(text),
        BodySource::Stdin => {
            std::io::stdin()
                .take(MAX_INPUT)
                .read_to_string(&mut body)
                .context("cannot read the message from standard input")?;
        }
        BodySource::File(path) => {
            std::fs::File::open(path)
                .and_then(|file| file.take(MAX_INPUT).read_to_string(&mut body))
                .with_context(|| format!("cannot read {}", path.display()))?;
        }
    }
    if body.trim().is_empty() {
        bail!("the message is empty");
    }
    Ok(body)
}

/// `accord send <ID|ALIAS> [TEXT|-] [--file F] [--wait [--timeout SECS]]`: with `wait`, how
/// long to wait for the recipient's acknowledgement before giving up (the message stays queued).
pub(crate) async fn send(
    data_dir: &Path,
    peer: &str,
    source: BodySource<'_>,
    wait: Option<Duration>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let body = read_body(source)?;
    // Subscribe before sending, so that a fast acknowledgement cannot be missed.
    let events = match wait {
        Some(timeout) => Some((
            Client::connect(data_dir.join(SOCKET_FILE_NAME))
                .await?
                .subscribe()
                .await?,
            timeout,
        )),
        None => None,
    };
    let mut sent = connect(data_dir).await?.send(peer, &body, None).await?;
    if let Some((events, timeout)) = events {
        let id = sent.message_id.clone();
        let waited = wait_for_ack(events, &id, timeout, json).await?;
        if !waited.acknowledged {
            // The caller may still want the message id, so that it can follow the message
            // in `accord history`; the failure itself goes to stderr.
            if waited.stored {
                sent.state = "stored".to_owned();
            }
            if json {
                print_json(&sent)?;
            }
            if waited.stored {
                bail!(
                    "message {id} was not acknowledged within {}s; a mailbox of the recipient holds it, and it will be delivered when the recipient comes online",
                    timeout.as_secs()
                );
            }
            bail!(
                "message {id} was not acknowledged within {}s; it stays queued and will be delivered when the peer is reachable",
                timeout.as_secs()
            );
        }
        sent.state = "delivered".to_owned();
    }
    if json {
        print_json(&sent)?;
    } else {
        println!("Message {} {}.", sent.message_id, sent.state);
    }
    Ok(ExitCode::SUCCESS)
}

/// How waiting for an acknowledgement ended.
struct Waited {
    /// The recipient acknowledged the message.
    acknowledged: bool,
    /// A mailbox of the recipient holds it (`message_stored` came).
    stored: bool,
}

/// Waits up to `timeout` for `message_delivered` or `message_read` naming `id`, with a spinner
/// unless `json`, noting a `message_stored` on the way. A daemon that stops first is an error.
async fn wait_for_ack(
    mut events: EventStream,
    id: &str,
    timeout: Duration,
    json: bool,
) -> anyhow::Result<Waited> {
    let spinner = (!json).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message("waiting for the recipient to acknowledge…");
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    });
    let mut stored = false;
    let acknowledged = tokio::time::timeout(timeout, async {
        while let Some(event) = events.next().await? {
            match &event {
                Event::MessageDelivered { message_id, .. }
                | Event::MessageRead { message_id, .. }
                    if message_id == id =>
                {
                    return Ok::<bool, anyhow::Error>(true);
                }
                Event::MessageStored { message_id, .. } if message_id == id => stored = true,
                _ => {}
            }
        }
        Ok(false)
    })
    .await;
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    match acknowledged {
        Ok(Ok(true)) => Ok(Waited {
            acknowledged: true,
            stored,
        }),
        Ok(Ok(false)) => bail!("the daemon stopped before the message {id} was acknowledged"),
        Ok(Err(err)) => Err(err),
        Err(_) => Ok(Waited {
            acknowledged: false,
            stored,
        }),
    }
}

/// Which page of a conversation `accord history` shows.
pub(crate) struct Page<'a> {
    /// At most this many messages.
    pub(crate) limit: usize,
    /// Only messages older than this message id; the newest page without it.
    pub(crate) before: Option<&'a str>,
}

/// `accord history <ID|ALIAS> [--limit N] [--before MESSAGE_ID]`.
pub(crate) async fn history(
    data_dir: &Path,
    peer: &str,
    page: Page<'_>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut client = connect(data_dir).await?;
    let me = client.id().await?.id;
    let messages = client
        .history_page(peer, Some(page.limit), page.before)
        .await?;
    if json {
        print_json(&messages)?;
    } else if messages.is_empty() {
        println!("No messages yet.");
    } else {
        for message in &messages {
            let who = if message.from == me {
                "you"
            } else {
                message.from.as_str()
            };
            println!(
                "[{}] {} ({}):",
                single_line(&message.sent_at),
                single_line(who),
                single_line(&message.state)
            );
            for line in multi_line(&message.body).lines() {
                println!("    {line}");
            }
        }
        // A full page may have older messages before it; say how to reach them.
        if let Some(first) = messages.first().filter(|_| messages.len() >= page.limit) {
            println!(
                "(older: accord history {} --limit {} --before {})",
                single_line(peer),
                page.limit,
                single_line(&first.message_id)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `accord inbox`.
pub(crate) async fn inbox(data_dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let conversations = connect(data_dir).await?.inbox().await?;
    if json {
        print_json(&conversations)?;
    } else if conversations.is_empty() {
        println!("No conversations yet.");
    } else {
        for conversation in &conversations {
            let name = conversation.alias.as_deref().unwrap_or(&conversation.peer);
            println!(
                "{}  {} unread  {}  {}",
                single_line(name),
                conversation.unread,
                single_line(&conversation.last_message_at),
                single_line(&conversation.preview)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `accord alias <ID> <NAME>`.
pub(crate) async fn alias(
    data_dir: &Path,
    peer: &str,
    name: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let info = connect(data_dir).await?.alias(peer, name).await?;
    if json {
        print_json(&info)?;
    } else {
        println!(
            "{} is now known as {}.",
            single_line(&info.peer),
            single_line(&info.alias)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `accord verify <ID>`: the safety number, and a QR code of it in human mode.
pub(crate) async fn verify(data_dir: &Path, peer: &str, json: bool) -> anyhow::Result<ExitCode> {
    let info = connect(data_dir).await?.verify(peer).await?;
    if json {
        print_json(&info)?;
    } else {
        println!("Safety number with {}:", single_line(&info.peer));
        println!("  {}", info.safety_number);
        println!("Compare it with theirs, in person or over a channel you trust.");
        let digits: String = info
            .safety_number
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        if let Some(qr) = qr_code(&digits) {
            println!("\n{qr}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
