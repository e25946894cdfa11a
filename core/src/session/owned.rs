//! Registrations copied out of the frames they arrived in. A decoded frame's strings and
//! payloads are views into the frame's buffer — in a shell, a piece of a connection's read
//! buffer — so a long-lived registration that kept them would keep that buffer alive. The
//! registry stores each publisher (and each key) with all its bytes copied, back to back,
//! into one buffer of its own: one allocation, which for the usual sizes also holds the
//! buffer's reference count (a [`Bytes`] owning a fixed-size inline array), where copying
//! each string into a `Bytes` of its own would cost two allocations per string.

use crate::model::{DataInfoId, Publisher, Text};
use bytes::Bytes;

/// Up to `N` bytes stored inline: as a [`Bytes`] owner, they share the allocation of the
/// reference count.
struct Inline<const N: usize> {
    len: usize,
    bytes: [u8; N],
}

impl<const N: usize> AsRef<[u8]> for Inline<N> {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

fn inline<const N: usize>(len: usize, fill: impl FnOnce(&mut [u8])) -> Bytes {
    let mut b = Inline { len, bytes: [0; N] };
    fill(&mut b.bytes[..len]);
    Bytes::from_owner(b)
}

/// A buffer of `len` bytes written by `fill`, in one allocation when `len` fits one of the
/// inline sizes (which keep the allocation's size class close to `len`).
fn buffer(len: usize, fill: impl FnOnce(&mut [u8])) -> Bytes {
    match len {
        0 => Bytes::new(),
        1..=24 => inline::<24>(len, fill),
        25..=56 => inline::<56>(len, fill),
        57..=120 => inline::<120>(len, fill),
        121..=248 => inline::<248>(len, fill),
        _ => {
            let mut v = vec![0; len];
            fill(&mut v);
            Bytes::from(v)
        }
    }
}

/// Hands out consecutive pieces of a buffer.
struct Pieces {
    buf: Bytes,
    at: usize,
}

impl Pieces {
    fn bytes(&mut self, len: usize) -> Bytes {
        let b = self.buf.slice(self.at..self.at + len);
        self.at += len;
        b
    }

    /// The copy of `was` (which it replaces if the copy were somehow not UTF-8: it is a
    /// byte-for-byte copy of a validated string, so it always is).
    fn text(&mut self, was: &Text) -> Text {
        Text::from_utf8(self.bytes(was.len())).unwrap_or_else(|_| was.clone())
    }
}

/// Copies consecutive parts into a buffer.
struct Fill<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Fill<'_> {
    fn put(&mut self, b: &[u8]) {
        self.out[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }
}

/// `p` with its register id (unless `register_id` replaces it: an id the registry already
/// holds), payload and attributes in one buffer of their own.
pub(crate) fn publisher(mut p: Publisher, register_id: Option<&Text>) -> Publisher {
    let mut len = if register_id.is_some() {
        0
    } else {
        p.register_id.len()
    };
    for b in &p.payload {
        len += b.len();
    }
    for a in &p.attributes {
        len += a.key.len() + a.value.len();
    }
    let buf = buffer(len, |out| {
        let mut f = Fill { out, at: 0 };
        if register_id.is_none() {
            f.put(p.register_id.as_bytes());
        }
        for b in &p.payload {
            f.put(b);
        }
        for a in &p.attributes {
            f.put(a.key.as_bytes());
            f.put(a.value.as_bytes());
        }
    });
    let mut pieces = Pieces { buf, at: 0 };
    p.register_id = match register_id {
        Some(id) => id.clone(),
        None => pieces.text(&p.register_id),
    };
    for b in &mut p.payload {
        *b = pieces.bytes(b.len());
    }
    for a in &mut p.attributes {
        a.key = pieces.text(&a.key);
        a.value = pieces.text(&a.value);
    }
    p
}

/// `key` with its three parts in one buffer of their own.
pub(crate) fn key(key: &DataInfoId) -> DataInfoId {
    let parts = [&key.data_id, &key.instance_id, &key.group];
    let len = parts.iter().map(|t| t.len()).sum();
    let buf = buffer(len, |out| {
        let mut f = Fill { out, at: 0 };
        for t in parts {
            f.put(t.as_bytes());
        }
    });
    let mut pieces = Pieces { buf, at: 0 };
    DataInfoId {
        data_id: pieces.text(&key.data_id),
        instance_id: pieces.text(&key.instance_id),
        group: pieces.text(&key.group),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RegisterVersion;
    use crate::wire::{Frame, Message, Publish};

    /// A publisher as a shell hands it over: decoded from a frame's bytes.
    fn decoded(id: &str, payload: &[&str], attributes: &[(&str, &str)]) -> (Publisher, Bytes) {
        let p = Publisher::of(id, RegisterVersion::new(3, 1), payload, attributes);
        let publish = Publish {
            data_info_id: DataInfoId::new("k", "i", "g"),
            publisher: p,
        };
        let bytes = Frame::new(1, publish).to_bytes().unwrap();
        match Frame::decode(bytes.clone()).unwrap().message {
            Message::Publish(p) => (p.publisher, bytes),
            other => panic!("{other:?}"),
        }
    }

    fn within(b: &[u8], buf: &[u8]) -> bool {
        let r = buf.as_ptr_range();
        !b.is_empty() && r.start <= b.as_ptr() && b.as_ptr() < r.end
    }

    #[test]
    fn a_stored_publisher_equals_the_received_one_and_shares_nothing_with_its_frame() {
        for (id, payload, attrs) in [
            ("a", vec![], vec![]),
            (
                "0f8e6a1c-6a1f-4c1e-9b7d-3f0e2c5a8b90",
                vec!["10.0.0.1:8080"],
                vec![],
            ),
            ("id", vec!["x", "", "yz"], vec![("zone", "eu-1"), ("", "w")]),
            ("big", vec![&*"p".repeat(300)], vec![("k", "ü")]),
        ] {
            let (p, frame) = decoded(id, &payload, &attrs);
            let stored = publisher(p.clone(), None);
            assert_eq!(stored, p);
            let mut texts = vec![&stored.register_id[..]];
            for a in &stored.attributes {
                texts.extend([&a.key[..], &a.value[..]]);
            }
            let bytes = stored.payload.iter().map(|b| &b[..]);
            for b in texts.into_iter().map(str::as_bytes).chain(bytes) {
                assert!(!within(b, &frame), "{id}: {b:?} still in the frame");
            }
        }
    }

    #[test]
    fn a_replacement_keeps_the_id_the_registry_holds() {
        let (p, _) = decoded("r1", &["10.0.0.2:80"], &[]);
        let held = Text::from("r1");
        let stored = publisher(p.clone(), Some(&held));
        assert_eq!(stored, p);
        assert_eq!(
            stored.register_id.as_bytes().as_ptr(),
            held.as_bytes().as_ptr()
        );
    }

    #[test]
    fn a_stored_key_equals_the_received_one_in_a_buffer_of_its_own() {
        let k = DataInfoId::new(
            "com.example.Svc:1.0",
            "DEFAULT_INSTANCE_ID",
            "DEFAULT_GROUP",
        );
        let frame = Bytes::from(format!("{}{}{}", k.data_id, k.instance_id, k.group));
        let received = DataInfoId {
            data_id: Text::from_utf8(frame.slice(0..19)).unwrap(),
            instance_id: Text::from_utf8(frame.slice(19..38)).unwrap(),
            group: Text::from_utf8(frame.slice(38..)).unwrap(),
        };
        assert_eq!(received, k);
        let stored = key(&received);
        assert_eq!(stored, k);
        for t in [&stored.data_id, &stored.instance_id, &stored.group] {
            assert!(!within(t.as_bytes(), &frame));
        }
    }
}
