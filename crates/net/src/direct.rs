//! Direct messages: a request-response protocol carrying opaque, length-prefixed frames.
//!
//! Gossip reaches a peer eventually; when the peer is connected, the node also hands it the
//! same bytes directly. Each direct protocol is its own request-response behaviour (so that a
//! request can never be negotiated onto the wrong protocol), and all use the same framing: a request is a `u32`
//! big-endian length then that many bytes, and so is the response. Lengths above the protocol's
//! limit are refused before anything is allocated.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response;

/// Sealed invites, acceptances and withdrawals handed straight to their recipient.
pub const INBOX_PROTOCOL: StreamProtocol = StreamProtocol::new("/accord/inbox/1");

/// End-to-end encrypted messages between connections, acknowledged once stored.
pub const DM_PROTOCOL: StreamProtocol = StreamProtocol::new("/accord/dm/1");

/// The direct protocols a node speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DirectProtocol {
    /// [`INBOX_PROTOCOL`].
    Inbox,
    /// [`DM_PROTOCOL`].
    Dm,
}

impl DirectProtocol {
    /// The protocol's name on the wire.
    pub fn name(self) -> StreamProtocol {
        match self {
            DirectProtocol::Inbox => INBOX_PROTOCOL,
            DirectProtocol::Dm => DM_PROTOCOL,
        }
    }
}

/// The default (and largest configurable) request a direct protocol accepts, in bytes.
pub const MAX_DIRECT_REQUEST: usize = 128 * 1024;

/// The largest response any direct protocol accepts, in bytes. Not configurable: responses
/// are short status answers to requests this node chose to send.
pub const MAX_DIRECT_RESPONSE: usize = 4 * 1024;

/// The codec of every direct protocol: length-prefixed opaque bytes, requests up to
/// `max_request` bytes.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    max_request: usize,
}

impl FrameCodec {
    /// A codec that refuses requests longer than `max_request` bytes.
    pub fn new(max_request: usize) -> Self {
        FrameCodec { max_request }
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
        read_frame(io, MAX_DIRECT_RESPONSE).await
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
}
