//! Frames as a shell hands them to a node: encoded, appended to their connection's byte
//! stream and decoded back by a `FrameDecoder`, so the frames of one connection share its
//! read buffer (and a frame's texts and payloads are views into it). Shared by the session
//! bench and the `register_profile` example.

use bytes::BytesMut;
use roster_core::io::ConnId;
use roster_core::wire::{Frame, FrameDecoder};
use std::collections::{BTreeMap, VecDeque};

/// `frames`, in the same order, each as read from its connection.
pub(crate) fn as_read(frames: Vec<(ConnId, Frame)>) -> Vec<(ConnId, Frame)> {
    let mut streams: BTreeMap<ConnId, BytesMut> = BTreeMap::new();
    for (c, f) in &frames {
        let bytes = f.to_bytes().expect("encodes");
        streams.entry(*c).or_default().extend_from_slice(&bytes);
    }
    let decoder = FrameDecoder::default();
    let mut decoded: BTreeMap<ConnId, VecDeque<Frame>> = BTreeMap::new();
    for (c, mut buf) in streams {
        let queue = decoded.entry(c).or_default();
        while let Some(f) = decoder.decode(&mut buf).expect("decodes") {
            queue.push_back(f);
        }
    }
    frames
        .into_iter()
        .map(|(c, _)| {
            let f = decoded.get_mut(&c).and_then(VecDeque::pop_front);
            (c, f.expect("decoded"))
        })
        .collect()
}
