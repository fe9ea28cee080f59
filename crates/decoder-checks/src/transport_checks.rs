//! The decoders of what arrives over a connection: the direct request-response frames
//! (`/accord/inbox/1`, `/accord/dm/1`) and the control API's request lines.

use accord_api::frame::{decode_request, encode_line};
use accord_api::{Request, frame::RequestFrame};
use accord_channel::Envelope;
use accord_handshake::GossipFrame;
use accord_identity::AccordId;
use accord_net::{DM_PROTOCOL, Frame, FrameCodec, MAX_DIRECT_REQUEST, MAX_DIRECT_RESPONSE};
use accord_node::mailbox_wire::{self, Announce, MailboxRequest, MailboxResponse};
use accord_node::wire::{self, Content};
use futures::executor::block_on;
use futures::io::Cursor;
use libp2p::request_response::Codec;

use crate::assert_explained;

/// Every direct frame: the length-prefixed framing both protocols share (as a request and as
/// a response), the inbox's content (a gossip frame), and the `/accord/dm/1` request, status
/// and decrypted content.
pub(crate) fn direct_frames(data: &[u8]) {
    let mut codec = FrameCodec::default();
    match block_on(codec.read_request(&DM_PROTOCOL, &mut Cursor::new(data))) {
        Ok(Frame::Bytes(frame)) => {
            assert_framed(data, &frame, MAX_DIRECT_REQUEST);
            // The inbox hands the frame to the same path gossip takes.
            let _ = GossipFrame::decode(&frame);
        }
        // Announced above the limit: nothing past the length prefix may have been read.
        Ok(Frame::TooLarge(too_large)) => {
            assert!(too_large.len > too_large.max, "{too_large}");
            assert_eq!(too_large.max, MAX_DIRECT_REQUEST);
        }
        // Only a gated codec refuses, and this one is not gated.
        Ok(Frame::Refused) => panic!("an ungated codec refused a request"),
        Err(_) => {}
    }
    let response = block_on(codec.read_response(&DM_PROTOCOL, &mut Cursor::new(data)));
    if let Ok(frame) = response {
        assert_framed(data, &frame, MAX_DIRECT_RESPONSE);
    }

    match wire::decode_request(data) {
        Ok((message_id, envelope)) => {
            assert_eq!(
                wire::encode_request(&message_id, envelope),
                data,
                "a dm request re-encodes exactly"
            );
            let _ = Envelope::decode(envelope);
        }
        Err(err) => assert_explained(&err),
    }
    match wire::decode_status(data) {
        Ok(status) => assert_eq!(wire::encode_status(status), data, "a status re-encodes"),
        Err(err) => assert_explained(&err),
    }
    match Content::decode(data) {
        Ok(content) => assert_eq!(content.encode(), data, "a content re-encodes exactly"),
        Err(err) => assert_explained(&err),
    }
    mailbox_frames(data);
}

/// The `/accord/mailbox/1` request and response, a held item and a mailbox announcement:
/// each decodes only what re-encodes to exactly the same bytes.
fn mailbox_frames(data: &[u8]) {
    match MailboxRequest::decode(data) {
        Ok(request) => assert_eq!(request.encode(), data, "a mailbox request re-encodes"),
        Err(err) => assert_explained(&err),
    }
    match MailboxResponse::decode(data) {
        Ok(response) => assert_eq!(response.encode(), data, "a mailbox response re-encodes"),
        Err(err) => assert_explained(&err),
    }
    match mailbox_wire::unpad_item(data) {
        Ok(frame) => assert_eq!(
            mailbox_wire::pad_item(frame).ok().as_deref(),
            Some(data),
            "an item re-pads exactly"
        ),
        Err(err) => assert_explained(&err),
    }
    match Announce::decode(data) {
        Ok(announce) => assert_eq!(announce.encode(), data, "an announcement re-encodes"),
        Err(err) => assert_explained(&err),
    }
}

/// A frame read from `data` is the `u32` BE length prefix and that many bytes of `data`,
/// within the limit.
fn assert_framed(data: &[u8], frame: &[u8], limit: usize) {
    assert!(frame.len() <= limit, "a frame over the limit was read");
    let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    assert_eq!(data.get(..4), Some(&len.to_be_bytes()[..]));
    assert_eq!(data.get(4..4 + frame.len()), Some(frame));
}

/// One control-API request line (without its newline), as the daemon reads it from a client.
pub(crate) fn control_request(data: &[u8]) {
    match decode_request(data) {
        Ok(frame) => {
            request_round_trip(&frame);
            parse_ids(&frame.request);
        }
        Err(err) => assert_explained(&err),
    }
    if let Ok(request) = serde_json::from_slice::<Request>(data) {
        parse_ids(&request);
    }
}

/// What the daemon would answer with re-encodes to a request that decodes to the same value.
fn request_round_trip(frame: &RequestFrame) {
    let line = encode_line(frame).unwrap_or_else(|err| panic!("a request encodes: {err}"));
    assert_eq!(line.last(), Some(&b'\n'), "a line ends with a newline");
    let body = line.get(..line.len() - 1).unwrap_or_default();
    assert!(!body.contains(&b'\n'), "a request line is one line");
    match decode_request(body) {
        Ok(again) => assert_eq!(&again, frame, "a request round-trips"),
        Err(err) => panic!("a re-encoded request does not decode: {err}"),
    }
}

/// The daemon parses the Accord IDs in requests; a parsed ID displays as a string that parses
/// to the same ID.
fn parse_ids(request: &Request) {
    let peer = match request {
        Request::Lookup { peer }
        | Request::Connect { peer, .. }
        | Request::Block { peer }
        | Request::Unblock { peer }
        | Request::Disconnect { peer }
        | Request::Attestation { peer }
        | Request::Send { peer, .. }
        | Request::History { peer, .. }
        | Request::Alias { peer, .. }
        | Request::Verify { peer } => peer,
        _ => return,
    };
    if let Ok(id) = peer.parse::<AccordId>() {
        assert_eq!(id.to_string().parse::<AccordId>(), Ok(id));
    }
}
