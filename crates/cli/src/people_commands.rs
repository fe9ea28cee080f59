//! The people commands: profiles, degrees, suggestions and introductions (design §12, §14).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use accord_api::{IntroductionInfo, ProfileInfo};
use anyhow::Context;
use clap::Subcommand;

use crate::client_commands::connect;
use crate::output::print_json;
use crate::terminal_text::single_line;

/// The most bytes an avatar file may have (the daemon checks again, after decoding it).
const AVATAR_MAX_BYTES: u64 = 64 * 1024;

/// `accord profile set …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ProfileAction {
    /// Set your profile (a new version, sent to your connections)
    Set {
        /// Your name (1–64 characters of plain text)
        #[arg(long)]
        name: String,
        /// A one-line headline (at most 120 characters); the current one is kept if omitted
        #[arg(long)]
        headline: Option<String>,
        /// A PNG or JPEG picture of at most 64 KiB; the current avatar is kept if omitted
        #[arg(long, value_name = "FILE")]
        avatar: Option<PathBuf>,
    },
}

/// `accord profile [set …] [<ID|ALIAS> [--avatar-out FILE]]`.
pub(crate) async fn profile(
    data_dir: &Path,
    action: Option<ProfileAction>,
    peer: Option<&str>,
    avatar_out: Option<&Path>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut client = connect(data_dir).await?;
    let info = match action {
        Some(ProfileAction::Set {
            name,
            headline,
            avatar,
        }) => {
            let avatar_hex = avatar.as_deref().map(read_avatar).transpose()?;
            client
                .profile_set(&name, headline.as_deref(), avatar_hex)
                .await?
        }
        None => client.profile(peer, avatar_out.is_some()).await?,
    };
    if let Some(path) = avatar_out {
        write_avatar(&info, path)?;
    }
    if json {
        let mut shown = info;
        shown.avatar_hex = None;
        print_json(&shown)?;
    } else {
        print_profile(&info);
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads an avatar file, refusing a missing or oversized one before anything is sent.
fn read_avatar(path: &Path) -> anyhow::Result<String> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read the avatar file {}", path.display()))?
        .len();
    if size > AVATAR_MAX_BYTES {
        anyhow::bail!(
            "the avatar file {} is {size} bytes; at most {AVATAR_MAX_BYTES} are allowed",
            path.display()
        );
    }
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the avatar file {}", path.display()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes the avatar the daemon sent (its own re-encoding of the picture) to `path`.
fn write_avatar(info: &ProfileInfo, path: &Path) -> anyhow::Result<()> {
    let hex = info
        .avatar_hex
        .as_deref()
        .filter(|hex| !hex.is_empty())
        .with_context(|| format!("no avatar is known for {}", info.id))?;
    let bytes = unhex(hex).context("the daemon sent an avatar that is not hex")?;
    std::fs::write(path, bytes)
        .with_context(|| format!("cannot write the avatar to {}", path.display()))
}

fn unhex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

fn print_profile(info: &ProfileInfo) {
    println!("ID:       {}", info.id);
    match &info.name {
        Some(name) => {
            println!("Name:     {}", single_line(name));
            println!(
                "Headline: {}",
                single_line(info.headline.as_deref().unwrap_or(""))
            );
            println!("Version:  {}", info.version);
            match info.avatar_bytes {
                0 => println!("Avatar:   none"),
                n => println!("Avatar:   {n} bytes"),
            }
        }
        None => println!("No profile known (set yours with: accord profile set --name NAME)"),
    }
}

/// `accord people <ID|ALIAS>`.
pub(crate) async fn people(data_dir: &Path, peer: &str, json: bool) -> anyhow::Result<ExitCode> {
    let person = connect(data_dir).await?.people(peer).await?;
    if json {
        print_json(&person)?;
        return Ok(ExitCode::SUCCESS);
    }
    let degree = match person.degree {
        1 => "1st (a connection)",
        2 => "2nd (a connection of a connection)",
        _ => "3rd or further",
    };
    println!("ID:     {}", person.id);
    if let Some(profile) = &person.profile {
        println!("Name:   {}", single_line(&profile.name));
        if !profile.headline.is_empty() {
            println!("        {}", single_line(&profile.headline));
        }
    }
    println!("Degree: {degree}");
    if person.mutual.is_empty() {
        println!("No mutual connections.");
    } else {
        println!("Mutual connections ({}):", person.mutual.len());
        for mutual in &person.mutual {
            let name = mutual.name.as_deref().unwrap_or("");
            println!("  {} {}", mutual.id, single_line(name));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `accord suggestions`.
pub(crate) async fn suggestions(data_dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let suggestions = connect(data_dir).await?.suggestions().await?;
    if json {
        print_json(&suggestions)?;
    } else if suggestions.is_empty() {
        println!("No suggestions yet: they come from the lists your connections share.");
    } else {
        for suggestion in &suggestions {
            println!(
                "{} {} ({} mutual)",
                suggestion.id,
                single_line(suggestion.name.as_deref().unwrap_or("")),
                suggestion.mutual
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `accord introduce <A> <B> [--note TEXT]`.
pub(crate) async fn introduce(
    data_dir: &Path,
    first: &str,
    second: &str,
    note: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let introduction = connect(data_dir)
        .await?
        .introduce(first, second, note)
        .await?;
    if json {
        print_json(&introduction)?;
    } else {
        println!(
            "Introduced {} and {}",
            introduction.peer,
            introduction.other.as_deref().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `accord introductions`.
pub(crate) async fn introductions(data_dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let introductions = connect(data_dir).await?.introductions().await?;
    if json {
        print_json(&introductions)?;
    } else if introductions.is_empty() {
        println!("No introductions.");
    } else {
        for introduction in &introductions {
            print_introduction(introduction);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_introduction(introduction: &IntroductionInfo) {
    let introducer = introduction
        .introducer_name
        .as_deref()
        .unwrap_or(&introduction.introducer);
    match &introduction.other {
        Some(other) => println!(
            "{} you introduced {} and {other}",
            single_line(&introduction.created_at),
            introduction.peer
        ),
        None => println!(
            "{} {} introduced you to {} {}",
            single_line(&introduction.created_at),
            single_line(introducer),
            introduction.peer,
            single_line(introduction.name.as_deref().unwrap_or(""))
        ),
    }
    if !introduction.note.is_empty() {
        println!("    \"{}\"", single_line(&introduction.note));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_round_trip() {
        assert_eq!(super::unhex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(super::unhex("0"), None);
        assert_eq!(super::unhex("zz"), None);
    }
}
