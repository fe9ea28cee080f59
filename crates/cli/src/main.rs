//! `accord`: the command-line face of an Accord node.
//!
//! Client commands (`id`, `status`, `peers`, …) talk to a running daemon over its control
//! socket through `accord-api` alone; `accord daemon` and `accord testnet` run nodes.
//! Errors go to stderr as `error: …` with exit status 1; usage errors exit with 2.

mod chat;
mod client_commands;
mod connect_commands;
mod daemon;
mod install_files;
mod mailbox_commands;
mod message_commands;
mod output;
mod passphrase;
mod people_commands;
mod service;
mod terminal_text;
mod testnet;
mod ui_command;
mod verify;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use connect_commands::InviteAction;

/// Accord: a peer-to-peer messenger. Connect by invite, then message your connections.
#[derive(Debug, Parser)]
#[command(name = "accord", version, about, propagate_version = true)]
struct Cli {
    /// The node's data dir [default: the platform data dir, e.g. ~/.local/share/accord]
    #[arg(long, global = true, env = "ACCORD_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Print machine-readable JSON (one document; for `watch`, one object per line)
    #[arg(long, global = true)]
    json: bool,
    /// Log level for the daemon (overridden by RUST_LOG)
    #[arg(long, global = true, value_name = "LEVEL", default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create this node's identity (the daemon also creates one if missing)
    Init {
        /// Encrypt the key file with the passphrase in this file (or set ACCORD_PASSPHRASE)
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Run the node daemon in the foreground
    Daemon(daemon::DaemonArgs),
    /// Show this node's Accord ID, fingerprint and addresses
    Id,
    /// Show the node's counters
    Status,
    /// List the peers connected right now
    Peers,
    /// Find a peer's addresses from its Accord ID through the DHT
    Lookup {
        /// The Accord ID (12D3KooW…)
        peer: String,
    },
    /// Connect to a multiaddr (ending in /p2p/<ID> or not)
    Dial {
        /// The multiaddr
        addr: String,
    },
    /// Invite someone who is not yet a connection, with a short note
    Connect {
        /// The invitee's Accord ID
        peer: String,
        /// A short plain-text note (at most 300 characters)
        #[arg(long, default_value = "")]
        note: String,
        /// Dial this multiaddr first (when you know where the invitee is)
        #[arg(long, value_name = "MULTIADDR")]
        addr: Option<String>,
        /// Attach the introduction this connection (ID or alias) made of you and the invitee
        #[arg(long, value_name = "INTRODUCER")]
        via: Option<String>,
    },
    /// List invites, newest first
    Invites {
        /// Only invites sent to you
        #[arg(long, conflicts_with = "outgoing")]
        incoming: bool,
        /// Only invites you sent
        #[arg(long)]
        outgoing: bool,
    },
    /// Accept an invite (by invite id or the inviter's ID)
    Accept {
        /// The invite id or the inviter's Accord ID
        target: String,
    },
    /// Decline an invite; the inviter is not told
    Decline {
        /// The invite id or the inviter's Accord ID
        #[arg(required_unless_present = "all_from_strangers")]
        target: Option<String>,
        /// Decline every pending invite from someone who is not a connection (under a flood)
        #[arg(long, conflicts_with = "target")]
        all_from_strangers: bool,
    },
    /// Withdraw an invite you sent
    Withdraw {
        /// The invite id or the invitee's Accord ID
        target: String,
    },
    /// Drop everything from an ID from now on
    Block {
        /// The Accord ID
        peer: String,
    },
    /// Undo a block
    Unblock {
        /// The Accord ID
        peer: String,
    },
    /// Revoke a connection (both sides stop treating the pair as connected)
    Disconnect {
        /// The connection's Accord ID
        peer: String,
    },
    /// List your connections
    Connections,
    /// Print the portable, offline-verifiable attestation of a connection
    Attestation {
        /// The connection's Accord ID
        peer: String,
    },
    /// Send an end-to-end encrypted Markdown message to a connection
    Send {
        /// The connection's Accord ID or alias
        peer: String,
        /// The message (Markdown), or - to read it from standard input
        #[arg(conflicts_with = "file")]
        text: Option<String>,
        /// Read the message from this file
        #[arg(long, value_name = "FILE")]
        file: Option<std::path::PathBuf>,
        /// Wait until the recipient's node acknowledges it (exit 1 after --timeout; it stays queued)
        #[arg(long)]
        wait: bool,
        /// With --wait: give up waiting after this many seconds (the message stays queued)
        #[arg(
            long,
            value_name = "SECS",
            default_value_t = 30,
            requires = "wait",
            value_parser = clap::value_parser!(u64).range(1..)
        )]
        timeout: u64,
    },
    /// Show a conversation, oldest first (the newest page marks it read)
    History {
        /// The connection's Accord ID or alias
        peer: String,
        /// At most this many of the newest messages (at most 1000)
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only messages older than this one (a message id): the page before it
        #[arg(long, value_name = "MESSAGE_ID")]
        before: Option<String>,
    },
    /// Conversations with unread counts
    Inbox,
    /// Give a connection a local name
    Alias {
        /// The Accord ID
        peer: String,
        /// The name
        name: String,
    },
    /// Show the safety number you share with a peer, to compare in person
    Verify {
        /// The Accord ID or alias
        peer: String,
    },
    /// Check a portable attestation offline (no daemon needed); exit 0 if valid, 1 if not
    VerifyAttestation {
        /// A file holding the attestation, or - for standard input
        source: String,
    },
    /// Counters of what the node refused or dropped
    Stats,
    /// Stream the node's events until interrupted
    Watch,
    /// Open an interactive chat with a connection
    Chat {
        /// The connection's Accord ID or alias
        peer: String,
    },
    /// Show your profile, or what you know of someone's; `profile set` changes yours
    #[command(args_conflicts_with_subcommands = true)]
    Profile {
        #[command(subcommand)]
        action: Option<people_commands::ProfileAction>,
        /// Whose profile (Accord ID or alias); yours if omitted
        peer: Option<String>,
        /// Write their avatar (as re-encoded by your node) to this file
        #[arg(long, value_name = "FILE")]
        avatar_out: Option<PathBuf>,
    },
    /// Your mailboxes and what you hold for others; `mailbox use|drop` chooses them
    Mailbox {
        #[command(subcommand)]
        action: Option<mailbox_commands::MailboxAction>,
    },
    /// Someone's degree (1st, 2nd, 3rd+) and your mutual connections, each proven
    People {
        /// The Accord ID or alias
        peer: String,
    },
    /// Second-degree people you may know, most mutual connections first
    Suggestions,
    /// Introduce two of your connections to each other
    Introduce {
        /// One connection (Accord ID or alias)
        first: String,
        /// The other connection (Accord ID or alias)
        second: String,
        /// A short note to both (at most 300 characters)
        #[arg(long, default_value = "")]
        note: String,
    },
    /// The introductions you made and received
    Introductions,
    /// Ask the running daemon to shut down
    Stop,
    /// Open the local web app in the browser (prints its one-time login URL)
    Ui(ui_command::UiArgs),
    /// Run N daemons on 127.0.0.1 (mDNS off), bootstrapped to the first, until Ctrl-C
    Testnet(testnet::TestnetArgs),
    /// Print the shell completion script for bash, zsh or fish
    Completions {
        /// The shell
        shell: install_files::CompletionShell,
    },
    /// Print the man page (roff), e.g. `accord man > ~/.local/share/man/man1/accord.1`
    Man,
    /// Run this data dir's daemon at login as a per-user service (systemd user unit, launchd agent)
    Service {
        #[command(subcommand)]
        action: service::ServiceAction,
    },
}

fn main() -> ExitCode {
    // Usage errors print their own message and exit with status 2 inside clap.
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // `verify-attestation` reads only its input, `testnet` makes a data dir per node under its
    // own `--dir`, and `completions` and `man` only print, so none may fail where no default
    // data dir exists (no HOME and no passwd entry, as in some containers). None of their arms
    // below reads `data_dir`.
    let needs_data_dir = !matches!(
        cli.command,
        Command::VerifyAttestation { .. }
            | Command::Testnet(_)
            | Command::Completions { .. }
            | Command::Man
    );
    let default_chosen = cli.data_dir.is_none();
    let data_dir = match cli.data_dir {
        Some(dir) => dir,
        None if needs_data_dir => default_data_dir()?,
        None => PathBuf::new(),
    };
    if let Command::Service { action } = cli.command {
        // The service names the default data dir's service plainly, and any other after its
        // path, so it needs to know which one it was given.
        let is_default = default_chosen || default_data_dir().is_ok_and(|dir| dir == data_dir);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        return runtime.block_on(service::run(action, &data_dir, is_default, cli.json));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let json = cli.json;
    runtime.block_on(dispatch(cli.command, &data_dir, json, &cli.log_level))
}

/// Runs `command`: the node commands here, the Connect and Message halves in their own
/// dispatchers.
async fn dispatch(
    command: Command,
    data_dir: &Path,
    json: bool,
    log_level: &str,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Init { passphrase_file } => {
            daemon::init(data_dir, passphrase_file.as_deref(), json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Daemon(args) => {
            daemon::run(data_dir, args, log_level).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Testnet(args) => testnet::run(args, json, log_level).await,
        Command::Id => client_commands::id(data_dir, json).await,
        Command::Status => client_commands::status(data_dir, json).await,
        Command::Peers => client_commands::peers(data_dir, json).await,
        Command::Lookup { peer } => client_commands::lookup(data_dir, &peer, json).await,
        Command::Dial { addr } => client_commands::dial(data_dir, &addr, json).await,
        Command::VerifyAttestation { source } => verify::run(&source, json),
        Command::Stats => client_commands::stats(data_dir, json).await,
        Command::Watch => client_commands::watch(data_dir, json).await,
        Command::Chat { peer } => chat::run(data_dir, &peer).await,
        Command::Stop => client_commands::stop(data_dir, json).await,
        Command::Ui(args) => ui_command::run(data_dir, args, json).await,
        Command::Completions { shell } => {
            install_files::completions(Cli::command(), shell)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            install_files::man(Cli::command())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Profile {
            action,
            peer,
            avatar_out,
        } => {
            people_commands::profile(
                data_dir,
                action,
                peer.as_deref(),
                avatar_out.as_deref(),
                json,
            )
            .await
        }
        Command::People { peer } => people_commands::people(data_dir, &peer, json).await,
        Command::Mailbox { action } => mailbox_commands::mailbox(data_dir, action, json).await,
        Command::Suggestions => people_commands::suggestions(data_dir, json).await,
        Command::Introduce {
            first,
            second,
            note,
        } => people_commands::introduce(data_dir, &first, &second, &note, json).await,
        Command::Introductions => people_commands::introductions(data_dir, json).await,
        command @ (Command::Send { .. }
        | Command::History { .. }
        | Command::Inbox
        | Command::Alias { .. }
        | Command::Verify { .. }) => dispatch_message(command, data_dir, json).await,
        command => dispatch_connect(command, data_dir, json).await,
    }
}

/// The Connect half: invites, connections, blocks and attestations.
async fn dispatch_connect(
    command: Command,
    data_dir: &Path,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Connect {
            peer,
            note,
            addr,
            via,
        } => {
            let target = connect_commands::Invitee {
                peer: &peer,
                note: &note,
                via: via.as_deref(),
            };
            connect_commands::invite(data_dir, target, addr.as_deref(), json).await
        }
        Command::Invites { incoming, outgoing } => {
            let direction = match (incoming, outgoing) {
                (true, _) => Some(accord_api::InviteDirection::Incoming),
                (_, true) => Some(accord_api::InviteDirection::Outgoing),
                _ => None,
            };
            connect_commands::list(data_dir, direction, json).await
        }
        Command::Accept { target } => {
            connect_commands::act(data_dir, InviteAction::Accept, &target, json).await
        }
        Command::Decline {
            target: Some(target),
            ..
        } => connect_commands::act(data_dir, InviteAction::Decline, &target, json).await,
        Command::Decline { target: None, .. } => {
            connect_commands::decline_strangers(data_dir, json).await
        }
        Command::Withdraw { target } => {
            connect_commands::act(data_dir, InviteAction::Withdraw, &target, json).await
        }
        Command::Block { peer } => connect_commands::block(data_dir, &peer, true, json).await,
        Command::Unblock { peer } => connect_commands::block(data_dir, &peer, false, json).await,
        Command::Disconnect { peer } => connect_commands::disconnect(data_dir, &peer, json).await,
        Command::Connections => connect_commands::connections(data_dir, json).await,
        Command::Attestation { peer } => connect_commands::attestation(data_dir, &peer, json).await,
        other => unreachable_command(&other),
    }
}

/// The Message half: send, history, inbox, alias and verify.
async fn dispatch_message(
    command: Command,
    data_dir: &Path,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Send {
            peer,
            text,
            file,
            wait,
            timeout,
        } => {
            let source = match (&text, &file) {
                (_, Some(path)) => message_commands::BodySource::File(path),
                (Some(text), None) if text == "-" => message_commands::BodySource::Stdin,
                (Some(text), None) => message_commands::BodySource::Text(text),
                (None, None) => message_commands::BodySource::Stdin,
            };
            let wait = wait.then(|| std::time::Duration::from_secs(timeout));
            message_commands::send(data_dir, &peer, source, wait, json).await
        }
        Command::History {
            peer,
            limit,
            before,
        } => {
            let page = message_commands::Page {
                limit,
                before: before.as_deref(),
            };
            message_commands::history(data_dir, &peer, page, json).await
        }
        Command::Inbox => message_commands::inbox(data_dir, json).await,
        Command::Alias { peer, name } => {
            message_commands::alias(data_dir, &peer, &name, json).await
        }
        Command::Verify { peer } => message_commands::verify(data_dir, &peer, json).await,
        other => unreachable_command(&other),
    }
}

/// A command handed to a dispatcher that does not own it: [`dispatch`] routes every command
/// to exactly one place, so this is a bug in the CLI, reported as an error rather than a panic.
fn unreachable_command(command: &Command) -> anyhow::Result<ExitCode> {
    anyhow::bail!("internal error: no handler for {command:?}")
}

fn default_data_dir() -> anyhow::Result<PathBuf> {
    directories::ProjectDirs::from("", "", "accord")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .context("cannot determine a default data dir; pass --data-dir or set ACCORD_DATA_DIR")
}
