//! `accord verify-attestation <FILE|->`: an offline check. No daemon, no network and no data
//! dir: only the attestation's own bytes and the two public keys inside them.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use accord_api::format_rfc3339_ms;
use accord_handshake::Attestation;
use anyhow::Context;
use serde_json::json;

/// The most text read: an attestation is well under 1 KiB, so anything bigger is not one.
const MAX_INPUT: u64 = 64 * 1024;

/// Checks the attestation in `source` (`-` is standard input). Exit 0 when valid, 1 otherwise.
pub(crate) fn run(source: &str, json: bool) -> anyhow::Result<ExitCode> {
    let mut text = String::new();
    if source == "-" {
        std::io::stdin()
            .take(MAX_INPUT)
            .read_to_string(&mut text)
            .context("cannot read the attestation from standard input")?;
    } else {
        let path = Path::new(source);
        std::fs::File::open(path)
            .and_then(|file| file.take(MAX_INPUT).read_to_string(&mut text))
            .with_context(|| format!("cannot read {}", path.display()))?;
    }
    match Attestation::from_text(&text)
        .map_err(|err| err.to_string())
        .and_then(|attestation| {
            attestation.verify().map_err(|err| err.to_string())?;
            Ok(attestation)
        }) {
        Ok(attestation) => {
            let statement = &attestation.statement;
            // A version-2 statement says until when the inviter's offer stood: the invitee
            // must have accepted before then. (A version-1 one does not say; null.)
            let offer_expires_at = statement
                .terms
                .map(|terms| format_rfc3339_ms(terms.expires_at_ms));
            if json {
                let doc = json!({
                    "valid": true,
                    "inviter": statement.inviter.to_string(),
                    "invitee": statement.invitee.to_string(),
                    "issued_at": format_rfc3339_ms(statement.issued_at_ms),
                    "attestation_id": attestation.id().to_string(),
                    "offer_expires_at": offer_expires_at,
                });
                println!("{doc}");
            } else {
                println!("Valid attestation {}", attestation.id());
                println!("Inviter: {}", statement.inviter);
                println!("Invitee: {}", statement.invitee);
                println!("Issued:  {}", format_rfc3339_ms(statement.issued_at_ms));
                if let Some(expires) = offer_expires_at {
                    println!("Offer expired at: {expires}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            if json {
                println!("{}", json!({ "valid": false, "reason": reason }));
            }
            eprintln!("error: invalid attestation: {reason}");
            Ok(ExitCode::from(1))
        }
    }
}
