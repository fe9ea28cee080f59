//! `accord mailbox`, `accord mailbox use` and `accord mailbox drop`.

use std::str::FromStr as _;

use accord_api::{
    ErrorCode, MailboxInfo, OwnMailboxInfo, RemoteError, Request, ServingInfo, format_rfc3339_ms,
};
use accord_identity::AccordId;
use accord_store::{OwnMailbox, Store, StoreError};
use serde_json::Value;

use super::actor::MailboxActor;
use super::schedule::MAX_OWN;
use crate::clock;
use crate::remote_error::{internal, refused};

/// A connection named by ID or alias, among the unrevoked connections.
fn resolve(store: &Store, peer: &str) -> Result<Result<AccordId, String>, StoreError> {
    let connections = store.connections()?;
    let by_id = AccordId::from_str(peer.trim()).ok();
    let found = connections.into_iter().find(|c| {
        c.revoked_at_ms.is_none() && (Some(c.peer) == by_id || c.alias.as_deref() == Some(peer))
    });
    Ok(found
        .map(|c| c.peer)
        .ok_or_else(|| format!("{peer} is not one of your connections")))
}

/// How many unrevoked connections acknowledged our current announcement.
fn announced(store: &Store) -> Result<u64, StoreError> {
    let version = store.announcement_version()?;
    if version == 0 {
        return Ok(0);
    }
    let mut count = 0;
    for connection in store.connections()? {
        if connection.revoked_at_ms.is_none()
            && store.announcement_acked(&connection.peer)? >= version
        {
            count += 1;
        }
    }
    Ok(count)
}

impl MailboxActor {
    pub(super) async fn on_command(&mut self, request: Request) -> Result<Value, RemoteError> {
        match request {
            Request::Mailbox => {}
            Request::MailboxUse { peer } => self.use_mailbox(peer).await?,
            Request::MailboxDrop { peer } => self.drop_mailbox(peer).await?,
            other => {
                return Err(RemoteError::new(
                    ErrorCode::Internal,
                    format!("{} is not a mailbox command", other.method()),
                ));
            }
        }
        let info = self.info().await?;
        serde_json::to_value(info).map_err(internal)
    }

    async fn info(&mut self) -> Result<MailboxInfo, RemoteError> {
        let (mine, totals, announced) = self
            .store
            .run(|s| Ok((s.own_mailboxes()?, s.serving_totals()?, announced(s)?)))
            .await
            .map_err(internal)?;
        Ok(MailboxInfo {
            mine: mine
                .into_iter()
                .map(|m| OwnMailboxInfo {
                    id: m.id.to_string(),
                    state: self.schedule.reach(&m.id).as_str().to_owned(),
                    last_reached: m.last_reached_ms.map(format_rfc3339_ms),
                    pinned: m.pinned,
                })
                .collect(),
            serving: ServingInfo {
                recipients: totals.recipients,
                messages: totals.messages,
                bytes: totals.bytes,
            },
            announced,
        })
    }

    async fn use_mailbox(&mut self, peer: String) -> Result<(), RemoteError> {
        let me = self.me;
        let chosen = self
            .store
            .run(move |s| {
                let id = match resolve(s, &peer)? {
                    Ok(id) if id == me => return Ok(Err("you cannot be your own mailbox".into())),
                    Ok(id) => id,
                    Err(reason) => return Ok(Err(reason)),
                };
                let mine = s.own_mailboxes()?;
                if !mine.iter().any(|m| m.id == id) && mine.len() >= MAX_OWN {
                    // An automatic choice makes room; the user's own choices do not.
                    match mine.iter().find(|m| !m.pinned) {
                        Some(auto) => {
                            s.remove_own_mailbox(&auto.id)?;
                        }
                        None => {
                            return Ok(Err(format!(
                                "you already use {MAX_OWN} mailboxes; drop one first"
                            )));
                        }
                    }
                }
                s.set_mailbox_manual()?;
                Ok(Ok(id))
            })
            .await
            .map_err(internal)?
            .map_err(refused)?;
        self.auto = false;
        self.adopt(chosen, true).await.map_err(internal)
    }

    async fn drop_mailbox(&mut self, peer: String) -> Result<(), RemoteError> {
        let dropped = self
            .store
            .run(move |s| {
                let mine = s.own_mailboxes()?;
                let by_id = AccordId::from_str(peer.trim()).ok();
                // By ID, or by the alias of a connection (one that may since have been revoked
                // is still found by ID).
                let id = match by_id {
                    Some(id) => Some(id),
                    None => resolve(s, &peer)?.ok(),
                };
                let Some(id) = id.filter(|id| mine.iter().any(|m| m.id == *id)) else {
                    return Ok(Err(format!("{peer} is not one of your mailboxes")));
                };
                s.remove_own_mailbox(&id)?;
                s.set_mailbox_manual()?;
                s.next_announcement_version()?;
                Ok(Ok((id, s.own_mailboxes()?)))
            })
            .await
            .map_err(internal)?
            .map_err(refused)?;
        self.auto = false;
        let (id, left) = dropped;
        self.withdraw_from(id);
        let ids: Vec<AccordId> = left.iter().map(|m| m.id).collect();
        self.schedule.set_mailboxes(&ids, clock::now_ms());
        self.announce_to_connected().await;
        Ok(())
    }

    /// Makes `id` one of our mailboxes (`pinned`: the user chose it), announces the change
    /// to our connections and fetches from it at once.
    pub(super) async fn adopt(&mut self, id: AccordId, pinned: bool) -> Result<(), StoreError> {
        let mine = self
            .store
            .run(move |s| {
                let known = s.own_mailboxes()?.into_iter().find(|m| m.id == id);
                s.put_own_mailbox(&OwnMailbox {
                    id,
                    pinned: pinned || known.as_ref().is_some_and(|m| m.pinned),
                    last_reached_ms: known.and_then(|m| m.last_reached_ms),
                })?;
                s.next_announcement_version()?;
                s.own_mailboxes()
            })
            .await?;
        let ids: Vec<AccordId> = mine.iter().map(|m| m.id).collect();
        self.schedule.set_mailboxes(&ids, clock::now_ms());
        self.announce_to_connected().await;
        Ok(())
    }
}
