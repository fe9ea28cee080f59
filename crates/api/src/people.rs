//! The people half of the API: profiles, degrees, mutual connections, suggestions and
//! introductions (design §12, §14). Requests are variants of [`crate::Request`]; these are
//! their results.

use serde::{Deserialize, Serialize};

use crate::Client;
use crate::error::ClientError;
use crate::types::Request;

/// A profile, as `accord profile --json` prints it: this node's own, or what it knows of
/// someone else's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileInfo {
    /// Whose profile it is (an Accord ID).
    pub id: String,
    /// The name they chose (at most 64 characters), or null if no profile is known.
    pub name: Option<String>,
    /// Their headline (at most 120 characters; may be empty).
    pub headline: Option<String>,
    /// The profile's version: a newer one replaces an older one, never the reverse. 0 when
    /// no profile is known.
    pub version: u64,
    /// The avatar's size in bytes; 0 when there is none.
    pub avatar_bytes: u64,
    /// The avatar itself, lowercase hex, only when asked for (`with_avatar`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_hex: Option<String>,
}

/// A profile's name, headline and version, as `people` and `introductions` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileSummary {
    /// The name.
    pub name: String,
    /// The headline.
    pub headline: String,
    /// The version.
    pub version: u64,
}

/// One mutual connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutualInfo {
    /// Its Accord ID.
    pub id: String,
    /// Its name (the local alias first, then its profile's name), if known.
    pub name: Option<String>,
}

/// The result of [`Request::People`]: where someone stands from this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonInfo {
    /// Their Accord ID.
    pub id: String,
    /// 1 (a connection), 2 (a connection of a connection) or 3 (3rd or further).
    pub degree: u8,
    /// The connections we share, each proven by two attestations that verified.
    pub mutual: Vec<MutualInfo>,
    /// Their profile, if known.
    pub profile: Option<ProfileSummary>,
}

/// One suggestion: a second-degree person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuggestionInfo {
    /// Their Accord ID.
    pub id: String,
    /// Their name, if known.
    pub name: Option<String>,
    /// How many of our connections are theirs too.
    pub mutual: u64,
}

/// One introduction: made by us, or received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntroductionInfo {
    /// Who introduced (an Accord ID; ours for the ones we made).
    pub introducer: String,
    /// The introducer's name, if known.
    pub introducer_name: Option<String>,
    /// The person introduced to us (for one we made: the first of the two).
    pub peer: String,
    /// That person's name, from the profile card sent along, if any.
    pub name: Option<String>,
    /// That person's headline, if known.
    pub headline: Option<String>,
    /// For one we made: the second person. Absent for one we received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<String>,
    /// The introducer's note.
    pub note: String,
    /// When it was made (RFC 3339, UTC, milliseconds).
    pub created_at: String,
}

/// The people requests, as typed calls.
impl Client {
    /// `accord profile` (`peer` = None) or `accord profile <ID|ALIAS>`.
    ///
    /// # Errors
    ///
    /// As every call: transport, protocol or the daemon's refusal.
    pub async fn profile(
        &mut self,
        peer: Option<&str>,
        with_avatar: bool,
    ) -> Result<ProfileInfo, ClientError> {
        self.call_typed(Request::Profile {
            peer: peer.map(str::to_owned),
            with_avatar,
        })
        .await
    }

    /// `accord profile set`: the avatar is the file's bytes, as hex.
    ///
    /// # Errors
    ///
    /// As every call; the daemon refuses a bad name, headline or avatar with the reason.
    pub async fn profile_set(
        &mut self,
        name: &str,
        headline: Option<&str>,
        avatar_hex: Option<String>,
    ) -> Result<ProfileInfo, ClientError> {
        self.call_typed(Request::ProfileSet {
            name: name.to_owned(),
            headline: headline.map(str::to_owned),
            avatar_hex,
        })
        .await
    }

    /// `accord people <ID|ALIAS>`.
    ///
    /// # Errors
    ///
    /// As every call.
    pub async fn people(&mut self, peer: &str) -> Result<PersonInfo, ClientError> {
        self.call_typed(Request::People {
            peer: peer.to_owned(),
        })
        .await
    }

    /// `accord suggestions`.
    ///
    /// # Errors
    ///
    /// As every call.
    pub async fn suggestions(&mut self) -> Result<Vec<SuggestionInfo>, ClientError> {
        self.call_typed(Request::Suggestions).await
    }

    /// `accord introduce <A> <B> [--note TEXT]`.
    ///
    /// # Errors
    ///
    /// As every call; the daemon refuses unless both are our connections.
    pub async fn introduce(
        &mut self,
        first: &str,
        second: &str,
        note: &str,
    ) -> Result<IntroductionInfo, ClientError> {
        self.call_typed(Request::Introduce {
            first: first.to_owned(),
            second: second.to_owned(),
            note: note.to_owned(),
        })
        .await
    }

    /// `accord introductions`.
    ///
    /// # Errors
    ///
    /// As every call.
    pub async fn introductions(&mut self) -> Result<Vec<IntroductionInfo>, ClientError> {
        self.call_typed(Request::Introductions).await
    }
}
