//! Direct messages: a request-response protocol carrying opaque, length-prefixed frames.
//!
//! Gossip reaches a peer eventually; when the peer is connected, the node also hands it the
//! same bytes directly. Each direct protocol is its own request-response behaviour (so that a
//! request can never be negotiated onto the wrong protocol), and all use the same framing: a request is a `u32`
//! big-endian length then that many bytes, and so is the response. Lengths above the protocol's
//! limit are refused before anything is allocated.

use std::collections::HashSet;
use std::io;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::request_response;
use libp2p::{PeerId, StreamProtocol};

/// Sealed invites, acceptances and withdrawals handed straight to their recipient.
pub const INBOX_PROTOCOL: StreamProtocol = StreamProtocol::new("/accord/inbox/1");

/// End-to-end encrypted messages between connections, acknowledged once stored.
pub const DM_PROTOCOL: StreamProtocol = StreamProtocol::new("/accord/dm/1");

/// Mailboxes among connections: token registration, deposits, fetches and deletions.
pub const MAILBOX_PROTOCOL: StreamProtocol = StreamProtocol::new("/accord/mailbox/1");

/// The direct protocols a node speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DirectProtocol {
    /// [`INBOX_PROTOCOL`].
    Inbox,
    /// [`DM_PROTOCOL`].
    Dm,
    /// [`MAILBOX_PROTOCOL`].
    Mailbox,
}

impl DirectProtocol {
    /// The protocol's name on the wire.
    pub fn name(self) -> StreamProtocol {
        match self {
            DirectProtocol::Inbox => INBOX_PROTOCOL,
            DirectProtocol::Dm => DM_PROTOCOL,
            DirectProtocol::Mailbox => MAILBOX_PROTOCOL,
        }
    }
}

/// The default (and largest configurable) request a direct protocol accepts, in bytes.
pub const MAX_DIRECT_REQUEST: usize = 128 * 1024;

/// The default (and largest configurable) request `/accord/inbox/1` accepts, in bytes: a
/// gossip frame is at most 4,034 bytes (docs/protocol.md, "Gossip frame"), and an inbox
/// request is one frame, so 4 KiB holds every honest request. The `u32` length prefix is read
/// before and apart from it.
pub const MAX_INBOX_REQUEST: usize = 4096;

/// The largest response any direct protocol accepts, in bytes. Not configurable: responses
/// are short status answers to requests this node chose to send.
pub const MAX_DIRECT_RESPONSE: usize = 4 * 1024;

/// The largest response `/accord/mailbox/1` accepts, in bytes: a fetch answers with the items
/// held for the requester, a page of at most this much.
pub const MAX_MAILBOX_RESPONSE: usize = 256 * 1024;

/// Which peers may open requests on a gated protocol (`/accord/dm/1`): the node's Accord
/// connections, as given to [`crate::NetHandle::keep_peers`]. Shared between the event loop,
/// which replaces the set, and the codec of every connection, which checks it before it reads
/// a request's first byte, so that a stranger cannot make the node read or queue anything.
#[derive(Debug, Default)]
pub struct PeerGate {
    allowed: RwLock<HashSet<PeerId>>,
    /// The peer whose connection handler is being built. libp2p builds a connection's
    /// handler, cloning the behaviour's codec into it, inside one synchronous call on the
    /// swarm's task; [`crate::behaviour::GatedDirect`] sets this around that call, and the
    /// clone takes it (see `FrameCodec::clone`). The codec is thereby bound to its peer,
    /// which request-response does not otherwise tell it.
    establishing: Mutex<Option<PeerId>>,
}

impl PeerGate {
    /// Replaces the allowed peers.
    pub(crate) fn allow_only(&self, peers: impl IntoIterator<Item = PeerId>) {
        // A poisoned lock only means a panic elsewhere while holding it; the set is still a
        // valid set, so it is used rather than propagating the panic.
        let mut allowed = self.allowed.write().unwrap_or_else(PoisonError::into_inner);
        *allowed = peers.into_iter().collect();
    }

    /// Whether `peer` may open requests.
    pub fn allows(&self, peer: &PeerId) -> bool {
        self.allowed
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(peer)
    }

    /// Marks (or, with `None`, unmarks) the peer whose handler is being built.
    pub(crate) fn set_establishing(&self, peer: Option<PeerId>) {
        *self
            .establishing
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = peer;
    }

    fn establishing(&self) -> Option<PeerId> {
        *self
            .establishing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The codec of every direct protocol: length-prefixed opaque bytes, requests up to
/// `max_request` bytes, and, when gated, only from the peers the gate allows.
#[derive(Debug)]
pub struct FrameCodec {
    max_request: usize,
    max_response: usize,
    gate: Option<Arc<PeerGate>>,
    /// The peer at the other end, once the codec is bound to a connection.
    peer: Option<PeerId>,
}

impl Clone for FrameCodec {
    /// A clone made while the gate marks a peer's connection as being built is bound to that
    /// peer; a clone of a bound codec (request-response clones it for every stream) stays
    /// bound to the same peer.
    fn clone(&self) -> Self {
        let peer = self
            .peer
            .or_else(|| self.gate.as_ref().and_then(|gate| gate.establishing()));
        FrameCodec {
            max_request: self.max_request,
            max_response: self.max_response,
            gate: self.gate.clone(),
            peer,
        }
    }
}

impl FrameCodec {
    /// A codec that refuses requests longer than `max_request` bytes.
    pub fn new(max_request: usize) -> Self {
        FrameCodec {
            max_request,
            max_response: MAX_DIRECT_RESPONSE,
            gate: None,
            peer: None,
        }
    }

    /// A codec that also refuses, unread, every request from a peer `gate` does not allow.
    /// A codec not bound to a peer refuses everything: the gate fails closed.
    pub fn gated(max_request: usize, gate: Arc<PeerGate>) -> Self {
        FrameCodec {
            max_request,
            max_response: MAX_DIRECT_RESPONSE,
            gate: Some(gate),
            peer: None,
        }
    }

    /// This codec, taking responses of up to `max_response` bytes.
    #[must_use]
    pub fn with_max_response(mut self, max_response: usize) -> Self {
        self.max_response = max_response;
        self
    }

    /// Whether a request may be read on this codec's connection.
    fn admits(&self) -> bool {
        match &self.gate {
            None => true,
            Some(gate) => self.peer.is_some_and(|peer| gate.allows(&peer)),
        }
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec::new(MAX_DIRECT_REQUEST)
    }
}

/// A frame's length prefix is above the protocol's limit. Reading a response, it travels
/// inside the [`io::Error`] the codec returns; reading a request, it is the request
/// ([`Frame::TooLarge`]), because request-response reports no failure for a request it never
/// received, and the event loop must learn which peer to disconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("frame of {len} bytes exceeds the limit of {max}")]
pub struct FrameTooLarge {
    /// The length the peer announced.
    pub len: usize,
    /// The limit.
    pub max: usize,
}

impl FrameTooLarge {
    /// The [`FrameTooLarge`] inside `err`, if that is what it is.
    pub fn find(err: &io::Error) -> Option<&FrameTooLarge> {
        err.get_ref()?.downcast_ref::<FrameTooLarge>()
    }
}

/// A request as read from the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole frame within the limit.
    Bytes(Vec<u8>),
    /// The peer announced a frame above the limit; nothing more was read.
    TooLarge(FrameTooLarge),
    /// The protocol is gated and the peer is not allowed on it; nothing was read.
    Refused,
}

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            FrameTooLarge { len, max },
        ));
    }
    // The buffer grows as bytes arrive rather than being allocated from the length prefix:
    // a peer announcing the full limit and then trickling (or sending nothing) holds only what
    // it actually sent, not 128 KiB per stream.
    let mut data = Vec::new();
    let wanted = u64::try_from(len).unwrap_or(u64::MAX);
    io.take(wanted).read_to_end(&mut data).await?;
    if data.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("frame ended after {} of {len} bytes", data.len()),
        ));
    }
    Ok(data)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, data: &[u8]) -> io::Result<()> {
    let len = u32::try_from(data.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(data).await?;
    io.close().await
}

impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Frame;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Frame>
    where
        T: AsyncRead + Unpin + Send,
    {
        if !self.admits() {
            return Ok(Frame::Refused);
        }
        match read_frame(io, self.max_request).await {
            Ok(bytes) => Ok(Frame::Bytes(bytes)),
            Err(err) => match FrameTooLarge::find(&err) {
                Some(too_large) => Ok(Frame::TooLarge(*too_large)),
                None => Err(err),
            },
        }
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_response).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Frame,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        match request {
            Frame::Bytes(bytes) => write_frame(io, &bytes).await,
            Frame::TooLarge(too_large) => {
                Err(io::Error::new(io::ErrorKind::InvalidInput, too_large))
            }
            Frame::Refused => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a refused request is never sent",
            )),
        }
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &response).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_oversize_lengths_are_refused() {
        futures::executor::block_on(async {
            let mut buffer = futures::io::Cursor::new(Vec::new());
            write_frame(&mut buffer, b"hello").await.unwrap_or_default();
            let mut reader = futures::io::Cursor::new(buffer.into_inner());
            let read = read_frame(&mut reader, 16).await.ok();
            assert_eq!(read, Some(b"hello".to_vec()));

            let mut huge = futures::io::Cursor::new(u32::MAX.to_be_bytes().to_vec());
            let err = read_frame(&mut huge, MAX_DIRECT_REQUEST).await.err();
            let too_large = err.as_ref().and_then(FrameTooLarge::find).copied();
            assert_eq!(
                too_large,
                Some(FrameTooLarge {
                    len: u32::MAX as usize,
                    max: MAX_DIRECT_REQUEST
                })
            );

            let mut short = futures::io::Cursor::new(vec![0, 0, 0, 9, 1, 2]);
            let err = read_frame(&mut short, 16).await.err();
            assert_eq!(
                err.as_ref().map(io::Error::kind),
                Some(io::ErrorKind::UnexpectedEof)
            );
            assert!(err.as_ref().and_then(FrameTooLarge::find).is_none());
        });
    }

    #[test]
    fn a_request_above_the_codecs_limit_is_reported_not_read() {
        use libp2p::request_response::Codec;
        futures::executor::block_on(async {
            let mut codec = FrameCodec::new(8);
            let mut within = futures::io::Cursor::new(vec![0, 0, 0, 3, 7, 8, 9]);
            let read = codec.read_request(&DM_PROTOCOL, &mut within).await.ok();
            assert_eq!(read, Some(Frame::Bytes(vec![7, 8, 9])));

            let mut above = futures::io::Cursor::new(vec![0, 0, 0, 9, 1, 2, 3]);
            let read = codec.read_request(&DM_PROTOCOL, &mut above).await.ok();
            assert_eq!(
                read,
                Some(Frame::TooLarge(FrameTooLarge { len: 9, max: 8 }))
            );
            // Nothing past the length prefix was consumed.
            assert_eq!(above.position(), 4);

            let mut sink = futures::io::Cursor::new(Vec::new());
            let refused = codec
                .write_request(
                    &DM_PROTOCOL,
                    &mut sink,
                    Frame::TooLarge(FrameTooLarge { len: 9, max: 8 }),
                )
                .await;
            assert!(refused.is_err());
        });
    }

    #[test]
    fn a_gated_codec_reads_nothing_from_a_peer_the_gate_does_not_allow() {
        use libp2p::request_response::Codec;
        let friend = PeerId::random();
        let stranger = PeerId::random();
        let gate = Arc::new(PeerGate::default());
        gate.allow_only([friend]);
        let behaviour_codec = FrameCodec::gated(64, Arc::clone(&gate));
        let bind = |peer| {
            gate.set_establishing(Some(peer));
            let bound = behaviour_codec.clone();
            gate.set_establishing(None);
            // Request-response clones the connection's codec for each stream.
            bound.clone()
        };
        let (mut to_friend, mut to_stranger) = (bind(friend), bind(stranger));
        let mut unbound = behaviour_codec.clone();
        futures::executor::block_on(async {
            let request = vec![0, 0, 0, 3, 7, 8, 9];
            let mut wire = futures::io::Cursor::new(request.clone());
            let read = to_friend.read_request(&DM_PROTOCOL, &mut wire).await.ok();
            assert_eq!(read, Some(Frame::Bytes(vec![7, 8, 9])));

            for codec in [&mut to_stranger, &mut unbound] {
                let mut wire = futures::io::Cursor::new(request.clone());
                let read = codec.read_request(&DM_PROTOCOL, &mut wire).await.ok();
                assert_eq!(read, Some(Frame::Refused));
                assert_eq!(wire.position(), 0, "not even the length was read");
            }

            // The gate follows the connection set: revoking the friend refuses it too.
            gate.allow_only([]);
            let mut wire = futures::io::Cursor::new(request);
            let read = to_friend.read_request(&DM_PROTOCOL, &mut wire).await.ok();
            assert_eq!(read, Some(Frame::Refused));
        });
    }
}
